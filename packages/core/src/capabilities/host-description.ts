/**
 * What a conversion needs to know about the host it runs on, beyond the QEMU binary: the NUMA
 * nodes (libvirt refuses a `<numatune>` nodeset naming a node the host lacks) and the host CPU
 * (the CPU `virsh capabilities` reports, and per emulator arch and virt type the host-model CPU
 * that `virsh domcapabilities` reports and `<cpu mode='host-model'>` becomes at start).
 *
 * It lives in core because it is read from libvirt's capabilities and domain capabilities XML,
 * documents core owns; the QEMU rules that use it live in @qvirt/qemu-argv.
 */

export type CpuFeaturePolicy = 'force' | 'require' | 'optional' | 'disable' | 'forbid';

export interface HostCpuFeature {
  name: string;
  /** Absent for the host CPU of `virsh capabilities` (a feature there is present). */
  policy?: CpuFeaturePolicy;
}

/** One host NUMA node (`<topology><cells><cell>` of `virsh capabilities`). */
export interface HostNumaNode {
  id: number;
  /** Memory of the node in KiB, when known. */
  memoryKiB?: number;
  /** Host CPU ids of the node. */
  cpus: number[];
}

/** The host CPU as libvirt's virCPUGetHost sees it (`<host><cpu>` of `virsh capabilities`). */
export interface HostCpuDescription {
  arch: string;
  /** libvirt's name of the closest CPU model, e.g. `kvm64`. */
  model?: string;
  vendor?: string;
  /** Features present on top of the model, in libvirt's names. */
  features: HostCpuFeature[];
  /** The TSC counter (`<counter name='tsc'>`): frequency in Hz, scaling absent when unknown. */
  tsc?: { frequency: number; scaling?: 'yes' | 'no' };
}

/**
 * The host-model CPU of one emulator arch and virt type (`<mode name='host-model'>` of
 * `virsh domcapabilities`): what QEMU's query-cpu-model-expansion says the host offers,
 * as a libvirt model plus require/disable features.
 */
export interface HostModelCpu {
  /** Guest arch of the emulator (`<arch>` of domcapabilities), e.g. `x86_64`, `i686`. */
  arch: string;
  /** `kvm` or `qemu` (`<domain>` of domcapabilities). */
  virtType: string;
  /** The emulator binary it was probed from (`<path>` of domcapabilities). */
  emulator?: string;
  model: string;
  fallback?: 'allow' | 'forbid';
  vendor?: string;
  features: HostCpuFeature[];
  /**
   * The same CPU decoded without the features QEMU leaves out of a migratable CPU (libvirt's
   * VIR_QEMU_CAPS_HOST_CPU_MIGRATABLE copy, which a host-model guest starts from); absent when
   * only the full one is known (`nonMigratableFeatures` below is then subtracted from it).
   */
  migratable?: { model: string; vendor?: string; features: HostCpuFeature[] };
}

export interface HostDescription {
  /** Host NUMA nodes; absent when unknown (NUMA availability is then not checked). */
  numa?: { nodes: HostNumaNode[] };
  /** The host CPU; absent when unknown. */
  cpu?: HostCpuDescription;
  /**
   * Host-model CPUs, one per emulator and virt type that has one; absent when unknown (a
   * host-model guest is then refused as needing the host CPU description).
   */
  hostModels?: HostModelCpu[];
  /**
   * Features QEMU leaves out of a migratable host CPU (query-cpu-model-expansion with
   * `migratable` off adds them), in libvirt's names, e.g. `invtsc`. libvirt starts a host-model
   * guest from the migratable host CPU (VIR_QEMU_CAPS_HOST_CPU_MIGRATABLE).
   */
  nonMigratableFeatures?: string[];
}

/**
 * The host-model CPU libvirt uses for a guest (virQEMUCapsGetHostModel of the emulator's
 * capabilities): the one probed from the guest's emulator, else the one of the guest's arch.
 */
export function hostModelFor(
  host: HostDescription,
  guest: { arch: string; virtType: string; emulator?: string },
): HostModelCpu | undefined {
  const ofType = (host.hostModels ?? []).filter((m) => m.virtType === guest.virtType);
  return (
    (guest.emulator !== undefined ? ofType.find((m) => m.emulator === guest.emulator) : undefined) ??
    ofType.find((m) => m.arch === guest.arch)
  );
}

/** virNumaNodeIsAvailable: the node exists on the host. */
export function hostNumaNodeExists(host: HostDescription, node: number): boolean {
  return host.numa === undefined || host.numa.nodes.some((n) => n.id === node);
}
