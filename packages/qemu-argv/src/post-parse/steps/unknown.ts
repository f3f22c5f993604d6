import type { DomainDef } from '@qvirt/core';

/**
 * libvirt ignores XML it does not know, so its stored definition has none: drop what the parse
 * kept in `$extra`. (Parsing and formatting alone keep it; see @qvirt/core.)
 */
export function dropUnknown(def: DomainDef): void {
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v !== null && typeof v === 'object' && !('children' in v)) {
      const o = v as Record<string, unknown>;
      delete o.$extra;
      Object.values(o).forEach(walk);
    }
  };
  walk(def);
}

type XmlNode = { name: string; attributes: Record<string, string>; children: (XmlNode | string)[] };

/** The namespace URI of an element, from its own or its parent's declarations. */
function namespaceOf(el: XmlNode, parent: XmlNode): string | undefined {
  const colon = el.name.indexOf(':');
  const attr = colon < 0 ? 'xmlns' : `xmlns:${el.name.slice(0, colon)}`;
  const href = el.attributes[attr] ?? parent.attributes[attr];
  if (href !== undefined) return href;
  // A prefix declared further up (on <domain>) still names a namespace.
  return colon < 0 ? undefined : `prefix:${el.name.slice(0, colon)}`;
}

/**
 * `<metadata>` keeps one element per namespace, the first, and nothing without a namespace
 * (virXMLNodeSanitizeNamespaces); what is left, even nothing, is written back (`<metadata/>`).
 */
export function metadataSanitize(def: DomainDef): void {
  const md = def.metadata as unknown as XmlNode | undefined;
  if (!md || !Array.isArray(md.children)) return;
  const seen = new Set<string>();
  md.children = md.children.filter((c): c is XmlNode => {
    if (typeof c === 'string') return false;
    const ns = namespaceOf(c, md);
    if (ns === undefined || ns === '' || seen.has(ns)) return false;
    seen.add(ns);
    return true;
  });
}
