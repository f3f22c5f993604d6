/**
 * XDR codecs interpreted from the protocol facts, as rpcgen compiles them from the .x files: a
 * struct is an object with its fields, a union `{ [discriminant]: d, [arm]: value }`, an optional
 * value `null` when absent, hypers plain numbers. A few named types read as what they mean:
 * remote_uuid is the UUID's text form, `char` arrays are NUL-terminated strings, and
 * remote_typed_param is a TypedParam ({ field, type, value }).
 */
import type { TypedParam } from '@qvirt/core/hypervisor';
import { XdrError, type XdrReader, type XdrWriter } from '../xdr/xdr.js';
import { PROTOCOL, type XdrType } from './facts.js';

export interface Codec<T = unknown> {
  encode(w: XdrWriter, value: T): void;
  decode(r: XdrReader): T;
}

const UNBOUNDED = 0xffffffff;
const compiled = new Map<string, Codec>();

/** The codec of a named XDR type (struct, union, enum or typedef) of libvirt's protocol. */
export function codecFor(name: string): Codec {
  const c = compiled.get(name);
  if (c) return c;
  // a placeholder first, so recursive types (none in libvirt's .x today) cannot loop
  const lazy: Codec = { encode: (w, v) => real.encode(w, v), decode: (r) => real.decode(r) };
  compiled.set(name, lazy);
  const real = build(name);
  compiled.set(name, real);
  return real;
}

function build(name: string): Codec {
  const special = SPECIAL[name];
  if (special) return special();
  const def = PROTOCOL.types[name];
  if (!def) throw new Error(`libvirt's protocol has no type ${name}`);
  switch (def.kind) {
    case 'typedef':
      return typeCodec(def.type);
    case 'enum':
      return { encode: (w, v) => void w.int(v as number), decode: (r) => r.int() };
    case 'struct': {
      const fields = def.fields.map((f) => [f.name, typeCodec(f.type)] as const);
      return {
        encode(w, v) {
          const o = (v ?? {}) as Record<string, unknown>;
          for (const [n, c] of fields) c.encode(w, o[n]);
        },
        decode(r) {
          const o: Record<string, unknown> = {};
          for (const [n, c] of fields) o[n] = c.decode(r);
          return o;
        },
      };
    }
    case 'union': {
      const discName = def.discriminant.name;
      const disc = typeCodec(def.discriminant.type);
      const arms = new Map<number, { name: string; codec: Codec } | null>();
      for (const k of def.cases) {
        const arm = k.field ? { name: k.field.name, codec: typeCodec(k.field.type) } : null;
        for (const v of k.values) arms.set(typeof v === 'number' ? v : enumValue(v), arm);
      }
      const dflt = def.default ? { name: def.default.name, codec: typeCodec(def.default.type) } : undefined;
      const armOf = (d: number) => {
        if (arms.has(d)) return arms.get(d) ?? null;
        if (dflt) return dflt;
        throw new XdrError(`union ${name} has no arm for ${d}`);
      };
      return {
        encode(w, v) {
          const o = v as Record<string, unknown>;
          const d = o[discName] as number;
          disc.encode(w, d);
          const arm = armOf(d);
          if (arm) arm.codec.encode(w, o[arm.name]);
        },
        decode(r) {
          const d = disc.decode(r) as number;
          const arm = armOf(d);
          return arm ? { [discName]: d, [arm.name]: arm.codec.decode(r) } : { [discName]: d };
        },
      };
    }
  }
}

function enumValue(name: string): number {
  const v = PROTOCOL.constants[name];
  if (v !== undefined) return v;
  for (const def of Object.values(PROTOCOL.types)) {
    if (def.kind === 'enum' && def.values[name] !== undefined) return def.values[name]!;
  }
  throw new Error(`unknown enum value ${name}`);
}

const num = (b: bigint): number => Number(b);

/** Codecs of the primitive and composite XDR types. */
function typeCodec(t: XdrType): Codec {
  switch (t.t) {
    case 'int':
      return { encode: (w, v) => void w.int(v as number), decode: (r) => r.int() };
    case 'uint':
      return { encode: (w, v) => void w.uint(v as number), decode: (r) => r.uint() };
    case 'short':
      return { encode: (w, v) => void w.short(v as number), decode: (r) => r.short() };
    case 'ushort':
      return { encode: (w, v) => void w.ushort(v as number), decode: (r) => r.ushort() };
    case 'char':
      return { encode: (w, v) => void w.char(v as number), decode: (r) => r.char() };
    case 'uchar':
      return { encode: (w, v) => void w.uchar(v as number), decode: (r) => r.uchar() };
    case 'hyper':
      return { encode: (w, v) => void w.hyper(v as number | bigint), decode: (r) => num(r.hyper()) };
    case 'uhyper':
      return { encode: (w, v) => void w.uhyper(v as number | bigint), decode: (r) => num(r.uhyper()) };
    case 'bool':
      return { encode: (w, v) => void w.bool(Boolean(v)), decode: (r) => r.bool() };
    case 'float':
      return { encode: (w, v) => void w.float(v as number), decode: (r) => r.float() };
    case 'double':
      return { encode: (w, v) => void w.double(v as number), decode: (r) => r.double() };
    case 'string': {
      const max = t.max ?? UNBOUNDED;
      return { encode: (w, v) => void w.string(v as string, max), decode: (r) => r.string(max) };
    }
    case 'opaque': {
      if (t.fixed !== undefined) {
        const n = t.fixed;
        return { encode: (w, v) => void w.fixedOpaque(v as Uint8Array, n), decode: (r) => r.fixedOpaque(n) };
      }
      const max = t.max ?? UNBOUNDED;
      return { encode: (w, v) => void w.opaque(v as Uint8Array, max), decode: (r) => r.opaque(max) };
    }
    case 'array': {
      if (t.of.t === 'char' || t.of.t === 'uchar') return charArray(t.max ?? UNBOUNDED, false);
      const of = typeCodec(t.of);
      const max = t.max ?? UNBOUNDED;
      return {
        encode: (w, v) => void w.array((v ?? []) as unknown[], (x, item) => of.encode(x, item), max),
        decode: (r) => r.array((x) => of.decode(x), max),
      };
    }
    case 'fixedArray': {
      if (t.of.t === 'char' || t.of.t === 'uchar') return charArray(t.len, true);
      const of = typeCodec(t.of);
      return {
        encode: (w, v) => void w.fixedArray(v as unknown[], (x, item) => of.encode(x, item), t.len),
        decode: (r) => r.fixedArray((x) => of.decode(x), t.len),
      };
    }
    case 'optional': {
      const of = typeCodec(t.of);
      return {
        encode: (w, v) => void w.optional(v, (x, item) => of.encode(x, item)),
        decode: (r) => r.optional((x) => of.decode(x)),
      };
    }
    case 'ref':
      return codecFor(t.name);
    case 'void':
      return { encode: () => {}, decode: () => undefined };
  }
}

/**
 * `char x<max>` / `char x[n]` (each char one XDR word): a C string. libvirt sends the
 * terminating NUL in the variable form (strlen + 1), and a fixed array is NUL-padded.
 */
function charArray(max: number, fixed: boolean): Codec {
  return {
    encode(w, v) {
      const bytes = Buffer.from(`${(v as string) ?? ''}\0`, 'utf8');
      const items = [...(fixed ? bytes.subarray(0, max) : bytes)];
      if (fixed) while (items.length < max) items.push(0);
      const signed = (x: number) => (x > 127 ? x - 256 : x);
      if (fixed) w.fixedArray(items, (x, b) => x.int(signed(b)), max);
      else w.array(items, (x, b) => x.int(signed(b)), max);
    },
    decode(r) {
      const items = fixed ? r.fixedArray((x) => x.int(), max) : r.array((x) => x.int(), max);
      const bytes = Buffer.from(items.map((b) => b & 0xff));
      const nul = bytes.indexOf(0);
      return (nul >= 0 ? bytes.subarray(0, nul) : bytes).toString('utf8');
    },
  };
}

function uuidText(b: Uint8Array): string {
  const h = Buffer.from(b).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function uuidBytes(uuid: string): Uint8Array {
  const hex = uuid.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new XdrError(`invalid uuid ${uuid}`);
  return Buffer.from(hex, 'hex');
}

/** Named types that read as what they mean rather than as their XDR shape. */
const SPECIAL: Record<string, () => Codec> = {
  remote_uuid: () => ({
    encode: (w, v) => void w.fixedOpaque(uuidBytes(v as string), 16),
    decode: (r) => uuidText(r.fixedOpaque(16)),
  }),
  remote_typed_param: () => {
    const field = codecFor('remote_nonnull_string');
    const value = codecFor('remote_typed_param_value');
    const ARM = ['', 'i', 'ui', 'l', 'ul', 'd', 'b', 's'];
    return {
      encode(w, v) {
        const p = v as TypedParam;
        field.encode(w, p.field);
        const arm = ARM[p.type];
        if (!arm) throw new XdrError(`typed parameter ${p.field} has unknown type ${p.type}`);
        value.encode(w, { type: p.type, [arm]: p.type === 6 ? (p.value ? 1 : 0) : p.value });
      },
      decode(r): TypedParam {
        const f = field.decode(r) as string;
        const u = value.decode(r) as Record<string, unknown> & { type: number };
        const raw = u[ARM[u.type] ?? ''];
        return { field: f, type: u.type, value: u.type === 6 ? raw !== 0 : (raw as number | string) };
      },
    };
  },
};

/** Encodes a named type to bytes. */
export function encodeType(name: string, value: unknown, w: XdrWriter): void {
  codecFor(name).encode(w, value);
}
