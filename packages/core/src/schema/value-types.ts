/**
 * Scalar types of XML attributes and text. `parse` throws a plain Error whose message says what
 * was expected; the schema engine adds where (element path, attribute) and what value.
 */
export interface ValueType<T> {
  readonly description: string;
  parse(raw: string): T;
  format(value: T): string;
}

export function str(): ValueType<string> {
  return { description: 'a string', parse: (raw) => raw, format: (v) => v };
}

/**
 * A value refused with libvirt's own wording. `libvirt` builds the whole message from the
 * attribute and element at fault; the schema engine prefixes it with `XML error: `.
 */
export class ValueError extends Error {
  readonly libvirt: ((where: { attribute?: string; element: string; raw: string }) => string) | undefined;
  constructor(message: string, libvirt?: ValueError['libvirt']) {
    super(message);
    this.libvirt = libvirt;
  }
}

export interface IntOptions {
  min?: number;
  max?: number;
  /** libvirt's message when the value is above `max` (e.g. PCI address limits). */
  aboveMax?: (value: number) => string;
  /**
   * libvirt's wording for a negative value where `min` is 0: virXMLPropUInt says "non-negative
   * integer value" (the default), virXMLPropInt with NONNEGATIVE says "non-negative value".
   */
  nonNegativeWording?: 'integer' | 'plain';
  /** Accept `0x…` (and `0…` octal is never accepted) as libvirt's base-0 parsers do for addresses. */
  hex?: boolean;
}

const DEC = /^[+-]?\d+$/;
const HEX = /^0x[0-9a-f]+$/i;

function parseInteger(raw: string, opts: IntOptions, what: string): number {
  const t = raw.trim();
  let n: number;
  if (DEC.test(t)) n = Number(t);
  else if (opts.hex && HEX.test(t)) n = Number.parseInt(t.slice(2), 16);
  else throw new Error(`expected ${what}`);
  if (!Number.isSafeInteger(n)) throw new Error('out of range');
  if (opts.min !== undefined && n < opts.min) {
    const word = opts.nonNegativeWording === 'plain' ? 'non-negative value' : 'non-negative integer value';
    throw new ValueError(
      `must be at least ${opts.min}`,
      opts.min === 0
        ? ({ attribute, element, raw }) =>
            attribute === undefined
              ? `Invalid value in element '${element}': '${raw}'. Expected ${word}`
              : `Invalid value for attribute '${attribute}' in element '${element}': '${raw}'. Expected ${word}`
        : undefined,
    );
  }
  if (opts.max !== undefined && n > opts.max) {
    const above = opts.aboveMax;
    throw new ValueError(`must be at most ${opts.max}`, above ? () => above(n) : undefined);
  }
  return n;
}

/** A signed integer; the full 64-bit range is not safe in JS, so values beyond 2^53 are refused. */
export function int(opts: IntOptions = {}): ValueType<number> {
  const description = opts.hex ? 'an integer (decimal or 0x hex)' : 'an integer';
  return { description, parse: (raw) => parseInteger(raw, opts, description), format: (v) => String(v) };
}

/** A non-negative integer. */
export function uint(opts: IntOptions = {}): ValueType<number> {
  return int({ min: 0, ...opts });
}

/**
 * An unsigned 64-bit value kept as a decimal string, for the few fields (I/O limits, sizes in
 * bytes) whose legal range exceeds what a JS number holds exactly.
 */
export function ulong(): ValueType<string> {
  return {
    description: 'an unsigned integer',
    parse(raw) {
      const t = raw.trim();
      if (!/^\+?\d+$/.test(t)) throw new Error('expected an unsigned integer');
      const v = BigInt(t);
      if (v > 18446744073709551615n) throw new Error('out of range');
      return v.toString();
    },
    format: (v) => v,
  };
}

/** An integer printed as `0x` plus at least `width` hex digits (PCI and CCW addresses). */
export function hex(width: number, opts: IntOptions = {}): ValueType<number> {
  const description = 'an integer (decimal or 0x hex)';
  return {
    description,
    parse: (raw) => parseInteger(raw, { ...opts, hex: true }, description),
    format: (v) => `0x${v.toString(16).padStart(width, '0')}`,
  };
}

export function enumOf<const V extends string>(...values: V[]): ValueType<V> {
  const set = new Set<string>(values);
  return {
    description: `one of ${values.map((v) => `'${v}'`).join(', ')}`,
    parse(raw) {
      if (!set.has(raw)) throw new Error(`expected one of ${values.join(', ')}`);
      return raw as V;
    },
    format: (v) => v,
  };
}

export const yesNo = (): ValueType<'yes' | 'no'> => enumOf('yes', 'no');
export const onOff = (): ValueType<'on' | 'off'> => enumOf('on', 'off');

const UUID_HEX = /^[0-9a-f]{32}$/i;

/**
 * A UUID as libvirt's virUUIDParse accepts it: 32 hex digits, dashes allowed between byte pairs,
 * surrounding blanks ignored. Printed in the canonical 8-4-4-4-12 lowercase form.
 */
export function uuid(): ValueType<string> {
  return {
    description: 'a UUID',
    parse(raw) {
      const compact = raw.trim().replace(/-/g, '');
      if (!UUID_HEX.test(compact) || /^-|--|-$/.test(raw.trim())) throw new Error('malformed UUID');
      return formatUuid(compact.toLowerCase());
    },
    format: (v) => v,
  };
}

export function formatUuid(hex32: string): string {
  return `${hex32.slice(0, 8)}-${hex32.slice(8, 12)}-${hex32.slice(12, 16)}-${hex32.slice(16, 20)}-${hex32.slice(20)}`;
}
