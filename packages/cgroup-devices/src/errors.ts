/** One-line errors with libvirt's texts (virReportSystemError, virReportError). */
import { VirError, virReportError, virReportSystemError } from '@qvirt/core';

export function errnoOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * virReportSystemError: `<what>: <strerror>`, code SYSTEM_ERROR; the errno stays readable as
 * `cause.code`. An error that already carries libvirt's text (from bpf.ts) keeps it.
 */
export function systemError(err: unknown, what: string): VirError {
  if (err instanceof VirError) return err;
  return virReportSystemError(err, 'qemu', what);
}

/** A bpf.ts error (already `what: strerror`) as a VirError. */
export function bpfError(err: unknown): VirError {
  if (err instanceof VirError) return err;
  return new VirError('SYSTEM_ERROR', 'qemu', (err as Error).message, { cause: err });
}

/** virReportError(VIR_ERR_INTERNAL_ERROR, …). */
export function cgroupError(message: string, cause?: unknown): VirError {
  return virReportError('INTERNAL_ERROR', 'qemu', message, cause ? { cause } : {});
}
