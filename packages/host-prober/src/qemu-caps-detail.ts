/**
 * What libvirt's capabilities cache keeps about one QEMU binary beyond `QemuCaps`: the host CPU
 * as QEMU expands it per accelerator (`<hostCPU>`, query-cpu-model-expansion), the Hyper-V
 * enlightenments KVM offers (`<hypervCapabilities>`), and the SEV, SGX and GIC capabilities.
 * Domain capabilities are computed from them (virQEMUCapsFillDomainCaps). Read and written in
 * libvirt's cache format (virQEMUCapsLoadCache / virQEMUCapsFormatCache), so a cache file
 * libvirt wrote is read like qvirt's own.
 */
import { parseXml, type XmlElement } from '@qvirt/core';
import { type Accel, parseQemuCapsXml } from '@qvirt/qemu-argv';
import type { ProbeResult } from './probe.js';

/** One property of an expanded CPU model (qemuMonitorCPUProperty). */
export interface CpuModelProperty {
  name: string;
  type: 'boolean' | 'string' | 'number';
  value: boolean | string | number;
  /** Set when the migratable and non-migratable expansions were compared (x86). */
  migratable?: boolean;
}

/** qemuMonitorCPUModelInfo: the host CPU model QEMU expanded, with its properties. */
export interface CpuModelInfo {
  /** The expanded model's name (`base` for a static expansion, `host`/`max` otherwise). */
  name: string;
  /** Whether the properties say which features are migratable. */
  migratability: boolean;
  props: CpuModelProperty[];
}

/** virSEVCapability as the cache keeps it (query-sev-capabilities). */
export interface SevCapability {
  cbitpos: number;
  reducedPhysBits: number;
  pdh: string;
  certChain: string;
  cpu0Id?: string;
}

/** virSGXCapability (query-sgx-capabilities). */
export interface SgxCapability {
  flc: boolean;
  sgx1: boolean;
  sgx2: boolean;
  /** KiB. */
  sectionSize: number;
  sections: Array<{ node: number; size: number }>;
}

/** virGICCapability (query-gic-capabilities). */
export interface GicCapability {
  version: number;
  kernel: boolean;
  emulated: boolean;
}

/** The extra probe data, all optional: a binary or arch without them simply has none. */
export interface QemuCapsExtras {
  hostCpu?: Partial<Record<Accel, CpuModelInfo>>;
  /** Hyper-V enlightenments (libvirt's names: `spinlocks`, `vendor_id`, …) in libvirt's order. */
  hypervCapabilities?: string[];
  sev?: SevCapability;
  sgx?: SgxCapability;
  gic?: GicCapability[];
}

const children = (el: XmlElement, name: string): XmlElement[] =>
  el.children.filter((c): c is XmlElement => typeof c !== 'string' && c.name === name);
const textOf = (el: XmlElement | undefined): string | undefined =>
  el === undefined ? undefined : el.children.filter((c) => typeof c === 'string').join('');
const childText = (el: XmlElement, name: string): string | undefined => textOf(children(el, name)[0]);

function parseHostCpu(el: XmlElement): CpuModelInfo {
  const props: CpuModelProperty[] = [];
  for (const p of children(el, 'property')) {
    const { name, type, value, migratable } = p.attributes;
    if (!name || (type !== 'boolean' && type !== 'string' && type !== 'number')) continue;
    const parsed =
      type === 'boolean' ? value === 'true' : type === 'number' ? Number(value ?? 0) : (value ?? '');
    props.push({
      name,
      type,
      value: parsed,
      ...(migratable === 'yes' || migratable === 'no' ? { migratable: migratable === 'yes' } : {}),
    });
  }
  return { name: el.attributes.model ?? '', migratability: el.attributes.migratability === 'yes', props };
}

/** The extras of a `<qemuCaps>` document already parsed. */
export function extrasFromQemuCapsElement(root: XmlElement): QemuCapsExtras {
  const out: QemuCapsExtras = {};
  for (const h of children(root, 'hostCPU')) {
    const type = (h.attributes.type ?? 'kvm') as Accel;
    if (type !== 'kvm' && type !== 'tcg') continue;
    out.hostCpu ??= {};
    out.hostCpu[type] = parseHostCpu(h);
  }
  const hv = children(root, 'hypervCapabilities')[0];
  if (hv && hv.attributes.supported === 'yes') {
    out.hypervCapabilities = children(hv, 'cap').map((c) => c.attributes.name ?? '');
  }
  const sev = children(root, 'sev')[0];
  if (sev) {
    const cpu0Id = childText(sev, 'cpu0Id');
    out.sev = {
      cbitpos: Number(childText(sev, 'cbitpos') ?? 0),
      reducedPhysBits: Number(childText(sev, 'reducedPhysBits') ?? 0),
      pdh: childText(sev, 'pdh') ?? '',
      certChain: childText(sev, 'certChain') ?? '',
      ...(cpu0Id !== undefined ? { cpu0Id } : {}),
    };
  }
  const sgx = children(root, 'sgx')[0];
  if (sgx && sgx.attributes.supported !== 'no') {
    const sections = children(sgx, 'sections')[0];
    out.sgx = {
      flc: childText(sgx, 'flc') === 'yes',
      sgx1: childText(sgx, 'sgx1') === 'yes',
      sgx2: childText(sgx, 'sgx2') === 'yes',
      sectionSize: Number(childText(sgx, 'section_size') ?? 0),
      sections: sections
        ? children(sections, 'section').map((s) => ({
            node: Number(s.attributes.node ?? 0),
            size: Number(s.attributes.size ?? 0),
          }))
        : [],
    };
  }
  const gic = children(root, 'gic');
  if (gic.length > 0) {
    out.gic = gic.map((g) => ({
      version: Number(g.attributes.version ?? 0),
      kernel: g.attributes.kernel === 'yes',
      emulated: g.attributes.emulated === 'yes',
    }));
  }
  return out;
}

/** CPU blockers per accelerator and model, from the `<cpu>` elements. */
export function cpuBlockersFromQemuCapsElement(root: XmlElement): Record<Accel, Record<string, string[]>> {
  const cpuBlockers: Record<Accel, Record<string, string[]>> = { kvm: {}, tcg: {} };
  for (const cpu of children(root, 'cpu')) {
    const blockers = children(cpu, 'blocker').map((b) => b.attributes.name ?? '');
    const type = (cpu.attributes.type ?? 'kvm') as Accel;
    if (blockers.length > 0 && cpu.attributes.name && type in cpuBlockers) {
      cpuBlockers[type][cpu.attributes.name] = blockers;
    }
  }
  return cpuBlockers;
}

/**
 * The cache document without its bulk: the host CPU properties and the CPU blockers are most of
 * its lines, and a generic XML parser spends most of its time on them. Both writers (libvirt's
 * virQEMUCapsFormatCache and qvirt's) put each of them on a line of its own.
 */
const BULK_LINE = /^[ \t]*<(?:property|blocker) [^\n]*\n/gm;
export function withoutBulk(xml: string): string {
  return xml.replace(BULK_LINE, '');
}

const ATTR = /([\w.-]+)='([^']*)'/g;
const UNESCAPE: Record<string, string> = { amp: '&', lt: '<', gt: '>', apos: "'", quot: '"' };
const unescapeXml = (v: string) => v.replace(/&(amp|lt|gt|apos|quot);/g, (_m, e: string) => UNESCAPE[e]!);
function lineAttrs(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of line.matchAll(ATTR)) out[m[1]!] = unescapeXml(m[2]!);
  return out;
}

/**
 * The `<hostCPU>` properties and `<cpu>` blockers, read line by line (see withoutBulk), in an
 * element tree shaped as parseXml would give it: `<hostCPU>` and `<cpu>` elements with their
 * `<property>` / `<blocker>` children.
 */
function bulkElements(xml: string): XmlElement[] {
  const out: XmlElement[] = [];
  let open: XmlElement | undefined;
  for (const line of xml.split('\n')) {
    const t = line.trimStart();
    if (t.startsWith('<hostCPU ') || (t.startsWith('<cpu ') && !t.endsWith('/>'))) {
      open = { name: t.startsWith('<hostCPU') ? 'hostCPU' : 'cpu', attributes: lineAttrs(t), children: [] };
      out.push(open);
    } else if (t.startsWith('</hostCPU>') || t.startsWith('</cpu>')) {
      open = undefined;
    } else if (open && (t.startsWith('<property ') || t.startsWith('<blocker '))) {
      open.children.push({
        name: t.startsWith('<property') ? 'property' : 'blocker',
        attributes: lineAttrs(t),
        children: [],
      });
    }
  }
  return out;
}

/**
 * A whole `<qemuCaps>` cache document (libvirt's or qvirt's) as a probe result: `QemuCaps`, the
 * package, CPU blockers and the extras.
 */
export function parseQemuCapsCache(xml: string, source = 'qemuCaps'): ProbeResult {
  const light = withoutBulk(xml);
  const root = parseXml(light, source);
  const caps = parseQemuCapsXml(light, source);
  // the elements the light document kept empty, filled from their lines
  const bulk = bulkElements(xml);
  const full: XmlElement = {
    ...root,
    children: [
      ...root.children.filter((c) => typeof c === 'string' || (c.name !== 'hostCPU' && c.name !== 'cpu')),
      ...bulk,
    ],
  };
  return {
    caps,
    package: childText(root, 'package') ?? '',
    cpuBlockers: cpuBlockersFromQemuCapsElement(full),
    ...extrasFromQemuCapsElement(full),
  };
}

const esc = (value: string): string =>
  value.replace(
    /[&<>'"]/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', "'": '&apos;', '"': '&quot;' })[c]!,
  );

/** virQEMUCapsFormatHostCPUModelInfo, indented for a `<qemuCaps>` child. */
export function formatHostCpuElement(accel: Accel, info: CpuModelInfo): string[] {
  const out = [
    `  <hostCPU type='${accel}' model='${esc(info.name)}' migratability='${info.migratability ? 'yes' : 'no'}'>`,
  ];
  for (const p of info.props) {
    const value = p.type === 'boolean' ? (p.value ? 'true' : 'false') : esc(String(p.value));
    const mig = p.migratable === undefined ? '' : ` migratable='${p.migratable ? 'yes' : 'no'}'`;
    out.push(`    <property name='${esc(p.name)}' type='${p.type}' value='${value}'${mig}/>`);
  }
  out.push('  </hostCPU>');
  return out;
}

/** The GIC, SEV, SGX and Hyper-V elements, in virQEMUCapsFormatCache's order. */
export function formatExtrasElements(extras: QemuCapsExtras): string[] {
  const out: string[] = [];
  for (const g of extras.gic ?? []) {
    out.push(
      `  <gic version='${g.version}' kernel='${g.kernel ? 'yes' : 'no'}' emulated='${g.emulated ? 'yes' : 'no'}'/>`,
    );
  }
  if (extras.sev) {
    const s = extras.sev;
    out.push(
      '  <sev>',
      `    <cbitpos>${s.cbitpos}</cbitpos>`,
      `    <reducedPhysBits>${s.reducedPhysBits}</reducedPhysBits>`,
    );
    out.push(`    <pdh>${esc(s.pdh)}</pdh>`, `    <certChain>${esc(s.certChain)}</certChain>`);
    if (s.cpu0Id !== undefined) out.push(`    <cpu0Id>${esc(s.cpu0Id)}</cpu0Id>`);
    out.push('  </sev>');
  }
  if (extras.sgx) {
    const s = extras.sgx;
    out.push("  <sgx supported='yes'>");
    out.push(`    <flc>${s.flc ? 'yes' : 'no'}</flc>`, `    <sgx1>${s.sgx1 ? 'yes' : 'no'}</sgx1>`);
    out.push(`    <sgx2>${s.sgx2 ? 'yes' : 'no'}</sgx2>`);
    out.push(`    <section_size unit='KiB'>${s.sectionSize}</section_size>`);
    if (s.sections.length > 0) {
      out.push('    <sections>');
      for (const sec of s.sections)
        out.push(`      <section node='${sec.node}' size='${sec.size}' unit='KiB'/>`);
      out.push('    </sections>');
    }
    out.push('  </sgx>');
  }
  if (extras.hypervCapabilities) {
    out.push("  <hypervCapabilities supported='yes'>");
    for (const c of extras.hypervCapabilities) out.push(`    <cap name='${esc(c)}'/>`);
    out.push('  </hypervCapabilities>');
  }
  return out;
}
