/**
 * One device cgroup rule and its two spellings: cgroup v1's `devices.allow` line (`c 1:3 rw`) and
 * libvirt's cgroup v2 BPF map entry (vircgroupv2devices.c: key `major<<32 | minor`, value
 * `(access<<16) | type`).
 */

export type DeviceType = 'a' | 'b' | 'c';

export interface DeviceAccess {
  read: boolean;
  write: boolean;
  mknod: boolean;
}

export interface DeviceRule {
  type: DeviceType;
  /** `'*'` is any (libvirt's -1). */
  major: number | '*';
  minor: number | '*';
  access: DeviceAccess;
}

/** BPF_DEVCG_ACC_* and BPF_DEVCG_DEV_* (linux/bpf.h). */
export const BPF_DEVCG_ACC_MKNOD = 1;
export const BPF_DEVCG_ACC_READ = 2;
export const BPF_DEVCG_ACC_WRITE = 4;
export const BPF_DEVCG_DEV_BLOCK = 1;
export const BPF_DEVCG_DEV_CHAR = 2;

const ANY32 = 0xffffffff;

export function parseAccess(perms: string): DeviceAccess {
  if (!/^[rwm]*$/.test(perms)) throw new Error(`invalid device permissions '${perms}'`);
  return { read: perms.includes('r'), write: perms.includes('w'), mknod: perms.includes('m') };
}

/** virCgroupGetDevicePermsString: `r`, `rw`, `rwm`, … */
export function formatAccess(a: DeviceAccess): string {
  return `${a.read ? 'r' : ''}${a.write ? 'w' : ''}${a.mknod ? 'm' : ''}`;
}

export function unionAccess(a: DeviceAccess, b: DeviceAccess): DeviceAccess {
  return { read: a.read || b.read, write: a.write || b.write, mknod: a.mknod || b.mknod };
}

export function rule(type: DeviceType, major: number | '*', minor: number | '*', perms: string): DeviceRule {
  return { type, major, minor, access: parseAccess(perms) };
}

/** The cgroup v1 spelling, as `devices.allow` takes it and `devices.list` prints it. */
export function formatRule(r: DeviceRule): string {
  return `${r.type} ${r.major}:${r.minor} ${formatAccess(r.access)}`;
}

/** One `devices.list` line (`c 1:3 rw`, `a *:* rwm`). */
export function parseRule(line: string): DeviceRule {
  const m = /^([abc]) (\*|\d+):(\*|\d+) ([rwm]+)$/.exec(line.trim());
  if (!m) throw new Error(`invalid device rule '${line}'`);
  const num = (s: string) => (s === '*' ? '*' : Number(s));
  return rule(m[1] as DeviceType, num(m[2]!), num(m[3]!), m[4]!);
}

/** The identity of a rule's device (type, major, minor), used to merge rules like the kernel does. */
export function ruleKey(r: DeviceRule): string {
  return `${r.type} ${r.major}:${r.minor}`;
}

/** Merge rules for the same device by uniting their access (v1's kernel does the same). */
export function mergeRules(rules: readonly DeviceRule[]): DeviceRule[] {
  const out = new Map<string, DeviceRule>();
  for (const r of rules) {
    const k = ruleKey(r);
    const prev = out.get(k);
    out.set(k, prev ? { ...prev, access: unionAccess(prev.access, r.access) } : { ...r });
  }
  return [...out.values()];
}

/** virCgroupV2DevicesGetKey: `major<<32 | minor`, `*` as 0xffffffff. */
export function bpfKey(r: Pick<DeviceRule, 'major' | 'minor'>): bigint {
  const major = r.major === '*' ? ANY32 : r.major;
  const minor = r.minor === '*' ? ANY32 : r.minor;
  return (BigInt(major) << 32n) | BigInt(minor);
}

/** virCgroupV2DevicesGetPerms: `(access<<16) | type`, type `a` being block|char. */
export function bpfValue(r: Pick<DeviceRule, 'type' | 'access'>): number {
  let acc = 0;
  if (r.access.mknod) acc |= BPF_DEVCG_ACC_MKNOD;
  if (r.access.read) acc |= BPF_DEVCG_ACC_READ;
  if (r.access.write) acc |= BPF_DEVCG_ACC_WRITE;
  const type =
    r.type === 'b'
      ? BPF_DEVCG_DEV_BLOCK
      : r.type === 'c'
        ? BPF_DEVCG_DEV_CHAR
        : BPF_DEVCG_DEV_BLOCK | BPF_DEVCG_DEV_CHAR;
  return ((acc << 16) | type) >>> 0;
}

/** A map entry back into a rule (the inverse of bpfKey/bpfValue). */
export function ruleFromBpf(key: bigint, value: number): DeviceRule {
  const major = Number(key >> 32n);
  const minor = Number(key & 0xffffffffn);
  const t = value & 0xffff;
  const acc = value >>> 16;
  return {
    type: t === BPF_DEVCG_DEV_BLOCK ? 'b' : t === BPF_DEVCG_DEV_CHAR ? 'c' : 'a',
    major: major === ANY32 ? '*' : major,
    minor: minor === ANY32 ? '*' : minor,
    access: {
      read: (acc & BPF_DEVCG_ACC_READ) !== 0,
      write: (acc & BPF_DEVCG_ACC_WRITE) !== 0,
      mknod: (acc & BPF_DEVCG_ACC_MKNOD) !== 0,
    },
  };
}

/** Linux's dev_t split (glibc major()/minor()). */
export function devMajor(rdev: number): number {
  const d = BigInt(rdev);
  return Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & 0xfffff000n));
}

export function devMinor(rdev: number): number {
  const d = BigInt(rdev);
  return Number((d & 0xffn) | ((d >> 12n) & 0xffffff00n));
}
