/**
 * The files a host description is read from (/proc, /sys), behind one small port so the same
 * readers run on this host, on a recording of another host (test fixtures), or under a root
 * prefix. A recording is what a fixture checks in: every file read and every folder listed, with
 * what it held, so a test replays exactly the data libvirt's output came from.
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface HostFs {
  /** A file's text, or undefined when it cannot be read (absent, no permission). */
  read(path: string): string | undefined;
  /** A folder's entries in the order the kernel returns them, or undefined when absent. */
  list(path: string): string[] | undefined;
}

/** What a recording holds: paths as read (absolute, before any root prefix). */
export interface HostFsSnapshot {
  files: Record<string, string | null>;
  dirs: Record<string, string[] | null>;
}

/** This host's files, optionally under a root prefix (`/tmp/root` makes `/proc` `/tmp/root/proc`). */
export function realHostFs(root = ''): HostFs {
  return {
    read(path) {
      try {
        return readFileSync(`${root}${path}`, 'utf8');
      } catch {
        return undefined;
      }
    },
    list(path) {
      try {
        return readdirSync(`${root}${path}`);
      } catch {
        return undefined;
      }
    },
  };
}

/** Wraps `inner`, remembering every answer; `snapshot()` gives them for a fixture. */
export function recordingHostFs(inner: HostFs): HostFs & { snapshot(): HostFsSnapshot } {
  const files: HostFsSnapshot['files'] = {};
  const dirs: HostFsSnapshot['dirs'] = {};
  return {
    read(path) {
      const v = inner.read(path);
      files[path] = v ?? null;
      return v;
    },
    list(path) {
      const v = inner.list(path);
      dirs[path] = v ?? null;
      return v;
    },
    snapshot: () => ({
      files: Object.fromEntries(Object.entries(files).sort(([a], [b]) => (a < b ? -1 : 1))),
      dirs: Object.fromEntries(Object.entries(dirs).sort(([a], [b]) => (a < b ? -1 : 1))),
    }),
  };
}

/** Replays a recording; a path it never saw reads as absent. */
export function snapshotHostFs(snap: HostFsSnapshot): HostFs {
  return {
    read: (path) => snap.files[path] ?? undefined,
    list: (path) => snap.dirs[path] ?? undefined,
  };
}

/**
 * Files under the given path prefixes read from other folders, as libvirt's tests redirect them
 * (virFileWrapperAddPrefix): `{ '/sys/devices/system': '/tmp/x/system' }`. Paths under no prefix
 * read as absent, so nothing of this host leaks into what a test renders.
 */
export function prefixedHostFs(prefixes: Record<string, string>): HostFs {
  const real = realHostFs();
  const map = (path: string) => {
    for (const [from, to] of Object.entries(prefixes)) {
      if (path === from || path.startsWith(`${from}/`)) return `${to}${path.slice(from.length)}`;
    }
    return undefined;
  };
  return {
    read: (path) => {
      const p = map(path);
      return p === undefined ? undefined : real.read(p);
    },
    list: (path) => {
      const p = map(path);
      return p === undefined ? undefined : real.list(p);
    },
  };
}
