/**
 * parseDomainXML / formatDomainXML: libvirt domain XML to the typed model and back.
 *
 * Parsing checks what libvirt's own parser checks before any driver sees the document (root
 * element, domain type, name, UUID, OS type, scalar formats) with libvirt's messages. Anything the
 * model does not declare is kept in `$extra` and written back, so nothing is lost silently;
 * `strict: true` refuses it instead, naming its path.
 */
import { VirError, virErrorMessage, virReportError, XmlError } from '../errors.js';
import type { ParseContext } from '../schema/schema.js';
import { formatUuid } from '../schema/value-types.js';
import type { XmlElement, XmlNode } from '../xml/xml-tree.js';
import { formatXml, parseXml } from '../xml/xml-tree.js';
import { domain, type RawDomainDef, VIRT_TYPES } from './domain-schema.js';

export const QEMU_NAMESPACE = 'http://libvirt.org/schemas/domain/qemu/1.0';

export type VirtType = (typeof VIRT_TYPES)[number];

/** A parsed domain: the schema's model with the fields libvirt requires made non-optional. */
export type DomainDef = Omit<RawDomainDef, 'type' | 'name' | 'id'> & {
  type: VirtType;
  name: string;
  /** Only on live XML; an inactive definition has none. */
  id?: number;
};

export interface ParseDomainOptions extends Partial<ParseContext> {
  /** Name of the document in error messages (a file name), default `domain`. */
  source?: string;
  /** Accept `id=` on the root (live XML, status files). libvirt ignores it for inactive XML. */
  live?: boolean;
  /**
   * Require `<name>` (default true, as libvirt's define does). Off for documents that are not
   * definitions yet, such as the result of importing a command line without `-name`.
   */
  requireName?: boolean;
}

export function parseDomainXML(text: string, options: ParseDomainOptions = {}): DomainDef {
  const root = parseXml(text, options.source ?? 'domain', { keepCdata: 'metadata' });
  if (root.name !== 'domain') {
    throw new XmlError(
      virErrorMessage('XML_ERROR', `unexpected root element <${root.name}>, expecting <domain>`),
    );
  }
  const normalised = mergeDiskIotunes(mergeRepeated(normaliseNamespaces(root), ['devices', 'features']));
  const { id, ...attributes } = normalised.attributes;
  const raw = domain.parse({ ...normalised, attributes }, 'domain', { strict: options.strict ?? false });
  return checkDomain(raw, options.live && id !== undefined ? id : undefined, options.requireName ?? true);
}

function checkDomain(raw: RawDomainDef, id: string | undefined, requireName: boolean): DomainDef {
  if (raw.type === undefined)
    throw virReportError('INTERNAL_ERROR', 'domain', 'missing domain type attribute');
  if (!(VIRT_TYPES as readonly string[]).includes(raw.type)) {
    throw virReportError('CONFIG_UNSUPPORTED', 'domain', `invalid domain type ${raw.type}`);
  }
  if (requireName && (raw.name === undefined || raw.name === ''))
    throw new VirError('XML_ERROR', 'domain', 'missing name information');
  const def = { ...raw } as DomainDef;
  // virXPathString gives no string for an empty <uuid></uuid>: libvirt generates one as if absent
  if (raw.uuid === '') delete def.uuid;
  else if (raw.uuid !== undefined) def.uuid = canonicalUuid(raw.uuid, 'uuid');
  if (raw.genid !== undefined && raw.genid !== '') def.genid = canonicalUuid(raw.genid, 'genid');
  if (id !== undefined) {
    if (!/^\d+$/.test(id))
      throw new XmlError(
        virErrorMessage('XML_ERROR', `invalid value '${id}' for attribute 'id' in <domain>`),
      );
    def.id = Number(id);
  } else delete def.id;
  const os = raw.os as { type?: unknown } | undefined;
  if (os?.type === undefined && raw.bootloader === undefined) {
    throw new XmlError(virErrorMessage('XML_ERROR', 'an os <type> must be specified'));
  }
  return def;
}

/** libvirt's virUUIDParse: 32 hex digits, single dashes between byte pairs, blanks around. */
export function canonicalUuid(text: string, element: 'uuid' | 'genid' = 'uuid'): string {
  const t = text.trim();
  let hex = '';
  for (let i = 0; i < t.length; i++) {
    const c = t[i]!;
    if (c === '-' && hex.length % 2 === 0 && hex.length > 0 && t[i + 1] !== '-') continue;
    if (!/[0-9a-fA-F]/.test(c)) hex = 'x';
    hex += c;
    if (hex.length > 32) break;
  }
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) {
    throw virReportError('INTERNAL_ERROR', 'domain', `malformed ${element} element`);
  }
  return formatUuid(hex.toLowerCase());
}

/**
 * Resolves XML namespaces the way libvirt does and leaves the model one spelling: every element in
 * libvirt's QEMU namespace becomes `qemu:NAME`, whatever prefix (or default namespace) the document
 * used, and its declarations are dropped (the formatter declares the namespace on the root again).
 * An element that merely uses the prefix `qemu` for another namespace is renamed so that it cannot
 * be mistaken for QEMU's. `<metadata>` content is left alone, but receives the declarations it
 * used from the root, as libvirt's reconciliation of namespaces does.
 */
function normaliseNamespaces(root: XmlElement): XmlElement {
  const rootScope = new Map<string, string>();
  const attributes: Record<string, string> = {};
  for (const [k, v] of Object.entries(root.attributes)) {
    const prefix = declaredPrefix(k);
    if (prefix === undefined) attributes[k] = v;
    else rootScope.set(prefix, v);
  }
  let foreign = 0;
  const resolve = (el: XmlElement, outer: Map<string, string>): XmlElement => {
    const scope = new Map(outer);
    const attrs: Record<string, string> = {};
    for (const [k, v] of Object.entries(el.attributes)) {
      const prefix = declaredPrefix(k);
      if (prefix !== undefined) scope.set(prefix, v);
    }
    const colon = el.name.indexOf(':');
    const prefix = colon < 0 ? '' : el.name.slice(0, colon);
    const local = el.name.slice(colon + 1);
    const uri = scope.get(prefix);
    let name = el.name;
    if (uri === QEMU_NAMESPACE) name = `qemu:${local}`;
    else if (prefix === 'qemu') {
      // Same prefix, other namespace: keep the element, under a prefix of its own.
      const alias = `ns${foreign++}`;
      name = `${alias}:${local}`;
      attrs[`xmlns:${alias}`] = uri ?? '';
    }
    for (const [k, v] of Object.entries(el.attributes)) {
      const declared = declaredPrefix(k);
      if (declared === undefined) attrs[k] = v;
      else if (v !== QEMU_NAMESPACE && declared !== 'qemu' && name === el.name) attrs[k] = v;
    }
    return {
      name,
      attributes: attrs,
      children: el.children.map((c) => (typeof c === 'string' ? c : resolve(c, scope))),
    };
  };
  const children = root.children.map((c) => {
    if (typeof c === 'string') return c;
    if (c.name === 'metadata') return reconcileMetadata(c, rootScope);
    return resolve(c, rootScope);
  });
  return { name: root.name, attributes, children };
}

/**
 * libvirt reads devices and features through XPath from the domain (`./devices/disk`,
 * `./features/*`), which sees the children of every `<devices>` and every `<features>` in document
 * order: a document with two `<devices>` (CloudStack writes its memballoon in one of its own) is
 * read as one. The first element's attributes stand.
 */
function mergeRepeated(root: XmlElement, names: readonly string[]): XmlElement {
  const first = new Map<string, XmlElement>();
  const children: XmlNode[] = [];
  for (const c of root.children) {
    if (typeof c === 'string' || !names.includes(c.name)) {
      children.push(c);
      continue;
    }
    const seen = first.get(c.name);
    if (!seen) {
      const copy = { ...c, children: [...c.children] };
      first.set(c.name, copy);
      children.push(copy);
    } else seen.children.push(...c.children);
  }
  return first.size === 0 ? root : { ...root, children };
}

/**
 * virDomainDiskDefIotuneParse reads each limit as `string(./iotune/NAME)`: over every `<iotune>`
 * of the disk, the first one that has it.
 */
function mergeDiskIotunes(root: XmlElement): XmlElement {
  const devices = root.children.find((c): c is XmlElement => typeof c !== 'string' && c.name === 'devices');
  if (!devices) return root;
  for (const [i, disk] of devices.children.entries()) {
    if (typeof disk === 'string' || disk.name !== 'disk') continue;
    if (disk.children.filter((c) => typeof c !== 'string' && c.name === 'iotune').length < 2) continue;
    devices.children[i] = mergeRepeated(disk, ['iotune']);
  }
  return root;
}

/** The prefix an `xmlns`/`xmlns:P` attribute declares ('' for the default namespace). */
function declaredPrefix(attribute: string): string | undefined {
  if (attribute === 'xmlns') return '';
  return attribute.startsWith('xmlns:') ? attribute.slice(6) : undefined;
}

/**
 * libxml2's xmlCopyNode of `<metadata>` (libvirt keeps a copy): a namespace its content uses but
 * the document declared outside it (on `<domain>`) is declared again on the copy's top element,
 * `<metadata>` itself, in the order the copy meets them (each element, then its attributes).
 */
function reconcileMetadata(metadata: XmlElement, rootScope: Map<string, string>): XmlElement {
  const added: Record<string, string> = {};
  const visit = (el: XmlElement, outer: ReadonlySet<string>): void => {
    const scope = new Set(outer);
    for (const k of Object.keys(el.attributes)) {
      const declared = declaredPrefix(k);
      if (declared !== undefined) scope.add(declared);
    }
    const use = (name: string) => {
      const colon = name.indexOf(':');
      if (colon < 0) return;
      const prefix = name.slice(0, colon);
      if (prefix === 'xmlns' || prefix === 'xml' || scope.has(prefix) || !rootScope.has(prefix)) return;
      if (!(`xmlns:${prefix}` in added)) added[`xmlns:${prefix}`] = rootScope.get(prefix)!;
    };
    use(el.name);
    for (const k of Object.keys(el.attributes)) use(k);
    for (const c of el.children) if (typeof c !== 'string') visit(c, scope);
  };
  for (const c of metadata.children) if (typeof c !== 'string') visit(c, new Set());
  if (Object.keys(added).length === 0) return metadata;
  return { ...metadata, attributes: { ...metadata.attributes, ...added } };
}

/** Formats a definition in libvirt's layout; the text ends with a newline, as `virsh dumpxml` prints. */
export function formatDomainXML(def: DomainDef): string {
  const { id, ...rest } = def;
  const el = domain.format(rest as RawDomainDef, 'domain');
  const attributes: Record<string, string> = { type: def.type };
  if (id !== undefined) attributes.id = String(id);
  if (el.children.some((c) => typeof c !== 'string' && c.name.startsWith('qemu:'))) {
    attributes['xmlns:qemu'] = QEMU_NAMESPACE;
  }
  return formatXml({ ...el, attributes: { ...attributes, ...el.attributes } });
}

/** Paths of everything the model kept without understanding it (for warnings and coverage). */
export function unknownParts(def: object): string[] {
  const out: string[] = [];
  const walk = (value: unknown, path: string): void => {
    if (Array.isArray(value)) {
      for (const [i, v] of value.entries()) walk(v, `${path}[${i + 1}]`);
      return;
    }
    if (value === null || typeof value !== 'object' || 'children' in value) return;
    for (const [k, v] of Object.entries(value)) {
      if (k !== '$extra') {
        walk(v, `${path}/${k}`);
        continue;
      }
      const extra = v as {
        attributes?: Record<string, string>;
        elements?: XmlElement[];
        text?: string;
        leafAttributes?: Record<string, unknown>;
      };
      for (const a of Object.keys(extra.attributes ?? {})) out.push(`${path}/@${a}`);
      for (const e of extra.elements ?? []) out.push(`${path}/${e.name}`);
      if (extra.text !== undefined) out.push(`${path}/text()`);
      for (const l of Object.keys(extra.leafAttributes ?? {})) out.push(`${path}/${l}/@*`);
    }
  };
  walk(def, 'domain');
  return out;
}
