/**
 * libvirt's capabilities XML (`virsh capabilities`, virCapabilitiesFormatXML): the host section
 * and one `<guest>` per os_type/arch built from the probed emulators
 * (virQEMUCapsInitGuestFromBinary).
 */
import type { QemuCaps } from '@qvirt/qemu-argv';
import { escapeXml } from './caps-xml.js';
import { hostArch, wordsize } from './discover.js';
import { type HostCpuidProbe, hostCpuFromProbe, readHostCpu } from './host-cpu.js';
import { type HostFs, realHostFs } from './host-fs.js';
import type { HostProbe } from './host-prober.js';
import {
  type CacheBank,
  formatCpuList,
  type HostCell,
  hostCacheBanks,
  hostHasIommu,
  hostNodeInfo,
  hostNumaCells,
  hostPages,
  prettySize,
} from './host-topology.js';

export interface SecModel {
  model: string;
  doi: string;
  /** `[virt type, label]`, e.g. `['kvm', '+64055:+64055']`. */
  baseLabels?: [string, string][];
}

export interface HostCpu {
  arch: string;
  /** libvirt's name of the closest CPU model (decoded from CPUID); omitted when unknown. */
  model?: string;
  vendor?: string;
  microcode?: number;
  signature?: { family: number; model: number; stepping: number };
  counter?: { name: 'tsc'; frequency: number; scaling: boolean };
  topology?: { sockets: number; dies: number; cores: number; threads: number };
  maxphysaddr?: { mode: 'emulate'; bits: number };
  /** Features on top of the model, in the CPU map's order. */
  features?: string[];
  /** Page sizes in KiB. */
  pages?: number[];
}

export interface HostInfo {
  uuid?: string;
  cpu: HostCpu;
  iommu?: boolean;
  /**
   * virCapabilitiesNew's offlineMigrate/liveMigrate; default both, as the QEMU driver creates
   * its capabilities. Without offline migration there is no `<migration_features>` at all.
   */
  migration?: { offline: boolean; live: boolean };
  /** Default `['tcp', 'rdma']`, what the QEMU driver registers. */
  migrationTransports?: string[];
  /** `<power_management>` targets (suspend_mem, suspend_disk, suspend_hybrid); none known: empty. */
  powerManagement?: string[];
  /** NUMA cells (`<topology><cells>`). */
  cells?: HostCell[];
  /** Cache banks (`<cache>`). */
  cache?: CacheBank[];
}

export interface GuestArch {
  osType: 'hvm' | 'xen';
  arch: string;
  wordsize: number;
  emulator: string;
  machines: { name: string; canonical?: string; maxCpus?: number; deprecated?: boolean }[];
  domainTypes: string[];
  features: { name: string; default?: 'on' | 'off'; toggle?: 'yes' | 'no' }[];
}

export interface CapabilitiesInput {
  host: HostInfo;
  guests: GuestArch[];
  /** One per stacked security driver, in stack order; `none` until the security work lands. */
  secModels?: SecModel[];
}

function formatUuid(hex: string): string | undefined {
  const h = hex.replace(/-/g, '').trim().toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(h) || /^0+$/.test(h) || /^f+$/.test(h)) return undefined;
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** `/sys/.../product_uuid`, else `/etc/machine-id` (the host UUID libvirt falls back to SMBIOS for). */
function hostUuid(fs: HostFs): string | undefined {
  return (
    formatUuid(fs.read('/sys/devices/virtual/dmi/id/product_uuid') ?? '') ??
    formatUuid(fs.read('/etc/machine-id') ?? '')
  );
}

/**
 * The host part of the capabilities (virQEMUCapsInit's host: CPU, pages, NUMA cells, caches,
 * IOMMU) from the host's files and what its CPU answered (`cpu`: see `readHostCpu`).
 */
export function hostInfoFrom(opts: { fs: HostFs; arch: string; cpu?: HostCpuidProbe }): HostInfo {
  const { fs, arch } = opts;
  const node = hostNodeInfo(fs, arch);
  const pages = hostPages(fs, -1).map((p) => p.size);
  const cpu = hostCpuFromProbe(arch, opts.cpu, fs, node, pages);
  const uuid = hostUuid(fs);
  return {
    ...(uuid ? { uuid } : {}),
    cpu,
    iommu: hostHasIommu(fs),
    cells: hostNumaCells(fs, arch),
    cache: hostCacheBanks(fs),
  };
}

/**
 * What /proc, /sys and the CPU say about this host; with `sysRoot` (tests) only the files under
 * it, no CPUID.
 */
export function readHostInfo(sysRoot = ''): HostInfo {
  const arch = hostArch();
  const cpu = sysRoot ? undefined : readHostCpu({ arch });
  return hostInfoFrom({ fs: realHostFs(sysRoot), arch, ...(cpu ? { cpu } : {}) });
}

/** The `<machine>` list of a guest (virQEMUCapsGetMachineTypesCaps): aliases name canonicals. */
export function guestMachines(caps: QemuCaps): GuestArch['machines'] {
  const list = caps.flags.has('kvm') ? caps.machines.kvm : caps.machines.tcg;
  const out: GuestArch['machines'] = list.map((m) => ({
    name: m.alias ?? m.name,
    ...(m.alias ? { canonical: m.name } : {}),
    maxCpus: m.maxCpus,
    deprecated: m.deprecated,
  }));
  for (let i = 0; i < out.length; i++) {
    const m = out[i]!;
    if (!m.canonical || out.some((x) => x.name === m.canonical)) continue;
    out.splice(i, 0, { name: m.canonical, maxCpus: m.maxCpus, deprecated: m.deprecated });
    i++;
  }
  return out;
}

const isX86 = (a: string) => a === 'i686' || a === 'x86_64';

/** One hvm guest from a probed binary (virQEMUCapsInitGuestFromBinary). */
export function guestFromCaps(arch: string, emulator: string, caps: QemuCaps): GuestArch {
  const domainTypes: string[] = [];
  if (caps.flags.has('tcg')) domainTypes.push('qemu');
  if (caps.flags.has('kvm')) domainTypes.push('kvm');
  if (caps.flags.has('hvf')) domainTypes.push('hvf');
  const features: GuestArch['features'] = [];
  if (arch === 'i686') features.push({ name: 'pae' }, { name: 'nonpae' });
  if (isX86(arch) || arch === 'aarch64') features.push({ name: 'acpi', default: 'on', toggle: 'yes' });
  if (isX86(arch)) features.push({ name: 'apic', default: 'on', toggle: 'no' });
  features.push({ name: 'cpuselection' }, { name: 'deviceboot' });
  features.push({ name: 'disksnapshot', default: 'on', toggle: 'no' });
  return {
    osType: 'hvm',
    arch,
    wordsize: wordsize(arch),
    emulator,
    machines: guestMachines(caps),
    domainTypes,
    features,
  };
}

/** Guests for every probed emulator (failed probes are left out, as libvirt does). */
export function guestsFromProbe(probe: HostProbe): GuestArch[] {
  const guests: GuestArch[] = [];
  for (const e of probe.emulators) {
    if (e.osType === 'xen') {
      guests.push({
        osType: 'xen',
        arch: e.arch,
        wordsize: wordsize(e.arch),
        emulator: e.binary,
        machines: [{ name: 'xenner' }],
        domainTypes: ['kvm'],
        features: [],
      });
    } else if (e.result) guests.push(guestFromCaps(e.arch, e.binary, e.result.caps));
  }
  return guests;
}

function formatGuest(g: GuestArch): string[] {
  const out = ['  <guest>', `    <os_type>${g.osType}</os_type>`, `    <arch name='${escapeXml(g.arch)}'>`];
  out.push(`      <wordsize>${g.wordsize}</wordsize>`);
  out.push(`      <emulator>${escapeXml(g.emulator)}</emulator>`);
  for (const m of g.machines) {
    out.push(
      `      <machine${m.canonical ? ` canonical='${escapeXml(m.canonical)}'` : ''}` +
        `${m.maxCpus ? ` maxCpus='${m.maxCpus}'` : ''}${m.deprecated ? ` deprecated='yes'` : ''}>` +
        `${escapeXml(m.name)}</machine>`,
    );
  }
  for (const d of g.domainTypes) out.push(`      <domain type='${d}'/>`);
  out.push('    </arch>');
  if (g.features.length > 0) {
    out.push('    <features>');
    for (const f of g.features) {
      out.push(
        `      <${f.name}${f.default ? ` default='${f.default}'` : ''}${f.toggle ? ` toggle='${f.toggle}'` : ''}/>`,
      );
    }
    out.push('    </features>');
  }
  out.push('  </guest>', '');
  return out;
}

/** virCapabilitiesHostNUMAFormat. */
function formatCells(cells: HostCell[]): string[] {
  const out = ['    <topology>', `      <cells num='${cells.length}'>`];
  for (const cell of cells) {
    out.push(`        <cell id='${cell.id}'>`);
    if (cell.memory) out.push(`          <memory unit='KiB'>${cell.memory}</memory>`);
    for (const p of cell.pages) out.push(`          <pages unit='KiB' size='${p.size}'>${p.avail}</pages>`);
    if (cell.distances.length) {
      out.push('          <distances>');
      for (const d of cell.distances) out.push(`            <sibling id='${d.id}' value='${d.value}'/>`);
      out.push('          </distances>');
    }
    out.push(`          <cpus num='${cell.cpus.length}'>`);
    for (const cpu of cell.cpus) {
      out.push(
        `            <cpu id='${cpu.id}' socket_id='${cpu.socketId}' die_id='${cpu.dieId}' core_id='${cpu.coreId}' siblings='${formatCpuList(cpu.siblings)}'/>`,
      );
    }
    out.push('          </cpus>', '        </cell>');
  }
  out.push('      </cells>', '    </topology>');
  return out;
}

/** virCapabilitiesFormatCaches (banks; resctrl controls are not read). */
function formatCache(banks: CacheBank[]): string[] {
  const out = ['    <cache>'];
  for (const b of banks) {
    const { value, unit } = prettySize(b.size);
    out.push(
      `      <bank id='${b.id}' level='${b.level}' type='${b.type}' size='${value}' unit='${unit}' cpus='${formatCpuList(b.cpus)}'/>`,
    );
  }
  out.push('    </cache>');
  return out;
}

/** libvirt 9.0's `virsh capabilities` document. */
export function capabilitiesXml(input: CapabilitiesInput): string {
  const { host } = input;
  const out = ['<capabilities>', '', '  <host>'];
  if (host.uuid) out.push(`    <uuid>${host.uuid}</uuid>`);
  out.push('    <cpu>', `      <arch>${escapeXml(host.cpu.arch)}</arch>`);
  const c = host.cpu;
  if (c.model) out.push(`      <model>${escapeXml(c.model)}</model>`);
  if (c.vendor) out.push(`      <vendor>${escapeXml(c.vendor)}</vendor>`);
  if (c.microcode) out.push(`      <microcode version='${c.microcode}'/>`);
  const sig = c.signature;
  if (sig)
    out.push(`      <signature family='${sig.family}' model='${sig.model}' stepping='${sig.stepping}'/>`);
  if (c.counter) {
    out.push(
      `      <counter name='${c.counter.name}' frequency='${c.counter.frequency}' scaling='${c.counter.scaling ? 'yes' : 'no'}'/>`,
    );
  }
  const t = c.topology;
  if (t) {
    out.push(
      `      <topology sockets='${t.sockets}' dies='${t.dies}' cores='${t.cores}' threads='${t.threads}'/>`,
    );
  }
  if (c.maxphysaddr)
    out.push(`      <maxphysaddr mode='${c.maxphysaddr.mode}' bits='${c.maxphysaddr.bits}'/>`);
  for (const f of c.features ?? []) out.push(`      <feature name='${escapeXml(f)}'/>`);
  for (const p of c.pages ?? []) out.push(`      <pages unit='KiB' size='${p}'/>`);
  out.push('    </cpu>');
  const pm = host.powerManagement ?? [];
  if (pm.length === 0) out.push('    <power_management/>');
  else out.push('    <power_management>', ...pm.map((x) => `      <${x}/>`), '    </power_management>');
  out.push(`    <iommu support='${host.iommu ? 'yes' : 'no'}'/>`);
  const transports = host.migrationTransports ?? ['tcp', 'rdma'];
  const migration = host.migration ?? { offline: true, live: true };
  if (migration.offline) {
    out.push('    <migration_features>');
    if (migration.live) out.push('      <live/>');
    if (transports.length > 0) {
      out.push('      <uri_transports>');
      for (const tr of transports) out.push(`        <uri_transport>${escapeXml(tr)}</uri_transport>`);
      out.push('      </uri_transports>');
    }
    out.push('    </migration_features>');
  }
  if (host.cells) out.push(...formatCells(host.cells));
  if (host.cache?.length) out.push(...formatCache(host.cache));
  for (const s of input.secModels ?? [{ model: 'none', doi: '0' }]) {
    out.push(
      '    <secmodel>',
      `      <model>${escapeXml(s.model)}</model>`,
      `      <doi>${escapeXml(s.doi)}</doi>`,
    );
    for (const [type, label] of s.baseLabels ?? []) {
      out.push(`      <baselabel type='${escapeXml(type)}'>${escapeXml(label)}</baselabel>`);
    }
    out.push('    </secmodel>');
  }
  out.push('  </host>', '');
  for (const g of input.guests) out.push(...formatGuest(g));
  out.push('</capabilities>');
  return `${out.join('\n')}\n`;
}
