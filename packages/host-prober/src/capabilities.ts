/**
 * libvirt's capabilities XML (`virsh capabilities`, virCapabilitiesFormatXML): the host section
 * and one `<guest>` per os_type/arch built from the probed emulators
 * (virQEMUCapsInitGuestFromBinary).
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { QemuCaps } from '@qvirt/qemu-argv';
import { escapeXml } from './caps-xml.js';
import { hostArch, wordsize } from './discover.js';
import type { HostProbe } from './host-prober.js';

export interface SecModel {
  model: string;
  doi: string;
  /** `[virt type, label]`, e.g. `['kvm', '+64055:+64055']`. */
  baseLabels?: [string, string][];
}

export interface HostCpu {
  arch: string;
  /** libvirt's host-model name (from its CPU map); omitted when unknown. */
  model?: string;
  vendor?: string;
  microcode?: number;
  signature?: { family: number; model: number; stepping: number };
  topology?: { sockets: number; dies: number; cores: number; threads: number };
  /** Page sizes in KiB. */
  pages?: number[];
}

export interface HostInfo {
  uuid?: string;
  cpu: HostCpu;
  iommu?: boolean;
  /** Default `['tcp', 'rdma']`, what the QEMU driver registers. */
  migrationTransports?: string[];
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

const read = (p: string): string | undefined => {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
};

function formatUuid(hex: string): string | undefined {
  const h = hex.replace(/-/g, '').trim().toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(h) || /^0+$/.test(h) || /^f+$/.test(h)) return undefined;
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** What /proc and /sys say about this host (`sysRoot` for tests). */
export function readHostInfo(sysRoot = ''): HostInfo {
  const uuid =
    formatUuid(read(`${sysRoot}/sys/devices/virtual/dmi/id/product_uuid`) ?? '') ??
    formatUuid(read(`${sysRoot}/etc/machine-id`) ?? '');
  const cpuinfo = read(`${sysRoot}/proc/cpuinfo`) ?? '';
  const field = (name: string) => cpuinfo.match(new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm'))?.[1]?.trim();
  const vendorId = field('vendor_id');
  const vendor =
    vendorId === 'AuthenticAMD'
      ? 'AMD'
      : vendorId === 'GenuineIntel'
        ? 'Intel'
        : vendorId === 'HygonGenuine'
          ? 'Hygon'
          : vendorId;
  const cpu: HostCpu = { arch: hostArch() };
  if (vendor) cpu.vendor = vendor;
  const micro = field('microcode');
  if (micro && /^0x[0-9a-f]+$/i.test(micro)) cpu.microcode = Number.parseInt(micro, 16);
  const fam = field('cpu family');
  const mod = field('model');
  const step = field('stepping');
  if (fam && mod && step && /^\d+$/.test(mod)) {
    cpu.signature = { family: Number(fam), model: Number(mod), stepping: Number(step) };
  }
  // topology of cpu0's package, as libvirt reports it
  const topo = (cpuN: string, f: string) =>
    read(`${sysRoot}/sys/devices/system/cpu/${cpuN}/topology/${f}`)?.trim();
  let cpus: string[] = [];
  try {
    cpus = readdirSync(`${sysRoot}/sys/devices/system/cpu`).filter((d) => /^cpu\d+$/.test(d));
  } catch {}
  if (cpus.length > 0) {
    const pkgs = new Set(cpus.map((c) => topo(c, 'physical_package_id')));
    const dies = new Set(cpus.map((c) => `${topo(c, 'physical_package_id')}/${topo(c, 'die_id') ?? 0}`));
    const cores = new Set(cpus.map((c) => `${topo(c, 'physical_package_id')}/${topo(c, 'core_id')}`));
    const sockets = Math.max(1, pkgs.size);
    const diesPer = Math.max(1, Math.round(dies.size / sockets));
    const coresPer = Math.max(1, Math.round(cores.size / dies.size || 1));
    const threads = Math.max(1, Math.round(cpus.length / cores.size || 1));
    cpu.topology = { sockets, dies: diesPer, cores: coresPer, threads };
  }
  const pages = [4];
  try {
    for (const d of readdirSync(`${sysRoot}/sys/kernel/mm/hugepages`)) {
      const kb = d.match(/^hugepages-(\d+)kB$/)?.[1];
      if (kb) pages.push(Number(kb));
    }
  } catch {}
  cpu.pages = pages.sort((a, b) => a - b);
  return { ...(uuid ? { uuid } : {}), cpu };
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

/** libvirt 9.0's `virsh capabilities` document. */
export function capabilitiesXml(input: CapabilitiesInput): string {
  const { host } = input;
  const out = ['<capabilities>', '', '  <host>'];
  if (host.uuid) out.push(`    <uuid>${host.uuid}</uuid>`);
  out.push('    <cpu>', `      <arch>${escapeXml(host.cpu.arch)}</arch>`);
  if (host.cpu.model) out.push(`      <model>${escapeXml(host.cpu.model)}</model>`);
  if (host.cpu.vendor) out.push(`      <vendor>${escapeXml(host.cpu.vendor)}</vendor>`);
  if (host.cpu.microcode !== undefined) out.push(`      <microcode version='${host.cpu.microcode}'/>`);
  const sig = host.cpu.signature;
  if (sig)
    out.push(`      <signature family='${sig.family}' model='${sig.model}' stepping='${sig.stepping}'/>`);
  const t = host.cpu.topology;
  if (t) {
    out.push(
      `      <topology sockets='${t.sockets}' dies='${t.dies}' cores='${t.cores}' threads='${t.threads}'/>`,
    );
  }
  for (const p of host.cpu.pages ?? []) out.push(`      <pages unit='KiB' size='${p}'/>`);
  out.push('    </cpu>', '    <power_management/>', `    <iommu support='${host.iommu ? 'yes' : 'no'}'/>`);
  const transports = host.migrationTransports ?? ['tcp', 'rdma'];
  out.push('    <migration_features>', '      <live/>');
  if (transports.length > 0) {
    out.push('      <uri_transports>');
    for (const tr of transports) out.push(`        <uri_transport>${escapeXml(tr)}</uri_transport>`);
    out.push('      </uri_transports>');
  }
  out.push('    </migration_features>');
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
