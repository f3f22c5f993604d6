/**
 * Error construction shared by the virConf parser and the qemu.conf loader: libvirt's message for
 * the code with the detail (virReportError), and system errors with glibc's strerror text
 * (virReportSystemError), both from ../errors.ts.
 */

import { ConfError, type VirError, virErrorMessage, virReportSystemError } from '../errors.js';

export type ConfErrorCode = 'CONF_SYNTAX' | 'CONFIG_UNSUPPORTED' | 'INTERNAL_ERROR';

/** A `ConfError` whose message is libvirt's text for `code` with `detail`. */
export function confError(code: ConfErrorCode, detail: string, where?: string): ConfError {
  return new ConfError(code, virErrorMessage(code, detail), where === undefined ? {} : { where });
}

/** `file:line`, or just `file` when the line is unknown. */
export function location(file: string, line: number | undefined): string {
  return line === undefined ? file : `${file}:${line}`;
}

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
  return virReportSystemError(err, 'conf', what, { where, cause: err });
}
