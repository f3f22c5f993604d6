/**
 * The QEMU driver's domain capabilities and CPU APIs (qemu_driver.c): virConnectGetDomainCapabilities,
 * virConnectGetCPUModelNames, virConnectCompareCPU / CompareHypervisorCPU and
 * virConnectBaselineCPU / BaselineHypervisorCPU. The binary, virt type and machine are looked up
 * as virQEMUCapsCacheLookupDefault does, from the host probe (`@qvirt/host-prober`, cached on
 * disk and once per driver here).
 */

import { existsSync, readdirSync } from 'node:fs';
import {
  type HostModelCpu as CoreHostModelCpu,
  readCapabilitiesXml,
  VirError,
  virCheckFlags,
  virReportError,
} from '@qvirt/core';
import { VIR_CONNECT_BASELINE_CPU, VIR_CONNECT_COMPARE_CPU, VIR_CPU_COMPARE } from '@qvirt/core/hypervisor';
import {
  type CpuCompareOutcome,
  type GuestCpu,
  type HostCpuDescription,
  x86Baseline,
  x86Compare,
  x86ExpandFeatures,
  x86Models,
} from '@qvirt/cpu';
import {
  cacheKeyFor,
  discoverEmulators,
  type EmulatorChoice,
  findInPath,
  groupList,
  hostArch,
  kvmMaxVcpus,
  kvmState,
  type ProbeResult,
  probeBinary,
  QVIRT_VERSION,
  readCache,
  resolveQemuIds,
  writeCache,
} from '@qvirt/host-prober';
import type { FirmwareDescriptor } from '@qvirt/qemu-argv';
import { formatGuestCpu, parseCpuXml, parseCpuXmlList } from './cpu-xml.js';
import {
  accelOf,
  checkDomainCapsArgs,
  type DomainCapsHost,
  type DomainCapsRequest,
  domainCapabilitiesXml,
  featureFromQemu,
  hostModelCpu,
  hypervisorModels,
  resolveDomainCapsRequest,
} from './domain-capabilities.js';
import { hostSwtpm } from './host-swtpm.js';

/** What the APIs need from the driver. */
export interface HypervisorCpuSource {
  /** This host's arch and the emulator serving each guest arch (virQEMUCapsGetDefaultEmulator). */
  emulators(): { hostArch: string; choices: readonly EmulatorChoice[] };
  /** One binary's probe, from the capabilities cache while it is valid (virQEMUCapsCacheLookup). */
  probeBinary(binary: string): Promise<ProbeResult>;
  /** The host facts of domain capabilities. */
  domCapsHost(hostArch: string): Promise<DomainCapsHost> | DomainCapsHost;
  /** `virsh capabilities` of this driver (its `<host><cpu>` is the host CPU). */
  capabilitiesXml(): Promise<string>;
}

const X86 = new Set(['i686', 'x86_64']);
const NO_MODEL_LIST = new Set(['armv6l', 'armv7l', 'armv7b', 'aarch64', 's390', 's390x']);

/** libvirt's compare result number. */
function resultNumber(out: CpuCompareOutcome): number {
  return out.result === 'identical'
    ? VIR_CPU_COMPARE.IDENTICAL
    : out.result === 'superset'
      ? VIR_CPU_COMPARE.SUPERSET
      : VIR_CPU_COMPARE.INCOMPATIBLE;
}

export class HypervisorCpuApis {
  #probes = new Map<string, Promise<ProbeResult>>();

  constructor(private readonly source: HypervisorCpuSource) {}

  /** A binary's probe, once per driver (a failed one is tried again). */
  #probe(binary: string): Promise<ProbeResult> {
    let p = this.#probes.get(binary);
    if (!p) {
      p = this.source.probeBinary(binary).catch((err) => {
        this.#probes.delete(binary);
        throw err;
      });
      this.#probes.set(binary, p);
    }
    return p;
  }

  /** virQEMUCapsCacheLookupDefault: the binary's probe and the resolved request. */
  async lookup(
    emulatorbin: string | null,
    arch: string | null,
    machine: string | null,
    virttype: string | null,
  ): Promise<{ probe: ProbeResult; req: DomainCapsRequest; hostArch: string }> {
    checkDomainCapsArgs(arch, virttype);
    const host = this.source.emulators();
    const wantArch = arch ?? host.hostArch;
    let binary = emulatorbin;
    if (binary === null) {
      binary = host.choices.find((e) => e.arch === wantArch && e.osType === 'hvm')?.binary ?? null;
      if (binary === null) {
        throw virReportError(
          'CONFIG_UNSUPPORTED',
          'qemu',
          `unable to find any emulator to serve '${arch ?? '(null)'}' architecture`,
        );
      }
    }
    const probe = await this.#probe(binary);
    const req = resolveDomainCapsRequest(probe, { binary, hostArch: host.hostArch, arch, virttype, machine });
    return { probe, req, hostArch: host.hostArch };
  }

  /**
   * The host-model CPU of a guest's emulator, arch and virt type, as a start and domxml-to-native
   * use it (virQEMUCapsGetHostModel of the emulator's capabilities); undefined where there is none.
   */
  async hostModel(
    emulator: string | null,
    arch: string,
    virttype: string,
  ): Promise<CoreHostModelCpu | undefined> {
    const { probe, req, hostArch } = await this.lookup(emulator, arch, null, virttype);
    const cpu = hostModelCpu(probe, accelOf(req.virttype), hostArch);
    // virQEMUCapsInitHostCPUModel keeps both copies; a guest starts from the migratable one
    const migratable = hostModelCpu(probe, accelOf(req.virttype), hostArch, true);
    return (
      cpu && {
        arch: req.arch,
        virtType: req.virttype,
        ...(emulator ? { emulator } : {}),
        ...cpu,
        ...(migratable ? { migratable } : {}),
      }
    );
  }

  async domainCapabilities(
    emulatorbin: string | null,
    arch: string | null,
    machine: string | null,
    virttype: string | null,
    flags: number,
  ): Promise<string> {
    virCheckFlags(flags, 0, 'qemuConnectGetDomainCapabilities');
    const { probe, req, hostArch } = await this.lookup(emulatorbin, arch, machine, virttype);
    return domainCapabilitiesXml(probe, req, await this.source.domCapsHost(hostArch));
  }

  /** qemuConnectGetCPUModelNames → virCPUGetModels. */
  async cpuModelNames(
    arch: string,
    needResults: number,
    flags: number,
  ): Promise<{ models: string[]; ret: number }> {
    virCheckFlags(flags, 0, 'qemuConnectGetCPUModelNames');
    try {
      checkDomainCapsArgs(arch, null);
    } catch {
      throw virReportError('INVALID_ARG', 'qemu', `cannot find architecture ${arch}`);
    }
    if (X86.has(arch)) {
      const models = x86Models().map((m) => m.name);
      return { models: needResults ? models : [], ret: models.length };
    }
    // CPU drivers without a model list accept any model
    if (NO_MODEL_LIST.has(arch)) return { models: [], ret: 0 };
    throw new VirError(
      'NO_SUPPORT',
      'cpu',
      `this function is not supported by the connection driver: '${arch}' architecture is not supported by CPU driver`,
    );
  }

  /** The host CPU of capabilities (virQEMUDriverGetHostCPU). */
  async #hostCpu(): Promise<HostCpuDescription | undefined> {
    const caps = readCapabilitiesXml(await this.source.capabilitiesXml());
    return caps.cpu as HostCpuDescription | undefined;
  }

  /** qemuConnectCompareCPU → virCPUCompareXML against the host CPU. */
  async compareCPU(xml: string, flags: number): Promise<number> {
    const C = VIR_CONNECT_COMPARE_CPU;
    virCheckFlags(flags, C.FAIL_INCOMPATIBLE | C.VALIDATE_XML, 'qemuConnectCompareCPU');
    const host = await this.#hostCpu();
    const cpu = parseCpuXml(xml, 'auto');
    const arch = hostArch();
    if (!X86.has(arch)) {
      throw virReportError('NO_SUPPORT', 'cpu', `cannot compare CPUs of ${arch} architecture`);
    }
    return resultNumber(x86Compare(host, cpu, (flags & C.FAIL_INCOMPATIBLE) !== 0));
  }

  /** qemuConnectCompareHypervisorCPU: against the host-model CPU of the binary and virt type. */
  async compareHypervisorCPU(
    emulator: string | null,
    arch: string | null,
    machine: string | null,
    virttype: string | null,
    xmlCPU: string,
    flags: number,
  ): Promise<number> {
    const C = VIR_CONNECT_COMPARE_CPU;
    virCheckFlags(flags, C.FAIL_INCOMPATIBLE | C.VALIDATE_XML, 'qemuConnectCompareHypervisorCPU');
    const { probe, req, hostArch } = await this.lookup(emulator, arch, machine, virttype);
    const hv = hostModelCpu(probe, accelOf(req.virttype), hostArch);
    if (!hv) {
      throw virReportError(
        'OPERATION_UNSUPPORTED',
        'qemu',
        `QEMU '${probe.caps.emulator}' does not support reporting CPU model for virttype '${req.virttype}'`,
      );
    }
    if (!X86.has(req.arch)) {
      throw virReportError(
        'OPERATION_UNSUPPORTED',
        'qemu',
        `comparing with the hypervisor CPU is not supported for arch ${req.arch}`,
      );
    }
    const cpu = parseCpuXml(xmlCPU, 'auto');
    const host: HostCpuDescription & { type: 'guest' } = { type: 'guest', ...hv, arch: req.arch };
    return resultNumber(x86Compare(host, cpu, (flags & C.FAIL_INCOMPATIBLE) !== 0));
  }

  /** qemuConnectBaselineCPU. */
  async baselineCPU(xmlCPUs: string[], flags: number): Promise<string> {
    const B = VIR_CONNECT_BASELINE_CPU;
    virCheckFlags(flags, B.EXPAND_FEATURES | B.MIGRATABLE, 'qemuConnectBaselineCPU');
    const cpus = parseCpuXmlList(xmlCPUs, 'host');
    let cpu: GuestCpu = x86Baseline(cpus, { migratable: (flags & B.MIGRATABLE) !== 0 });
    // virQEMUCapsCPUFilterFeatures: QEMU has no such features
    cpu = { ...cpu, features: cpu.features.filter((f) => !QEMU_FILTERED.has(f.name)) };
    if (flags & B.EXPAND_FEATURES) cpu = x86ExpandFeatures(cpu);
    return formatGuestCpu(cpu);
  }

  /** qemuConnectBaselineHypervisorCPU: the baseline limited to the binary's models and features. */
  async baselineHypervisorCPU(
    emulator: string | null,
    arch: string | null,
    machine: string | null,
    virttype: string | null,
    xmlCPUs: string[],
    flags: number,
  ): Promise<string> {
    const B = VIR_CONNECT_BASELINE_CPU;
    virCheckFlags(flags, B.EXPAND_FEATURES | B.MIGRATABLE, 'qemuConnectBaselineHypervisorCPU');
    let migratable = (flags & B.MIGRATABLE) !== 0;
    const cpus = parseCpuXmlList(xmlCPUs, 'auto');
    const { probe, req } = await this.lookup(emulator, arch, machine, virttype);
    const accel = accelOf(req.virttype);
    const models = probe.caps.cpuModels[accel];
    if (models.length === 0) {
      throw virReportError(
        'OPERATION_UNSUPPORTED',
        'qemu',
        `QEMU '${probe.caps.emulator}' does not support any CPU models for virttype '${req.virttype}'`,
      );
    }
    if (!X86.has(req.arch)) {
      throw virReportError(
        'OPERATION_UNSUPPORTED',
        'qemu',
        `computing baseline hypervisor CPU is not supported for arch ${req.arch}`,
      );
    }
    // virQEMUCapsGetCPUFeatures: every property of QEMU's host CPU expansion
    const info = probe.hostCpu?.[accel];
    let features: string[] | undefined;
    if (info) {
      features = info.props
        .filter((p) => !(migratable && p.migratable === false))
        .map((p) => featureFromQemu(p.name));
      if (!(migratable && !info.migratability)) migratable = false;
    }
    let cpu: GuestCpu = x86Baseline(cpus, {
      models: hypervisorModels(probe, accel),
      ...(features ? { features } : {}),
      migratable,
    });
    cpu = { ...cpu, fallback: 'forbid' };
    if (flags & B.EXPAND_FEATURES) cpu = x86ExpandFeatures(cpu);
    return formatGuestCpu(cpu);
  }
}

/** virQEMUCapsCPUFilterFeatures: features QEMU does not know and libvirt drops from baselines. */
const QEMU_FILTERED = new Set(['cmt', 'mbm_total', 'mbm_local', 'osxsave', 'ospke']);

// ---- host facts -------------------------------------------------------------------------

/** qemuHostdevHostSupportsPassthroughVFIO: an IOMMU group exists and /dev/vfio/vfio too. */
export function hostSupportsVfio(): boolean {
  try {
    if (readdirSync('/sys/kernel/iommu_groups').length === 0) return false;
  } catch {
    return false;
  }
  return existsSync('/dev/vfio/vfio');
}

// ---- the driver's side ----------------------------------------------------------------------

/** What `cpuApisFor` reads of a driver (its public face, plus its firmware descriptors). */
export interface CpuApisDriver {
  readonly conf: { user?: string; group?: string; nvram?: string[] };
  readonly layout: { cacheDir: string };
  readonly env: Readonly<Record<string, string | undefined>>;
  connectGetCapabilities(): Promise<string>;
}

/** The APIs of one driver: its QEMU user, cache folder, search path and firmware descriptors. */
export function cpuApisFor(
  driver: CpuApisDriver,
  firmwares: () => readonly FirmwareDescriptor[] | (() => readonly FirmwareDescriptor[]) | undefined,
): HypervisorCpuApis {
  const ids = () => {
    try {
      return resolveQemuIds(driver.conf.user, driver.conf.group);
    } catch {
      return resolveQemuIds(undefined, undefined);
    }
  };
  const cacheDir = `${driver.layout.cacheDir}/capabilities`;
  const path = driver.env.PATH ?? '/usr/bin:/bin';
  let swtpm: Promise<{ versions: Array<'1.2' | '2.0'> } | undefined> | undefined;
  return new HypervisorCpuApis({
    emulators: () => {
      const arch = hostArch();
      return { hostArch: arch, choices: discoverEmulators({ path, hostArch: arch }) };
    },
    // the same cache file and key as the host probe's (probeHost), so the two share it
    async probeBinary(binary) {
      const { uid, gid } = ids();
      const kvmUsable = kvmState({ uid, gid }).usable;
      const key = await cacheKeyFor(binary, QVIRT_VERSION, kvmUsable).catch(() => {
        throw virReportError(
          'INVALID_ARG',
          'qemu',
          `Cannot check QEMU binary ${binary}: No such file or directory`,
        );
      });
      const hit = await readCache(cacheDir, key);
      if (hit) return hit;
      const root = process.getuid?.() === 0;
      const result = await probeBinary(binary, {
        // libvirt offers QEMU KVM whenever /dev/kvm exists (accel=kvm:tcg)
        kvmUsable: existsSync('/dev/kvm'),
        env: driver.env,
        ...(root ? { uid, gid, groups: groupList(uid, gid) } : {}),
      }).catch((err) => {
        throw virReportError('INTERNAL_ERROR', 'qemu', (err as Error).message.split('\n')[0] ?? '');
      });
      await writeCache(cacheDir, key, result).catch(() => {});
      return result;
    },
    async domCapsHost(hostArchName) {
      swtpm ??= hostSwtpm((n) => findInPath(n, path));
      const fw = firmwares();
      return {
        hostArch: hostArchName,
        firmwares: (typeof fw === 'function' ? fw() : fw) ?? [],
        nvram: driver.conf.nvram ?? [],
        fileExists: existsSync,
        vfio: hostSupportsVfio(),
        ...(((await swtpm) ? { swtpm: (await swtpm)! } : {}) as object),
        kvmMaxVcpus: () => kvmMaxVcpus(),
      };
    },
    capabilitiesXml: () => driver.connectGetCapabilities(),
  });
}
