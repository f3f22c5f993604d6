import { VirError } from '@qvirt/core';
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
 * VIR_NET_MESSAGE_MAX unless told otherwise) is a {@link FramingError}, raised before any of the
 * packet is buffered, as virNetMessageDecodeLength does.
 */
export class PacketFramer {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private want = -1;

  constructor(private readonly maxMessage = MESSAGE_MAX) {}

  /** Bytes held for a packet not yet complete. */
  get pending(): number {
    return this.buffered;
  }

  /** Feeds bytes; returns the packets (without their length word) they complete. */
  push(data: Buffer): Buffer[] {
    this.chunks.push(data);
    this.buffered += data.length;
    const out: Buffer[] = [];
    for (;;) {
      if (this.want < 0) {
        if (this.buffered < MESSAGE_LEN_MAX) break;
        const len = this.take(MESSAGE_LEN_MAX).readUInt32BE(0);
        if (len < MESSAGE_LEN_MAX + MESSAGE_HEADER_MAX) {
          throw new FramingError(`packet length ${len} is too small`);
        }
        if (len - MESSAGE_LEN_MAX > this.maxMessage) {
          throw new FramingError(`packet length ${len - MESSAGE_LEN_MAX} exceeds maximum ${this.maxMessage}`);
        }
        this.want = len - MESSAGE_LEN_MAX;
      }
      if (this.buffered < this.want) break;
      out.push(this.take(this.want));
      this.want = -1;
    }
    return out;
  }

  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const head = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    return Buffer.from(head);
  }
}
