/**
 * Types of @qvirt/cpu: the x86 CPU map (what libvirt's src/cpu_map describes) and the CPU
 * definitions the algorithms work on (the parts of libvirt's virCPUDef they read). They are
 * structural, so @qvirt/core's HostCpuDescription / HostModelCpu can be passed as they are.
 */

export type CpuidRegister = 'eax' | 'ebx' | 'ecx' | 'edx';

/** Where a CPUID feature lives: `cpuid(leaf, subleaf).register` bit `bit`. */
export interface CpuidBit {
  leaf: number;
  subleaf: number;
  register: CpuidRegister;
  bit: number;
}

/** Where an MSR feature lives: bit `bit` of the `register` half of MSR `index`. */
export interface MsrBit {
  index: number;
  register: 'eax' | 'edx';
  bit: number;
}

export interface CpuFeature {
  /** libvirt's name. */
  name: string;
  /** Exactly one of cpuid and msr is set. */
  cpuid?: CpuidBit;
  msr?: MsrBit;
  /** False for features that block migration (`migratable='no'` in the map: invtsc, xsaves). */
  migratable: boolean;
  /** Other names of the feature (`source` is `qemu` or `linux`). */
  aliases: Array<{ name: string; source: string }>;
}

export interface CpuSignature {
  family: number;
  model: number;
  /** Steppings the signature is limited to (absent: any stepping 0-15). */
  stepping?: number[];
}

export interface CpuModel {
  name: string;
  /** libvirt's vendor name (`Intel`, `AMD`, `Hygon`), absent for generic models. */
  vendor?: string;
  /** The model's features in the CPU map's order (inheritance resolved). */
  features: string[];
  signatures: CpuSignature[];
  /** Whether the model may describe a host CPU / a guest CPU (`<decode host guest>`). */
  decodeHost: boolean;
  decodeGuest: boolean;
  /** Features the model no longer has; guest CPUs list them as disabled (`removed='yes'`). */
  removedFeatures: string[];
}

export interface CpuVendor {
  name: string;
  /** The CPUID vendor string, e.g. `GenuineIntel`. */
  string: string;
}

/** One of QEMU's own x86 CPU models (query-cpu-definitions + static expansion). */
export interface QemuCpuModel {
  name: string;
  aliasOf?: string;
  deprecated?: boolean;
  /** CPUID vendor string, e.g. `GenuineIntel`. */
  vendor?: string;
  family?: number;
  model?: number;
  stepping?: number;
  /** Enabled features in libvirt's names, CPU map order. */
  features: string[];
  /** Enabled features libvirt's CPU map does not know, in QEMU's names. */
  qemuOnlyFeatures: string[];
}

export type CpuFeaturePolicy = 'force' | 'require' | 'optional' | 'disable' | 'forbid';

export interface CpuFeatureRef {
  name: string;
  /** Absent: the feature is present (a host CPU) / required (a guest CPU). */
  policy?: CpuFeaturePolicy;
}

/**
 * A host CPU as libvirt describes it (`<host><cpu>` of capabilities, or the host-model CPU of
 * domain capabilities): a model plus features; a feature without policy, or with `require`,
 * is present; `disable` takes a model feature away.
 */
export interface HostCpuDescription {
  arch?: string;
  model?: string;
  vendor?: string;
  features: CpuFeatureRef[];
}

export type CpuMode = 'custom' | 'host-model' | 'host-passthrough' | 'maximum';
export type CpuMatch = 'exact' | 'strict' | 'minimum';

/** A guest CPU (`<cpu>` of a domain), or a host CPU given for comparison (`type: 'host'`). */
export interface GuestCpu {
  /** `host` when the compared `<cpu>` is a host CPU description (libvirt: no `mode`/`match`). */
  type?: 'host' | 'guest';
  arch?: string;
  mode?: CpuMode;
  match?: CpuMatch;
  check?: 'none' | 'partial' | 'full';
  fallback?: 'allow' | 'forbid';
  model?: string;
  vendor?: string;
  vendor_id?: string;
  features: CpuFeatureRef[];
}

export type CpuCompareResult = 'incompatible' | 'identical' | 'superset';

export interface CpuCompareOutcome {
  result: CpuCompareResult;
  /** Required features the host lacks, in the CPU map's order (only for that failure). */
  missing?: string[];
  /** libvirt's explanation of an incompatibility, e.g. `Host CPU does not provide required features: ds, monitor`. */
  message?: string;
}

/** A decoded CPU: the closest model and the features on top of it (or taken away). */
export interface DecodedCpu {
  model: string;
  vendor?: string;
  features: Array<{ name: string; policy: 'require' | 'disable' }>;
  /** family/model/stepping from CPUID leaf 1, when the data has one. */
  signature?: { family: number; model: number; stepping: number };
}

/** A CPU model the hypervisor offers, with the features that keep it from running here. */
export interface HypervisorCpuModel {
  name: string;
  blockers?: string[];
  usable?: 'yes' | 'no' | 'unknown';
}
