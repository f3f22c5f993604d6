/**
 * Error construction shared by the virConf parser and the qemu.conf loader.
 *
 * libvirt prints an error as `<prefix for the error code>: <detail>`; the prefixes below are
 * libvirt 9.0's texts for the codes this folder raises, so messages read like libvirt's.
 */

import { ConfError, VirError } from '../errors.js';

export type ConfErrorCode = 'CONF_SYNTAX' | 'CONFIG_UNSUPPORTED' | 'INTERNAL_ERROR';

const PREFIX: Record<ConfErrorCode, string> = {
  CONF_SYNTAX: 'configuration file syntax error',
  CONFIG_UNSUPPORTED: 'unsupported configuration',
  INTERNAL_ERROR: 'internal error',
};

/** A `ConfError` whose message is libvirt's prefix for `code` followed by `detail`. */
export function confError(code: ConfErrorCode, detail: string, where?: string): ConfError {
  return new ConfError(code, `${PREFIX[code]}: ${detail}`, where === undefined ? {} : { where });
}

/** `file:line`, or just `file` when the line is unknown. */
export function location(file: string, line: number | undefined): string {
  return line === undefined ? file : `${file}:${line}`;
}

/** glibc's strerror() texts for the errno values a config read can meet. */
const STRERROR: Record<string, string> = {
  EACCES: 'Permission denied',
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  ELOOP: 'Too many levels of symbolic links',
  ENAMETOOLONG: 'File name too long',
  EIO: 'Input/output error',
  EMFILE: 'Too many open files',
  ENFILE: 'Too many open files in system',
  ENXIO: 'No such device or address',
  EOVERFLOW: 'Value too large for defined data type',
  EINVAL: 'Invalid argument',
};

export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

/**
 * libvirt's virReportSystemError: `<what>: <strerror>`, code SYSTEM_ERROR. The Node error is kept
 * as `cause` (its `code`, e.g. `ENOENT`, tells callers what happened).
 */
export function systemError(what: string, err: unknown, where: string): VirError {
  const code = errnoCode(err);
  const text = (code !== undefined ? STRERROR[code] : undefined) ?? code ?? 'Unknown error';
  return new VirError('SYSTEM_ERROR', 'conf', `${what}: ${text}`, { where, cause: err });
}
