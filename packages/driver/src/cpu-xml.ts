/**
 * A lone `<cpu>` element as the CPU APIs take and give it (virCPUDefParseXML with
 * VIR_CPU_TYPE_AUTO or HOST, virCPUDefFormat): a host CPU (with `<arch>`) or a guest CPU.
 */
import { parseXml, virReportError, type XmlElement } from '@qvirt/core';
import type { CpuFeaturePolicy, CpuMatch, CpuMode, GuestCpu } from '@qvirt/cpu';

const children = (el: XmlElement, name: string): XmlElement[] =>
  el.children.filter((c): c is XmlElement => typeof c !== 'string' && c.name === name);
const text = (el: XmlElement | undefined): string | undefined =>
  el === undefined
    ? undefined
    : el.children
        .filter((c) => typeof c === 'string')
        .join('')
        .trim();

const MODES: readonly CpuMode[] = ['custom', 'host-model', 'host-passthrough', 'maximum'];
const MATCHES: readonly CpuMatch[] = ['minimum', 'exact', 'strict'];
const POLICIES: readonly CpuFeaturePolicy[] = ['force', 'require', 'optional', 'disable', 'forbid'];

/** virCPUDefParseXMLString: one `<cpu>` document; `type` is what the caller expects. */
export function parseCpuXml(xml: string, type: 'auto' | 'host' | 'guest' = 'auto'): GuestCpu {
  if (!xml) throw virReportError('INVALID_ARG', 'cpu', 'missing CPU definition');
  const root = parseXml(xml, '(CPU_definition)');
  if (root.name !== 'cpu') {
    throw virReportError('XML_ERROR', 'cpu', "XML does not contain expected 'cpu' element");
  }
  const hasArch = children(root, 'arch').length > 0;
  let cpuType: 'host' | 'guest' = type === 'auto' ? (hasArch ? 'host' : 'guest') : type;
  if (type === 'auto' && hasArch && root.attributes.mode !== undefined) {
    throw virReportError(
      'XML_ERROR',
      'cpu',
      "'arch' element cannot be used inside 'cpu' element with 'mode' attribute",
    );
  }
  if (cpuType === 'host' && root.attributes.mode !== undefined && type !== 'auto') cpuType = 'host';
  const cpu: GuestCpu = { type: cpuType, features: [] };
  if (cpuType === 'guest') {
    const mode = root.attributes.mode ?? 'custom';
    if (!(MODES as readonly string[]).includes(mode)) {
      throw virReportError('CONFIG_UNSUPPORTED', 'cpu', `Invalid mode attribute '${mode}'`);
    }
    cpu.mode = mode as CpuMode;
    const match = root.attributes.match;
    if (match !== undefined) {
      if (!(MATCHES as readonly string[]).includes(match)) {
        throw virReportError('CONFIG_UNSUPPORTED', 'cpu', `Invalid match attribute for CPU specification`);
      }
      cpu.match = match as CpuMatch;
    } else if (cpu.mode === 'custom') cpu.match = 'exact';
  } else {
    const arch = text(children(root, 'arch')[0]);
    if (!arch) throw virReportError('XML_ERROR', 'cpu', 'Missing CPU architecture');
    cpu.arch = arch;
  }
  const modelEl = children(root, 'model')[0];
  const model = text(modelEl);
  if (model) cpu.model = model;
  if (modelEl && cpuType === 'guest') {
    const fallback = modelEl.attributes.fallback;
    if (fallback === 'allow' || fallback === 'forbid') cpu.fallback = fallback;
    if (modelEl.attributes.vendor_id) cpu.vendor_id = modelEl.attributes.vendor_id;
  }
  const vendor = text(children(root, 'vendor')[0]);
  if (vendor) cpu.vendor = vendor;
  for (const f of children(root, 'feature')) {
    const name = f.attributes.name;
    if (!name) throw virReportError('XML_ERROR', 'cpu', 'Invalid CPU feature name');
    if (cpuType === 'guest') {
      const policy = f.attributes.policy ?? 'require';
      if (!(POLICIES as readonly string[]).includes(policy)) {
        throw virReportError('XML_ERROR', 'cpu', `Invalid CPU feature policy '${policy}'`);
      }
      cpu.features.push({ name, policy: policy as CpuFeaturePolicy });
    } else cpu.features.push({ name });
  }
  return cpu;
}

/** virCPUDefListParse: every document, refusing an empty list. */
export function parseCpuXmlList(xmls: readonly string[], type: 'auto' | 'host'): GuestCpu[] {
  if (xmls.length < 1) throw virReportError('INVALID_ARG', 'cpu', 'no CPUs given');
  return xmls.map((x) => parseCpuXml(x, type));
}

const esc = (s: string) =>
  s.replace(
    /[&<>'"]/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', "'": '&apos;', '"': '&quot;' })[c]!,
  );

/** virCPUDefFormat of a guest CPU (what the baseline APIs return). */
export function formatGuestCpu(cpu: GuestCpu): string {
  const out = [`<cpu mode='${cpu.mode ?? 'custom'}' match='${cpu.match ?? 'exact'}'>`];
  if (cpu.model) {
    const vendorId = cpu.vendor_id ? ` vendor_id='${esc(cpu.vendor_id)}'` : '';
    out.push(`  <model fallback='${cpu.fallback ?? 'forbid'}'${vendorId}>${esc(cpu.model)}</model>`);
  }
  if (cpu.vendor) out.push(`  <vendor>${esc(cpu.vendor)}</vendor>`);
  for (const f of cpu.features)
    out.push(`  <feature policy='${f.policy ?? 'require'}' name='${esc(f.name)}'/>`);
  out.push('</cpu>');
  return `${out.join('\n')}\n`;
}
