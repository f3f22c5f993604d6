/**
 * One driver per instance, as libvirt's qemuStateInitialize takes virPidFileAcquire(stateDir,
 * "driver"): `runDir/driver.pid` holds the driver's pid under an exclusive lock for as long as the
 * instance is open. A second process opening the same instance (an embed root, the session or
 * the system instance) fails instead of reconnecting to, and cleaning up after, domains the first
 * is still starting.
 *
 * The lock is the kernel's (flock(2), through koffi): it goes with the holder's last descriptor,
 * so a driver killed with SIGKILL never blocks the next open, and there is no stale-lock guessing
 * (a pid file checked for a live pid could name a recycled pid). Node opens files close-on-exec,
 * so QEMU and the launch chain never inherit it. flock rather than libvirt's fcntl record lock:
 * a record lock belongs to the process and is dropped when *any* descriptor of the file closes,
 * which a Node process cannot rule out; a flock belongs to its open file description.
 *
 * Drivers of the same instance in one process share the lock (libvirt's embed driver is likewise
 * one per process): the pid file says which process holds it.
 */
import {
  closeSync,
  fstatSync,
  ftruncateSync,
  openSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import { VirError, virReportSystemError } from '@qvirt/core';

interface FlockCalls {
  flock(fd: number, operation: number): number;
  errno(): number;
}

const LOCK_EX = 2;
const LOCK_NB = 4;

let calls: FlockCalls | undefined;

function libcFlock(): FlockCalls {
  if (calls) return calls;
  // loaded on first use only, so importing the driver loads no native code
  const koffi = createRequire(import.meta.url)('koffi') as {
    load(lib: string): { func(signature: string): unknown };
    errno(): number;
  };
  const libc = koffi.load('libc.so.6');
  calls = {
    flock: libc.func('int flock(int fd, int operation)') as FlockCalls['flock'],
    errno: () => koffi.errno(),
  };
  return calls;
}

const held = new Map<string, { fd: number; refs: number }>();

/** An acquired instance lock; `release()` once (further calls do nothing). */
export interface InstanceLock {
  readonly path: string;
  release(): void;
}

/**
 * virPidFileAcquirePath: open (creating) `file`, lock it without waiting, make sure the file
 * locked is still the one at that path (a releasing holder unlinks it), write our pid.
 */
export function acquireInstanceLock(file: string, instanceDir: string): InstanceLock {
  const shared = held.get(file);
  if (shared) {
    shared.refs++;
    return handle(file, shared);
  }
  const c = libcFlock();
  for (;;) {
    let fd: number;
    try {
      fd = openSync(file, 'a', 0o644);
    } catch (err) {
      throw systemError(`Failed to open pid file '${file}'`, err);
    }
    if (c.flock(fd, LOCK_EX | LOCK_NB) !== 0) {
      const errno = c.errno();
      closeSync(fd);
      if (errno === osConstants.errno.EWOULDBLOCK || errno === osConstants.errno.EAGAIN) {
        const pid = holderPid(file);
        throw new VirError(
          'SYSTEM_ERROR',
          'qemu',
          `Failed to acquire pid file '${file}': the instance at ${instanceDir} is in use by ${pid ? `process ${pid}` : 'another process'}`,
        );
      }
      throw virReportSystemError(errno, 'qemu', `Failed to acquire pid file '${file}'`);
    }
    let same = false;
    try {
      same = statSync(file).ino === fstatSync(fd).ino;
    } catch {
      // unlinked by a holder releasing it meanwhile
    }
    if (!same) {
      closeSync(fd);
      continue;
    }
    try {
      // 'a' appends: empty it first, through the descriptor we hold
      ftruncateSync(fd, 0);
      writeSync(fd, `${process.pid}\n`);
    } catch (err) {
      closeSync(fd);
      throw systemError(`Failed to write pid file '${file}'`, err);
    }
    const entry = { fd, refs: 1 };
    held.set(file, entry);
    return handle(file, entry);
  }
}

function handle(file: string, entry: { fd: number; refs: number }): InstanceLock {
  let released = false;
  return {
    path: file,
    release() {
      if (released) return;
      released = true;
      if (--entry.refs > 0) return;
      held.delete(file);
      // virPidFileReleasePath: unlink before close, so the next holder never locks a file that
      // is about to go (it re-checks the inode anyway)
      try {
        unlinkSync(file);
      } catch {
        // already gone (the directory was removed)
      }
      closeSync(entry.fd);
    },
  };
}

function holderPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function systemError(prefix: string, err: unknown): VirError {
  return virReportSystemError(err, 'qemu', prefix);
}
