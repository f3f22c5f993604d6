/**
 * libvirt's secret XML (src/conf/secret_conf.c): what virSecretDefParse accepts and the one form
 * virSecretDefFormat prints (`secret-dumpxml`, and the `<uuid>.xml` file of a persistent secret).
 */
import { randomUUID } from 'node:crypto';
import {
  formatUuid,
  parseXml,
  VIR_SECRET_USAGE_TYPE,
  VIR_SECRET_USAGE_TYPE_NAMES,
  VirError,
  virReportError,
  type XmlElement,
} from '@qvirt/core';

/** virSecretDef. */
export interface SecretDef {
  uuid: string;
  ephemeral: boolean;
  private: boolean;
  description?: string;
  /** virSecretUsageType (0: no `<usage>`). */
  usageType: number;
  /** The volume path, ceph/tls/vtpm name or iSCSI target; absent for usage type none. */
  usageID?: string;
}

/** The element of `<usage>` that holds each usage type's id. */
const USAGE_ELEMENT: Record<number, { element: string; what: string }> = {
  [VIR_SECRET_USAGE_TYPE.VOLUME]: {
    element: 'volume',
    what: 'volume usage specified, but volume path is missing',
  },
  [VIR_SECRET_USAGE_TYPE.CEPH]: { element: 'name', what: 'Ceph usage specified, but name is missing' },
  [VIR_SECRET_USAGE_TYPE.ISCSI]: { element: 'target', what: 'iSCSI usage specified, but target is missing' },
  [VIR_SECRET_USAGE_TYPE.TLS]: { element: 'name', what: 'TLS usage specified, but name is missing' },
  [VIR_SECRET_USAGE_TYPE.VTPM]: { element: 'name', what: 'vTPM usage specified, but name is missing' },
};

/** virSecretUsageTypeFromString (-1 for a name libvirt does not know). */
export function secretUsageTypeFromString(name: string): number {
  return (VIR_SECRET_USAGE_TYPE_NAMES as readonly string[]).indexOf(name);
}

/** virSecretUsageTypeToString. */
export function secretUsageTypeToString(type: number): string | undefined {
  return VIR_SECRET_USAGE_TYPE_NAMES[type];
}

/** virXPathString("string(./a/b)"): the text of the first such element, undefined when empty. */
function childText(el: XmlElement | undefined, ...names: string[]): string | undefined {
  let cur: XmlElement | undefined = el;
  for (const n of names) {
    cur = cur?.children.find((c): c is XmlElement => typeof c !== 'string' && c.name === n);
  }
  if (!cur) return undefined;
  const text = allText(cur);
  return text === '' ? undefined : text;
}

/** XPath's string value of an element: all its descendant text. */
function allText(el: XmlElement): string {
  return el.children.map((c) => (typeof c === 'string' ? c : allText(c))).join('');
}

/** virStringParseYesNo. */
function yesNo(value: string | undefined, attr: string): boolean {
  if (value === undefined || value === 'no') return false;
  if (value === 'yes') return true;
  throw virReportError('XML_ERROR', 'secret', `invalid value of '${attr}'`);
}

/** virUUIDParse: 32 hex digits, single dashes between byte pairs, blanks around. */
export function parseSecretUuid(text: string): string {
  const t = text.trim();
  let hex = '';
  for (let i = 0; i < t.length; i++) {
    const c = t[i]!;
    if (c === '-' && hex.length % 2 === 0 && hex.length > 0 && t[i + 1] !== '-') continue;
    if (!/[0-9a-fA-F]/.test(c) || hex.length >= 32) {
      throw virReportError('INTERNAL_ERROR', 'secret', 'malformed uuid element');
    }
    hex += c;
  }
  if (hex.length !== 32) throw virReportError('INTERNAL_ERROR', 'secret', 'malformed uuid element');
  return formatUuid(hex.toLowerCase());
}

/** virSecretDefParse (virSecretParseXML): a UUID is generated when none is given. */
export function parseSecretXML(xml: string): SecretDef {
  let root: XmlElement;
  try {
    root = parseXml(xml, '(definition_of_secret)');
  } catch (err) {
    if (err instanceof VirError) throw new VirError(err.code, 'secret', err.message);
    throw err;
  }
  if (root.name !== 'secret') {
    throw virReportError('XML_ERROR', 'secret', `expecting root element of 'secret', not '${root.name}'`);
  }
  const uuidText = childText(root, 'uuid');
  const def: SecretDef = {
    ephemeral: yesNo(root.attributes.ephemeral, 'ephemeral'),
    private: yesNo(root.attributes.private, 'private'),
    uuid: uuidText === undefined ? randomUUID() : parseSecretUuid(uuidText),
    usageType: VIR_SECRET_USAGE_TYPE.NONE,
  };
  const description = childText(root, 'description');
  if (description !== undefined) def.description = description;
  const usage = root.children.find((c): c is XmlElement => typeof c !== 'string' && c.name === 'usage');
  if (usage) {
    const typeName = usage.attributes.type;
    if (!typeName) throw virReportError('XML_ERROR', 'secret', 'unknown secret usage type');
    const type = secretUsageTypeFromString(typeName);
    if (type < 0) {
      throw virReportError('CONFIG_UNSUPPORTED', 'secret', `unknown secret usage type ${typeName}`);
    }
    def.usageType = type;
    const spec = USAGE_ELEMENT[type];
    if (spec) {
      const id = childText(usage, spec.element);
      if (id === undefined) throw virReportError('INTERNAL_ERROR', 'secret', spec.what);
      def.usageID = id;
    }
  }
  return def;
}

/** virSecretDefFormat. */
export function formatSecretXML(def: SecretDef): string {
  const esc = (s: string) => s.replace(/[&<>'"]/g, (c) => ESCAPES[c]!);
  let out = `<secret ephemeral='${def.ephemeral ? 'yes' : 'no'}' private='${def.private ? 'yes' : 'no'}'>\n`;
  out += `  <uuid>${def.uuid}</uuid>\n`;
  if (def.description !== undefined) out += `  <description>${esc(def.description)}</description>\n`;
  const spec = USAGE_ELEMENT[def.usageType];
  if (spec) {
    out += `  <usage type='${secretUsageTypeToString(def.usageType)}'>\n`;
    out += `    <${spec.element}>${esc(def.usageID ?? '')}</${spec.element}>\n`;
    out += '  </usage>\n';
  }
  return `${out}</secret>\n`;
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  "'": '&apos;',
  '"': '&quot;',
};
