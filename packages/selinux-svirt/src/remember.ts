/**
 * Remembered labels in extended attributes, as libvirt 9.0 keeps them (security_util.c) for the
 * `selinux` driver, so a file labelled by libvirt is restored by qvirt and the reverse:
 *
 *   trusted.libvirt.security.selinux            the context before the first guest took the file
 *   trusted.libvirt.security.ref_selinux        how many running guests use it
 *   trusted.libvirt.security.timestamp_selinux  the host's boot time when it was written
 *
 * Attributes from an earlier boot are stale (their guests are gone) and are dropped. The boot
 * time is libvirt's virHostGetBootTime: utmp's BOOT_TIME record, else the kernel's btime, else
 * now minus uptime; the same value @qvirt/dac writes, so the two drivers agree on staleness.
 */
import type { HostPort } from '@qvirt/core';
import { VirError } from '@qvirt/core';

export const MODEL = 'selinux';
export const XATTR_LABEL = `trusted.libvirt.security.${MODEL}`;
export const XATTR_REF = `trusted.libvirt.security.ref_${MODEL}`;
export const XATTR_TIMESTAMP = `trusted.libvirt.security.timestamp_${MODEL}`;

/** The file system cannot hold the attributes (libvirt's -2): labelling goes on without them. */
export const UNSUPPORTED = Symbol('xattrs unsupported');

type XattrHost = Pick<HostPort, 'getxattr' | 'setxattr' | 'removexattr'>;

const code = (err: unknown) => (err as NodeJS.ErrnoException | undefined)?.code;
const unsupported = (err: unknown) => ['ENOTSUP', 'EOPNOTSUPP', 'ENOSYS'].includes(code(err) ?? '');

function xattrError(op: string, name: string, path: string, err: unknown): VirError {
  return new VirError(
    'SYSTEM_ERROR',
    'security',
    `Unable to ${op} XATTR ${name} on ${path}: ${(err as Error).message}`,
    { cause: err },
  );
}

export interface RememberStore {
  /** virSecuritySetRememberedLabel: record `label` for the first user; the new refcount. */
  set(path: string, label: string): Promise<number | typeof UNSUPPORTED>;
  /**
   * virSecurityGetRememberedLabel: one user less; the original label when none is left, `null`
   * while the path is still in use, UNSUPPORTED when nothing (valid) was remembered.
   */
  get(path: string): Promise<string | null | typeof UNSUPPORTED>;
  /** virSecurityMoveRememberedLabel (no `dst`: drop). */
  move(src: string, dst: string | undefined): Promise<void>;
}

export function rememberStore(host: XattrHost, bootTime: () => Promise<string>): RememberStore {
  async function read(path: string, name: string): Promise<string | undefined | typeof UNSUPPORTED> {
    try {
      return await host.getxattr(path, name);
    } catch (err) {
      if (unsupported(err)) return UNSUPPORTED;
      throw xattrError('get', name, path, err);
    }
  }
  async function write(path: string, name: string, value: string): Promise<void> {
    try {
      await host.setxattr(path, name, value);
    } catch (err) {
      throw xattrError('set', name, path, err);
    }
  }
  async function drop(path: string, name: string): Promise<void> {
    try {
      await host.removexattr(path, name);
    } catch (err) {
      if (code(err) === 'ENODATA' || code(err) === 'ENOENT') return;
      throw xattrError('remove', name, path, err);
    }
  }
  function parseRef(value: string, path: string): number {
    if (!/^\s*[+-]?\d+$/.test(value) || Number(value) > 0xffffffff) {
      throw new VirError(
        'INTERNAL_ERROR',
        'security',
        `internal error: malformed refcount ${value} on ${path}`,
      );
    }
    return Number(value) >>> 0;
  }

  async function move(src: string, dst: string | undefined): Promise<void> {
    const values: Array<[string, string]> = [];
    for (const name of [XATTR_REF, XATTR_LABEL, XATTR_TIMESTAMP]) {
      const v = await read(src, name);
      if (v === UNSUPPORTED) return;
      if (v !== undefined) values.push([name, v]);
    }
    for (const [name] of values) await drop(src, name);
    if (dst !== undefined) for (const [name, v] of values) await write(dst, name, v);
  }

  /** virSecurityValidateTimestamp: drop attributes from an earlier boot. */
  async function valid(path: string): Promise<boolean | typeof UNSUPPORTED> {
    const ts = await read(path, XATTR_TIMESTAMP);
    if (ts === UNSUPPORTED) return UNSUPPORTED;
    if (ts === (await bootTime())) return true;
    await move(path, undefined);
    return false;
  }

  return {
    async set(path, label) {
      let ref = await read(path, XATTR_REF);
      if (ref === UNSUPPORTED) return UNSUPPORTED;
      if (ref !== undefined) {
        const v = await valid(path);
        if (v === UNSUPPORTED) return UNSUPPORTED;
        if (!v) ref = undefined;
      }
      const count = (ref === undefined ? 0 : parseRef(ref, path)) + 1;
      if (count === 1) {
        await write(path, XATTR_LABEL, label);
        await write(path, XATTR_TIMESTAMP, await bootTime());
      }
      await write(path, XATTR_REF, String(count));
      return count;
    },
    async get(path) {
      const ref = await read(path, XATTR_REF);
      if (ref === UNSUPPORTED || ref === undefined) return UNSUPPORTED;
      const v = await valid(path);
      if (v !== true) return UNSUPPORTED;
      const count = (parseRef(ref, path) - 1) >>> 0;
      if (count > 0) {
        await write(path, XATTR_REF, String(count));
        return null;
      }
      await drop(path, XATTR_REF);
      const label = await read(path, XATTR_LABEL);
      if (label === UNSUPPORTED) return UNSUPPORTED;
      await drop(path, XATTR_LABEL);
      await drop(path, XATTR_TIMESTAMP);
      return label ?? UNSUPPORTED;
    },
    move,
  };
}
