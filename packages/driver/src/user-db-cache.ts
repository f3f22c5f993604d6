/**
 * The user database (`lookupUser`, `lookupGroup`, `groupList`) of the real host, remembered per
 * driver. `nodeHost()` answers them through `getent` and `id` (so NSS is honoured as libvirt's
 * getpwnam_r/getgrouplist are), and every start asks several times (virSecurityDACGetIds and
 * virGetGroupList for the child's ids, again for the traversal check): each answer is a process
 * Node has to spawn, in the critical path of QEMU's start.
 *
 * An answer is reused while /etc/passwd, /etc/group and /etc/nsswitch.conf are unchanged (so a
 * `usermod -aG` is seen at the next start, as libvirt's per-fork virGetGroupList sees it) and for
 * at most `ttlMs`, which bounds how long a change in a remote NSS source (LDAP, sssd) goes unseen
 * to less than those services' own caches keep an entry (nscd: 600 s, sssd: 5400 s).
 */
import { statSync } from 'node:fs';
import type { HostPort } from '@qvirt/core';

const WATCHED = ['/etc/passwd', '/etc/group', '/etc/nsswitch.conf'];

function databaseVersion(): string {
  return WATCHED.map((f) => {
    try {
      const st = statSync(f);
      return `${st.ino}:${st.mtimeMs}:${st.size}`;
    } catch {
      return '-';
    }
  }).join('|');
}

export interface UserDbCacheOptions {
  /** How long an answer may be reused at most (default 60 s). */
  ttlMs?: number;
  now?: () => number;
}

/** `host` with its user-database queries remembered (everything else passes through). */
export function cachingUserDb(host: HostPort, options: UserDbCacheOptions = {}): HostPort {
  const ttl = options.ttlMs ?? 60_000;
  const now = options.now ?? Date.now;
  const entries = new Map<string, { at: number; version: string; value: Promise<unknown> }>();
  function cached<T>(key: string, query: () => Promise<T>): Promise<T> {
    const version = databaseVersion();
    const hit = entries.get(key);
    if (hit && hit.version === version && now() - hit.at < ttl) return hit.value as Promise<T>;
    const value = query();
    entries.set(key, { at: now(), version, value });
    // a failed query is asked again next time
    value.catch(() => {
      if (entries.get(key)?.value === value) entries.delete(key);
    });
    return value;
  }
  const wrapped: Pick<HostPort, 'lookupUser' | 'lookupGroup' | 'groupList'> = {
    lookupUser: (nameOrUid) => cached(`u:${typeof nameOrUid}:${nameOrUid}`, () => host.lookupUser(nameOrUid)),
    lookupGroup: (nameOrGid) =>
      cached(`g:${typeof nameOrGid}:${nameOrGid}`, () => host.lookupGroup(nameOrGid)),
    groupList: (user, gid) => cached(`l:${user}:${gid}`, () => host.groupList(user, gid)).then((g) => [...g]),
  };
  // a proxy, so a port that is a class instance keeps its methods and `this`
  return new Proxy(host, {
    get: (target, key, receiver) =>
      Object.hasOwn(wrapped, key) ? wrapped[key as keyof typeof wrapped] : Reflect.get(target, key, receiver),
  });
}
