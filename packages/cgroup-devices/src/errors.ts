/** One-line errors with libvirt's texts (virReportSystemError, virReportError). */
import { VirError } from '@qvirt/core';

/** glibc's strerror() for the errno values cgroupfs, sysfs and bpf(2) give. */
const STRERROR: Record<string, string> = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  EBUSY: 'Device or resource busy',
  EEXIST: 'File exists',
  EINVAL: 'Invalid argument',
  ENOSPC: 'No space left on device',
  ENOMEM: 'Cannot allocate memory',
  ENOSYS: 'Function not implemented',
  ENOTDIR: 'Not a directory',
  EROFS: 'Read-only file system',
  E2BIG: 'Argument list too long',
  EBADF: 'Bad file descriptor',
  ENOTEMPTY: 'Directory not empty',
  EOPNOTSUPP: 'Operation not supported',
  EIO: 'Input/output error',
  ENXIO: 'No such device or address',
  ENODEV: 'No such device',
};

export function errnoOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

export function strerror(code: string | undefined): string {
  return (code !== undefined ? STRERROR[code] : undefined) ?? code ?? 'Unknown error';
}

/**
 * virReportSystemError: `<what>: <strerror>`, code SYSTEM_ERROR; the errno stays readable as
 * `cause.code`. An error that already carries libvirt's text (from bpf.ts) keeps it.
 */
export function systemError(err: unknown, what: string): VirError {
  if (err instanceof VirError) return err;
  return new VirError('SYSTEM_ERROR', 'qemu', `${what}: ${strerror(errnoOf(err))}`, { cause: err });
}

/** A bpf.ts error (already `what: strerror`) as a VirError. */
export function bpfError(err: unknown): VirError {
  if (err instanceof VirError) return err;
  return new VirError('SYSTEM_ERROR', 'qemu', (err as Error).message, { cause: err });
}

/** virReportError(VIR_ERR_INTERNAL_ERROR, …). */
export function cgroupError(message: string, cause?: unknown): VirError {
  return new VirError('INTERNAL_ERROR', 'qemu', `internal error: ${message}`, cause ? { cause } : {});
}
