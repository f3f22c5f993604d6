/**
 * qemu.conf's `user`/`group` (names or `+N`) as uid/gid plus supplementary groups, from
 * /etc/passwd and /etc/group, for the /dev/kvm check and for running probes as the QEMU user.
 */
import { readFileSync } from 'node:fs';

const table = (file: string): string[][] => {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => l.split(':'));
  } catch {
    return [];
  }
};

export interface QemuIds {
  uid: number;
  gid: number;
  groups: number[];
}

/** Unset user/group mean the calling process's own ids (session instances). */
export function resolveQemuIds(user: string | undefined, group: string | undefined, etc = '/etc'): QemuIds {
  const passwd = table(`${etc}/passwd`);
  const groupTab = table(`${etc}/group`);
  let uid = process.getuid?.() ?? 0;
  let gid = process.getgid?.() ?? 0;
  let name: string | undefined;
  if (user !== undefined) {
    if (/^\+?\d+$/.test(user)) uid = Number(user.replace('+', ''));
    else {
      const row = passwd.find((r) => r[0] === user);
      if (!row) throw new Error(`Failed to find user record for name '${user}'`);
      uid = Number(row[2]);
      gid = Number(row[3]);
      name = user;
    }
  }
  if (group !== undefined) {
    if (/^\+?\d+$/.test(group)) gid = Number(group.replace('+', ''));
    else {
      const row = groupTab.find((r) => r[0] === group);
      if (!row) throw new Error(`Failed to find group record for name '${group}'`);
      gid = Number(row[2]);
    }
  }
  name ??= passwd.find((r) => Number(r[2]) === uid)?.[0];
  const groups = name
    ? groupTab.filter((r) => (r[3] ?? '').split(',').includes(name!)).map((r) => Number(r[2]))
    : [];
  return { uid, gid, groups };
}
