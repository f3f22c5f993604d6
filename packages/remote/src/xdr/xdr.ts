import { VirError } from '@qvirt/core/errors';

/**
 * XDR (RFC 4506) as libvirt's rpcgen-generated code uses it through the SunRPC library (libtirpc
 * on Debian 12, glibc's sunrpc before it; the two agree on every routine used here): big-endian
 * 4-byte units, strings and opaques padded to 4 bytes, `hyper` as 64-bit two's complement,
 * optional values (`T *`) as a bool followed by the value, variable arrays as a count followed by
 * the elements.
 *
 * Where that library is lenient the reader is too, because peers rely on it: `xdr_bool` takes
 * any non-zero word as true (go-libvirt opens its connection with an optional-string flag of
 * 0x01000000), `xdr_opaque` skips the padding without looking at it, `xdr_char`/`xdr_short`
 * narrow the 32-bit word without a range check. Where it is strict the reader is too: a declared
 * length over the maximum fails (`xdr_string`, `xdr_bytes`, `xdr_array`), and so does reading
 * past the buffer. Every length is checked before anything is allocated, so garbage input ends in
 * an {@link XdrError}, never in a huge allocation.
 */

/** virNetMessageDecodePayload's error when the payload's XDR filter fails. */
export const XDR_DECODE_PAYLOAD_ERROR = 'Unable to decode message payload';
/** virNetMessageEncodePayload's error when the payload's XDR filter fails. */
export const XDR_ENCODE_PAYLOAD_ERROR = 'Unable to encode message payload';

export type XdrOp = 'decode' | 'encode';

/**
 * Bytes that do not decode as the XDR expected, or a value that cannot be encoded: libvirt's RPC
 * error domain. The reader and writer raise it with libvirt's own message (one of the two
 * above, as the RPC layer reports any filter failure) and keep the reason in `detail`.
 */
export class XdrError extends VirError {
  override readonly name = 'XdrError';
  /** Why the XDR failed, for logs: libvirt itself never says. */
  readonly detail: string;

  constructor(
    message: string,
    readonly op: XdrOp = 'decode',
    detail = message,
  ) {
    super('RPC', 'rpc', message);
    this.detail = detail;
  }

  /** A payload that does not decode, reported as libvirt reports it. */
  static decode(detail: string): XdrError {
    return new XdrError(XDR_DECODE_PAYLOAD_ERROR, 'decode', detail);
  }

  /** A payload that cannot be encoded, reported as libvirt reports it. */
  static encode(detail: string): XdrError {
    return new XdrError(XDR_ENCODE_PAYLOAD_ERROR, 'encode', detail);
  }
}

/** An unbounded maximum (`string<>`, `opaque<>`): XDR's limit of 2^32 - 1. */
export const XDR_UNBOUNDED = 0xffffffff;

function pad(len: number): number {
  return (4 - (len % 4)) % 4;
}

/** `xdr_string` works on C strings: the text ends at the first NUL, in both directions. */
function cString(bytes: Uint8Array): Uint8Array {
  const nul = bytes.indexOf(0);
  return nul < 0 ? bytes : bytes.subarray(0, nul);
}

function checkMax(max: number, what: string): void {
  if (!Number.isInteger(max) || max < 0 || max > XDR_UNBOUNDED)
    throw new RangeError(`${what} maximum must be an integer 0..2^32-1, got ${max}`);
}

export class XdrWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(initial = 256) {
    this.buf = Buffer.alloc(Math.max(4, initial));
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

  /** A signed 32-bit word in [min, max] (int, short and char all take one). */
  private signed(v: number, min: number, max: number, what: string): this {
    if (!Number.isInteger(v) || v < min || v > max) throw XdrError.encode(`${what} out of range: ${v}`);
    this.ensure(4);
    this.buf.writeInt32BE(v, this.pos);
    this.pos += 4;
    return this;
  }

  private unsigned(v: number, max: number, what: string): this {
    if (!Number.isInteger(v) || v < 0 || v > max) throw XdrError.encode(`${what} out of range: ${v}`);
    this.ensure(4);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
    return this;
  }

  int(v: number): this {
    return this.signed(v, -0x80000000, 0x7fffffff, 'int');
  }

  uint(v: number): this {
    return this.unsigned(v, 0xffffffff, 'unsigned int');
  }

  /** `short`: a C short, widened to a 4-byte word. */
  short(v: number): this {
    return this.signed(v, -0x8000, 0x7fff, 'short');
  }

  ushort(v: number): this {
    return this.unsigned(v, 0xffff, 'unsigned short');
  }

  /** `char`: a C (signed) char, widened to a 4-byte word as `xdr_char` does. */
  char(v: number): this {
    return this.signed(v, -0x80, 0x7f, 'char');
  }

  uchar(v: number): this {
    return this.unsigned(v, 0xff, 'unsigned char');
  }

  /** An enum is an int on the wire. */
  enum(v: number): this {
    return this.int(v);
  }

  /** `xdr_bool` writes exactly 0 or 1. */
  bool(v: boolean): this {
    return this.int(v ? 1 : 0);
  }

  hyper(v: bigint | number): this {
    const b = this.big(v, -(2n ** 63n), 2n ** 63n - 1n, 'hyper');
    this.ensure(8);
    this.buf.writeBigInt64BE(b, this.pos);
    this.pos += 8;
    return this;
  }

  uhyper(v: bigint | number): this {
    const b = this.big(v, 0n, 2n ** 64n - 1n, 'unsigned hyper');
    this.ensure(8);
    this.buf.writeBigUInt64BE(b, this.pos);
    this.pos += 8;
    return this;
  }

  private big(v: bigint | number, min: bigint, max: bigint, what: string): bigint {
    if (typeof v === 'number' && !Number.isInteger(v)) throw XdrError.encode(`${what} out of range: ${v}`);
    const b = BigInt(v);
    if (b < min || b > max) throw XdrError.encode(`${what} out of range: ${v}`);
    return b;
  }

  /** `float`: IEEE 754 single precision. */
  float(v: number): this {
    this.ensure(4);
    this.buf.writeFloatBE(v, this.pos);
    this.pos += 4;
    return this;
  }

  /** `double`: IEEE 754 double precision, most significant word first. */
  double(v: number): this {
    this.ensure(8);
    this.buf.writeDoubleBE(v, this.pos);
    this.pos += 8;
    return this;
  }

  /** Fixed-length opaque (`opaque x[n]`): exactly `n` bytes, padded. */
  fixedOpaque(data: Uint8Array, n: number): this {
    if (data.length !== n) throw XdrError.encode(`fixed opaque needs ${n} bytes, got ${data.length}`);
    return this.raw(data, true);
  }

  /** Variable-length opaque (`opaque x<max>`): `xdr_bytes` refuses more than `max` bytes. */
  opaque(data: Uint8Array, max = XDR_UNBOUNDED): this {
    checkMax(max, 'opaque');
    if (data.length > max) throw XdrError.encode(`opaque of ${data.length} bytes exceeds maximum ${max}`);
    this.uint(data.length);
    return this.raw(data, true);
  }

  /**
   * `string x<max>`: UTF-8 bytes, up to the first NUL as `xdr_string`'s strlen() sees it; `max`
   * counts bytes as rpcgen does.
   */
  string(s: string, max = XDR_UNBOUNDED): this {
    checkMax(max, 'string');
    const bytes = cString(Buffer.from(s, 'utf8'));
    if (bytes.length > max) throw XdrError.encode(`string of ${bytes.length} bytes exceeds maximum ${max}`);
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

  /** Variable-length array (`T x<max>`): `xdr_array` refuses more than `max` elements. */
  array<T>(items: readonly T[], write: (w: this, v: T) => void, max = XDR_UNBOUNDED): this {
    checkMax(max, 'array');
    if (items.length > max) throw XdrError.encode(`array of ${items.length} elements exceeds maximum ${max}`);
    this.uint(items.length);
    for (const item of items) write(this, item);
    return this;
  }

  /** Fixed-length array (`T x[n]`). */
  fixedArray<T>(items: readonly T[], write: (w: this, v: T) => void, n: number): this {
    if (items.length !== n) throw XdrError.encode(`fixed array needs ${n} elements, got ${items.length}`);
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

  /** Bytes as they are, optionally padded with zeros to a multiple of 4 (as `xdr_opaque`). */
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
  private readonly dv: DataView;

  constructor(
    private readonly buf: Uint8Array,
    offset = 0,
    private readonly end = buf.length,
  ) {
    this.pos = offset;
    this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number, what: string): void {
    if (n < 0 || this.pos + n > this.end) {
      throw XdrError.decode(`truncated XDR: ${what} needs ${n} bytes, ${this.end - this.pos} left`);
    }
  }

  int(): number {
    this.need(4, 'int');
    const v = this.dv.getInt32(this.pos);
    this.pos += 4;
    return v;
  }

  uint(): number {
    this.need(4, 'unsigned int');
    const v = this.dv.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  /** `xdr_short`: the word narrowed to a C short, as the C cast does (no range check). */
  short(): number {
    return (this.int() << 16) >> 16;
  }

  ushort(): number {
    return this.uint() & 0xffff;
  }

  /** `xdr_char`: the word narrowed to a C (signed) char, as the C cast does. */
  char(): number {
    return (this.int() << 24) >> 24;
  }

  uchar(): number {
    return this.uint() & 0xff;
  }

  enum(): number {
    return this.int();
  }

  /** `xdr_bool`: 0 is false and any other word true (libvirt's peers send 0x01000000 too). */
  bool(): boolean {
    return this.int() !== 0;
  }

  hyper(): bigint {
    this.need(8, 'hyper');
    const v = this.dv.getBigInt64(this.pos);
    this.pos += 8;
    return v;
  }

  uhyper(): bigint {
    this.need(8, 'unsigned hyper');
    const v = this.dv.getBigUint64(this.pos);
    this.pos += 8;
    return v;
  }

  float(): number {
    this.need(4, 'float');
    const v = this.dv.getFloat32(this.pos);
    this.pos += 4;
    return v;
  }

  double(): number {
    this.need(8, 'double');
    const v = this.dv.getFloat64(this.pos);
    this.pos += 8;
    return v;
  }

  /** `n` bytes and their padding; like `xdr_opaque`, the padding's value is not checked. */
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

  /** `opaque x<max>`: a declared length over `max` fails, as in `xdr_bytes`. */
  opaque(max = XDR_UNBOUNDED): Uint8Array {
    checkMax(max, 'opaque');
    const n = this.uint();
    if (n > max) throw XdrError.decode(`opaque of ${n} bytes exceeds maximum ${max}`);
    return this.bytes(n, 'opaque');
  }

  /**
   * `string x<max>`: a declared length over `max` fails, as in `xdr_string`; the text is what a
   * C caller sees, up to the first NUL. Bytes that are not UTF-8 become U+FFFD.
   */
  string(max = XDR_UNBOUNDED): string {
    checkMax(max, 'string');
    const n = this.uint();
    if (n > max) throw XdrError.decode(`string of ${n} bytes exceeds maximum ${max}`);
    return Buffer.from(cString(this.bytes(n, 'string'))).toString('utf8');
  }

  /** `T *x` (`xdr_pointer`): a bool, then the value when it is true. */
  optional<T>(read: (r: this) => T): T | null {
    return this.bool() ? read(this) : null;
  }

  /** `T x<max>`: a declared count over `max` fails, as in `xdr_array`. */
  array<T>(read: (r: this) => T, max = XDR_UNBOUNDED): T[] {
    checkMax(max, 'array');
    const n = this.uint();
    if (n > max) throw XdrError.decode(`array of ${n} elements exceeds maximum ${max}`);
    // Each element takes at least 4 bytes; refuse counts the buffer cannot hold before looping.
    if (n > this.remaining / 4) this.need(n * 4, 'array');
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(read(this));
    return out;
  }

  fixedArray<T>(read: (r: this) => T, n: number): T[] {
    if (n > this.remaining / 4) this.need(n * 4, 'fixed array');
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(read(this));
    return out;
  }

  /** Reads a union's discriminant and hands it to `readArm`. */
  union<T>(readArm: (discriminant: number, r: this) => T): T {
    return readArm(this.int(), this);
  }

  /**
   * Throws unless every byte was consumed. libvirt's RPC layer does not check this for payloads
   * (virNetMessageDecodePayload ignores what its filter left); use it only where libvirt does.
   */
  done(): void {
    if (this.pos !== this.end)
      throw XdrError.decode(`${this.end - this.pos} unexpected trailing bytes in XDR`);
  }
}
