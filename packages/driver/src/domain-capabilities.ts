/**
 * Domain capabilities (virConnectGetDomainCapabilities) as libvirt 9.0's QEMU driver computes and
 * prints them: virQEMUCapsCacheLookupDefault picks the binary, virtualization type and machine,
 * virQEMUDriverGetDomainCapabilities checks them, virQEMUCapsFillDomainCaps fills in what the
 * binary's probe and the host offer, and virDomainCapsFormat prints it.
 *
 * The rendering is a pure function of the probe (`ProbeResult`, libvirt's capabilities cache
 * content) and `DomainCapsHost` (the few facts that are the host's, not QEMU's: firmware
 * descriptors and which of their files exist, VFIO, swtpm, KVM's vCPU limit), so a probe
 * libvirt wrote renders the same on any machine.
 */
import { CHARDEV_TYPES, VIRT_TYPES, VirError, virReportError } from '@qvirt/core';
import {
  type HypervisorCpuModel,
  X86Data,
  x86DataSetSignature,
  x86Decode,
  x86Feature,
  x86FeatureData,
  x86Features,
  x86Models,
  x86VendorForModel,
  x86VendorStringData,
} from '@qvirt/cpu';
import type { ProbeResult } from '@qvirt/host-prober';
import { type Accel, type FirmwareDescriptor, firmwareMatchesMachineArch } from '@qvirt/qemu-argv';

/** The host's part of domain capabilities. */
export interface DomainCapsHost {
  /** libvirt arch of this host. */
  hostArch: string;
  /** QEMU firmware descriptors (qemuFirmwareFetchParsedConfigs). */
  firmwares: readonly FirmwareDescriptor[];
  /** qemu.conf `nvram` entries (`CODE:VARS`), used when there is no descriptor at all. */
  nvram?: readonly string[];
  /** Whether a loader file exists (virFileExists). */
  fileExists: (path: string) => boolean;
  /** qemuHostdevHostSupportsPassthroughVFIO: an IOMMU and /dev/vfio/vfio. */
  vfio: boolean;
  /** swtpm when installed (virTPMHasSwtpm), with the TPM versions swtpm_setup supports. */
  swtpm?: { versions: ReadonlyArray<'1.2' | '2.0'> };
  /** KVM_CAP_MAX_VCPUS (virHostCPUGetKVMMaxVCPUs), asked only for `kvm`. */
  kvmMaxVcpus: () => number;
  /** s390 only: whether KVM runs secure guests (virQEMUCapsGetKVMSupportsSecureGuest). */
  kvmSecureGuest?: boolean;
  /** SEV guest limits from CPUID 0x8000001F (virQEMUCapsGetSEVMaxGuests). */
  sevMaxGuests?: { maxGuests: number; maxESGuests: number };
}

/** libvirt's virArch names (virArchFromString). */
const ARCH_NAMES = new Set([
  'i686',
  'x86_64',
  'aarch64',
  'alpha',
  'armv6l',
  'armv7l',
  'armv7b',
  'cris',
  'lm32',
  'm68k',
  'microblaze',
  'microblazeel',
  'mips',
  'mipsel',
  'mips64',
  'mips64el',
  'openrisc',
  'parisc',
  'parisc64',
  'ppc',
  'ppcle',
  'ppc64',
  'ppc64le',
  'ppcemb',
  'riscv32',
  'riscv64',
  's390',
  's390x',
  'sh4',
  'sh4eb',
  'sparc',
  'sparc64',
  'unicore32',
  'xtensa',
  'xtensaeb',
]);

const isX86 = (a: string) => a === 'x86_64' || a === 'i686';
const isPPC = (a: string) => a.startsWith('ppc');
const isArm = (a: string) => a === 'armv6l' || a === 'armv7l' || a === 'armv7b' || a === 'aarch64';
const isS390 = (a: string) => a === 's390' || a === 's390x';

/** virQEMUCapsGetAccel: KVM and HVF share the accelerated probe, everything else is TCG's. */
export const accelOf = (virttype: string): Accel =>
  virttype === 'kvm' || virttype === 'hvf' ? 'kvm' : 'tcg';

/** virQEMUCapsGuestIsNative. */
export function guestIsNative(host: string, guest: string): boolean {
  if (host === guest) return true;
  if (host === 'x86_64' && guest === 'i686') return true;
  if (host === 'aarch64' && guest === 'armv7l') return true;
  return (host === 'ppc64' || host === 'ppc64le') && (guest === 'ppc64' || guest === 'ppc64le');
}

/** virQEMUCapsIsArchSupported. */
function archSupported(capsArch: string, arch: string): boolean {
  return (
    arch === capsArch ||
    (capsArch === 'x86_64' && arch === 'i686') ||
    (capsArch === 'aarch64' && arch === 'armv7l') ||
    (capsArch === 'armv7l' && arch === 'armv6l') ||
    (capsArch === 'ppc64' && arch === 'ppc64le')
  );
}

/** virQEMUCapsIsVirtTypeSupported. */
function virtTypeSupported(flags: ReadonlySet<string>, virttype: string): boolean {
  return (
    (virttype === 'qemu' && flags.has('tcg')) ||
    (virttype === 'hvf' && flags.has('hvf')) ||
    (virttype === 'kvm' && flags.has('kvm'))
  );
}

/** What virsh's arguments resolve to. */
export interface DomainCapsRequest {
  /** The canonical machine type (no alias). */
  machine: string;
  arch: string;
  virttype: string;
}

/** The binary to probe for a request (virQEMUCapsCacheLookupDefault's first half). */
export function checkDomainCapsArgs(arch: string | null, virttype: string | null): void {
  if (virttype !== null && !(VIRT_TYPES as readonly string[]).includes(virttype)) {
    throw virReportError('INVALID_ARG', 'qemu', `unknown virttype: ${virttype}`);
  }
  if (arch !== null && !ARCH_NAMES.has(arch)) {
    throw virReportError('INVALID_ARG', 'qemu', `unknown architecture: ${arch}`);
  }
}

/**
 * virQEMUCapsCacheLookupDefault's second half and virQEMUDriverGetDomainCapabilities' checks:
 * given the probe of the chosen binary, the architecture, virt type and canonical machine.
 */
export function resolveDomainCapsRequest(
  probe: ProbeResult,
  opts: {
    binary: string;
    hostArch: string;
    arch: string | null;
    virttype: string | null;
    machine: string | null;
  },
): DomainCapsRequest {
  const caps = probe.caps;
  const arch = opts.arch ?? opts.hostArch;
  const sameFamily =
    (isX86(arch) && isX86(caps.arch)) ||
    (isPPC(arch) && isPPC(caps.arch)) ||
    (isArm(arch) && isArm(caps.arch)) ||
    (isS390(arch) && isS390(caps.arch));
  if (caps.arch !== arch && !sameFamily) {
    throw virReportError(
      'INVALID_ARG',
      'qemu',
      `architecture from emulator '${caps.arch}' doesn't match given architecture '${arch}'`,
    );
  }
  const capsType = caps.flags.has('kvm') ? 'kvm' : 'qemu';
  const virttype = opts.virttype === null || opts.virttype === 'none' ? capsType : opts.virttype;
  if (virttype !== 'qemu' && capsType === 'qemu') {
    const accelStr = virttype === 'kvm' ? 'kvm' : virttype === 'hvf' ? 'hvf' : 'tcg';
    throw virReportError(
      'INVALID_ARG',
      'qemu',
      `the accel '${accelStr}' is not supported by '${opts.binary}' on this host`,
    );
  }
  const machines = caps.machines[accelOf(virttype)];
  let machine: string | undefined;
  if (opts.machine !== null) {
    machine = machines.find((m) => m.alias === opts.machine)?.name ?? opts.machine;
    if (!machines.some((m) => m.name === machine)) {
      throw virReportError(
        'INVALID_ARG',
        'qemu',
        `the machine '${machine}' is not supported by emulator '${opts.binary}'`,
      );
    }
  } else {
    machine = machines[0]?.name;
  }
  // virQEMUDriverGetDomainCapabilities
  if (!archSupported(caps.arch, arch)) {
    throw virReportError(
      'INVALID_ARG',
      'qemu',
      `Emulator '${caps.emulator}' does not support arch '${arch}'`,
    );
  }
  if (!virtTypeSupported(caps.flags, virttype)) {
    throw virReportError(
      'INVALID_ARG',
      'qemu',
      `Emulator '${caps.emulator}' does not support virt type '${virttype}'`,
    );
  }
  if (machine === undefined || !machines.some((m) => m.name === machine)) {
    throw virReportError(
      'CONFIG_UNSUPPORTED',
      'qemu',
      `Emulator '${caps.emulator}' does not support machine type '${machine ?? '(null)'}'`,
    );
  }
  return { machine, arch, virttype };
}

// ---- machine classes (qemu_domain.c) ------------------------------------------------------

const isI440FX = (m: string, arch: string) =>
  isX86(arch) &&
  (m === 'pc' ||
    m.startsWith('pc-0.') ||
    m.startsWith('pc-1.') ||
    m.startsWith('pc-i440fx-') ||
    m.startsWith('rhel'));
const hasBuiltinIDE = (m: string, arch: string) =>
  isI440FX(m, arch) || m === 'malta' || m === 'sun4u' || m === 'g3beige';
const isPSeries = (m: string, arch: string) =>
  (arch === 'ppc64' || arch === 'ppc64le') && (m === 'pseries' || m.startsWith('pseries-'));
const isArmVirt = (m: string, arch: string) =>
  (arch === 'armv6l' || arch === 'armv7l' || arch === 'aarch64') && (m === 'virt' || m.startsWith('virt-'));

// ---- the model -------------------------------------------------------------------------------

/** A host-model CPU (virCPUDef of a guest, as domain capabilities print it). */
export interface HostModelCpu {
  model: string;
  vendor?: string;
  features: Array<{ name: string; policy: 'require' | 'disable' }>;
}

/** QEMU's spellings of features (virQEMUCapsCPUFeatureFromQEMU), from the CPU map's `qemu` aliases. */
let qemuSpellings: Map<string, string> | undefined;
export function featureFromQemu(name: string): string {
  if (!qemuSpellings) {
    qemuSpellings = new Map();
    for (const f of x86Features()) {
      for (const a of f.aliases) if (a.source === 'qemu') qemuSpellings.set(a.name, f.name);
    }
  }
  return x86Feature(name) ? name : (qemuSpellings.get(name) ?? name);
}

/**
 * The CPU models QEMU offers for an accelerator, with usability and blockers
 * (virQEMUCapsGetCPUModels); blockers in libvirt's feature names, as libvirt reads them from
 * its cache (virQEMUCapsCPUFeatureFromQEMUInPlace).
 */
export function hypervisorModels(probe: ProbeResult, accel: Accel): HypervisorCpuModel[] {
  return probe.caps.cpuModels[accel].map((m) => {
    const blockers = probe.cpuBlockers[accel]?.[m.name];
    return {
      name: m.name,
      usable: m.usable === undefined ? 'unknown' : m.usable ? 'yes' : 'no',
      ...(blockers ? { blockers: blockers.map(featureFromQemu) } : {}),
    };
  });
}

/**
 * The host-model CPU libvirt reports for an accelerator (virQEMUCapsInitHostCPUModel's
 * `reported` CPU): QEMU's expansion of the host (`host` on KVM, `max` on TCG) turned into CPUID
 * data (virQEMUCapsGetCPUModelX86Data) and decoded to the closest model QEMU offers. Undefined
 * when libvirt would have none (no expansion, a foreign arch, not x86).
 */
export function hostModelCpu(
  probe: ProbeResult,
  accel: Accel,
  hostArch: string,
  migratable = false,
): HostModelCpu | undefined {
  const caps = probe.caps;
  if (!guestIsNative(hostArch, caps.arch) || !isX86(caps.arch)) return undefined;
  const info = probe.hostCpu?.[accel];
  if (!info) return undefined;
  const data = new X86Data();
  let family = 0;
  let model = 0;
  let stepping = 0;
  for (const p of info.props) {
    const name = featureFromQemu(p.name);
    if (p.type === 'boolean') {
      // the migratable copy skips what QEMU leaves out of a migratable CPU (invtsc, …)
      if (!p.value || (migratable && p.migratable === false)) continue;
      const f = x86Feature(name);
      if (f) data.add(x86FeatureData(f));
    } else if (p.type === 'string') {
      if (name === 'vendor') data.add(x86VendorStringData(String(p.value)));
    } else if (name === 'family') family = Number(p.value);
    else if (name === 'model') model = Number(p.value);
    else if (name === 'stepping') stepping = Number(p.value);
  }
  x86DataSetSignature(data, family, model, stepping);
  const decoded = x86Decode(data, { models: hypervisorModels(probe, accel), type: 'guest' });
  let features = decoded.features;
  // virCPUx86FeatureFilterDropMSR, for QEMU that cannot report unavailable features
  if (!caps.flags.has('cpu-unavailable-features'))
    features = features.filter((f) => !x86Feature(f.name)?.msr);
  return { model: decoded.model, ...(decoded.vendor ? { vendor: decoded.vendor } : {}), features };
}

/** The custom models of domain capabilities: QEMU's models the CPU map knows, in QEMU's order. */
export function customCpuModels(
  probe: ProbeResult,
  accel: Accel,
): Array<{ name: string; usable: 'yes' | 'no' | 'unknown'; deprecated: boolean; vendor?: string }> {
  if (!isX86(probe.caps.arch)) return [];
  const known = new Set(x86Models().map((m) => m.name));
  return probe.caps.cpuModels[accel]
    .filter((m) => known.has(m.name) && m.name !== 'host')
    .map((m) => {
      const vendor = x86VendorForModel(m.name);
      return {
        name: m.name,
        usable: m.usable === undefined ? 'unknown' : m.usable ? 'yes' : 'no',
        deprecated: m.deprecated === true,
        ...(vendor ? { vendor } : {}),
      };
    });
}

/** qemuFirmwareGetSupported plus virQEMUCapsFillDomainLoaderCaps' file list. */
function firmwareSupport(machine: string, arch: string, host: DomainCapsHost) {
  const interfaces = new Set<string>();
  let secure = false;
  const pairs: Array<{ name: string; nvram?: string }> = [];
  for (const fw of host.firmwares) {
    if (!firmwareMatchesMachineArch(fw, machine, arch)) continue;
    for (const i of fw.interfaces) {
      if (i === 'uefi') interfaces.add('efi');
      if (i === 'bios') interfaces.add('bios');
    }
    if (fw.features.includes('requires-smm')) secure = true;
    let name: string | undefined;
    let nvram: string | undefined;
    if (fw.mapping.device === 'flash') {
      name = fw.mapping.executable.filename;
      nvram = 'nvramTemplate' in fw.mapping ? fw.mapping.nvramTemplate?.filename : undefined;
    } else if (fw.mapping.device === 'memory') {
      name = fw.mapping.filename;
    }
    if (name !== undefined && !pairs.some((p) => p.name === name && p.nvram === nvram)) {
      pairs.push({ name, ...(nvram !== undefined ? { nvram } : {}) });
    }
  }
  // The descriptors' files; when none matches (or there is none), qemu.conf's nvram list
  // (cfg->firmwares): libvirt's empty list of matches is a NULL one (g_renew to 0)
  const candidates =
    pairs.length > 0 ? pairs.map((p) => p.name) : (host.nvram ?? []).map((e) => e.split(':')[0] ?? e);
  const loaders: string[] = [];
  for (const name of candidates) {
    if (!host.fileExists(name) || loaders.includes(name)) continue;
    loaders.push(name);
  }
  return { interfaces, secure, loaders };
}

// ---- formatting (virDomainCapsFormat) -------------------------------------------------------

const esc = (s: string) =>
  s.replace(
    /[&<>'"]/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', "'": '&apos;', '"': '&quot;' })[c]!,
  );

/** An `<enum>`: values in libvirt's enum order, whatever order they were set in. */
function enumLines(
  name: string,
  order: readonly string[],
  set: ReadonlySet<string>,
  indent: string,
): string[] {
  const values = order.filter((v) => set.has(v));
  if (values.length === 0) return [`${indent}<enum name='${name}'/>`];
  return [
    `${indent}<enum name='${name}'>`,
    ...values.map((v) => `${indent}  <value>${v}</value>`),
    `${indent}</enum>`,
  ];
}

const ENUMS = {
  firmware: ['bios', 'efi'],
  loaderType: ['rom', 'pflash'],
  tristate: ['yes', 'no'],
  switch: ['on', 'off'],
  memorySource: ['file', 'anonymous', 'memfd'],
  diskDevice: ['disk', 'cdrom', 'floppy', 'lun'],
  diskBus: ['ide', 'fdc', 'scsi', 'virtio', 'xen', 'usb', 'uml', 'sata', 'sd'],
  diskModel: ['virtio', 'virtio-transitional', 'virtio-non-transitional'],
  graphics: ['sdl', 'vnc', 'rdp', 'desktop', 'spice', 'egl-headless', 'dbus'],
  video: [
    'vga',
    'cirrus',
    'vmvga',
    'xen',
    'vbox',
    'qxl',
    'parallels',
    'virtio',
    'gop',
    'none',
    'bochs',
    'ramfb',
  ],
  hostdevMode: ['subsystem', 'capabilities'],
  startupPolicy: ['default', 'mandatory', 'requisite', 'optional'],
  subsysType: ['usb', 'pci', 'scsi', 'scsi_host', 'mdev'],
  pciBackend: ['default', 'kvm', 'vfio', 'xen'],
  rngModel: ['virtio', 'virtio-transitional', 'virtio-non-transitional'],
  rngBackend: ['random', 'egd', 'builtin'],
  fsDriver: ['path', 'handle', 'loop', 'nbd', 'ploop', 'virtiofs'],
  tpmModel: ['tpm-tis', 'tpm-crb', 'tpm-spapr', 'spapr-tpm-proxy'],
  tpmBackend: ['passthrough', 'emulator', 'external'],
  tpmVersion: ['1.2', '2.0'],
  channel: [...CHARDEV_TYPES],
  gic: ['2', '3'],
} as const;

/** A device or feature element: `supported='no'` alone, or its enums. */
function block(name: string, supported: boolean, body: string[], indent: string): string[] {
  if (!supported) return [`${indent}<${name} supported='no'/>`];
  return [`${indent}<${name} supported='yes'>`, ...body, `${indent}</${name}>`];
}

/** virQEMUCapsFillDomainCaps + virDomainCapsFormat for one binary, machine, arch and virt type. */
export function domainCapabilitiesXml(
  probe: ProbeResult,
  req: DomainCapsRequest,
  host: DomainCapsHost,
): string {
  const caps = probe.caps;
  const flags = caps.flags;
  const has = (f: string) => flags.has(f);
  const { machine, arch, virttype } = req;
  const accel = accelOf(virttype);
  const out: string[] = ['<domainCapabilities>'];
  out.push(`  <path>${esc(caps.emulator)}</path>`);
  out.push(`  <domain>${virttype}</domain>`);
  out.push(`  <machine>${esc(machine)}</machine>`);
  out.push(`  <arch>${arch}</arch>`);

  let maxvcpus = caps.machines[accel].find((m) => m.name === machine && m.maxCpus)?.maxCpus ?? 0;
  if (virttype === 'kvm') maxvcpus = Math.min(maxvcpus, host.kvmMaxVcpus());
  if (maxvcpus) out.push(`  <vcpu max='${maxvcpus}'/>`);
  out.push(`  <iothreads supported='${has('iothread') ? 'yes' : 'no'}'/>`);

  // os
  const fw = firmwareSupport(machine, arch, host);
  out.push("  <os supported='yes'>");
  out.push(...enumLines('firmware', ENUMS.firmware, fw.interfaces, '    '));
  out.push("    <loader supported='yes'>");
  for (const l of fw.loaders) out.push(`      <value>${esc(l)}</value>`);
  out.push(...enumLines('type', ENUMS.loaderType, new Set(['rom', 'pflash']), '      '));
  out.push(...enumLines('readonly', ENUMS.tristate, new Set(['yes', 'no']), '      '));
  out.push(...enumLines('secure', ENUMS.tristate, new Set(fw.secure ? ['yes', 'no'] : ['no']), '      '));
  out.push('    </loader>', '  </os>');

  // cpu
  out.push('  <cpu>');
  const passthrough = virttype !== 'qemu' && guestIsNative(host.hostArch, caps.arch);
  if (passthrough) {
    out.push("    <mode name='host-passthrough' supported='yes'>");
    out.push(
      ...enumLines(
        'hostPassthroughMigratable',
        ENUMS.switch,
        new Set(has('cpu.migratable') ? ['on', 'off'] : ['off']),
        '      ',
      ),
    );
    out.push('    </mode>');
  } else out.push("    <mode name='host-passthrough' supported='no'/>");
  if (has('cpu-max')) {
    out.push("    <mode name='maximum' supported='yes'>");
    out.push(...enumLines('maximumMigratable', ENUMS.switch, new Set(['on', 'off']), '      '));
    out.push('    </mode>');
  } else out.push("    <mode name='maximum' supported='no'/>");
  const hostModel = hostModelCpu(probe, accel, host.hostArch);
  if (hostModel) {
    out.push("    <mode name='host-model' supported='yes'>");
    out.push(`      <model fallback='forbid'>${esc(hostModel.model)}</model>`);
    if (hostModel.vendor) out.push(`      <vendor>${esc(hostModel.vendor)}</vendor>`);
    for (const f of hostModel.features)
      out.push(`      <feature policy='${f.policy}' name='${esc(f.name)}'/>`);
    out.push('    </mode>');
  } else out.push("    <mode name='host-model' supported='no'/>");
  const custom = customCpuModels(probe, accel);
  if (custom.length > 0) {
    out.push("    <mode name='custom' supported='yes'>");
    for (const m of custom) {
      out.push(
        `      <model usable='${m.usable}'${m.deprecated ? " deprecated='yes'" : ''} vendor='${m.vendor ?? 'unknown'}'>${esc(m.name)}</model>`,
      );
    }
    out.push('    </mode>');
  } else out.push("    <mode name='custom' supported='no'/>");
  out.push('  </cpu>');

  // memoryBacking
  const memory = new Set(['anonymous', 'file']);
  if (has('memory-backend-memfd')) memory.add('memfd');
  out.push(
    ...block('memoryBacking', true, enumLines('sourceType', ENUMS.memorySource, memory, '    '), '  '),
  );

  out.push('  <devices>');
  const d = '      ';
  // disk
  const diskDevice = new Set(['disk', 'cdrom', 'lun']);
  const diskBus = new Set(['scsi', 'virtio']);
  if (!isPSeries(machine, caps.arch)) {
    diskDevice.add('floppy');
    diskBus.add('fdc');
  }
  if (hasBuiltinIDE(machine, caps.arch)) diskBus.add('ide');
  if (has('usb-storage')) diskBus.add('usb');
  if (has('ich9-ahci')) diskBus.add('sata');
  const transitional = has('virtio-pci-non-transitional');
  const diskModel = new Set([
    'virtio',
    ...(transitional ? ['virtio-transitional', 'virtio-non-transitional'] : []),
  ]);
  out.push(
    ...block(
      'disk',
      true,
      [
        ...enumLines('diskDevice', ENUMS.diskDevice, diskDevice, d),
        ...enumLines('bus', ENUMS.diskBus, diskBus, d),
        ...enumLines('model', ENUMS.diskModel, diskModel, d),
      ],
      '    ',
    ),
  );
  // graphics
  const graphics = new Set<string>();
  for (const [flag, type] of [
    ['sdl', 'sdl'],
    ['vnc', 'vnc'],
    ['spice', 'spice'],
    ['egl-headless', 'egl-headless'],
    ['display-dbus', 'dbus'],
  ] as const) {
    if (has(flag)) graphics.add(type);
  }
  out.push(...block('graphics', true, enumLines('type', ENUMS.graphics, graphics, d), '    '));
  // video
  const video = new Set(['none']);
  for (const [flag, type] of [
    ['VGA', 'vga'],
    ['cirrus-vga', 'cirrus'],
    ['vmware-svga', 'vmvga'],
    ['qxl', 'qxl'],
    ['virtio-gpu', 'virtio'],
    ['bochs-display', 'bochs'],
    ['ramfb', 'ramfb'],
  ] as const) {
    if (has(flag)) video.add(type);
  }
  out.push(...block('video', true, enumLines('modelType', ENUMS.video, video, d), '    '));
  // hostdev
  const subsys = new Set(['pci', 'scsi']);
  const usbHosts = [
    'piix3-usb-uhci',
    'piix4-usb-uhci',
    'usb-ehci',
    'ich9-usb-ehci1',
    'vt82c686b-usb-uhci',
    'pci-ohci',
    'nec-usb-xhci',
    'qemu-xhci',
  ];
  if (usbHosts.some(has)) subsys.add('usb');
  const pciBackend = new Set<string>(host.vfio && has('vfio-pci') ? ['default', 'vfio'] : []);
  out.push(
    ...block(
      'hostdev',
      true,
      [
        ...enumLines('mode', ENUMS.hostdevMode, new Set(['subsystem']), d),
        ...enumLines('startupPolicy', ENUMS.startupPolicy, new Set(ENUMS.startupPolicy), d),
        ...enumLines('subsysType', ENUMS.subsysType, subsys, d),
        `${d}<enum name='capsType'/>`,
        ...enumLines('pciBackend', ENUMS.pciBackend, pciBackend, d),
      ],
      '    ',
    ),
  );
  // rng
  const rngModel = new Set<string>();
  if (has('virtio-rng')) {
    rngModel.add('virtio');
    if (transitional) rngModel.add('virtio-transitional').add('virtio-non-transitional');
  }
  const rngBackend = new Set<string>();
  if (has('rng-egd')) rngBackend.add('egd');
  if (has('rng-random')) rngBackend.add('random');
  if (has('rng-builtin')) rngBackend.add('builtin');
  out.push(
    ...block(
      'rng',
      true,
      [
        ...enumLines('model', ENUMS.rngModel, rngModel, d),
        ...enumLines('backendModel', ENUMS.rngBackend, rngBackend, d),
      ],
      '    ',
    ),
  );
  // filesystem
  const fsDriver = new Set(['path', 'handle']);
  if (has('vhost-user-fs')) fsDriver.add('virtiofs');
  out.push(...block('filesystem', true, enumLines('driverType', ENUMS.fsDriver, fsDriver, d), '    '));
  // tpm
  const tpmModel = new Set<string>();
  for (const [flag, m] of [
    ['tpm-tis', 'tpm-tis'],
    ['tpm-crb', 'tpm-crb'],
    ['tpm-spapr', 'tpm-spapr'],
    ['spapr-tpm-proxy', 'spapr-tpm-proxy'],
  ] as const) {
    if (has(flag)) tpmModel.add(m);
  }
  const tpmBackend = new Set<string>();
  if (has('tpm-passthrough')) tpmBackend.add('passthrough');
  const tpmVersions = new Set<string>();
  if (host.swtpm) {
    if (has('tpm-emulator')) tpmBackend.add('emulator').add('external');
    for (const v of host.swtpm.versions) tpmVersions.add(v);
  }
  out.push(
    ...block(
      'tpm',
      tpmModel.size > 0,
      [
        ...enumLines('model', ENUMS.tpmModel, tpmModel, d),
        ...enumLines('backendModel', ENUMS.tpmBackend, tpmBackend, d),
        ...(tpmVersions.size > 0 ? enumLines('backendVersion', ENUMS.tpmVersion, tpmVersions, d) : []),
      ],
      '    ',
    ),
  );
  // redirdev
  out.push(...block('redirdev', has('usb-redir'), enumLines('bus', ['usb'], new Set(['usb']), d), '    '));
  // channel
  const channel = new Set(['pty', 'unix']);
  if (has('spice')) channel.add('spicevmc');
  out.push(...block('channel', true, enumLines('type', ENUMS.channel, channel, d), '    '));
  out.push('  </devices>');

  // features
  out.push('  <features>');
  const gicVersions = new Set<string>();
  if (isArmVirt(machine, arch)) {
    for (const g of probe.gic ?? []) {
      if ((virttype === 'kvm' && g.kernel) || (virttype === 'qemu' && g.emulated))
        gicVersions.add(String(g.version));
    }
  }
  out.push(
    ...block('gic', gicVersions.size > 0, enumLines('version', ENUMS.gic, gicVersions, '      '), '    '),
  );
  out.push(`    <vmcoreinfo supported='${has('vmcoreinfo') ? 'yes' : 'no'}'/>`);
  out.push(`    <genid supported='${has('vmgenid') ? 'yes' : 'no'}'/>`);
  out.push("    <backingStoreInput supported='yes'/>");
  out.push(`    <backup supported='${has('incremental-backup') ? 'yes' : 'no'}'/>`);
  if (isS390(caps.arch)) {
    const pv = has('confidential-guest-support') && has('s390-pv-guest') && host.kvmSecureGuest === true;
    out.push(`    <s390-pv supported='${pv ? 'yes' : 'no'}'/>`);
  }
  if (probe.sev) {
    const s = probe.sev;
    out.push("    <sev supported='yes'>");
    out.push(
      `      <cbitpos>${s.cbitpos}</cbitpos>`,
      `      <reducedPhysBits>${s.reducedPhysBits}</reducedPhysBits>`,
    );
    out.push(`      <maxGuests>${host.sevMaxGuests?.maxGuests ?? 0}</maxGuests>`);
    out.push(`      <maxESGuests>${host.sevMaxGuests?.maxESGuests ?? 0}</maxESGuests>`);
    if (s.cpu0Id !== undefined) out.push(`      <cpu0Id>${s.cpu0Id}</cpu0Id>`);
    out.push('    </sev>');
  } else out.push("    <sev supported='no'/>");
  if (probe.sgx) {
    const s = probe.sgx;
    out.push("    <sgx supported='yes'>");
    out.push(`      <flc>${s.flc ? 'yes' : 'no'}</flc>`, `      <sgx1>${s.sgx1 ? 'yes' : 'no'}</sgx1>`);
    out.push(`      <sgx2>${s.sgx2 ? 'yes' : 'no'}</sgx2>`);
    out.push(`      <section_size unit='KiB'>${s.sectionSize}</section_size>`);
    if (s.sections.length > 0) {
      out.push('      <sections>');
      for (const sec of s.sections)
        out.push(`        <section node='${sec.node}' size='${sec.size}' unit='KiB'/>`);
      out.push('      </sections>');
    }
    out.push('    </sgx>');
  } else out.push("    <sgx supported='no'/>");
  if (probe.hypervCapabilities) {
    out.push("    <hyperv supported='yes'>");
    out.push(...enumLines('features', probe.hypervCapabilities, new Set(probe.hypervCapabilities), '      '));
    out.push('    </hyperv>');
  }
  out.push('  </features>');
  out.push('</domainCapabilities>');
  return `${out.join('\n')}\n`;
}

/** A VirError is passed on; anything else becomes libvirt's internal error. */
export function asVirError(err: unknown): VirError {
  return err instanceof VirError ? err : virReportError('INTERNAL_ERROR', 'qemu', (err as Error).message);
}
