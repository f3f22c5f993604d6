/**
 * Whether the QEMU user may use /dev/kvm, decided as libvirt 9.0 decides it
 * (virQEMUCapsKVMUsable → virFileAccessibleAs): read-write access as the user with its group and
 * its full group list (virGetGroupList: getgrouplist of the user's name and passwd primary group,
 * plus the configured group), checked by the kernel itself in a child running with those ids, so
 * POSIX ACLs and capabilities count as they do for QEMU. As ourselves, access(2) directly; as
 * someone else without root, not usable (libvirt's child cannot change ids either). The answer is
 * cached per device, user and group until the device's ctime changes, as libvirt caches it.
 * The host prober (capabilities, probe cache) and the driver both ask this one function.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, type Stats, statSync } from 'node:fs';

export interface AccessIds {
  uid: number;
  gid: number;
}

/** A passwd entry by uid through NSS (getent), as virGetUserEnt reads it. */
function passwdByUid(uid: number): { name: string; gid: number } | undefined {
  const r = spawnSync('getent', ['passwd', String(uid)], { encoding: 'utf8' });
  const f = r.status === 0 ? r.stdout.split('\n')[0]?.split(':') : undefined;
  if (!f || f.length < 4) return undefined;
  return { name: f[0]!, gid: Number(f[3]) };
}

/**
 * virGetGroupList: the groups of `uid` (getgrouplist of its name and passwd primary group, through
 * NSS with `id -G`), plus `gid` when not already there. A uid without an entry has only `gid`.
 */
export function groupList(uid: number, gid: number): number[] {
  const out: number[] = [];
  const pw = passwdByUid(uid);
  if (pw) {
    const r = spawnSync('id', ['-G', pw.name], { encoding: 'utf8' });
    const ids = r.status === 0 ? r.stdout.trim().split(/\s+/).filter(Boolean).map(Number) : [pw.gid];
    for (const g of [pw.gid, ...ids]) if (!out.includes(g)) out.push(g);
  }
  if (!out.includes(gid)) out.push(gid);
  return out;
}

/** The kernel's mode-bit rule, for when no child can be run with the ids (no setpriv). */
function modeAllows(st: Stats, ids: AccessIds, groups: number[], want: number): boolean {
  if (ids.uid === 0) return true;
  const bits =
    st.uid === ids.uid ? (st.mode >> 6) & 7 : groups.includes(st.gid) ? (st.mode >> 3) & 7 : st.mode & 7;
  return (bits & want) === want;
}

/**
 * virFileAccessibleAs(path, R_OK|W_OK, uid, gid): whether a process with these ids (and the
 * user's groups) may open `path` read-write.
 */
export function fileAccessibleAs(path: string, ids: AccessIds): boolean {
  const euid = process.geteuid?.() ?? 0;
  const egid = process.getegid?.() ?? 0;
  if (ids.uid === euid && ids.gid === egid) {
    try {
      accessSync(path, constants.R_OK | constants.W_OK);
      return true;
    } catch {
      return false;
    }
  }
  // libvirt's forked child fails to change ids unless we are root
  if (euid !== 0) return false;
  const groups = groupList(ids.uid, ids.gid);
  const r = spawnSync(
    'setpriv',
    [
      `--reuid=${ids.uid}`,
      `--regid=${ids.gid}`,
      `--groups=${groups.join(',')}`,
      '--',
      'test',
      '-r',
      path,
      '-a',
      '-w',
      path,
    ],
    { stdio: 'ignore' },
  );
  if (r.error === undefined && r.status !== null && r.status <= 1) return r.status === 0;
  try {
    return modeAllows(statSync(path), ids, groups, 6);
  } catch {
    return false;
  }
}

export interface KvmAccess {
  usable: boolean;
  /** Why not, in a few words. */
  reason?: string;
  /** ctime (ms) of the device, for cache invalidation. */
  ctimeMs?: number;
}

const cache = new Map<string, { ctime: number; value: boolean }>();

/** virQEMUCapsKVMUsable: `device` (default /dev/kvm) read-write for the QEMU user and group. */
export function kvmAccess(opts: AccessIds & { device?: string }): KvmAccess {
  const device = opts.device ?? '/dev/kvm';
  let st: Stats;
  try {
    st = statSync(device);
  } catch {
    return { usable: false, reason: `${device} does not exist` };
  }
  const ctimeMs = st.ctimeMs;
  // libvirt compares st_ctime, whole seconds
  const ctime = Math.floor(ctimeMs / 1000);
  const key = `${device}\0${opts.uid}\0${opts.gid}`;
  let hit = cache.get(key);
  if (hit?.ctime !== ctime) {
    hit = { ctime, value: fileAccessibleAs(device, opts) };
    cache.set(key, hit);
  }
  return hit.value
    ? { usable: true, ctimeMs }
    : { usable: false, reason: `${device} is not read-write for ${opts.uid}:${opts.gid}`, ctimeMs };
}
