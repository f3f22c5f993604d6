/**
 * Readers of libvirt's host description documents into a `HostDescription`: `virsh capabilities`
 * (virCapabilitiesFormatXML: host CPU and NUMA cells) and `virsh domcapabilities`
 * (virDomainCapsFormat: the host-model CPU of one emulator and virt type).
 */
import { type VirError, virReportError } from '../errors.js';
import { parseXml, type XmlElement } from '../xml/xml-tree.js';
import type {
  CpuFeaturePolicy,
  HostCpuDescription,
  HostCpuFeature,
  HostDescription,
  HostModelCpu,
  HostNumaNode,
} from './host-description.js';

const POLICIES: readonly CpuFeaturePolicy[] = ['force', 'require', 'optional', 'disable', 'forbid'];

function bad(source: string, message: string): VirError {
  return virReportError('XML_ERROR', 'capabilities', `${source}: ${message}`);
}

const children = (el: XmlElement | undefined, name: string): XmlElement[] =>
  (el?.children ?? []).filter((c): c is XmlElement => typeof c !== 'string' && c.name === name);
const child = (el: XmlElement | undefined, name: string): XmlElement | undefined => children(el, name)[0];
const text = (el: XmlElement | undefined): string | undefined =>
  el === undefined
    ? undefined
    : el.children
        .filter((c): c is string => typeof c === 'string')
        .join('')
        .trim();

function uint(source: string, value: string | undefined, what: string): number {
  if (value === undefined || !/^\d+$/.test(value)) throw bad(source, `invalid ${what} '${value ?? ''}'`);
  return Number(value);
}

function features(source: string, el: XmlElement | undefined, where: string): HostCpuFeature[] {
  return children(el, 'feature').map((f) => {
    const name = f.attributes.name;
    if (!name) throw bad(source, `missing feature name in ${where}`);
    const policy = f.attributes.policy;
    if (policy === undefined) return { name };
    if (!POLICIES.includes(policy as CpuFeaturePolicy)) {
      throw bad(source, `invalid CPU feature policy '${policy}' of feature '${name}' in ${where}`);
    }
    return { name, policy: policy as CpuFeaturePolicy };
  });
}

function root(xml: string, source: string, name: string): XmlElement {
  const el = parseXml(xml, source);
  if (el.name !== name) throw bad(source, `expected <${name}>, found <${el.name}>`);
  return el;
}

/** The host CPU and NUMA nodes of a `virsh capabilities` document. */
export function readCapabilitiesXml(
  xml: string,
  source = 'capabilities',
): Pick<HostDescription, 'cpu' | 'numa'> {
  const host = child(root(xml, source, 'capabilities'), 'host');
  const out: Pick<HostDescription, 'cpu' | 'numa'> = {};
  const cpuEl = child(host, 'cpu');
  const arch = text(child(cpuEl, 'arch'));
  if (cpuEl && arch) {
    const cpu: HostCpuDescription = { arch, features: features(source, cpuEl, '<host><cpu>') };
    const model = text(child(cpuEl, 'model'));
    const vendor = text(child(cpuEl, 'vendor'));
    if (model) cpu.model = model;
    if (vendor) cpu.vendor = vendor;
    // <counter name='tsc' frequency='…' scaling='yes|no'/> (virHostCPUTscInfo)
    const tsc = children(cpuEl, 'counter').find((c) => c.attributes.name === 'tsc');
    if (tsc?.attributes.frequency !== undefined) {
      const scaling = tsc.attributes.scaling;
      cpu.tsc = {
        frequency: uint(source, tsc.attributes.frequency, 'TSC frequency'),
        ...(scaling === 'yes' || scaling === 'no' ? { scaling } : {}),
      };
    }
    out.cpu = cpu;
  }
  const cells = child(child(host, 'topology'), 'cells');
  if (cells) {
    const nodes: HostNumaNode[] = children(cells, 'cell').map((cell) => {
      const id = uint(source, cell.attributes.id, 'NUMA cell id');
      const node: HostNumaNode = {
        id,
        cpus: children(child(cell, 'cpus'), 'cpu').map((c) =>
          uint(source, c.attributes.id, `CPU id in cell ${id}`),
        ),
      };
      const mem = child(cell, 'memory');
      if (mem) node.memoryKiB = kib(source, text(mem), mem.attributes.unit, id);
      return node;
    });
    out.numa = { nodes };
  }
  return out;
}

function kib(source: string, value: string | undefined, unit: string | undefined, cell: number): number {
  const n = uint(source, value, `memory of NUMA cell ${cell}`);
  const scale: Record<string, number> = {
    b: 1 / 1024,
    bytes: 1 / 1024,
    kib: 1,
    k: 1,
    mib: 1024,
    m: 1024,
    gib: 1024 ** 2,
    g: 1024 ** 2,
  };
  const s = scale[(unit ?? 'KiB').toLowerCase()];
  if (s === undefined) throw bad(source, `unknown memory unit '${unit}' of NUMA cell ${cell}`);
  return Math.floor(n * s);
}

/**
 * The host-model CPU of a `virsh domcapabilities` document, or undefined when the emulator has
 * none there (`<mode name='host-model' supported='no'>` or no model).
 */
export function readDomainCapabilitiesXml(xml: string, source = 'domcapabilities'): HostModelCpu | undefined {
  const doc = root(xml, source, 'domainCapabilities');
  const arch = text(child(doc, 'arch'));
  const virtType = text(child(doc, 'domain'));
  if (!arch || !virtType) throw bad(source, 'missing <arch> or <domain>');
  const mode = children(child(doc, 'cpu'), 'mode').find((m) => m.attributes.name === 'host-model');
  if (mode?.attributes.supported !== 'yes') return undefined;
  const modelEl = child(mode, 'model');
  const model = text(modelEl);
  if (!model) return undefined;
  const out: HostModelCpu = {
    arch,
    virtType,
    model,
    features: features(source, mode, "<mode name='host-model'>"),
  };
  const emulator = text(child(doc, 'path'));
  if (emulator) out.emulator = emulator;
  const fallback = modelEl?.attributes.fallback;
  if (fallback === 'allow' || fallback === 'forbid') out.fallback = fallback;
  const vendor = text(child(mode, 'vendor'));
  if (vendor) out.vendor = vendor;
  return out;
}

/**
 * A host description from a capabilities document and any number of domcapabilities documents
 * (none given: host-model CPUs unknown; an empty list: the host has none).
 */
export function hostDescriptionFromXml(docs: {
  capabilities?: { xml: string; source?: string };
  domainCapabilities?: { xml: string; source?: string }[];
  nonMigratableFeatures?: string[];
}): HostDescription {
  const host: HostDescription = {
    ...(docs.capabilities ? readCapabilitiesXml(docs.capabilities.xml, docs.capabilities.source) : {}),
  };
  if (docs.domainCapabilities === undefined) return withMigratability(host, docs.nonMigratableFeatures);
  const models: HostModelCpu[] = [];
  host.hostModels = models;
  for (const d of docs.domainCapabilities) {
    const m = readDomainCapabilitiesXml(d.xml, d.source);
    // the first document for an arch and virt type wins, as a lookup by both would
    const same = (x: HostModelCpu) =>
      x.arch === m?.arch && x.virtType === m.virtType && x.emulator === m.emulator;
    if (m && !models.some(same)) models.push(m);
  }
  return withMigratability(host, docs.nonMigratableFeatures);
}

function withMigratability(host: HostDescription, features: string[] | undefined): HostDescription {
  if (features) host.nonMigratableFeatures = [...features];
  return host;
}
