/**
 * Remembered owners in extended attributes, byte for byte as libvirt 9.0 keeps them
 * (src/security/security_util.c), so an image labelled by libvirt is restored by qvirt and the
 * reverse:
 *
 *   trusted.libvirt.security.dac            "+UID:+GID"  the owner before the first domain took it
 *   trusted.libvirt.security.ref_dac        "N"          how many running domains use the path
 *   trusted.libvirt.security.timestamp_dac  "SECONDS"    the host's boot time when it was written
 *
 * The timestamp is libvirt's virHostGetBootTime(): the utmp BOOT_TIME record when there is one,
 * else the kernel's `btime` (/proc/stat), else `floor(now) - uptime` (libvirt's own fallback, which
 * can move by a second between reads), in seconds since the epoch. Attributes written before the
 * current boot are stale (the domains that held them are gone) and are dropped instead of trusted.
 */
import type { HostPort } from '@qvirt/core';
import { VirError } from '@qvirt/core';

export const XATTR_PREFIX = 'trusted.libvirt.security.';

export function attrName(driver: string): string {
  return `${XATTR_PREFIX}${driver}`;
}
export function refCountAttrName(driver: string): string {
  return `${XATTR_PREFIX}ref_${driver}`;
}
export function timestampAttrName(driver: string): string {
  return `${XATTR_PREFIX}timestamp_${driver}`;
}

type XattrHost = Pick<HostPort, 'getxattr' | 'setxattr' | 'removexattr'>;

/** The filesystem cannot hold extended attributes (libvirt's -2): remembering is skipped. */
export const XATTRS_UNSUPPORTED = Symbol('xattrs unsupported');

function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

function unsupported(err: unknown): boolean {
  const code = errnoOf(err);
  return code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS';
}

function xattrError(op: 'get' | 'set' | 'remove', name: string, path: string, err: unknown): VirError {
  const what = op === 'get' ? 'get' : op === 'set' ? 'set' : 'remove';
  const reason = (err as Error | undefined)?.message ?? String(err);
  return new VirError('SYSTEM_ERROR', 'security', `Unable to ${what} XATTR ${name} on ${path}: ${reason}`, {
    cause: err,
  });
}

export interface RememberStore {
  /**
   * virSecuritySetRememberedLabel: record `label` as the original owner the first time a domain
   * takes `path`, and count one more user. Returns the new count.
   */
  set(path: string, label: string): Promise<number | typeof XATTRS_UNSUPPORTED>;
  /**
   * virSecurityGetRememberedLabel: count one user less; when none is left, return the original
   * owner and remove the attributes. `null` means the path is still in use (or was never
   * remembered).
   */
  get(path: string): Promise<string | null | typeof XATTRS_UNSUPPORTED>;
  /** virSecurityMoveRememberedLabel: move (or with no `dst`, drop) every attribute of `path`. */
  move(src: string, dst: string | undefined): Promise<undefined | typeof XATTRS_UNSUPPORTED>;
}

export function rememberStore(
  host: XattrHost,
  driver: string,
  bootTime: () => Promise<string>,
): RememberStore {
  const refName = refCountAttrName(driver);
  const labelName = attrName(driver);
  const tsName = timestampAttrName(driver);

  async function get(path: string, name: string): Promise<string | undefined | typeof XATTRS_UNSUPPORTED> {
    try {
      return await host.getxattr(path, name);
    } catch (err) {
      if (unsupported(err)) return XATTRS_UNSUPPORTED;
      throw xattrError('get', name, path, err);
    }
  }
  async function set(path: string, name: string, value: string): Promise<void> {
    try {
      await host.setxattr(path, name, value);
    } catch (err) {
      throw xattrError('set', name, path, err);
    }
  }
  async function remove(path: string, name: string): Promise<void> {
    try {
      await host.removexattr(path, name);
    } catch (err) {
      if (errnoOf(err) === 'ENODATA' || errnoOf(err) === 'ENOENT') return;
      throw xattrError('remove', name, path, err);
    }
  }

  async function move(src: string, dst: string | undefined): Promise<undefined | typeof XATTRS_UNSUPPORTED> {
    const ref = await get(src, refName);
    if (ref === XATTRS_UNSUPPORTED) return XATTRS_UNSUPPORTED;
    const label = await get(src, labelName);
    if (label === XATTRS_UNSUPPORTED) return XATTRS_UNSUPPORTED;
    const ts = await get(src, tsName);
    if (ts === XATTRS_UNSUPPORTED) return XATTRS_UNSUPPORTED;
    if (ref !== undefined) await remove(src, refName);
    if (label !== undefined) await remove(src, labelName);
    if (ts !== undefined) await remove(src, tsName);
    if (dst === undefined) return;
    if (ref !== undefined) await set(dst, refName, ref);
    let labelSet = false;
    try {
      if (label !== undefined) await set(dst, labelName, label);
      labelSet = label !== undefined;
      if (ts !== undefined) await set(dst, tsName, ts);
    } catch (err) {
      await remove(dst, refName).catch(() => {});
      if (labelSet) await remove(dst, labelName).catch(() => {});
      throw err;
    }
  }

  /**
   * virSecurityValidateTimestamp: 'valid', or 'stale' after dropping attributes written before
   * this boot (a missing timestamp counts as stale, so a wrong refcount cannot live forever).
   */
  async function validate(path: string): Promise<'valid' | 'stale' | typeof XATTRS_UNSUPPORTED> {
    const expected = await bootTime();
    const ts = await get(path, tsName);
    if (ts === XATTRS_UNSUPPORTED) return XATTRS_UNSUPPORTED;
    if (ts === expected) return 'valid';
    const moved = await move(path, undefined);
    if (moved === XATTRS_UNSUPPORTED) return XATTRS_UNSUPPORTED;
    return 'stale';
  }

  function parseRef(value: string, path: string): number {
    // virStrToLong_ui
    if (!/^\s*[+-]?\d+$/.test(value) || Number(value) > 0xffffffff) {
      throw new VirError(
        'INTERNAL_ERROR',
        'security',
        `internal error: malformed refcount ${value} on ${path}`,
      );
    }
    return Number(value) >>> 0;
  }

  return {
    async set(path, label) {
      let value = await get(path, refName);
      if (value === XATTRS_UNSUPPORTED) return XATTRS_UNSUPPORTED;
      if (value !== undefined) {
        const v = await validate(path);
        if (v === XATTRS_UNSUPPORTED) return XATTRS_UNSUPPORTED;
        if (v === 'stale') value = undefined;
      }
      const refcount = (value === undefined ? 0 : parseRef(value, path)) + 1;
      if (refcount === 1) {
        await set(path, labelName, label);
        await set(path, tsName, await bootTime());
      }
      await set(path, refName, String(refcount));
      return refcount;
    },

    async get(path) {
      const value = await get(path, refName);
      // Never remembered (ENODATA) is "not supported" to libvirt too: the caller falls back to root.
      if (value === XATTRS_UNSUPPORTED || value === undefined) return XATTRS_UNSUPPORTED;
      const v = await validate(path);
      if (v === XATTRS_UNSUPPORTED || v === 'stale') return XATTRS_UNSUPPORTED;
      // libvirt decrements an unsigned int: a refcount of 0 wraps and stays "in use".
      const refcount = (parseRef(value, path) - 1) >>> 0;
      if (refcount > 0) {
        await set(path, refName, String(refcount));
        return null;
      }
      await remove(path, refName);
      const label = await get(path, labelName);
      if (label === XATTRS_UNSUPPORTED) return XATTRS_UNSUPPORTED;
      if (label === undefined) {
        throw xattrError(
          'get',
          labelName,
          path,
          Object.assign(new Error('No data available'), { code: 'ENODATA' }),
        );
      }
      await remove(path, labelName);
      await remove(path, tsName);
      return label;
    },

    move,
  };
}
