/** Wire types shared by the REMOTE program's server and client. */
import { REMOTE_STRING_MAX, UUID_BUFLEN } from '../rpc/constants.js';
import { RemoteError } from '../rpc/error.js';
import type { XdrReader, XdrWriter } from '../xdr/xdr.js';

/** remote_nonnull_domain. */
export interface RemoteDomain {
  name: string;
  /** Canonical text form (8-4-4-4-12, lower case). */
  uuid: string;
  id: number;
}

export function uuidToBytes(uuid: string): Uint8Array {
  const hex = uuid.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex))
    throw RemoteError.of('INVALID_ARG', 'none', `invalid argument: uuid ${uuid}`);
  return Buffer.from(hex, 'hex');
}

export function uuidFromBytes(b: Uint8Array): string {
  const h = Buffer.from(b).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export const str = (r: XdrReader): string => r.string(REMOTE_STRING_MAX);
export const optStr = (r: XdrReader): string | null => r.optional(str);
export const wStr = (w: XdrWriter, s: string): void => void w.string(s, REMOTE_STRING_MAX);
export const wOptStr = (w: XdrWriter, s: string | null | undefined): void =>
  void w.optional(s ?? null, (w2, v) => w2.string(v, REMOTE_STRING_MAX));

export function readDomain(r: XdrReader): RemoteDomain {
  return { name: str(r), uuid: uuidFromBytes(r.fixedOpaque(UUID_BUFLEN)), id: r.int() };
}

export function writeDomain(w: XdrWriter, d: RemoteDomain): void {
  wStr(w, d.name);
  w.fixedOpaque(uuidToBytes(d.uuid), UUID_BUFLEN);
  w.int(d.id);
}

/** `char x<max>` / `char x[n]`: rpcgen encodes each char as a 4-byte int. */
export function writeCharArray(w: XdrWriter, s: string, max: number, fixed = false): void {
  const bytes = Buffer.from(s, 'utf8');
  const items = fixed
    ? [...bytes.subarray(0, max), ...new Array(Math.max(0, max - bytes.length)).fill(0)]
    : [...bytes];
  if (fixed) w.fixedArray(items, (x, v) => x.int(v > 127 ? v - 256 : v), max);
  else w.array(items, (x, v) => x.int(v > 127 ? v - 256 : v), max);
}

export function readCharArray(r: XdrReader, max: number, fixed = false): string {
  const items = fixed ? r.fixedArray((x) => x.int(), max) : r.array((x) => x.int(), max);
  const bytes = Buffer.from(items.map((v) => v & 0xff));
  const nul = bytes.indexOf(0);
  return (nul >= 0 ? bytes.subarray(0, nul) : bytes).toString('utf8');
}

/** libvirt's lifecycle events (virDomainEventType) and the details qvirt emits. */
export const LifecycleEvent = {
  DEFINED: 0,
  UNDEFINED: 1,
  STARTED: 2,
  SUSPENDED: 3,
  RESUMED: 4,
  STOPPED: 5,
  SHUTDOWN: 6,
  PMSUSPENDED: 7,
  CRASHED: 8,
} as const;

/** virDomainEventID: only LIFECYCLE (0) is delivered. */
export const DOMAIN_EVENT_ID_LIFECYCLE = 0;
