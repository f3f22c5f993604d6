/**
 * A small declarative schema for libvirt's XML formats. One declaration gives three things: the
 * TypeScript type of the model (inferred), a parser that validates scalars and names the element
 * path in every error, and a formatter that writes attributes and children in the declared order,
 * which is libvirt's canonical order.
 *
 * Nothing is lost: attributes and elements a schema does not declare are kept in `$extra` and
 * written back after the declared ones (or refused, naming their path, with `strict`).
 */
import { virErrorMessage, XmlError } from '../errors.js';
import type { XmlElement, XmlNode } from '../xml/xml-tree.js';
import { textOf } from '../xml/xml-tree.js';
import { ValueError, type ValueType } from './value-types.js';

export interface ParseContext {
  /** Refuse undeclared attributes and elements instead of keeping them. */
  strict: boolean;
}

/** What a model object keeps of the XML its schema does not declare. */
export interface Extra {
  attributes?: Record<string, string>;
  elements?: XmlElement[];
  /** Text inside an element that declares none. */
  text?: string;
  /** Undeclared attributes found on leaf children, by child name and occurrence. */
  leafAttributes?: Record<string, Record<string, string>[]>;
}

export interface Schema<T> {
  readonly kind: 'element' | 'leaf' | 'flag' | 'raw' | 'lazy';
  parse(el: XmlElement, path: string, ctx: ParseContext): T;
  format(value: T, name: string): XmlElement;
}

// ---------------------------------------------------------------------------------------------
// Declarations

export interface AttrSpec<T> {
  readonly xml?: string;
  readonly type: ValueType<T>;
}
export interface ChildSpec<T, Many extends boolean> {
  readonly xml?: string;
  readonly schema: Schema<T>;
  readonly many: Many;
}

type AnyAttr = ValueType<any> | AttrSpec<any>;
type AnyChild = ChildSpec<any, boolean>;

export interface ElementSpec {
  attrs?: Record<string, AnyAttr>;
  children?: Record<string, AnyChild>;
  /** The element's text content, stored as `value`. */
  text?: ValueType<any>;
  /** Printed with open and close tags even when empty, as libvirt does for `<hyperv>`. */
  block?: boolean;
  /**
   * How a single-valued child given more than once is read. Unset: the first counts and the rest
   * is kept verbatim (libvirt's virXPathNode). `last`: every one is read in document order, each
   * replacing the one before, except the children named in `merge`, whose later values are laid
   * over the earlier ones (libvirt's loop over `./features/*`).
   */
  repeated?: { last: true; merge?: readonly string[] };
}

type AttrValue<A> = A extends ValueType<infer T> ? T : A extends AttrSpec<infer T> ? T : never;
type ChildValue<C> = C extends ChildSpec<infer T, infer M> ? (M extends true ? T[] : T) : never;

type Simplify<T> = { [K in keyof T]: T[K] } & {};

export type ElementValue<S extends ElementSpec> = Simplify<
  (S['attrs'] extends Record<string, AnyAttr>
    ? { -readonly [K in keyof S['attrs']]?: AttrValue<S['attrs'][K]> }
    : unknown) &
    (S['children'] extends Record<string, AnyChild>
      ? { -readonly [K in keyof S['children']]?: ChildValue<S['children'][K]> }
      : unknown) &
    (S['text'] extends ValueType<infer T> ? { value?: T } : unknown) & { $extra?: Extra }
>;

export type Infer<S> = S extends Schema<infer T> ? T : never;

/** An attribute whose XML name differs from its property name. */
export function attr<T>(xml: string, type: ValueType<T>): AttrSpec<T> {
  return { xml, type };
}
export function one<T>(schema: Schema<T>, xml?: string): ChildSpec<T, false> {
  return xml === undefined ? { schema, many: false } : { schema, many: false, xml };
}
export function many<T>(schema: Schema<T>, xml?: string): ChildSpec<T, true> {
  return xml === undefined ? { schema, many: true } : { schema, many: true, xml };
}

function fail(path: string, message: string): never {
  throw new XmlError(virErrorMessage('XML_ERROR', `${message} in <${path}>`), { where: path });
}

/** A value as it can appear in a one-line message: control characters escaped, long ones cut. */
export function printable(raw: string): string {
  const escaped = raw.replace(
    /[\x00-\x1f\x7f]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
  return escaped.length > 80 ? `${escaped.slice(0, 77)}...` : escaped;
}

function childPath(path: string, name: string, index?: number): string {
  return `${path}/${name}${index === undefined ? '' : `[${index + 1}]`}`;
}

function parseScalar<T>(type: ValueType<T>, raw: string, path: string, what: string): T {
  try {
    return type.parse(raw);
  } catch (err) {
    if (err instanceof ValueError && err.libvirt) {
      const element = (path.split('/').at(-1) ?? path).replace(/\[\d+\]$/, '');
      const attribute = /^attribute '(.*)'$/.exec(what)?.[1];
      throw new XmlError(
        virErrorMessage(
          'XML_ERROR',
          err.libvirt({ ...(attribute === undefined ? {} : { attribute }), element, raw }),
        ),
        {
          where: path,
        },
      );
    }
    const why = err instanceof Error ? err.message : String(err);
    throw new XmlError(
      virErrorMessage('XML_ERROR', `invalid value '${printable(raw)}' for ${what} of <${path}>: ${why}`),
      {
        where: path,
      },
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Element

interface NormalAttr {
  prop: string;
  xml: string;
  type: ValueType<unknown>;
}
interface NormalChild {
  prop: string;
  xml: string;
  schema: Schema<unknown>;
  many: boolean;
}

export interface ElementSchema<T> extends Schema<T> {
  readonly kind: 'element';
  readonly spec: ElementSpec;
}

export function element<const S extends ElementSpec>(spec: S): ElementSchema<ElementValue<S>> {
  const attrs: NormalAttr[] = Object.entries(spec.attrs ?? {}).map(([prop, a]) =>
    'parse' in a ? { prop, xml: prop, type: a } : { prop, xml: a.xml ?? prop, type: a.type },
  );
  const children: NormalChild[] = Object.entries(spec.children ?? {}).map(([prop, c]) => ({
    prop,
    xml: c.xml ?? prop,
    schema: c.schema,
    many: c.many,
  }));
  const attrByXml = new Map(attrs.map((a) => [a.xml, a]));
  const childByXml = new Map(children.map((c) => [c.xml, c]));
  for (const c of children) {
    if (attrs.some((a) => a.prop === c.prop))
      throw new Error(`schema: property '${c.prop}' is both attribute and child`);
  }

  return {
    kind: 'element',
    spec,
    parse(el, path, ctx) {
      const out: Record<string, unknown> = {};
      const extra: Extra = {};
      for (const [name, raw] of Object.entries(el.attributes)) {
        const a = attrByXml.get(name);
        if (a) out[a.prop] = parseScalar(a.type, raw, path, `attribute '${name}'`);
        else if (ctx.strict) fail(path, `unknown attribute '${name}'`);
        else (extra.attributes ??= {})[name] = raw;
      }
      const counts = new Map<string, number>();
      const text: string[] = [];
      for (const node of el.children) {
        if (typeof node === 'string') {
          text.push(node);
          continue;
        }
        const c = childByXml.get(node.name);
        if (!c) {
          if (ctx.strict) fail(path, `unknown element <${node.name}>`);
          (extra.elements ??= []).push(node);
          continue;
        }
        const index = counts.get(c.xml) ?? 0;
        counts.set(c.xml, index + 1);
        if (!c.many && index > 0 && spec.repeated?.last) {
          const later = c.schema.parse(node, childPath(path, c.xml), ctx);
          const earlier = out[c.prop];
          out[c.prop] =
            spec.repeated.merge?.includes(c.prop) && typeof earlier === 'object' && typeof later === 'object'
              ? { ...earlier, ...later }
              : later;
          continue;
        }
        if (!c.many && index > 0) {
          // libvirt reads the first occurrence of a single-valued element; keep the rest verbatim.
          if (ctx.strict) fail(path, `element <${node.name}> given more than once`);
          (extra.elements ??= []).push(node);
          continue;
        }
        const cpath = childPath(path, c.xml, c.many ? index : undefined);
        const value = c.schema.parse(node, cpath, ctx);
        if (c.schema.kind === 'leaf' && Object.keys(node.attributes).length > 0) {
          if (ctx.strict) fail(cpath, `unknown attribute '${Object.keys(node.attributes)[0]}'`);
          const list = ((extra.leafAttributes ??= {})[c.xml] ??= []);
          list[index] = node.attributes;
        }
        if (c.many) ((out[c.prop] ??= []) as unknown[]).push(value);
        else out[c.prop] = value;
      }
      const joined = text.join('');
      if (spec.text) {
        out.value = parseScalar(spec.text, joined.trim(), path, 'element text');
      } else if (joined.trim() !== '') {
        if (ctx.strict) fail(path, 'unexpected text');
        // Stray text between elements is kept, but not its layout whitespace.
        extra.text = joined.trim();
      }
      if (Object.keys(extra).length > 0) out.$extra = extra;
      return out as ElementValue<S>;
    },
    format(value, name) {
      const v = value as Record<string, unknown>;
      const extra = v.$extra as Extra | undefined;
      const attributes: Record<string, string> = {};
      for (const a of attrs) {
        const x = v[a.prop];
        if (x !== undefined) attributes[a.xml] = a.type.format(x);
      }
      Object.assign(attributes, extra?.attributes);
      const nodes: XmlNode[] = [];
      for (const c of children) {
        const x = v[c.prop];
        if (x === undefined) continue;
        const items = c.many ? (x as unknown[]) : [x];
        items.forEach((item, i) => {
          const child = c.schema.format(item, c.xml);
          const leafAttrs = extra?.leafAttributes?.[c.xml]?.[c.many ? i : 0];
          if (leafAttrs) child.attributes = { ...leafAttrs, ...child.attributes };
          nodes.push(child);
        });
      }
      nodes.push(...(extra?.elements ?? []));
      if (spec.text && v.value !== undefined) nodes.unshift(spec.text.format(v.value));
      else if (extra?.text !== undefined) nodes.unshift(extra.text);
      return spec.block
        ? { name, attributes, children: nodes, layout: 'block' }
        : { name, attributes, children: nodes };
    },
  };
}

/** Extends an element declaration: attributes and children are appended in order. */
export function extend<const A extends ElementSpec, const B extends ElementSpec>(
  base: ElementSchema<ElementValue<A>> & { spec: A },
  more: B,
): ElementSchema<ElementValue<A & B>> {
  return element({
    attrs: { ...base.spec.attrs, ...more.attrs },
    children: { ...base.spec.children, ...more.children },
    ...((more.text ?? base.spec.text) ? { text: more.text ?? base.spec.text } : {}),
  }) as unknown as ElementSchema<ElementValue<A & B>>;
}

// ---------------------------------------------------------------------------------------------
// Leaf, flag, raw, lazy

/** An element holding only text, modelled as its scalar value (`<name>x</name>` → `'x'`). */
export function leaf<T>(type: ValueType<T>): Schema<T> {
  return {
    kind: 'leaf',
    parse(el, path) {
      const t = textOf(el);
      if (t === undefined) fail(path, 'expected text only');
      return parseScalar(type, t, path, 'element text');
    },
    format: (value, name) => {
      const text = type.format(value);
      return { name, attributes: {}, children: text === '' ? [] : [text] };
    },
  };
}

/** An element whose presence is the information (`<readonly/>` → `true`). */
export function flag(): Schema<true> {
  return {
    kind: 'flag',
    parse(el, path, ctx) {
      if (ctx.strict && (el.children.length > 0 || Object.keys(el.attributes).length > 0)) {
        fail(path, 'expected an empty element');
      }
      return true;
    },
    format: (_value, name) => ({ name, attributes: {}, children: [] }),
  };
}

/**
 * A subtree kept verbatim (e.g. `<metadata>`, whose content belongs to other applications). Its
 * children are printed the way libvirt prints foreign XML: by libxml2, with double quotes.
 */
/**
 * An element kept as XML. `libxml2Self`: the element itself is printed by libxml2 too (libvirt's
 * xmlNodeDump of `<metadata>`), not only its content.
 */
export function raw(options: { libxml2Self?: boolean } = {}): Schema<XmlElement> {
  return {
    kind: 'raw',
    parse: (el) => el,
    format: (value, name) => ({
      name,
      ...(options.libxml2Self ? { layout: 'libxml2' as const } : {}),
      attributes: value.attributes,
      children: value.children.map((c) => (typeof c === 'string' ? c : { ...c, layout: 'libxml2' as const })),
    }),
  };
}

/** Defers a schema so that recursive formats (backing chains) can refer to themselves. */
export function lazy<T>(get: () => Schema<T>): Schema<T> {
  let cached: Schema<T> | undefined;
  const target = () => (cached ??= get());
  return {
    get kind() {
      return target().kind;
    },
    parse: (el, path, ctx) => target().parse(el, path, ctx),
    format: (value, name) => target().format(value, name),
  } as Schema<T>;
}

// ---------------------------------------------------------------------------------------------
// Variant

/**
 * An element whose attributes and their formats depend on one discriminating attribute, such as
 * `<address type='pci'>` (hex bus) versus `<address type='drive'>` (decimal bus). Each variant
 * declares the discriminator itself so that it is printed first; an unknown or absent value uses
 * `fallback`.
 */
export function variant<K extends string, V extends Record<string, ElementSchema<any>>, F>(
  discriminator: K,
  variants: V,
  fallback: ElementSchema<F>,
): Schema<Infer<V[keyof V]> | F> {
  const pick = (value: string | undefined): ElementSchema<any> =>
    value !== undefined && Object.hasOwn(variants, value) ? variants[value]! : fallback;
  return {
    kind: 'element',
    parse: (el, path, ctx) => pick(el.attributes[discriminator]).parse(el, path, ctx),
    format: (value, name) =>
      pick((value as Record<string, string | undefined>)[discriminator]).format(value, name),
  };
}
