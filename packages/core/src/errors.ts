/**
 * Typed errors shared by every qvirt package.
 *
 * `code` and `domain` carry libvirt's virErrorNumber / virErrorDomain names so that the remote
 * protocol can map them onto libvirt's numeric codes and a user can grep libvirt for them.
 * Messages are one line: they name the file, element or value at fault and never embed a stack.
 */

export type VirErrorCode =
  | 'INTERNAL_ERROR'
  | 'NO_SUPPORT'
  | 'XML_ERROR'
  | 'XML_DETAIL'
  | 'CONF_SYNTAX'
  | 'CONFIG_UNSUPPORTED'
  | 'INVALID_ARG'
  | 'OPERATION_INVALID'
  | 'OPERATION_FAILED'
  | 'OPERATION_UNSUPPORTED'
  | 'NO_DOMAIN'
  | 'NO_SECURITY_MODEL'
  | 'SYSTEM_ERROR'
  | 'AUTH_FAILED'
  | 'RPC';

export type VirErrorDomain =
  | 'none'
  | 'domain'
  | 'qemu'
  | 'conf'
  | 'security'
  | 'uri'
  | 'remote'
  | 'rpc'
  | 'capabilities';

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
