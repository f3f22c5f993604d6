/**
 * x86Decode: the CPU model closest to a CPUID bit set, plus the features to add (require) and
 * take away (disable). Models are tried newest first (reverse map order); a model of another
 * vendor is skipped; a model whose signature matches the CPU's family/model wins over one whose
 * does not; otherwise the shorter feature list wins, disabled features weighing more
 * (BASE_PENALTY 2, growing by one per disabled feature). A host CPU is only described by a
 * model it fully contains.
 */

import { virReportError } from '@qvirt/core';
import {
  X86Data,
  x86DataSetSignature,
  x86DataSignature,
  x86DataVendor,
  x86FeatureData,
  x86SignatureFromCpuid,
  x86VendorData,
} from './data.js';
import { x86Feature, x86Features, x86Models } from './map.js';
import { x86ModelData } from './model-data.js';
import type { CpuModel, CpuSignature, DecodedCpu, HypervisorCpuModel } from './types.js';

export interface X86DecodeOptions {
  /** Models the hypervisor offers (with their blockers); absent: every model of the map. */
  models?: ReadonlyArray<string | HypervisorCpuModel>;
  /** Models to prefer (libvirt: the models of the CPUs a baseline started from). */
  preferred?: readonly string[];
  /** Vendor (libvirt's name) to assume when `data` carries no vendor string. */
  vendor?: string;
  /** `host` (default) decodes a host CPU, `guest` a guest CPU (baseline, host-model). */
  type?: 'host' | 'guest';
  /** When the single preferred model is not offered: `allow` falls back to the closest one. */
  fallback?: 'allow' | 'forbid';
  /** Drop features that block migration (invtsc, xsaves). */
  migratable?: boolean;
}

type Feat = { name: string; policy: 'require' | 'disable' };

const BASE_PENALTY = 2;

/** x86DataToCPUFeatures: features whose bits are all in `data`, removed from it as found. */
function takeFeatures(data: X86Data, policy: Feat['policy'], out: Feat[]): void {
  for (const f of x86Features()) {
    const fd = x86FeatureData(f);
    if (data.isSubset(fd)) {
      data.subtract(fd);
      out.push({ name: f.name, policy });
    }
  }
}

/** x86DataToCPU: describe `data` (vendor bits already removed) relative to `model`. */
function dataToCpu(
  data: X86Data,
  model: CpuModel,
  blockers: readonly string[] | undefined,
  type: 'host' | 'guest',
): Feat[] {
  const copy = data.clone();
  const modelData = x86ModelData(model);
  copy.subtract(modelData);
  modelData.subtract(data);
  // Features the hypervisor's version of the model needs but cannot provide block it; they
  // have to be disabled explicitly.
  for (const b of blockers ?? []) {
    const f = x86Feature(b);
    if (f && !copy.isSubset(x86FeatureData(f))) modelData.add(x86FeatureData(f));
  }
  const features: Feat[] = [];
  takeFeatures(copy, 'require', features);
  takeFeatures(modelData, 'disable', features);
  if (type === 'guest') {
    for (const r of model.removedFeatures) {
      if (!features.some((f) => f.name === r)) features.push({ name: r, policy: 'disable' });
    }
  }
  return features;
}

function signaturesMatch(sigs: readonly CpuSignature[], signature: number): boolean {
  const { family, model, stepping } = x86SignatureFromCpuid(signature);
  return sigs.some(
    (s) => s.family === family && s.model === model && (!s.stepping || s.stepping.includes(stepping)),
  );
}

/** virCPUx86CompareCandidateFeatureList, including its shrinking loop bound. */
function betterFeatureList(
  current: Feat[],
  candidate: Feat[],
  type: 'host' | 'guest',
  isPreferred: boolean,
): boolean {
  let cur = current.length;
  let enabledCurrent = cur;
  let disabledCurrent = 0;
  let cand = candidate.length;
  let enabled = cand;
  let disabled = 0;
  if (type !== 'host') {
    let penalty = BASE_PENALTY;
    for (let i = 0; i < enabledCurrent; i++) {
      if (current[i]?.policy === 'disable') {
        enabledCurrent--;
        disabledCurrent += penalty;
        penalty++;
      }
    }
    cur = enabledCurrent + disabledCurrent;
    penalty = BASE_PENALTY;
    for (let i = 0; i < enabled; i++) {
      if (candidate[i]?.policy === 'disable') {
        enabled--;
        disabled += penalty;
        penalty++;
      }
    }
    cand = enabled + disabled;
  }
  if (cand < cur || (cand === cur && disabled < disabledCurrent)) return true;
  return isPreferred && disabled < disabledCurrent;
}

/** Drops TSX (hle, rtm) from Intel CPUs whose TSX is broken (x86DataFilterTSX). */
function filterTSX(data: X86Data, vendor: string | undefined, signature: number): void {
  if (vendor !== 'Intel') return;
  const { family, model, stepping } = x86SignatureFromCpuid(signature);
  if (family === 6 && ((model === 63 && stepping < 4) || model === 60 || model === 69 || model === 70)) {
    for (const n of ['hle', 'rtm']) {
      const f = x86Feature(n);
      if (f) data.subtract(x86FeatureData(f));
    }
  }
}

/** x86Decode. */
export function x86Decode(cpuData: X86Data, opts: X86DecodeOptions = {}): DecodedCpu {
  const type = opts.type ?? 'host';
  const data = cpuData.clone();
  let vendor = x86DataVendor(data);
  if (vendor) data.subtract(x86VendorData(vendor));
  else if (opts.vendor) vendor = opts.vendor;
  // The unmasked leaf 1 eax: libvirt reads family/model/stepping from the masked signature.
  const signature = x86DataSignature(data);
  filterTSX(data, vendor, signature);

  const preferred = opts.preferred?.length ? opts.preferred : undefined;
  const offered = opts.models
    ? new Map(opts.models.map((m) => (typeof m === 'string' ? [m, { name: m }] : [m.name, m])))
    : undefined;

  let best: { model: CpuModel; features: Feat[] } | undefined;
  const models = x86Models();
  for (let i = models.length - 1; i >= 0; i--) {
    const candidate = models[i] as CpuModel;
    const hv = offered?.get(candidate.name);
    if (offered && !hv) {
      if (
        preferred &&
        preferred.length === 1 &&
        candidate.name === preferred[0] &&
        opts.fallback !== 'allow'
      ) {
        throw virReportError(
          'CONFIG_UNSUPPORTED',
          'cpu',
          `CPU model ${preferred[0]} is not supported by hypervisor`,
        );
      }
      continue;
    }
    if (vendor && candidate.vendor && vendor !== candidate.vendor) continue;
    const features = dataToCpu(data, candidate, hv?.blockers, type);

    // x86DecodeUseCandidate
    if (type === 'host' && !candidate.decodeHost) continue;
    if (type === 'guest' && !candidate.decodeGuest) continue;
    if (type === 'host' && features.some((f) => f.policy === 'disable')) continue;
    const isPreferred = preferred?.includes(candidate.name) ?? false;
    if (isPreferred && preferred?.length === 1) {
      best = { model: candidate, features };
      break;
    }
    if (!best) {
      best = { model: candidate, features };
      continue;
    }
    if (signature) {
      const curMatch = signaturesMatch(best.model.signatures, signature);
      const candMatch = signaturesMatch(candidate.signatures, signature);
      if (curMatch && !candMatch) continue;
      if (!curMatch && candMatch) {
        best = { model: candidate, features };
        continue;
      }
    }
    if (betterFeatureList(best.features, features, type, isPreferred)) best = { model: candidate, features };
  }
  if (!best) throw virReportError('INTERNAL_ERROR', 'cpu', 'Cannot find suitable CPU model for given data');

  let features = best.features;
  if (opts.migratable) features = features.filter((f) => x86Feature(f.name)?.migratable !== false);
  return {
    model: best.model.name,
    ...(vendor ? { vendor } : {}),
    features,
    ...(signature ? { signature: x86SignatureFromCpuid(signature) } : {}),
  };
}

/** The bit set of a CPU given as vendor, signature and features (e.g. to feed x86Decode). */
export function x86DataFromCpu(spec: {
  vendor?: string;
  signature?: { family: number; model: number; stepping?: number };
  features: Iterable<string>;
}): X86Data {
  const d = new X86Data();
  for (const n of spec.features) {
    const f = x86Feature(n);
    if (!f) throw new Error(`unknown CPU feature ${n}`);
    d.add(x86FeatureData(f));
  }
  if (spec.vendor) d.add(x86VendorData(spec.vendor));
  if (spec.signature) {
    const { family, model, stepping = 0 } = spec.signature;
    x86DataSetSignature(d, family, model, stepping);
  }
  return d;
}
