/**
 * The x86 CPU map: libvirt's src/cpu_map as generated data (x86-cpu-map.json, written by
 * tools/cpu-map; never edited by hand), indexed for lookups. Orders are libvirt's: features in
 * x86_features.xml order (the order libvirt lists features in, messages included), models in
 * index.xml order (decoding walks them newest first). The data is read on first use, not at import:
 * a command that never looks at a CPU (most conversions) does not pay for it.
 */

import { readFileSync } from 'node:fs';
import type { CpuFeature, CpuModel, CpuSignature, CpuVendor, QemuCpuModel } from './types.js';

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

/** virBitmapParse of a stepping list such as `5-7` or `0,3-4`. */
function parseStepping(text: string): number[] {
  const out: number[] = [];
  for (const part of text.split(',')) {
    const [a, b] = part.split('-').map((s) => Number(s.trim()));
    for (let i = a ?? 0; i <= (b ?? a ?? 0); i++) out.push(i);
  }
  return out;
}

interface Loaded {
  data: RawMap;
  features: readonly CpuFeature[];
  models: readonly CpuModel[];
  featureByName: Map<string, CpuFeature>;
  featureIndex: Map<string, number>;
  modelByName: Map<string, CpuModel>;
  aliases: Map<string, string>;
}

let loaded: Loaded | undefined;

/** The map, read and indexed once. */
function map(): Loaded {
  if (loaded) return loaded;
  const data = JSON.parse(readFileSync(new URL('./x86-cpu-map.json', import.meta.url), 'utf8')) as RawMap;
  const features: readonly CpuFeature[] = data.features.map((f) => ({
    name: f.name,
    ...(f.cpuid ? { cpuid: f.cpuid } : {}),
    ...(f.msr ? { msr: f.msr } : {}),
    migratable: f.migratable !== false,
    aliases: f.aliases ?? [],
  }));
  const models: readonly CpuModel[] = data.models.map((m) => ({
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
  const aliases = new Map<string, string>();
  for (const f of features) for (const a of f.aliases) aliases.set(a.name, f.name);
  loaded = {
    data,
    features,
    models,
    featureByName: new Map(features.map((f) => [f.name, f])),
    featureIndex: new Map(features.map((f, i) => [f.name, i])),
    modelByName: new Map(models.map((m) => [m.name, m])),
    aliases,
  };
  return loaded;
}

/** The versions the data was generated from. */
export function x86MapSource(): { libvirt: string; qemu?: string } {
  const { data } = map();
  return { libvirt: data.libvirt, ...(data.qemu ? { qemu: data.qemu } : {}) };
}

/** Every x86 model of the map, in libvirt's order (virCPUGetModels). */
export function x86Models(): readonly CpuModel[] {
  return map().models;
}

export function x86Model(name: string): CpuModel | undefined {
  return map().modelByName.get(name);
}

/** Every x86 feature of the map, in libvirt's order. */
export function x86Features(): readonly CpuFeature[] {
  return map().features;
}

export function x86Feature(name: string): CpuFeature | undefined {
  return map().featureByName.get(name);
}

/** Position of a feature in the map (for sorting into libvirt's order); -1 when unknown. */
export function x86FeatureIndex(name: string): number {
  return map().featureIndex.get(name) ?? -1;
}

/**
 * libvirt's name of a feature given in QEMU's or Linux's spelling (the map's aliases, e.g.
 * `sse4-1` → `sse4.1`, `pclmulqdq` → `pclmuldq`); the name itself when it is libvirt's;
 * undefined when the map does not know it.
 */
export function x86FeatureFromAlias(name: string): string | undefined {
  const m = map();
  return m.featureByName.has(name) ? name : m.aliases.get(name);
}

export function x86Vendors(): readonly CpuVendor[] {
  return map().data.vendors;
}

export function x86Vendor(name: string): CpuVendor | undefined {
  return map().data.vendors.find((v) => v.name === name);
}

/** The vendor libvirt knows for a model (virCPUGetVendorForModel). */
export function x86VendorForModel(name: string): string | undefined {
  return map().modelByName.get(name)?.vendor;
}

/** QEMU's own x86 CPU models as the generator's QEMU reported them (empty when not generated). */
export function x86QemuModels(): readonly QemuCpuModel[] {
  return map().data.qemuModels ?? [];
}
