import { XdrError, XdrReader, XdrWriter } from '../xdr/xdr.js';
import {
  MESSAGE_HEADER_MAX,
  MESSAGE_LEN_MAX,
  MESSAGE_MAX,
  type MessageStatus,
  type MessageType,
} from './constants.js';

/** virNetMessageHeader. */
export interface MessageHeader {
  prog: number;
  vers: number;
  proc: number;
  type: MessageType;
  serial: number;
  status: MessageStatus;
}

/** One whole packet: its header and the payload bytes after it. */
export interface Packet {
  header: MessageHeader;
  payload: Buffer;
}

export function writeHeader(w: XdrWriter, h: MessageHeader): void {
  w.uint(h.prog).uint(h.vers).int(h.proc).enum(h.type).uint(h.serial).enum(h.status);
}

export function readHeader(r: XdrReader): MessageHeader {
  return {
    prog: r.uint(),
    vers: r.uint(),
    proc: r.int(),
    type: r.enum() as MessageType,
    serial: r.uint(),
    status: r.enum() as MessageStatus,
  };
}

/**
 * Encodes a whole packet: the length word (counting itself), the header, then what `body`
 * writes. Throws if the result exceeds libvirt's maximum message size.
 */
export function encodePacket(header: MessageHeader, body?: (w: XdrWriter) => void): Buffer {
  const w = new XdrWriter(512);
  w.uint(0);
  writeHeader(w, header);
  body?.(w);
  const buf = w.finish();
  if (buf.length - MESSAGE_LEN_MAX > MESSAGE_MAX) {
    throw new XdrError(`message of ${buf.length} bytes exceeds maximum ${MESSAGE_MAX}`);
  }
  buf.writeUInt32BE(buf.length, 0);
  return buf;
}

/** Decodes a packet without its length word. */
export function decodePacket(body: Buffer): Packet {
  if (body.length < MESSAGE_HEADER_MAX)
    throw new XdrError(`packet of ${body.length} bytes has no complete header`);
  const r = new XdrReader(body);
  const header = readHeader(r);
  return { header, payload: body.subarray(r.offset) };
}
