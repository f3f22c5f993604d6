/**
 * The one module that talks to xml-js. Everything else in qvirt sees `XmlElement` trees, so the
 * XML library can be swapped without touching the domain model.
 */
import { createRequire } from 'node:module';
import type * as XmlJs from 'xml-js';

// xml-js (and its sax parser) is read on the first parse, not at import: a command that never
// reads XML (a remote `list`) does not pay for it.
let xmlJs: typeof XmlJs | undefined;
const xmlLib = (): typeof XmlJs => (xmlJs ??= createRequire(import.meta.url)('xml-js') as typeof XmlJs);

import { virErrorMessage, XmlError } from '../errors.js';

export interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  /** Child elements and non-blank text, in document order. */
  children: XmlNode[];
  /**
   * How libvirt prints this element when it differs from the usual: `block` keeps separate open
   * and close tags even when empty (`<hyperv>`), `libxml2` is libxml2's own serialisation
   * (double quotes), which libvirt uses for foreign XML such as `<metadata>` content.
   */
  layout?: 'block' | 'libxml2';
}
export type XmlNode = XmlElement | string;

/**
 * The name of the pseudo-element that keeps a CDATA section where libvirt keeps one as written:
 * foreign XML (`<metadata>` content) that libxml2 prints back. Its one child is the section's text.
 * Everywhere else a CDATA section is plain text, as libvirt's readers see it.
 */
export const CDATA = '#cdata';

interface JsNode {
  type: 'element' | 'text' | 'cdata' | 'comment' | 'doctype' | 'instruction';
  name?: string;
  attributes?: Record<string, string | number>;
  elements?: JsNode[];
  text?: string | number | boolean;
  cdata?: string;
}

const MAX_DEPTH = 200;

/**
 * Parses XML text into an element tree. Refuses DTDs and entity declarations outright (XXE and
 * billion-laughs), as nothing in libvirt's formats needs them.
 */
export function parseXml(
  text: string,
  docName = 'XML',
  options: {
    /** CDATA sections kept (as `CDATA` pseudo-elements) everywhere, or only under the root's `<metadata>`. */
    keepCdata?: 'everywhere' | 'metadata';
  } = {},
): XmlElement {
  const dtd = /<!(DOCTYPE|ENTITY)\b/i.exec(text);
  if (dtd) {
    throw new XmlError(
      virErrorMessage(
        'XML_ERROR',
        `${docName}:${lineOf(text, dtd.index)}: ${dtd[1]!.toUpperCase()} declarations are not allowed`,
      ),
    );
  }
  // XML 1.0 allows no C0 control but tab, line feed and carriage return (libxml2 refuses them);
  // sax lets them through, and a NUL would reach QEMU's argv, which cannot carry one.
  const control = /[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]/.exec(text);
  if (control) {
    const code = control[0].charCodeAt(0).toString(16);
    throw new XmlError(
      virErrorMessage(
        'XML_ERROR',
        `${docName}:${lineOf(text, control.index)}: Char 0x${code} out of allowed range`,
      ),
    );
  }
  let doc: { elements?: JsNode[] };
  try {
    doc = xmlLib().xml2js(text, { compact: false, trim: false, nativeType: false, alwaysChildren: true }) as {
      elements?: JsNode[];
    };
  } catch (err) {
    throw new XmlError(virErrorMessage('XML_ERROR', `${docName}: ${describeSaxError(err)}`));
  }
  const roots = (doc.elements ?? []).filter((n) => n.type === 'element');
  if (roots.length !== 1)
    throw new XmlError(virErrorMessage('XML_ERROR', `${docName}: expected one root element`));
  return convert(roots[0]!, 0, docName, options.keepCdata === 'everywhere', options.keepCdata === 'metadata');
}

function convert(
  node: JsNode,
  depth: number,
  docName: string,
  keepCdata: boolean,
  inRootMetadata = false,
): XmlElement {
  if (depth > MAX_DEPTH)
    throw new XmlError(virErrorMessage('XML_ERROR', `${docName}: elements nested deeper than ${MAX_DEPTH}`));
  const attributes: Record<string, string> = {};
  for (const [k, v] of Object.entries(node.attributes ?? {})) attributes[k] = String(v);
  const children: XmlNode[] = [];
  for (const child of node.elements ?? []) {
    if (child.type === 'element') {
      const metadataHere = inRootMetadata && depth === 0 && child.name === 'metadata';
      children.push(convert(child, depth + 1, docName, keepCdata || metadataHere, inRootMetadata));
    } else if (child.type === 'cdata' && keepCdata) {
      children.push({ name: CDATA, attributes: {}, children: [String(child.cdata)] });
    } else if (child.type === 'text' || child.type === 'cdata') {
      const t = String(child.type === 'text' ? child.text : child.cdata);
      const last = children[children.length - 1];
      if (typeof last === 'string') children[children.length - 1] = last + t;
      else children.push(t);
    }
  }
  // Whitespace between elements is layout, not content.
  const significant = children.filter((c) => typeof c !== 'string' || c.trim() !== '');
  const onlyText = significant.every((c) => typeof c === 'string');
  return {
    name: node.name ?? '',
    attributes,
    children: onlyText ? significant : significant.filter((c) => typeof c !== 'string' || c.trim() !== ''),
  };
}

function lineOf(text: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

function describeSaxError(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  const [what, ...rest] = msg.split('\n');
  const pos: Record<string, string> = {};
  for (const line of rest) {
    const m = /^(Line|Column|Char): ?(.*)$/.exec(line);
    if (m) pos[m[1]!] = m[2]!;
  }
  if (pos.Line !== undefined) return `line ${Number(pos.Line) + 1}, column ${pos.Column}: ${what}`;
  return what ?? 'malformed XML';
}

/** Element text when it holds only text, else undefined. */
export function textOf(el: XmlElement): string | undefined {
  if (el.children.length === 0) return '';
  if (el.children.every((c) => typeof c === 'string')) return el.children.join('');
  return undefined;
}

/** libvirt's escaping (virBufferEscapeString): the five XML specials, in text and attributes. */
export function escapeXml(value: string): string {
  return value.replace(/[&<>'"]/g, (c) => ESCAPES[c]!);
}
function escapeLibxml2Text(value: string): string {
  return value.replace(/[&<>\r]/g, (c) => LIBXML2_ESCAPES[c]!);
}
function escapeLibxml2Attr(value: string): string {
  return value.replace(/[&<>"\r\n\t]/g, (c) => LIBXML2_ESCAPES[c]!);
}
const LIBXML2_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  '\r': '&#13;',
  '\n': '&#10;',
  '\t': '&#9;',
};
const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  "'": '&apos;',
  '"': '&quot;',
};

/**
 * Formats a tree in libvirt's layout: two-space indent, single-quoted attributes in the order
 * given, `<x/>` for empty elements, text kept inline.
 */
export function formatXml(el: XmlElement, indent = 0, inherited?: 'libxml2'): string {
  const pad = ' '.repeat(indent);
  const libxml2 = inherited === 'libxml2' || el.layout === 'libxml2';
  // libxml2 prints an element holding text or CDATA on one line, its content as written
  if (libxml2 && el.children.some((c) => typeof c !== 'string' && c.name === CDATA)) {
    return `${pad}${inlineLibxml2(el)}\n`;
  }
  const attrs = Object.entries(el.attributes)
    .map(([k, v]) => (libxml2 ? ` ${k}="${escapeLibxml2Attr(v)}"` : ` ${k}='${escapeXml(v)}'`))
    .join('');
  if (el.children.length === 0) {
    return el.layout === 'block'
      ? `${pad}<${el.name}${attrs}>\n${pad}</${el.name}>\n`
      : `${pad}<${el.name}${attrs}/>\n`;
  }
  const escapeText = libxml2 ? escapeLibxml2Text : escapeXml;
  if (el.children.every((c) => typeof c === 'string')) {
    return `${pad}<${el.name}${attrs}>${escapeText(el.children.join(''))}</${el.name}>\n`;
  }
  let out = `${pad}<${el.name}${attrs}>\n`;
  for (const child of el.children) {
    out +=
      typeof child === 'string'
        ? `${pad}  ${escapeText(child.trim())}\n`
        : formatXml(child, indent + 2, libxml2 ? 'libxml2' : undefined);
  }
  return `${out}${pad}</${el.name}>\n`;
}

/** libxml2's unformatted serialisation of an element (xmlNodeDump with format off). */
function inlineLibxml2(el: XmlElement): string {
  if (el.name === CDATA) return `<![CDATA[${el.children.join('')}]]>`;
  const attrs = Object.entries(el.attributes)
    .map(([k, v]) => ` ${k}="${escapeLibxml2Attr(v)}"`)
    .join('');
  if (el.children.length === 0) return `<${el.name}${attrs}/>`;
  const inner = el.children
    .map((c) => (typeof c === 'string' ? escapeLibxml2Text(c) : inlineLibxml2(c)))
    .join('');
  return `<${el.name}${attrs}>${inner}</${el.name}>`;
}

/** xml-js's own serialiser, for callers that need a compact one-line document. */
export function formatXmlCompact(el: XmlElement): string {
  const toJs = (e: XmlElement): JsNode => ({
    type: 'element',
    name: e.name,
    attributes: e.attributes,
    elements: e.children.map((c) => (typeof c === 'string' ? { type: 'text', text: c } : toJs(c))),
  });
  return xmlLib().js2xml({ elements: [toJs(el)] }, { compact: false });
}
