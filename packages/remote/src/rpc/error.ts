import type { XdrReader, XdrWriter } from '../xdr/xdr.js';
import { MESSAGE_STRING_MAX, UUID_BUFLEN } from './constants.js';
import { ERROR_CODES, ERROR_DOMAINS } from './error-codes.js';

export { ERROR_CODES, ERROR_DOMAINS };

/** virErrorLevel. */
export const ErrorLevel = { NONE: 0, WARNING: 1, ERROR: 2 } as const;

/** remote_nonnull_domain as carried (unused by libvirt) in an error. */
export interface WireDomain {
  name: string;
  uuid: Uint8Array;
  id: number;
}

/** remote_error (virNetMessageError): what a REPLY with status ERROR carries. */
export interface RemoteErrorData {
  code: number;
  domain: number;
  message: string | null;
  level: number;
  dom: WireDomain | null;
  str1: string | null;
  str2: string | null;
  str3: string | null;
  int1: number;
  int2: number;
  net: { name: string; uuid: Uint8Array } | null;
}

const CODE_NAMES = new Map(Object.entries(ERROR_CODES).map(([k, v]) => [v, k]));
const DOMAIN_NAMES = new Map(Object.entries(ERROR_DOMAINS).map(([k, v]) => [v, k]));

/** libvirt's number for a virErrorNumber name (`NO_SUPPORT`, `VIR_ERR_NO_SUPPORT`; warnings as `WAR_NO_NETWORK`); INTERNAL_ERROR if unknown. */
export function errorCodeNumber(name: string): number {
  return ERROR_CODES[name.replace(/^VIR_(ERR_)?/, '')] ?? ERROR_CODES.INTERNAL_ERROR!;
}

/** libvirt's number for a virErrorDomain name (`qemu`, `VIR_FROM_QEMU`); NONE if unknown. */
export function errorDomainNumber(name: string): number {
  return ERROR_DOMAINS[name.replace(/^VIR_FROM_/, '').toLowerCase()] ?? 0;
}

export function errorCodeName(code: number): string | undefined {
  return CODE_NAMES.get(code);
}

export function errorDomainName(domain: number): string | undefined {
  return DOMAIN_NAMES.get(domain);
}

export function writeWireDomain(w: XdrWriter, d: WireDomain): void {
  w.string(d.name, MESSAGE_STRING_MAX).fixedOpaque(d.uuid, UUID_BUFLEN).int(d.id);
}

export function readWireDomain(r: XdrReader): WireDomain {
  return { name: r.string(MESSAGE_STRING_MAX), uuid: r.fixedOpaque(UUID_BUFLEN), id: r.int() };
}

const optString = (w: XdrWriter, s: string | null) =>
  w.optional(s, (w2, v) => w2.string(v, MESSAGE_STRING_MAX));

export function writeRemoteError(w: XdrWriter, e: RemoteErrorData): void {
  w.int(e.code).int(e.domain);
  optString(w, e.message);
  w.int(e.level);
  w.optional(e.dom, writeWireDomain);
  optString(w, e.str1);
  optString(w, e.str2);
  optString(w, e.str3);
  w.int(e.int1).int(e.int2);
  w.optional(e.net, (w2, n) => w2.string(n.name, MESSAGE_STRING_MAX).fixedOpaque(n.uuid, UUID_BUFLEN));
}

export function readRemoteError(r: XdrReader): RemoteErrorData {
  const optStr = () => r.optional((r2) => r2.string(MESSAGE_STRING_MAX));
  return {
    code: r.int(),
    domain: r.int(),
    message: optStr(),
    level: r.int(),
    dom: r.optional(readWireDomain),
    str1: optStr(),
    str2: optStr(),
    str3: optStr(),
    int1: r.int(),
    int2: r.int(),
    net: r.optional((r2) => ({ name: r2.string(MESSAGE_STRING_MAX), uuid: r2.fixedOpaque(UUID_BUFLEN) })),
  };
}

/**
 * An error that travels as remote_error. `code` and `domain` are libvirt's numbers; `codeName`
 * and `domainName` the names @qvirt/core's VirError uses (when libvirt has them).
 */
export class RemoteError extends Error {
  override readonly name = 'RemoteError';
  constructor(
    readonly code: number,
    readonly domain: number,
    message: string,
    readonly extra: Partial<Pick<RemoteErrorData, 'str1' | 'str2' | 'str3' | 'int1' | 'int2'>> = {},
  ) {
    super(message);
  }

  get codeName(): string {
    return errorCodeName(this.code) ?? 'INTERNAL_ERROR';
  }

  get domainName(): string {
    return errorDomainName(this.domain) ?? 'none';
  }

  /** From names (`NO_SUPPORT`, `rpc`). */
  static of(code: string, domain: string, message: string): RemoteError {
    return new RemoteError(errorCodeNumber(code), errorDomainNumber(domain), message);
  }

  static fromData(d: RemoteErrorData): RemoteError {
    return new RemoteError(d.code, d.domain, d.message ?? 'unknown error', {
      str1: d.str1,
      str2: d.str2,
      str3: d.str3,
      int1: d.int1,
      int2: d.int2,
    });
  }

  toData(): RemoteErrorData {
    return {
      code: this.code,
      domain: this.domain,
      message: this.message,
      level: ErrorLevel.ERROR,
      dom: null,
      str1: this.extra.str1 ?? this.message,
      str2: this.extra.str2 ?? null,
      str3: this.extra.str3 ?? null,
      int1: this.extra.int1 ?? -1,
      int2: this.extra.int2 ?? -1,
      net: null,
    };
  }
}

/**
 * Any thrown value as remote_error: a RemoteError as it is; an error with libvirt's `code` and
 * `domain` names (@qvirt/core's VirError) through the tables; anything else as INTERNAL_ERROR.
 */
export function toRemoteErrorData(err: unknown): RemoteErrorData {
  if (err instanceof RemoteError) return err.toData();
  const e = err as { code?: unknown; domain?: unknown; message?: unknown };
  const message = typeof e?.message === 'string' ? e.message : String(err);
  const code = typeof e?.code === 'string' && e.code in ERROR_CODES ? errorCodeNumber(e.code) : 1;
  const domain = typeof e?.domain === 'string' ? errorDomainNumber(e.domain) : 0;
  return new RemoteError(code, domain, message).toData();
}

/** libvirt's "this function is not supported by the connection driver: %s" (VIR_ERR_NO_SUPPORT). */
export function noSupportError(api: string): RemoteError {
  return RemoteError.of(
    'NO_SUPPORT',
    'none',
    `this function is not supported by the connection driver: ${api}`,
  );
}

/** libvirt's read-only refusal (VIR_ERR_OPERATION_DENIED). */
export function readOnlyError(api: string): RemoteError {
  return RemoteError.of('OPERATION_DENIED', 'none', `operation forbidden: read only access prevents ${api}`);
}
