/**
 * Typed errors shared by every qvirt package.
 *
 * `code` and `domain` carry libvirt's virErrorNumber / virErrorDomain names so that the remote
 * protocol can map them onto libvirt's numeric codes and a user can grep libvirt for them.
 * Messages are one line: they name the file, element or value at fault and never embed a stack.
 */

import type { VirErrorCode, VirErrorDomain } from './errors/codes.js';
import { virErrorMessage } from './errors/messages.js';
import { ERRNO, type ErrnoName, errnoName, systemErrorText } from './errors/strerror.js';

export {
  ERROR_CODES,
  ERROR_DOMAINS,
  type VirErrorCode,
  type VirErrorDomain,
  type VirErrorNumberName,
} from './errors/codes.js';
export { virErrorMessage, virErrorMsg } from './errors/messages.js';
export { ERRNO, type ErrnoName, errnoName, errnoOf, strerror, systemErrorText } from './errors/strerror.js';

export interface VirErrorOptions {
  /** Where the problem is: a file path, `file:line`, or an XML element path. */
  where?: string;
  cause?: unknown;
}

export class VirError extends Error {
  override readonly name: string = 'VirError';
  readonly code: VirErrorCode;
  readonly domain: VirErrorDomain;
  readonly where: string | undefined;

  constructor(code: VirErrorCode, domain: VirErrorDomain, message: string, options: VirErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.domain = domain;
    this.where = options.where;
  }
}

/**
 * libvirt's virReportError as a value to throw: `info` (the formatted detail) goes into the code's
 * message format, so `virReportError('INTERNAL_ERROR', 'qemu', 'x')` reads `internal error: x`;
 * without `info` the message is the code's bare text (`internal error`).
 */
export function virReportError(
  code: VirErrorCode,
  domain: VirErrorDomain,
  info?: string | null,
  options: VirErrorOptions = {},
): VirError {
  return new VirError(code, domain, virErrorMessage(code, info), options);
}

/**
 * libvirt's virReportInvalidArg: VIR_ERR_INVALID_ARG with the message as given, without the
 * "invalid argument: " prefix virReportError would add (virRaiseErrorFull takes the format as is).
 */
export function virReportInvalidArg(domain: VirErrorDomain, message: string): VirError {
  return new VirError('INVALID_ARG', domain, message);
}

/**
 * VIR_EXCLUSIVE_FLAGS_RET (internal.h), as libvirt-domain.c checks an API's flags before any
 * driver: "Flags 'A' and 'B' are mutually exclusive" (VIR_ERR_INVALID_ARG, from the domain).
 */
export function virExclusiveFlags(
  flags: number,
  a: readonly [name: string, bit: number],
  b: readonly [name: string, bit: number],
): void {
  if (flags & a[1] && flags & b[1])
    throw virReportInvalidArg('domain', `Flags '${a[0]}' and '${b[0]}' are mutually exclusive`);
}

/**
 * libvirt's virCheckFlags: throws, as driver function `fn` does, when `flags` has a bit outside
 * `supported` ("unsupported flags (0x…) in function fn", VIR_ERR_INVALID_ARG).
 */
export function virCheckFlags(
  flags: number,
  supported: number,
  fn: string,
  domain: VirErrorDomain = 'qemu',
): void {
  const extra = (flags & ~supported) >>> 0;
  if (extra)
    throw virReportInvalidArg(domain, `unsupported flags (0x${extra.toString(16)}) in function ${fn}`);
}

/**
 * libvirt's virReportSystemError as a value to throw: SYSTEM_ERROR with `<message>: <strerror>`
 * (only the strerror text without a message). `err` is what failed: a Node error (its errno
 * `code`), an errno name or an errno number. The error stays reachable as `cause` (for a name or
 * number, `{ code, errno }`), so callers can still test `cause.code === 'ENOENT'`.
 */
export function virReportSystemError(
  err: unknown,
  domain: VirErrorDomain,
  message?: string,
  options: VirErrorOptions = {},
): VirError {
  const text = systemErrorText(err);
  const detail = message === undefined ? text : `${message}: ${text}`;
  const cause =
    typeof err === 'number'
      ? { code: errnoName(err), errno: Math.abs(err) }
      : typeof err === 'string'
        ? { code: err, errno: ERRNO[err as ErrnoName] }
        : err;
  return new VirError('SYSTEM_ERROR', domain, virErrorMessage('SYSTEM_ERROR', detail), {
    cause,
    ...options,
  });
}

/** A domain XML document that cannot be parsed or violates the model. */
export class XmlError extends VirError {
  override readonly name = 'XmlError';
  constructor(message: string, options: VirErrorOptions = {}) {
    super('XML_ERROR', 'domain', message, options);
  }
}

/** A config file (qemu.conf, libvirtd.conf) with a syntax or type error. */
export class ConfError extends VirError {
  override readonly name = 'ConfError';
  constructor(
    code: 'CONF_SYNTAX' | 'CONFIG_UNSUPPORTED' | 'INTERNAL_ERROR',
    message: string,
    options: VirErrorOptions = {},
  ) {
    super(code, 'conf', message, options);
  }
}

/** A connection URI that qvirt cannot use. */
export class UriError extends VirError {
  override readonly name = 'UriError';
  constructor(message: string, options: VirErrorOptions = {}) {
    super('INVALID_ARG', 'uri', message, options);
  }
}

/** Something qvirt deliberately does not implement (yet): never a wrong result instead. */
export class UnsupportedError extends VirError {
  override readonly name = 'UnsupportedError';
  constructor(message: string, options: VirErrorOptions = {}) {
    super('CONFIG_UNSUPPORTED', 'qemu', message, options);
  }
}

export function isVirError(err: unknown): err is VirError {
  return err instanceof VirError;
}

/** The one line a CLI prints for any failure: typed errors as they are, others without a stack. */
export function errorLine(err: unknown): string {
  if (err instanceof Error) return err.message.split('\n')[0] ?? err.name;
  return String(err);
}
