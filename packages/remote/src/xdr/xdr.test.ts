import { describe, expect, it } from 'vitest';
import { XdrError, XdrReader, XdrWriter } from './xdr.js';

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
    const buf = w.finish();
    // string 'abcde': length 5 then 5 bytes and 3 pad bytes.
    expect(buf.subarray(28, 40).toString('hex')).toBe('000000056162636465000000');
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
    r.done();
  });

  it('refuses garbage: truncation, lengths over the maximum, bad bools, huge counts', () => {
    expect(() => new XdrReader(Buffer.from([0, 0])).int()).toThrow(XdrError);
    expect(() => new XdrReader(new XdrWriter().string('toolong').finish()).string(3)).toThrow(
      /exceeds maximum 3/,
    );
    expect(() => new XdrReader(Buffer.from([0, 0, 0, 2])).bool()).toThrow(/bad XDR bool/);
    expect(() => new XdrReader(Buffer.from([0xff, 0xff, 0xff, 0xff])).array((x) => x.int())).toThrow(
      XdrError,
    );
    expect(() => new XdrReader(Buffer.from([0, 0, 0, 9, 1])).string()).toThrow(/truncated/);
    expect(() => new XdrWriter().int(2 ** 31)).toThrow(XdrError);
    expect(() => new XdrWriter().string('abcd', 3)).toThrow(XdrError);
  });
});
