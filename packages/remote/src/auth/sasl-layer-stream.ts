/**
 * A duplex stream over a socket that can switch on a SASL security layer mid-stream, as
 * virNetSocketSetSASLSession does in libvirt: bytes pass through unchanged until
 * {@link SaslLayerStream.activate}; from then on incoming bytes are decoded at once, and outgoing
 * ones are encoded from the write *after* the next one (that next write is the cleartext reply
 * that completed the SASL exchange, virnetserverclient.c switches only after sending it).
 */
import { Duplex } from 'node:stream';
import type { SaslSecurityLayer } from './sasl-mechanism.js';

export class SaslLayerStream extends Duplex {
  readonly inner: Duplex;
  #readLayer: SaslSecurityLayer | undefined;
  #writeLayer: SaslSecurityLayer | undefined;
  /** Index (1-based, counted by write() calls) of the last write that stays in clear. */
  #clearUntil = Number.POSITIVE_INFINITY;
  #accepted = 0;
  #processed = 0;

  constructor(inner: Duplex) {
    super({ allowHalfOpen: false });
    this.inner = inner;
    inner.on('data', (chunk: Buffer) => {
      let data = chunk;
      if (this.#readLayer) {
        try {
          data = this.#readLayer.decode(chunk);
        } catch (err) {
          this.destroy(err as Error);
          return;
        }
      }
      if (data.length > 0 && !this.push(data)) inner.pause();
    });
    inner.on('end', () => this.push(null));
    inner.on('error', (err) => this.destroy(err));
    inner.on('close', () => this.destroy());
  }

  /** The security layer in force on the way out (undefined before the switch). */
  get layer(): SaslSecurityLayer | undefined {
    return this.#writeLayer ?? this.#readLayer;
  }

  /**
   * Decode from now on. The server encodes every write after the next one (its pending reply);
   * a client (`clearWrites = 0`) encodes from the next write on.
   */
  activate(layer: SaslSecurityLayer, clearWrites = 1): void {
    this.#readLayer = layer;
    this.#writeLayer = layer;
    this.#clearUntil = this.#accepted + clearWrites;
  }

  override write(...args: any[]): boolean {
    this.#accepted++;
    return (super.write as (...a: any[]) => boolean)(...args);
  }

  override _read(): void {
    this.inner.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#processed++;
    let out = chunk;
    if (this.#writeLayer && this.#processed > this.#clearUntil) out = this.#writeLayer.encode(chunk);
    this.inner.write(out, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.inner.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.inner.destroy();
    cb(err);
  }
}
