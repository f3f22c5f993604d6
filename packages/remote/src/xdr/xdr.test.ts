import { describe, expect, it } from 'vitest';
import {
  XDR_DECODE_PAYLOAD_ERROR,
  XDR_ENCODE_PAYLOAD_ERROR,
  XDR_UNBOUNDED,
  XdrError,
  XdrReader,
  XdrWriter,
} from './xdr.js';

const words = (...ws: number[]) => {
  const b = Buffer.alloc(ws.length * 4);
  for (const [i, w] of ws.entries()) b.writeUInt32BE(w >>> 0, i * 4);
  return b;
};

/** The XdrError a call throws (fails the test when it throws nothing or something else). */
function xdrErrorOf(f: () => unknown): XdrError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(XdrError);
    return err as XdrError;
  }
  throw new Error('expected an XdrError');
}

describe('XDR', () => {
  it('round-trips every type with RFC 4506 layout', () => {
    const w = new XdrWriter(4);
    w.int(-2)
      .uint(0xfffffffe)
      .hyper(-5n)
      .uhyper(2n ** 64n - 1n)
      .bool(true)
      .string('abcde', 10);
    w.opaque(Uint8Array.of(1, 2, 3)).fixedOpaque(Uint8Array.of(9, 9), 2);
    w.optional<string>(null, (x, v) => x.string(v)).optional('x', (x, v) => x.string(v));
    w.array([1, 2, 3], (x, v) => x.int(v), 4).fixedArray([7, 8], (x, v) => x.uint(v), 2);
    w.union(1, (x) => x.hyper(42));
    w.char(-1).uchar(255).short(-32768).ushort(65535).float(1.5).double(-0.1);
    const buf = w.finish();
    // string 'abcde': length 5 then 5 bytes and 3 pad bytes.
    expect(buf.subarray(28, 40).toString('hex')).toBe('000000056162636465000000');
    // char, short and float each take one 4-byte word, double two (most significant first).
    expect(buf.subarray(buf.length - 28).toString('hex')).toBe(
      'ffffffff' + '000000ff' + 'ffff8000' + '0000ffff' + '3fc00000' + 'bfb999999999999a',
    );
    const r = new XdrReader(buf);
    expect(r.int()).toBe(-2);
    expect(r.uint()).toBe(0xfffffffe);
    expect(r.hyper()).toBe(-5n);
    expect(r.uhyper()).toBe(2n ** 64n - 1n);
    expect(r.bool()).toBe(true);
    expect(r.string(10)).toBe('abcde');
    expect([...r.opaque()]).toEqual([1, 2, 3]);
    expect([...r.fixedOpaque(2)]).toEqual([9, 9]);
    expect(r.optional((x) => x.string())).toBeNull();
    expect(r.optional((x) => x.string())).toBe('x');
    expect(r.array((x) => x.int(), 4)).toEqual([1, 2, 3]);
    expect(r.fixedArray((x) => x.uint(), 2)).toEqual([7, 8]);
    expect(r.union((d, x) => (d === 1 ? x.hyper() : null))).toBe(42n);
    expect([r.char(), r.uchar(), r.short(), r.ushort(), r.float(), r.double()]).toEqual([
      -1, 255, -32768, 65535, 1.5, -0.1,
    ]);
    r.done();
  });

  it('reads any non-zero bool word as true, as xdr_bool does, and writes only 0 and 1', () => {
    const r = new XdrReader(words(0, 1, 2, 0xffffffff, 0x01000000, 0x80000000));
    expect([r.bool(), r.bool(), r.bool(), r.bool(), r.bool(), r.bool()]).toEqual([
      false,
      true,
      true,
      true,
      true,
      true,
    ]);
    expect(new XdrWriter().bool(true).bool(false).finish()).toEqual(words(1, 0));
  });

  it("reads go-libvirt's REMOTE_PROC_CONNECT_OPEN arguments: an optional string flagged 0x01000000", () => {
    // go-libvirt encodes the `remote_string name` pointer as a [3]byte{1,0,0} padded to a word
    const args = Buffer.concat([
      Buffer.from([1, 0, 0, 0]),
      new XdrWriter().string('qemu:///system').uint(0).finish(),
    ]);
    const r = new XdrReader(args);
    expect(r.optional((x) => x.string(4194304))).toBe('qemu:///system');
    expect(r.uint()).toBe(0);
    r.done();
  });

  it('skips padding without checking it, as xdr_opaque does, and always writes zeros', () => {
    const r = new XdrReader(
      Buffer.from('00000001' + '61ffeedd' + '00000002' + '0102abcd' + '07aaaaaa', 'hex'),
    );
    expect(r.string()).toBe('a');
    expect([...r.opaque()]).toEqual([1, 2]);
    expect([...r.fixedOpaque(1)]).toEqual([7]);
    r.done();
    expect(new XdrWriter().string('a').opaque(Uint8Array.of(1, 2)).finish()).toEqual(
      Buffer.from('00000001' + '61000000' + '00000002' + '01020000', 'hex'),
    );
  });

  it('narrows char and short words without a range check on decode, as the C casts do', () => {
    const r = new XdrReader(words(0x1ff, 0x1ff, 0x18000, 0x18000));
    expect([r.char(), r.uchar(), r.short(), r.ushort()]).toEqual([-1, 255, -32768, 0x8000]);
  });

  it('sees a string up to its first NUL, as a C caller of xdr_string does', () => {
    expect(new XdrReader(new XdrWriter().opaque(Buffer.from('ab\0cd')).finish()).string()).toBe('ab');
    expect(new XdrWriter().string('ab\0cd').finish()).toEqual(new XdrWriter().string('ab').finish());
  });

  it('enforces maximums like xdr_string, xdr_bytes and xdr_array: the limit itself passes', () => {
    const s = new XdrWriter().string('abc', 3).finish();
    expect(new XdrReader(s).string(3)).toBe('abc');
    const o = new XdrWriter().opaque(Uint8Array.of(1, 2), 2).finish();
    expect([...new XdrReader(o).opaque(2)]).toEqual([1, 2]);
    const a = new XdrWriter().array([1, 2], (x, v) => x.int(v), 2).finish();
    expect(new XdrReader(a).array((x) => x.int(), 2)).toEqual([1, 2]);

    for (const e of [
      xdrErrorOf(() => new XdrReader(s).string(2)),
      xdrErrorOf(() => new XdrReader(o).opaque(1)),
      xdrErrorOf(() => new XdrReader(a).array((x) => x.int(), 1)),
    ]) {
      expect(e.message).toBe(XDR_DECODE_PAYLOAD_ERROR);
      expect(e.op).toBe('decode');
      expect(e.detail).toMatch(/exceeds maximum [12]$/);
    }
    for (const e of [
      xdrErrorOf(() => new XdrWriter().string('abc', 2)),
      xdrErrorOf(() => new XdrWriter().opaque(Uint8Array.of(1, 2), 1)),
      xdrErrorOf(() => new XdrWriter().array([1, 2], (x, v) => x.int(v), 1)),
    ]) {
      expect(e.message).toBe(XDR_ENCODE_PAYLOAD_ERROR);
      expect(e.op).toBe('encode');
      expect(e.code).toBe('RPC');
    }
    // rpcgen counts a string's maximum in bytes, not characters
    expect(xdrErrorOf(() => new XdrWriter().string('é', 1)).detail).toBe(
      'string of 2 bytes exceeds maximum 1',
    );
    expect(() => new XdrReader(s).string(-1)).toThrow(RangeError);
    expect(() => new XdrWriter().string('', XDR_UNBOUNDED + 1)).toThrow(RangeError);
  });

  it('refuses garbage: truncation, huge counts, values a C type cannot hold', () => {
    const decodeFailures = [
      () => new XdrReader(Buffer.from([0, 0])).int(),
      () => new XdrReader(Buffer.from([0, 0, 0, 1])).hyper(),
      () => new XdrReader(words(0xffffffff)).array((x) => x.int()),
      () => new XdrReader(words(1000)).fixedArray((x) => x.int(), 1000),
      () => new XdrReader(Buffer.from([0, 0, 0, 9, 1])).string(),
      // the string's last byte is there but its padding is not: xdr_opaque fails on the padding too
      () => new XdrReader(Buffer.from([0, 0, 0, 1, 0x61])).string(),
      () => new XdrReader(words(1)).optional((x) => x.int()),
      () => new XdrReader(words(1, 2)).done(),
    ];
    for (const f of decodeFailures) expect(xdrErrorOf(f).message).toBe(XDR_DECODE_PAYLOAD_ERROR);
    expect(xdrErrorOf(decodeFailures[4]!).detail).toMatch(/^truncated XDR: string needs 12 bytes, 1 left$/);

    const encodeFailures = [
      () => new XdrWriter().int(2 ** 31),
      () => new XdrWriter().int(1.5),
      () => new XdrWriter().uint(-1),
      () => new XdrWriter().short(0x8000),
      () => new XdrWriter().ushort(-1),
      () => new XdrWriter().char(128),
      () => new XdrWriter().uchar(256),
      () => new XdrWriter().hyper(2n ** 63n),
      () => new XdrWriter().hyper(0.5),
      () => new XdrWriter().uhyper(-1n),
      () => new XdrWriter().fixedOpaque(Uint8Array.of(1), 2),
      () => new XdrWriter().fixedArray([1], (x, v) => x.int(v), 2),
    ];
    for (const f of encodeFailures) expect(xdrErrorOf(f).message).toBe(XDR_ENCODE_PAYLOAD_ERROR);
  });

  it('keeps a caller-made XdrError as given', () => {
    const e = new XdrError('remote_typed_param: unknown type 9');
    expect([e.message, e.detail, e.op, e.domain]).toEqual([
      'remote_typed_param: unknown type 9',
      'remote_typed_param: unknown type 9',
      'decode',
      'rpc',
    ]);
  });
});
