import { describe, expect, it } from 'vitest';
import { MESSAGE_MAX, MessageStatus, MessageType } from './constants.js';
import { FramingError, PacketFramer } from './framer.js';
import { decodePacket, encodePacket } from './header.js';

const lengthWord = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n, 0);
  return b;
};

const call = (serial: number, text: string) =>
  encodePacket({ prog: 1, vers: 1, proc: 1, type: MessageType.CALL, serial, status: MessageStatus.OK }, (w) =>
    w.string(text),
  );

describe('PacketFramer', () => {
  it('refuses a declared length above VIR_NET_MESSAGE_MAX from the length word alone, buffering nothing', () => {
    const f = new PacketFramer();
    expect(() => f.push(lengthWord(MESSAGE_MAX + 4 + 1))).toThrow(FramingError);
    expect(f.pending).toBe(0);
    expect(() => new PacketFramer().push(lengthWord(MESSAGE_MAX + 5))).toThrow(
      `packet ${MESSAGE_MAX + 1} bytes received from server too large, want ${MESSAGE_MAX}`,
    );
    expect(() => new PacketFramer().push(lengthWord(8))).toThrow(
      /packet 8 bytes received from server too small/,
    );
  });

  it('holds only the bytes that arrived of a declared 32 MiB packet, and nothing after reset', () => {
    const f = new PacketFramer();
    const half = Buffer.alloc(1024 * 1024, 7);
    expect(f.push(Buffer.concat([lengthWord(MESSAGE_MAX + 4), half.subarray(0, 1000)]))).toEqual([]);
    expect(f.pending).toBe(1000);
    expect(f.push(half.subarray(1000))).toEqual([]);
    expect(f.pending).toBe(half.length);
    f.reset();
    expect(f.pending).toBe(0);
    // the framer is usable again from a length word
    expect(f.push(call(9, 'x')).map((p) => decodePacket(p).header.serial)).toEqual([9]);
  });

  it('splits a stream cut at every byte into the same packets', () => {
    const stream = Buffer.concat([call(1, 'a'), call(2, 'bb'.repeat(100)), call(3, '')]);
    const f = new PacketFramer();
    const got: number[] = [];
    for (let i = 0; i < stream.length; i++) {
      for (const p of f.push(stream.subarray(i, i + 1))) got.push(decodePacket(p).header.serial);
    }
    expect(got).toEqual([1, 2, 3]);
    expect(f.pending).toBe(0);
  });

  it('reassembles a packet larger than a body block, and what follows it, from chunks of any size', () => {
    const big = call(1, 'z'.repeat(3 * 1024 * 1024 + 5));
    const stream = Buffer.concat([call(0, 'before'), big, call(2, 'after')]);
    for (const size of [1000, 65536, 99_991, stream.length]) {
      const f = new PacketFramer();
      const got: Buffer[] = [];
      for (let at = 0; at < stream.length; at += size) got.push(...f.push(stream.subarray(at, at + size)));
      expect(got.map((p) => decodePacket(p).header.serial)).toEqual([0, 1, 2]);
      expect(got[1]!.equals(big.subarray(4))).toBe(true);
      expect(f.pending).toBe(0);
    }
  });

  it('next() hands out one packet at a time and leaves the rest as raw bytes', () => {
    const f = new PacketFramer();
    const a = call(1, 'a');
    const b = call(2, 'b');
    f.append(Buffer.concat([a, b]));
    expect(decodePacket(f.next()!).header.serial).toBe(1);
    expect(f.pending).toBe(b.length);
    expect(decodePacket(f.next()!).header.serial).toBe(2);
    expect(f.next()).toBeUndefined();
    expect(f.pending).toBe(0);
  });
});
