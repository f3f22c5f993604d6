import { VirError } from '@qvirt/core';

/**
 * XDR (RFC 4506) as libvirt's rpcgen-generated code uses it: big-endian 4-byte units, strings and
 * opaques padded to 4 bytes, `hyper` as 64-bit two's complement, optional values (`T *`) as a bool
 * followed by the value, variable arrays as a count followed by the elements.
 *
 * The reader never reads past its buffer and checks every declared length against its maximum
 * before allocating, so garbage input ends in an {@link XdrError}, never in a huge allocation.
 */

/** Malformed or out-of-bounds XDR. */
/** Bytes that do not decode as the XDR expected: libvirt's RPC error domain. */
export class XdrError extends VirError {
  override readonly name = 'XdrError';
  constructor(message: string) {
    super('RPC', 'rpc', message);
  }
}

/** An unbounded maximum (`string<>`, `opaque<>`): XDR's limit of 2^32 - 1. */
export const XDR_UNBOUNDED = 0xffffffff;

function pad(len: number): number {
  return (4 - (len % 4)) % 4;
}

export class XdrWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(initial = 256) {
    this.buf = Buffer.alloc(initial);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.pos;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.alloc(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  int(v: number): this {
    if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff)
      throw new XdrError(`int out of range: ${v}`);
    this.ensure(4);
    this.buf.writeInt32BE(v, this.pos);
    this.pos += 4;
    return this;
  }

  uint(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff)
      throw new XdrError(`unsigned int out of range: ${v}`);
    this.ensure(4);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
    return this;
  }

  /** An enum is an int on the wire. */
  enum(v: number): this {
    return this.int(v);
  }

  bool(v: boolean): this {
    return this.int(v ? 1 : 0);
  }

  hyper(v: bigint | number): this {
    this.ensure(8);
    this.buf.writeBigInt64BE(BigInt(v), this.pos);
    this.pos += 8;
    return this;
  }

  uhyper(v: bigint | number): this {
    this.ensure(8);
    this.buf.writeBigUInt64BE(BigInt(v), this.pos);
    this.pos += 8;
    return this;
  }

  /** Fixed-length opaque (`opaque x[n]`): exactly `n` bytes, padded. */
  fixedOpaque(data: Uint8Array, n: number): this {
    if (data.length !== n) throw new XdrError(`fixed opaque needs ${n} bytes, got ${data.length}`);
    return this.raw(data, true);
  }

  /** Variable-length opaque (`opaque x<max>`). */
  opaque(data: Uint8Array, max = XDR_UNBOUNDED): this {
    if (data.length > max) throw new XdrError(`opaque of ${data.length} bytes exceeds maximum ${max}`);
    this.uint(data.length);
    return this.raw(data, true);
  }

  /** `string x<max>`: UTF-8 bytes; `max` counts bytes as rpcgen does. */
  string(s: string, max = XDR_UNBOUNDED): this {
    const bytes = Buffer.from(s, 'utf8');
    if (bytes.length > max) throw new XdrError(`string of ${bytes.length} bytes exceeds maximum ${max}`);
    this.uint(bytes.length);
    return this.raw(bytes, true);
  }

  /** An optional value (`T *x`): a bool, then the value when present. */
  optional<T>(v: T | null | undefined, write: (w: this, v: T) => void): this {
    if (v === null || v === undefined) return this.bool(false);
    this.bool(true);
    write(this, v);
    return this;
  }

  /** Variable-length array (`T x<max>`). */
  array<T>(items: readonly T[], write: (w: this, v: T) => void, max = XDR_UNBOUNDED): this {
    if (items.length > max) throw new XdrError(`array of ${items.length} elements exceeds maximum ${max}`);
    this.uint(items.length);
    for (const item of items) write(this, item);
    return this;
  }

  /** Fixed-length array (`T x[n]`). */
  fixedArray<T>(items: readonly T[], write: (w: this, v: T) => void, n: number): this {
    if (items.length !== n) throw new XdrError(`fixed array needs ${n} elements, got ${items.length}`);
    for (const item of items) write(this, item);
    return this;
  }

  /**
   * A discriminated union (`union switch (int d) { case …: T; … }`): the discriminant, then the
   * arm's value (nothing for a `void` arm).
   */
  union(discriminant: number, writeArm?: (w: this) => void): this {
    this.int(discriminant);
    writeArm?.(this);
    return this;
  }

  /** Bytes as they are, optionally padded to a multiple of 4. */
  raw(data: Uint8Array, padded = false): this {
    const p = padded ? pad(data.length) : 0;
    this.ensure(data.length + p);
    this.buf.set(data, this.pos);
    this.pos += data.length;
    this.buf.fill(0, this.pos, this.pos + p);
    this.pos += p;
    return this;
  }

  /** The bytes written (a copy-free view). */
  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

export class XdrReader {
  private pos: number;

  constructor(
    private readonly buf: Uint8Array,
    offset = 0,
    private readonly end = buf.length,
  ) {
    this.pos = offset;
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number, what: string): void {
    if (n < 0 || this.pos + n > this.end) {
      throw new XdrError(`truncated XDR: ${what} needs ${n} bytes, ${this.end - this.pos} left`);
    }
  }

  private view(): DataView {
    return new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  int(): number {
    this.need(4, 'int');
    const v = this.view().getInt32(this.pos);
    this.pos += 4;
    return v;
  }

  uint(): number {
    this.need(4, 'unsigned int');
    const v = this.view().getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  enum(): number {
    return this.int();
  }

  /** XDR allows only 0 and 1 for a bool; anything else is garbage. */
  bool(): boolean {
    const v = this.int();
    if (v !== 0 && v !== 1) throw new XdrError(`bad XDR bool: ${v}`);
    return v === 1;
  }

  hyper(): bigint {
    this.need(8, 'hyper');
    const v = this.view().getBigInt64(this.pos);
    this.pos += 8;
    return v;
  }

  uhyper(): bigint {
    this.need(8, 'unsigned hyper');
    const v = this.view().getBigUint64(this.pos);
    this.pos += 8;
    return v;
  }

  private bytes(n: number, what: string): Uint8Array {
    const p = pad(n);
    this.need(n + p, what);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n + p;
    return out;
  }

  fixedOpaque(n: number): Uint8Array {
    return this.bytes(n, 'fixed opaque');
  }

  opaque(max = XDR_UNBOUNDED): Uint8Array {
    const n = this.uint();
    if (n > max) throw new XdrError(`opaque of ${n} bytes exceeds maximum ${max}`);
    return this.bytes(n, 'opaque');
  }

  string(max = XDR_UNBOUNDED): string {
    const n = this.uint();
    if (n > max) throw new XdrError(`string of ${n} bytes exceeds maximum ${max}`);
    return Buffer.from(this.bytes(n, 'string')).toString('utf8');
  }

  optional<T>(read: (r: this) => T): T | null {
    return this.bool() ? read(this) : null;
  }

  array<T>(read: (r: this) => T, max = XDR_UNBOUNDED): T[] {
    const n = this.uint();
    if (n > max) throw new XdrError(`array of ${n} elements exceeds maximum ${max}`);
    // Each element takes at least 4 bytes; refuse counts the buffer cannot hold before looping.
    if (n > this.remaining / 4 && n > 0) this.need(n * 4, 'array');
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(read(this));
    return out;
  }

  fixedArray<T>(read: (r: this) => T, n: number): T[] {
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(read(this));
    return out;
  }

  /** Reads a union's discriminant and hands it to `readArm`. */
  union<T>(readArm: (discriminant: number, r: this) => T): T {
    return readArm(this.int(), this);
  }

  /** Throws unless every byte was consumed. */
  done(): void {
    if (this.pos !== this.end) throw new XdrError(`${this.end - this.pos} unexpected trailing bytes in XDR`);
  }
}
