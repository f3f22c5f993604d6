/**
 * Core dumps (qemu_driver.c's doCoreDump and qemuDumpToFd): the daemon creates the file (root's,
 * mode 0600 when new; an existing file keeps its owner and mode, virQEMUFileOpenAs without
 * dynamic ownership) and hands QEMU its descriptor with `getfd`. A memory-only dump is QMP
 * `dump-guest-memory` (ELF, or the kdump / win-dmp format QEMU says it can write), detached and
 * followed to its DUMP_COMPLETED; a full dump is a migration to the descriptor, as
 * qemuMigrationSrcToFile does for it. The guest's pause, resume, reset or crash around it are the
 * driver's (driver.ts: qemuDomainCoreDumpWithFormat).
 */
import { closeSync, existsSync, fchownSync, constants as fsc, openSync, unlinkSync } from 'node:fs';
import {
  VIR_DOMAIN_CORE_DUMP_FORMAT_NAMES,
  VIR_DUMP,
  virReportError,
  virReportInvalidArg,
  virReportSystemError,
} from '@qvirt/core';
import { type MigrateInfo, VIR_DOMAIN_JOB_OPERATION } from './migration-events.js';
import type { QmpClient, QmpEvent } from './qmp.js';

/** QEMU_DOMAIN_MIG_BANDWIDTH_MAX in bytes/s: libvirt lifts the migration's limit for a dump. */
const MIG_BANDWIDTH_MAX = 9223372036853727232n;

/** virQEMUFileOpenAs(O_CREAT | O_TRUNC | O_WRONLY) as root: answers the descriptor and whether the file is new. */
export function openDumpFile(file: string): { fd: number; created: boolean } {
  const existed = existsSync(file);
  let fd: number;
  try {
    fd = openSync(file, fsc.O_CREAT | fsc.O_TRUNC | fsc.O_WRONLY, 0o600);
  } catch (err) {
    throw virReportSystemError(err, 'qemu', `Failed to create file '${file}'`);
  }
  // virFileOpenAs(FORCE_OWNER): a new file is the daemon's
  if (!existed) {
    try {
      fchownSync(fd, process.geteuid?.() ?? 0, process.getegid?.() ?? 0);
    } catch {
      // a file system without owners (libvirt skips the chown on shared ones too)
    }
  }
  return { fd, created: !existed };
}

/** qemuMonitorGetDumpGuestMemoryCapability: whether QEMU writes `format`. */
async function dumpFormatSupported(qmp: QmpClient, format: string): Promise<boolean> {
  const caps = await qmp.execute<{ formats?: string[] }>('query-dump-guest-memory-capability');
  return (caps.formats ?? []).includes(format);
}

/** qemuDumpToFd: `dump-guest-memory` detached, then its DUMP_COMPLETED (qemuDumpWaitForCompletion). */
async function dumpGuestMemory(qmp: QmpClient, fd: number, format: string | undefined): Promise<void> {
  if (format && !(await dumpFormatSupported(qmp, format)))
    throw virReportError('INVALID_ARG', 'qemu', `unsupported dumpformat '${format}' for this QEMU binary`);
  // listened for before the command, so a quick dump's event is not missed; the wait lasts as
  // long as the dump (or the monitor)
  let onEvent: (ev: QmpEvent) => void = () => {};
  let onClose: () => void = () => {};
  const completed = new Promise<QmpEvent>((resolve, reject) => {
    onEvent = (ev) => {
      if (ev.event === 'DUMP_COMPLETED') resolve(ev);
    };
    onClose = () =>
      reject(virReportError('OPERATION_FAILED', 'qemu', 'memory-only dump failed: monitor closed'));
    qmp.on('event', onEvent);
    qmp.on('close', onClose);
  });
  // (a rejection before the wait is the command's failure's business)
  completed.catch(() => {});
  let ev: QmpEvent;
  try {
    await qmp.execute('getfd', { fdname: 'dump' }, { fds: [fd] });
    try {
      await qmp.execute('dump-guest-memory', {
        paging: false,
        protocol: 'fd:dump',
        detach: true,
        ...(format ? { format } : {}),
      });
    } catch (err) {
      await qmp.execute('closefd', { fdname: 'dump' }).catch(() => {});
      throw err;
    }
    ev = await completed;
  } finally {
    qmp.off('event', onEvent);
    qmp.off('close', onClose);
  }
  const data = ev.data as { result?: { status?: string }; error?: string } | undefined;
  if (data?.result?.status === 'failed' || data?.error) {
    throw virReportError(
      'OPERATION_FAILED',
      'qemu',
      data.error ? `memory-only dump failed: ${data.error}` : 'memory-only dump failed for unknown reason',
    );
  }
}

/** qemuMigrationSrcToFile: QEMU's migration stream, uncompressed, into the descriptor. */
async function migrateToFd(qmp: QmpClient, fd: number): Promise<void> {
  await qmp.execute('migrate-set-parameters', { 'max-bandwidth': Number(MIG_BANDWIDTH_MAX) });
  await qmp.execute('getfd', { fdname: 'migrate' }, { fds: [fd] });
  try {
    await qmp.execute('migrate', { uri: 'fd:migrate' });
  } catch (err) {
    await qmp.execute('closefd', { fdname: 'migrate' }).catch(() => {});
    throw err;
  }
  for (;;) {
    const info = await qmp.execute<{ status?: string; 'error-desc'?: string }>('query-migrate');
    if (info.status === 'completed') return;
    if (info.status === 'failed' || info.status === 'cancelled')
      throw virReportError('OPERATION_FAILED', 'qemu', `migration job: ${info['error-desc'] ?? info.status}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * doCoreDump: the file, then QEMU's dump or migration into it. A file this call created is removed
 * when the dump fails (needUnlink).
 */
export async function doCoreDump(
  qmp: QmpClient,
  file: string,
  flags: number,
  dumpformat: number,
): Promise<void> {
  const { fd, created } = openDumpFile(file);
  let ok = false;
  try {
    if (flags & VIR_DUMP.MEMORY_ONLY) {
      const name = VIR_DOMAIN_CORE_DUMP_FORMAT_NAMES[dumpformat];
      if (name === undefined)
        throw virReportError('INVALID_ARG', 'qemu', `unknown dumpformat '${dumpformat}'`);
      // QEMU writes ELF when no format is named
      await dumpGuestMemory(qmp, fd, name === 'elf' ? undefined : name);
    } else {
      if (dumpformat !== 0)
        throw virReportError(
          'OPERATION_UNSUPPORTED',
          'qemu',
          'kdump-compressed format is only supported with memory-only dump',
        );
      await migrateToFd(qmp, fd);
    }
    ok = true;
  } finally {
    closeSync(fd);
    if (!ok && created) {
      try {
        unlinkSync(file);
      } catch {
        // already gone
      }
    }
  }
}

/** libvirt-domain.c's checks of virDomainCoreDump / virDomainCoreDumpWithFormat (before the driver). */
export function coreDumpApiChecks(dumpformat: number | undefined, flags: number): void {
  if (dumpformat !== undefined && (dumpformat < 0 || dumpformat >= VIR_DOMAIN_CORE_DUMP_FORMAT_NAMES.length))
    throw virReportInvalidArg('domain', `dumpformat '${dumpformat}' is not supported`);
  const D = VIR_DUMP;
  const pairs: Array<[number, string, number, string]> = [
    [D.CRASH, 'VIR_DUMP_CRASH', D.LIVE, 'VIR_DUMP_LIVE'],
    [D.CRASH, 'VIR_DUMP_CRASH', D.RESET, 'VIR_DUMP_RESET'],
    [D.LIVE, 'VIR_DUMP_LIVE', D.RESET, 'VIR_DUMP_RESET'],
  ];
  for (const [a, an, b, bn] of pairs)
    if (flags & a && flags & b)
      throw virReportInvalidArg('domain', `Flags '${an}' and '${bn}' are mutually exclusive`);
}

/** What the dump needs of the driver, inside the domain's job. */
export interface CoreDumpHost {
  /** virDomainObjGetState: 'running', 'paused', … */
  state(): string;
  active(): boolean;
  monitor(): Promise<QmpClient>;
  /** qemuProcessStopCPUs(VIR_DOMAIN_PAUSED_DUMP). */
  pause(): Promise<void>;
  /** qemuProcessStartCPUs(VIR_DOMAIN_RUNNING_UNPAUSED). */
  resume(): Promise<void>;
  /** qemuProcessStop(VIR_DOMAIN_SHUTOFF_CRASHED) and its STOPPED/CRASHED event (a transient domain goes). */
  crash(): Promise<void>;
  /** The SUSPENDED/API_ERROR event of a resume that failed. */
  resumeFailed(): void;
  /** qemuDomainEventEmitJobCompleted with the migration's statistics. */
  jobCompleted(info: MigrateInfo, operation: number, elapsedMs: number): void;
}

/**
 * qemuDomainCoreDumpWithFormat: a running guest is paused unless the dump is live (a migration
 * stops it anyway), dumped, then crashed (shut off, reason crashed), or reset and resumed as the
 * flags say. A failed dump still resumes the guest it paused.
 */
export async function coreDumpWithFormat(
  host: CoreDumpHost,
  file: string,
  dumpformat: number,
  flags: number,
): Promise<void> {
  const D = VIR_DUMP;
  if (!host.active()) throw virReportError('OPERATION_INVALID', 'qemu', 'domain is not running');
  const resume = host.state() === 'running';
  let paused = false;
  let failure: unknown;
  const started = Date.now();
  try {
    if (!(flags & D.LIVE) && host.state() === 'running') {
      await host.pause();
      paused = true;
      if (!host.active()) throw virReportError('INTERNAL_ERROR', 'qemu', 'guest unexpectedly quit');
    }
    const qmp = await host.monitor();
    await doCoreDump(qmp, file, flags, dumpformat);
    if (!(flags & D.MEMORY_ONLY)) {
      const info = await qmp.execute<MigrateInfo>('query-migrate').catch(() => undefined);
      if (info) host.jobCompleted(info, VIR_DOMAIN_JOB_OPERATION.DUMP, Date.now() - started);
    }
    paused = true;
  } catch (err) {
    failure = err;
  }
  if (!failure && flags & D.CRASH) {
    await host.crash();
  } else if (((resume && paused) || flags & D.RESET) && host.active()) {
    if (!failure && flags & D.RESET) {
      try {
        await (await host.monitor()).execute('system_reset');
      } catch (err) {
        failure = err;
      }
    }
    if (resume && host.active()) {
      try {
        await host.resume();
      } catch (err) {
        host.resumeFailed();
        failure ??= err ?? virReportError('OPERATION_FAILED', 'qemu', 'resuming after dump failed');
      }
    }
  }
  if (failure) throw failure;
}
