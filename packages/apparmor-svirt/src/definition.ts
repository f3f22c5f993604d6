/**
 * Reading the domain XML given on stdin: virt-aa-helper's caps_mockup() and get_definition().
 * The same checks in the same order, with the same messages: required elements first, then
 * libvirt's parser (`@qvirt/core`), then the name filter that keeps profile syntax out of names.
 */
import { type DomainDef, parseDomainXML, parseXml, VIRT_TYPES, type XmlElement } from '@qvirt/core';
import type { HelperMessage } from './path-policy.js';

/** Characters refused in a domain name (they would subvert the profile). */
export const BAD_NAME_CHARS = '/[]{}?^,"*';

const OS_TYPES = new Set(['hvm', 'xen', 'linux', 'exe', 'uml', 'xenpvh']);
/** libvirt's domain types (virDomainVirt), as core's parser knows them. */
const VIRT_TYPE_NAMES = new Set<string>(VIRT_TYPES);

export function validName(name: string): boolean {
  return name.length > 0 && ![...BAD_NAME_CHARS].some((c) => name.includes(c));
}

/**
 * What libxml2 refuses and the tolerant tree parser would take: a `<` inside an attribute value
 * (`file='/x.img</disk>'`). Comments, CDATA and processing instructions are skipped.
 */
export function hasUnescapedLtInAttribute(text: string): boolean {
  let i = 0;
  while (i < text.length) {
    const lt = text.indexOf('<', i);
    if (lt < 0) return false;
    if (text.startsWith('<!--', lt)) {
      const end = text.indexOf('-->', lt + 4);
      if (end < 0) return false;
      i = end + 3;
      continue;
    }
    if (text.startsWith('<![CDATA[', lt)) {
      const end = text.indexOf(']]>', lt + 9);
      if (end < 0) return false;
      i = end + 3;
      continue;
    }
    if (text.startsWith('<?', lt) || text.startsWith('<!', lt)) {
      const end = text.indexOf('>', lt + 2);
      if (end < 0) return false;
      i = end + 1;
      continue;
    }
    // A tag: scan to its closing '>' outside quotes.
    let j = lt + 1;
    let quote: string | undefined;
    for (; j < text.length; j++) {
      const c = text[j]!;
      if (quote) {
        if (c === quote) quote = undefined;
        else if (c === '<') return true;
      } else if (c === '"' || c === "'") quote = c;
      else if (c === '>') break;
    }
    i = j + 1;
  }
  return false;
}

const childText = (el: XmlElement | undefined, name: string): string | undefined => {
  const child = el?.children.find((c): c is XmlElement => typeof c !== 'string' && c.name === name);
  if (!child) return undefined;
  const text = (e: XmlElement): string =>
    e.children.map((c) => (typeof c === 'string' ? c : text(c))).join('');
  return text(child);
};

export type DefinitionResult =
  | { ok: true; def: DomainDef; messages: HelperMessage[] }
  | { ok: false; messages: HelperMessage[] };

/** get_definition(): the domain, or the messages that precede `could not get VM definition`. */
export function readDefinition(xml: string): DefinitionResult {
  const messages: HelperMessage[] = [];
  const fail = (text?: string, level: HelperMessage['level'] = 'error'): DefinitionResult => {
    if (text) messages.push({ level, text });
    return { ok: false, messages };
  };
  // caps_mockup(): a well-formed <domain> with name, uuid, type and os type.
  let root: XmlElement;
  try {
    if (hasUnescapedLtInAttribute(xml)) return fail();
    root = parseXml(xml, '(domain_definition)');
  } catch {
    return fail();
  }
  if (root.name !== 'domain') return fail();
  if (!childText(root, 'name')) return fail('Could not find <name>', 'warning');
  if (!childText(root, 'uuid')) return fail('Could not find <uuid>', 'warning');
  const virtType = root.attributes.type;
  if (!virtType) return fail('domain type is not defined');
  const os = root.children.find((c): c is XmlElement => typeof c !== 'string' && c.name === 'os');
  const osType = childText(os, 'type');
  if (!osType) return fail('os.type is not defined');
  if (!OS_TYPES.has(osType)) return fail('unknown OS type');
  if (!VIRT_TYPE_NAMES.has(virtType)) return fail('unknown virtualization type');
  // virDomainDefParseString (SKIP_SECLABEL | SKIP_VALIDATE, live: ids are kept).
  let def: DomainDef;
  try {
    def = parseDomainXML(xml, { live: true, source: '(domain_definition)' });
    if (def.name.includes('/') || def.name.includes('\n')) throw new Error('bad name');
  } catch {
    return fail('could not parse XML');
  }
  if (!def.name) return fail('could not find name in XML');
  if (!validName(def.name)) return fail('bad name');
  return { ok: true, def, messages };
}
