import { VirError } from '@qvirt/core/errors';
import { MESSAGE_HEADER_MAX, MESSAGE_LEN_MAX, MESSAGE_MAX } from './constants.js';

/** A length word no packet can have: libvirt closes the connection on it. */
export class FramingError extends VirError {
  override readonly name = 'FramingError';
  constructor(message: string) {
    super('RPC', 'rpc', message);
  }
}

/**
 * Splits a byte stream into packets on libvirt's framing: a 4-byte big-endian length that counts
 * itself, then the packet. A length below a header's size or above `maxMessage` (libvirt's
 * VIR_NET_MESSAGE_MAX unless told otherwise) is a {@link FramingError}, raised as soon as the
 * length word is complete and before any of the packet is buffered, as virNetMessageDecodeLength
 * does (same wording).
 *
 * Memory: the declared length is never allocated up front (a peer declaring 32 MiB and sending
 * nothing costs nothing): a packet in flight costs what has arrived of it, and {@link reset} drops
 * it all. Small packets are cut from the chunks they arrived in. The body of a large one (over
 * {@link LARGE_PACKET}) is copied as it arrives into blocks of at most {@link BODY_BLOCK} bytes and
 * joined when complete: the stream's own read buffers (≤ 64 KiB each) are then dropped at once and
 * reused by the allocator for the next read, instead of hundreds of them staying allocated among
 * other memory, which the allocator could not give back to the system after the peer left.
 *
 * Two ways to use it: {@link push} returns every packet a chunk completes; a consumer that applies
 * back-pressure (the server) calls {@link append} and then {@link next} only while it has room
 * for another packet, so unconsumed input stays raw bytes of bounded size.
 */
/** Packets longer than this (after the length word) are assembled in blocks. */
export const LARGE_PACKET = 64 * 1024;
/** Largest block a large packet's body is gathered in. */
export const BODY_BLOCK = 1024 * 1024;

export class PacketFramer {
  private chunks: Buffer[] = [];
  /** The body of a large packet being gathered, and how many of its bytes have arrived. */
  private blocks: Buffer[] = [];
  private filled = 0;
  /** Bytes held in `chunks` (not yet returned as packets). */
  private buffered = 0;
  /** Length of the packet being read (without its length word); -1 while reading a length word. */
  private want = -1;

  constructor(private readonly maxMessage = MESSAGE_MAX) {}

  /** Bytes held for packets not yet returned. */
  get pending(): number {
    return this.buffered;
  }

  /** Feeds bytes without extracting packets (see {@link next}). */
  append(data: Buffer): void {
    if (data.length === 0) return;
    this.buffered += data.length;
    const used = this.want > LARGE_PACKET ? this.gather(data) : 0;
    if (used < data.length) this.chunks.push(used > 0 ? data.subarray(used) : data);
  }

  /** The next complete packet (without its length word), or undefined until more bytes arrive. */
  next(): Buffer | undefined {
    if (this.want < 0) {
      if (this.buffered < MESSAGE_LEN_MAX) return undefined;
      const len = this.take(MESSAGE_LEN_MAX).readUInt32BE(0);
      if (len < MESSAGE_LEN_MAX + MESSAGE_HEADER_MAX) {
        throw new FramingError(
          `packet ${len} bytes received from server too small, want ${MESSAGE_LEN_MAX + MESSAGE_HEADER_MAX}`,
        );
      }
      if (len - MESSAGE_LEN_MAX > this.maxMessage) {
        throw new FramingError(
          `packet ${len - MESSAGE_LEN_MAX} bytes received from server too large, want ${this.maxMessage}`,
        );
      }
      this.want = len - MESSAGE_LEN_MAX;
      if (this.want > LARGE_PACKET) {
        // what already arrived of the body moves into blocks too
        const held = this.chunks;
        this.chunks = [];
        for (const c of held) {
          const used = this.gather(c);
          if (used < c.length) this.chunks.push(c.subarray(used));
        }
      }
    }
    if (this.buffered < this.want) return undefined;
    let packet: Buffer;
    if (this.want > LARGE_PACKET) {
      packet = this.blocks.length === 1 ? this.blocks[0]! : Buffer.concat(this.blocks, this.want);
      this.blocks = [];
      this.filled = 0;
      this.buffered -= this.want;
    } else {
      packet = this.take(this.want);
    }
    this.want = -1;
    return packet;
  }

  /** Feeds bytes; returns the packets (without their length word) they complete. */
  push(data: Buffer): Buffer[] {
    this.append(data);
    const out: Buffer[] = [];
    for (let p = this.next(); p; p = this.next()) out.push(p);
    return out;
  }

  /** Drops everything buffered (the connection is gone). */
  reset(): void {
    this.chunks = [];
    this.blocks = [];
    this.filled = 0;
    this.buffered = 0;
    this.want = -1;
  }

  /** Copies what `data` holds of the large packet's body into its blocks; returns the bytes used. */
  private gather(data: Buffer): number {
    let used = 0;
    while (used < data.length && this.filled < this.want) {
      const offset = this.filled % BODY_BLOCK;
      if (offset === 0)
        this.blocks.push(Buffer.allocUnsafeSlow(Math.min(BODY_BLOCK, this.want - this.filled)));
      const block = this.blocks[this.blocks.length - 1]!;
      const k = data.copy(block, offset, used);
      used += k;
      this.filled += k;
    }
    return used;
  }

  /** Removes the first `n` buffered bytes as a buffer of their own (a copy: no chunk stays pinned). */
  private take(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n - at);
      c.copy(out, at, 0, k);
      at += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.buffered -= n;
    return out;
  }
}
