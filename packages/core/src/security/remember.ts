/**
 * Remembered labels in extended attributes, byte for byte as libvirt 9.0 keeps them
 * (src/security/security_util.c), one store per security model (`dac`, `selinux`), so a file
 * labelled by libvirt is restored by qvirt and the reverse:
 *
 *   trusted.libvirt.security.MODEL            the label before the first domain took the path
 *   trusted.libvirt.security.ref_MODEL        how many running domains use it
 *   trusted.libvirt.security.timestamp_MODEL  the host's boot time when it was written
 *
 * Attributes written before the current boot are stale (the domains that held them are gone) and
 * are dropped instead of trusted; the boot time is virHostGetBootTime (boot-time.ts), one value per
 * host port so every model stamps the same.
 */
import type { QemuConf } from '../conf/qemu-conf.js';
import { strerror, VirError, virReportError } from '../errors.js';
import { bootTimeSource } from './boot-time.js';
import type { HostPort } from './host.js';

export const REMEMBER_XATTR_PREFIX = 'trusted.libvirt.security.';

/** virSecurityGetAttrName, virSecurityGetRefCountAttrName, virSecurityGetTimestampAttrName. */
export function rememberAttrNames(model: string): { label: string; ref: string; timestamp: string } {
  return {
    label: `${REMEMBER_XATTR_PREFIX}${model}`,
    ref: `${REMEMBER_XATTR_PREFIX}ref_${model}`,
    timestamp: `${REMEMBER_XATTR_PREFIX}timestamp_${model}`,
  };
}

/** The file system cannot hold extended attributes (libvirt's -2): labelling goes on without them. */
export const XATTRS_UNSUPPORTED = Symbol('xattrs unsupported');

export interface RememberStore {
  /** qemu.conf `remember_owner` (or the driver's `rememberOwner` option): callers skip the store when off. */
  readonly enabled: boolean;
  /**
   * virSecuritySetRememberedLabel: record `label` as the original the first time a domain takes
   * `path`, and count one more user. Returns the new count.
   */
  set(path: string, label: string): Promise<number | typeof XATTRS_UNSUPPORTED>;
  /**
   * virSecurityGetRememberedLabel: one user less; when none is left, the original label (the
   * attributes are removed). `null` while the path is still in use; XATTRS_UNSUPPORTED when
   * nothing valid was remembered.
   */
  get(path: string): Promise<string | null | typeof XATTRS_UNSUPPORTED>;
  /** virSecurityMoveRememberedLabel: move (or with no `dst`, drop) every attribute of `src`. */
  move(src: string, dst: string | undefined): Promise<undefined | typeof XATTRS_UNSUPPORTED>;
}

export interface RememberStoreOptions {
  /** The driver's own switch; default `conf.rememberOwner`, else off. */
  rememberOwner?: boolean;
  conf?: Pick<QemuConf, 'rememberOwner'>;
  /** Default: the host's boot time, computed once per host port. */
  bootTime?: () => Promise<string>;
}

type StoreHost = Pick<HostPort, 'getxattr' | 'setxattr' | 'removexattr' | 'readFile' | 'exec'>;

const bootTimes = new WeakMap<object, () => Promise<string>>();

function sharedBootTime(host: StoreHost): () => Promise<string> {
  let source = bootTimes.get(host);
  if (!source) bootTimes.set(host, (source = bootTimeSource(host)));
  return source;
}

const errnoOf = (err: unknown) => (err as NodeJS.ErrnoException | undefined)?.code;

function xattrError(op: 'get' | 'set' | 'remove', name: string, path: string, err: unknown): VirError {
  const reason = (err as Error | undefined)?.message ?? String(err);
  return new VirError('SYSTEM_ERROR', 'security', `Unable to ${op} XATTR ${name} on ${path}: ${reason}`, {
    cause: err,
  });
}

export function rememberStore(
  model: string,
  host: StoreHost,
  options: RememberStoreOptions = {},
): RememberStore {
  const names = rememberAttrNames(model);
  const bootTime = options.bootTime ?? sharedBootTime(host);

  async function get(path: string, name: string): Promise<string | undefined | typeof XATTRS_UNSUPPORTED> {
    try {
      return await host.getxattr(path, name);
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS') return XATTRS_UNSUPPORTED;
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
    const values: Array<[string, string]> = [];
    for (const name of [names.ref, names.label, names.timestamp]) {
      const value = await get(src, name);
      if (value === XATTRS_UNSUPPORTED) return XATTRS_UNSUPPORTED;
      if (value !== undefined) values.push([name, value]);
    }
    for (const [name] of values) await remove(src, name);
    if (dst === undefined) return;
    const written: string[] = [];
    try {
      for (const [name, value] of values) {
        await set(dst, name, value);
        written.push(name);
      }
    } catch (err) {
      // As libvirt: what reached `dst` is taken off again (the timestamp is always last).
      for (const name of written) await remove(dst, name).catch(() => {});
      throw err;
    }
  }

  /**
   * virSecurityValidateTimestamp: 'valid', or 'stale' after dropping attributes written before
   * this boot (a missing timestamp counts as stale, so a wrong refcount cannot live forever).
   */
  async function validate(path: string): Promise<'valid' | 'stale' | typeof XATTRS_UNSUPPORTED> {
    const expected = await bootTime();
    const ts = await get(path, names.timestamp);
    if (ts === XATTRS_UNSUPPORTED) return XATTRS_UNSUPPORTED;
    if (ts === expected) return 'valid';
    return (await move(path, undefined)) ?? 'stale';
  }

  function parseRef(value: string, path: string): number {
    // virStrToLong_ui
    if (!/^\s*[+-]?\d+$/.test(value) || Number(value) > 0xffffffff) {
      throw virReportError('INTERNAL_ERROR', 'security', `malformed refcount ${value} on ${path}`);
    }
    return Number(value) >>> 0;
  }

  return {
    enabled: options.rememberOwner ?? options.conf?.rememberOwner ?? false,

    async set(path, label) {
      let value = await get(path, names.ref);
      if (value === XATTRS_UNSUPPORTED) return XATTRS_UNSUPPORTED;
      if (value !== undefined) {
        const v = await validate(path);
        if (v === XATTRS_UNSUPPORTED) return XATTRS_UNSUPPORTED;
        if (v === 'stale') value = undefined;
      }
      const refcount = (value === undefined ? 0 : parseRef(value, path)) + 1;
      if (refcount === 1) {
        await set(path, names.label, label);
        await set(path, names.timestamp, await bootTime());
      }
      await set(path, names.ref, String(refcount));
      return refcount;
    },

    async get(path) {
      const value = await get(path, names.ref);
      // Never remembered (ENODATA) is "not supported" to libvirt too: the caller uses its default.
      if (value === XATTRS_UNSUPPORTED || value === undefined) return XATTRS_UNSUPPORTED;
      const v = await validate(path);
      if (v !== 'valid') return XATTRS_UNSUPPORTED;
      // libvirt decrements an unsigned int: a refcount of 0 wraps and stays "in use".
      const refcount = (parseRef(value, path) - 1) >>> 0;
      if (refcount > 0) {
        await set(path, names.ref, String(refcount));
        return null;
      }
      await remove(path, names.ref);
      const label = await get(path, names.label);
      if (label === XATTRS_UNSUPPORTED) return XATTRS_UNSUPPORTED;
      if (label === undefined) {
        const err = Object.assign(new Error(strerror('ENODATA')), { code: 'ENODATA' });
        throw xattrError('get', names.label, path, err);
      }
      await remove(path, names.label);
      await remove(path, names.timestamp);
      return label;
    },

    move,
  };
}
