/**
 * The x86 CPU map: libvirt's src/cpu_map as generated data (x86-cpu-map.json, written by
 * tools/cpu-map; never edited by hand), indexed for lookups. Orders are libvirt's: features in
 * x86_features.xml order (the order libvirt lists features in, messages included), models in
 * index.xml order (decoding walks them newest first).
 */

import type { CpuFeature, CpuModel, CpuSignature, CpuVendor, QemuCpuModel } from './types.js';
import raw from './x86-cpu-map.json' with { type: 'json' };

interface RawSignature {
  family: number;
  model: number;
  stepping?: string;
}
interface RawModel {
  name: string;
  vendor?: string;
  decode: { host: boolean; guest: boolean };
  signatures: RawSignature[];
  features: string[];
  removedFeatures?: string[];
}
interface RawFeature {
  name: string;
  cpuid?: CpuFeature['cpuid'];
  msr?: CpuFeature['msr'];
  migratable?: boolean;
  aliases?: CpuFeature['aliases'];
}
interface RawMap {
  libvirt: string;
  qemu?: string;
  vendors: CpuVendor[];
  features: RawFeature[];
  models: RawModel[];
  qemuModels?: QemuCpuModel[];
}

const data = raw as unknown as RawMap;

/** virBitmapParse of a stepping list such as `5-7` or `0,3-4`. */
function parseStepping(text: string): number[] {
  const out: number[] = [];
  for (const part of text.split(',')) {
    const [a, b] = part.split('-').map((s) => Number(s.trim()));
    for (let i = a ?? 0; i <= (b ?? a ?? 0); i++) out.push(i);
  }
  return out;
}

const FEATURES: readonly CpuFeature[] = data.features.map((f) => ({
  name: f.name,
  ...(f.cpuid ? { cpuid: f.cpuid } : {}),
  ...(f.msr ? { msr: f.msr } : {}),
  migratable: f.migratable !== false,
  aliases: f.aliases ?? [],
}));

const MODELS: readonly CpuModel[] = data.models.map((m) => ({
  name: m.name,
  ...(m.vendor ? { vendor: m.vendor } : {}),
  features: m.features,
  signatures: m.signatures.map(
    (s): CpuSignature => ({
      family: s.family,
      model: s.model,
      ...(s.stepping !== undefined ? { stepping: parseStepping(s.stepping) } : {}),
    }),
  ),
  decodeHost: m.decode.host,
  decodeGuest: m.decode.guest,
  removedFeatures: m.removedFeatures ?? [],
}));

const FEATURE_BY_NAME = new Map(FEATURES.map((f) => [f.name, f]));
const FEATURE_INDEX = new Map(FEATURES.map((f, i) => [f.name, i]));
const MODEL_BY_NAME = new Map(MODELS.map((m) => [m.name, m]));
const ALIASES = new Map<string, string>();
for (const f of FEATURES) for (const a of f.aliases) ALIASES.set(a.name, f.name);

/** The versions the data was generated from. */
export const x86MapSource: { libvirt: string; qemu?: string } = {
  libvirt: data.libvirt,
  ...(data.qemu ? { qemu: data.qemu } : {}),
};

/** Every x86 model of the map, in libvirt's order (virCPUGetModels). */
export function x86Models(): readonly CpuModel[] {
  return MODELS;
}

export function x86Model(name: string): CpuModel | undefined {
  return MODEL_BY_NAME.get(name);
}

/** Every x86 feature of the map, in libvirt's order. */
export function x86Features(): readonly CpuFeature[] {
  return FEATURES;
}

export function x86Feature(name: string): CpuFeature | undefined {
  return FEATURE_BY_NAME.get(name);
}

/** Position of a feature in the map (for sorting into libvirt's order); -1 when unknown. */
export function x86FeatureIndex(name: string): number {
  return FEATURE_INDEX.get(name) ?? -1;
}

/**
 * libvirt's name of a feature given in QEMU's or Linux's spelling (the map's aliases, e.g.
 * `sse4-1` → `sse4.1`, `pclmulqdq` → `pclmuldq`); the name itself when it is libvirt's;
 * undefined when the map does not know it.
 */
export function x86FeatureFromAlias(name: string): string | undefined {
  return FEATURE_BY_NAME.has(name) ? name : ALIASES.get(name);
}

export function x86Vendors(): readonly CpuVendor[] {
  return data.vendors;
}

export function x86Vendor(name: string): CpuVendor | undefined {
  return data.vendors.find((v) => v.name === name);
}

/** The vendor libvirt knows for a model (virCPUGetVendorForModel). */
export function x86VendorForModel(name: string): string | undefined {
  return MODEL_BY_NAME.get(name)?.vendor;
}

/** QEMU's own x86 CPU models as the generator's QEMU reported them (empty when not generated). */
export function x86QemuModels(): readonly QemuCpuModel[] {
  return data.qemuModels ?? [];
}
