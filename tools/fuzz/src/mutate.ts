/**
 * Generic arbitraries and structured mutators: hostile values, mutations of XML trees (by
 * element and attribute), of word lists (command lines) and of lines (config files), and
 * byte-level damage on top. Each mutator is a fast-check arbitrary of a list of operations
 * applied to one seed document, so a failure shrinks to few operations.
 */
import { formatXml, parseXml, type XmlElement } from '@qvirt/core';
import fc from 'fast-check';

/** Values that break parsers: separators, quotes, escapes, path tricks, numeric edges. */
export const HOSTILE_VALUES: readonly string[] = [
  '',
  ' ',
  '0',
  '-1',
  '-0',
  '1',
  '+1',
  '007',
  '0x10',
  '1e3',
  '1.5',
  '4294967295',
  '4294967296',
  '9007199254740993',
  '18446744073709551616',
  '99999999999999999999999999',
  'NaN',
  'Infinity',
  'yes',
  'no',
  'on',
  'off',
  'auto',
  'none',
  'default',
  'a,b',
  'a,,b',
  ',',
  'x=y',
  '=',
  "'",
  '"',
  '`',
  '\\',
  '$(id)',
  ';reboot',
  '\n',
  'a\nb',
  '\r\n',
  '\t',
  '\u0000',
  'a\u0000b',
  '..',
  '../../../etc/shadow',
  '/',
  '/dev/null',
  '/etc/passwd',
  '**',
  '/tmp/**',
  '@{HOME}',
  '[',
  ']',
  '{',
  '}',
  '%',
  '%00',
  '%zz',
  '#',
  '?',
  '&',
  '&amp;',
  '<',
  '>',
  'é',
  '\u202e',
  '\ud800',
  '😀',
  'virtio',
  'pci',
  'usb',
  'ide',
  'sata',
  'scsi',
  'qcow2',
  'raw',
  'file',
  'network',
  'bridge',
  'pty',
  'unix',
  'tcp',
  'spice',
  'vnc',
  'x86_64',
  'i686',
  'aarch64',
  'pc',
  'q35',
  'kvm',
  'qemu',
  'c7a5fdbd-edaf-9455-926a-d65c16db1809',
  '00000000-0000-0000-0000-000000000000',
  '52:54:00:00:00:01',
  '0x0000',
  '0x1f',
  '0xffffffff',
  'KiB',
  'MiB',
  'GiB',
  'TiB',
  'bytes',
  'x'.repeat(300),
  '9'.repeat(400),
];

export const hostileValue: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...HOSTILE_VALUES) },
  { weight: 2, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
  { weight: 2, arbitrary: fc.integer().map(String) },
  { weight: 1, arbitrary: fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom(...HOSTILE_VALUES), fc.constantFrom(...HOSTILE_VALUES))
      .map(([a, b]) => a + b),
  },
);

/** Characters that matter to XML, shells, QEMU's option syntax and virConf. */
const SYNTAX_CHARS = [...'<>/=\'"&;!?-[]#,:@%\\\n\t {}()*.$`|0123456789abcxyz'];
export const syntaxString: fc.Arbitrary<string> = fc
  .array(fc.constantFrom(...SYNTAX_CHARS), { maxLength: 80 })
  .map((cs) => cs.join(''));

/** Byte-level damage: delete, insert, overwrite or truncate at positions scaled to the text. */
export type Damage = { op: 'del' | 'ins' | 'set' | 'cut'; at: number; text: string; len: number };
export const damageArb: fc.Arbitrary<Damage> = fc.record({
  op: fc.constantFrom('del', 'ins', 'set', 'cut'),
  at: fc.double({ min: 0, max: 1, noNaN: true }),
  text: fc.oneof(fc.constantFrom(...HOSTILE_VALUES), syntaxString),
  len: fc.nat({ max: 16 }),
});

export function applyDamage(text: string, damage: readonly Damage[]): string {
  for (const d of damage) {
    const at = Math.min(text.length, Math.floor(d.at * text.length));
    switch (d.op) {
      case 'del':
        text = text.slice(0, at) + text.slice(at + d.len);
        break;
      case 'ins':
        text = text.slice(0, at) + d.text + text.slice(at);
        break;
      case 'set':
        text = text.slice(0, at) + d.text + text.slice(at + d.text.length);
        break;
      case 'cut':
        text = text.slice(0, at);
        break;
    }
  }
  return text;
}

// ---- XML trees ---------------------------------------------------------------------------

export interface XmlVocabulary {
  elements: string[];
  attributes: string[];
  values: string[];
}

function* walk(el: XmlElement): Generator<XmlElement> {
  yield el;
  for (const c of el.children) if (typeof c !== 'string') yield* walk(c);
}

/** Element names, attribute names and attribute/text values used across the seed documents. */
export function vocabulary(trees: readonly XmlElement[]): XmlVocabulary {
  const elements = new Set<string>();
  const attributes = new Set<string>();
  const values = new Set<string>();
  for (const t of trees) {
    for (const el of walk(t)) {
      elements.add(el.name);
      for (const [k, v] of Object.entries(el.attributes)) {
        attributes.add(k);
        if (v.length < 64) values.add(v);
      }
      for (const c of el.children) if (typeof c === 'string' && c.length < 64) values.add(c);
    }
  }
  return { elements: [...elements].sort(), attributes: [...attributes].sort(), values: [...values].sort() };
}

export type XmlOp =
  | { op: 'setAttr'; at: number; name: number; value: string }
  | { op: 'delAttr'; at: number; which: number }
  | { op: 'delElement'; at: number }
  | { op: 'dupElement'; at: number }
  | { op: 'setText'; at: number; value: string }
  | { op: 'addChild'; at: number; name: number; attr: number; value: string }
  | { op: 'rename'; at: number; name: number }
  | { op: 'graft'; at: number; from: number; fromAt: number };

export function xmlOpArb(vocab: XmlVocabulary, docs: number): fc.Arbitrary<XmlOp> {
  const at = fc.nat();
  const value = fc.oneof(
    { weight: 3, arbitrary: hostileValue },
    { weight: 2, arbitrary: fc.constantFrom(...vocab.values) },
  );
  const elementName = fc.nat({ max: vocab.elements.length - 1 });
  const attrName = fc.nat({ max: vocab.attributes.length - 1 });
  return fc.oneof(
    { weight: 5, arbitrary: fc.record({ op: fc.constant('setAttr' as const), at, name: attrName, value }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('delAttr' as const), at, which: fc.nat() }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('delElement' as const), at }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('dupElement' as const), at }) },
    { weight: 3, arbitrary: fc.record({ op: fc.constant('setText' as const), at, value }) },
    {
      weight: 2,
      arbitrary: fc.record({
        op: fc.constant('addChild' as const),
        at,
        name: elementName,
        attr: attrName,
        value,
      }),
    },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('rename' as const), at, name: elementName }) },
    {
      weight: 2,
      arbitrary: fc.record({
        op: fc.constant('graft' as const),
        at,
        from: fc.nat({ max: docs - 1 }),
        fromAt: fc.nat(),
      }),
    },
  );
}

function parentOf(root: XmlElement, target: XmlElement): XmlElement | undefined {
  for (const el of walk(root)) if (el.children.includes(target)) return el;
  return undefined;
}

/** Applies XML operations to a copy of `tree` (element indexes are taken modulo the element count). */
export function mutateTree(
  tree: XmlElement,
  ops: readonly XmlOp[],
  vocab: XmlVocabulary,
  others: readonly XmlElement[],
): XmlElement {
  const root = structuredClone(tree);
  for (const o of ops) {
    const all = [...walk(root)];
    const el = all[o.at % all.length]!;
    switch (o.op) {
      case 'setAttr':
        el.attributes[vocab.attributes[o.name]!] = o.value;
        break;
      case 'delAttr': {
        const keys = Object.keys(el.attributes);
        if (keys.length > 0) delete el.attributes[keys[o.which % keys.length]!];
        break;
      }
      case 'delElement': {
        const parent = parentOf(root, el);
        if (parent) parent.children.splice(parent.children.indexOf(el), 1);
        break;
      }
      case 'dupElement': {
        const parent = parentOf(root, el);
        if (parent) parent.children.splice(parent.children.indexOf(el), 0, structuredClone(el));
        break;
      }
      case 'setText':
        el.children = [o.value];
        break;
      case 'addChild':
        el.children.push({
          name: vocab.elements[o.name]!,
          attributes: { [vocab.attributes[o.attr]!]: o.value },
          children: [],
        });
        break;
      case 'rename':
        if (el !== root) el.name = vocab.elements[o.name]!;
        break;
      case 'graft': {
        const donor = [...walk(others[o.from % others.length]!)];
        el.children.push(structuredClone(donor[o.fromAt % donor.length]!));
        break;
      }
    }
  }
  return root;
}

/** Formats a (possibly odd) tree; text the XML printer cannot carry comes out escaped or raw. */
export function printTree(tree: XmlElement): string {
  return formatXml(tree);
}

export function parseSeeds(texts: readonly string[]): XmlElement[] {
  const out: XmlElement[] = [];
  for (const t of texts) {
    try {
      out.push(parseXml(t));
    } catch {
      // a seed that is not well-formed is still used as text by the string mutators
    }
  }
  return out;
}

// ---- word lists (command lines) and lines (config files) -------------------------------------

export type ListOp<T> =
  | { op: 'del'; at: number }
  | { op: 'dup'; at: number }
  | { op: 'swap'; at: number; to: number }
  | { op: 'ins'; at: number; item: T }
  | { op: 'set'; at: number; item: T };

export function listOpArb<T>(item: fc.Arbitrary<T>): fc.Arbitrary<ListOp<T>> {
  return fc.oneof(
    fc.record({ op: fc.constant('del' as const), at: fc.nat() }),
    fc.record({ op: fc.constant('dup' as const), at: fc.nat() }),
    fc.record({ op: fc.constant('swap' as const), at: fc.nat(), to: fc.nat() }),
    fc.record({ op: fc.constant('ins' as const), at: fc.nat(), item }),
    fc.record({ op: fc.constant('set' as const), at: fc.nat(), item }),
  );
}

export function mutateList<T>(list: readonly T[], ops: readonly ListOp<T>[]): T[] {
  const out = [...list];
  for (const o of ops) {
    const n = out.length;
    const i = n === 0 ? 0 : o.at % n;
    switch (o.op) {
      case 'del':
        if (n > 0) out.splice(i, 1);
        break;
      case 'dup':
        if (n > 0) out.splice(i, 0, out[i]!);
        break;
      case 'swap':
        if (n > 1) {
          const j = o.to % n;
          [out[i], out[j]] = [out[j]!, out[i]!];
        }
        break;
      case 'ins':
        out.splice(i, 0, o.item);
        break;
      case 'set':
        if (n > 0) out[i] = o.item;
        else out.push(o.item);
        break;
    }
  }
  return out;
}
