/** What virsh's pool and volume commands share (tools/virsh-pool.c, virsh-volume.c, vsh.c). */
import { VirError } from '@qvirt/core/errors';
import type { StorageDriver, StoragePool, StorageVol } from '@qvirt/core/hypervisor';
import type { Io } from '../command.js';
import { reporting } from '../driver-connection.js';

const UUID_RE = /^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$/;

/** virshCommandOptPoolBy: a UUID, then a name; libvirt's error of the last attempt. */
export async function lookupPool(conn: StorageDriver, io: Io, key: string): Promise<StoragePool> {
  return reporting(io, `failed to get pool '${key}'`, async () => {
    if (UUID_RE.test(key)) {
      const p = await conn.storagePoolLookupByUUID(key.toLowerCase()).catch(() => undefined);
      if (p) return p;
    }
    return conn.storagePoolLookupByName(key);
  });
}

/**
 * virshCommandOptVolBy: by name in `--pool` (or `--inputpool`), then by key, then by path; virsh's
 * hint to name the pool when none was given.
 */
export async function lookupVol(
  conn: StorageDriver,
  io: Io,
  key: string,
  poolName: string | undefined,
  poolOpt = 'pool',
): Promise<StorageVol> {
  let pool: StoragePool | undefined;
  if (poolName) {
    pool = await lookupPool(conn, io, poolName);
    if ((await conn.storagePoolIsActive(pool)) !== 1) {
      throw new VirError('OPERATION_INVALID', 'none', `pool '${poolName}' is not active`);
    }
  }
  const what = pool
    ? `failed to get vol '${key}'`
    : `failed to get vol '${key}', specifying --${poolOpt} might help`;
  return reporting(io, what, async () => {
    if (pool) {
      const v = await conn.storageVolLookupByName(pool, key).catch(() => undefined);
      if (v) return v;
    }
    const v = await conn.storageVolLookupByKey(key).catch(() => undefined);
    if (v) return v;
    return conn.storageVolLookupByPath(key);
  });
}

/** vshPrettyCapacity: a byte count in its largest unit, printed with `decimals` places ("%.2lf %s"). */
export function prettyCapacity(val: number, decimals = 2): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  let v = val;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(decimals)} ${units[i]}`;
}

/** vshCommandOptScaledInt for sizes: a number with an optional unit (default bytes). */
export function parseSize(text: string, opt: string): number {
  const m = /^(\d+)\s*([A-Za-z]*)$/.exec(text.trim());
  const fail = () =>
    new VirError(
      'INVALID_ARG',
      'none',
      `Scaled numeric value '${text}' for <--${opt}> option is malformed or out of range`,
    );
  if (!m) throw fail();
  const n = Number(m[1]);
  const u = m[2]!;
  if (u === '' || /^b(ytes?)?$/i.test(u)) return n;
  const power = 'kmgtpe'.indexOf(u[0]!.toLowerCase()) + 1;
  if (power === 0) throw fail();
  const rest = u.slice(1);
  const base = rest === '' || /^ib$/i.test(rest) ? 1024 : /^b$/i.test(rest) ? 1000 : 0;
  if (!base) throw fail();
  return n * base ** power;
}

export const VOL_TYPE_NAMES = ['file', 'block', 'dir', 'network', 'netdir', 'ploop'];
export const POOL_STATE_NAMES = ['inactive', 'building', 'running', 'degraded', 'inaccessible'];

export const flag = (name: string, help: string) => ({ name, type: 'bool' as const, help });
export const POOL_OPT = { name: 'pool', type: 'data' as const, required: true, help: 'pool name or uuid' };
export const VOL_POOL_OPT = { name: 'pool', type: 'string' as const, help: 'pool name or uuid' };
export const VOL_OPT = { name: 'vol', type: 'data' as const, required: true, help: 'vol name, key or path' };

/** virXMLEscape for the XML virsh builds. */
export const esc = (s: string) =>
  s.replace(
    /[&<>'"]/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', "'": '&apos;', '"': '&quot;' })[c]!,
  );
