/**
 * The remote protocol's stream packets (virnetprotocol.x): data travels as VIR_NET_STREAM with
 * status CONTINUE and the call's serial, a sparse hole as VIR_NET_STREAM_HOLE carrying a
 * virNetStreamHole, the end as an empty STREAM with status OK, a failure as STREAM with status
 * ERROR (a remote_error from the server, nothing from the client).
 */
import type { XdrReader, XdrWriter } from '../xdr/xdr.js';

/**
 * Largest data payload per packet: libvirt's VIR_NET_MESSAGE_LEGACY_PAYLOAD_MAX, what both its
 * client and its daemon send at most (older peers refuse more).
 */
export const STREAM_CHUNK = 262120;

/** virNetStreamHole. */
export function writeHole(w: XdrWriter, length: number, flags = 0): void {
  w.hyper(length).uint(flags);
}

export function readHole(r: XdrReader): { length: number; flags: number } {
  return { length: Number(r.hyper()), flags: r.uint() };
}

/** Splits data into packet-sized pieces (no copy). */
export function* chunks(data: Uint8Array): Generator<Uint8Array> {
  for (let i = 0; i < data.length; i += STREAM_CHUNK) yield data.subarray(i, i + STREAM_CHUNK);
}
