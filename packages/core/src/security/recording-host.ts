/**
 * `recordingHost()`: a host port that records every call and, by default, serves them from an
 * in-memory machine (files with owners, modes and xattrs, cgroup directories, a user database,
 * scripted programs). Give it `inner: nodeHost()` to record calls against the real host instead.
 * Faults make a chosen call fail with an errno, to test a backend's error paths.
 */

import { constants as osConstants } from 'node:os';
import { dirname } from 'node:path';
import type {
  HostCgroupMount,
  HostCgroupPlacement,
  HostExecOptions,
  HostExecResult,
  HostGroup,
  HostPort,
  HostStat,
  HostUser,
} from './host.js';
import { errnoError } from './node-host.js';

export type FakeFileKind = 'file' | 'dir' | 'block' | 'char' | 'fifo' | 'socket' | 'symlink';

export interface FakeFile {
  kind?: FakeFileKind;
  /** Permission bits (default 0o644, dirs 0o755). */
  mode?: number;
  uid?: number;
  gid?: number;
  content?: string;
  xattrs?: Record<string, string>;
  /** Device number of a node (makedev(major, minor)). */
  rdev?: number;
  /** Symlink target. */
  target?: string;
}

export interface HostCall {
  op: keyof HostPort;
  args: unknown[];
}

export interface HostFault {
  op: keyof HostPort;
  /** The first argument (usually a path) must equal or match this. */
  path?: string | RegExp;
  /** errno name, e.g. `EPERM`. */
  code: string;
  /** Fail only this many times (default: always). */
  times?: number;
}

export interface RecordingHostOptions {
  /** Record calls against this port instead of the in-memory machine. */
  inner?: HostPort;
  /** Files of the in-memory machine; parents are made as root-owned directories. */
  files?: Record<string, FakeFile>;
  users?: HostUser[];
  groups?: HostGroup[];
  /** Supplementary groups per user name. */
  memberships?: Record<string, number[]>;
  uid?: number;
  gid?: number;
  cgroupMounts?: HostCgroupMount[];
  /** The pid → /proc/PID/cgroup answers. */
  placements?: Record<string, HostCgroupPlacement[]>;
  /** Scripted programs: the result of `exec(file, args)`; default exit 0 with no output. */
  exec?: (
    file: string,
    args: string[],
    options?: HostExecOptions,
  ) => HostExecResult | Promise<HostExecResult>;
  faults?: HostFault[];
}

export interface RecordingHost extends HostPort {
  /** Every call, in order. */
  readonly calls: HostCall[];
  /** The calls of one operation. */
  callsOf(op: keyof HostPort): unknown[][];
  /** The in-memory machine's file table (absent with `inner`). */
  readonly files: Map<string, Required<Pick<FakeFile, 'kind' | 'mode' | 'uid' | 'gid'>> & FakeFile>;
  /** Add a fault after creation. */
  fault(f: HostFault): void;
  clear(): void;
}

const S_IF: Record<FakeFileKind, number> = {
  file: 0o100000,
  dir: 0o040000,
  block: 0o060000,
  char: 0o020000,
  fifo: 0o010000,
  socket: 0o140000,
  symlink: 0o120000,
};

const DEFAULT_MOUNTS: HostCgroupMount[] = [
  { type: 'cgroup', path: '/sys/fs/cgroup/devices', controllers: ['devices'] },
  { type: 'cgroup', path: '/sys/fs/cgroup/memory', controllers: ['memory'] },
  { type: 'cgroup', path: '/sys/fs/cgroup/cpu,cpuacct', controllers: ['cpu', 'cpuacct'] },
  { type: 'cgroup2', path: '/sys/fs/cgroup/unified', controllers: [] },
];

function err(code: string, syscall: string, path: string): NodeJS.ErrnoException {
  const num = (osConstants.errno as Record<string, number>)[code] ?? 0;
  const e = errnoError(syscall, num, path);
  e.code = code;
  return e;
}

export function recordingHost(options: RecordingHostOptions = {}): RecordingHost {
  const calls: HostCall[] = [];
  const faults = [...(options.faults ?? [])];
  type Entry = Required<Pick<FakeFile, 'kind' | 'mode' | 'uid' | 'gid'>> & FakeFile;
  const files = new Map<string, Entry>();
  const put = (path: string, f: FakeFile): void => {
    const parent = dirname(path);
    if (parent !== path && !files.has(parent)) put(parent, { kind: 'dir' });
    const kind = f.kind ?? 'file';
    files.set(path, {
      ...f,
      kind,
      mode: f.mode ?? (kind === 'dir' ? 0o755 : 0o644),
      uid: f.uid ?? 0,
      gid: f.gid ?? 0,
      xattrs: { ...(f.xattrs ?? {}) },
    });
  };
  put('/', { kind: 'dir' });
  for (const [p, f] of Object.entries(options.files ?? {})) put(p, f);
  const mounts = options.cgroupMounts ?? DEFAULT_MOUNTS;
  for (const m of mounts) if (!files.has(m.path)) put(m.path, { kind: 'dir' });
  const users = options.users ?? [{ name: 'root', uid: 0, gid: 0, home: '/root' }];
  const groups = options.groups ?? [{ name: 'root', gid: 0 }];

  const resolve = (path: string, depth = 0): string => {
    const e = files.get(path);
    if (e?.kind === 'symlink' && e.target !== undefined && depth < 40) {
      const t = e.target.startsWith('/') ? e.target : `${dirname(path)}/${e.target}`;
      return resolve(t, depth + 1);
    }
    return path;
  };
  const need = (path: string, syscall: string, follow = true): Entry => {
    const e = files.get(follow ? resolve(path) : path);
    if (!e) throw err('ENOENT', syscall, path);
    return e;
  };
  const statOf = (e: Entry): HostStat => ({
    dev: 1,
    ino: 1,
    mode: S_IF[e.kind] | e.mode,
    uid: e.uid,
    gid: e.gid,
    rdev: e.rdev ?? 0,
    size: e.content?.length ?? 0,
    isFile: e.kind === 'file',
    isDirectory: e.kind === 'dir',
    isSymbolicLink: e.kind === 'symlink',
    isBlockDevice: e.kind === 'block',
    isCharacterDevice: e.kind === 'char',
    isFIFO: e.kind === 'fifo',
    isSocket: e.kind === 'socket',
  });

  const fake: HostPort = {
    readFile: async (p) => need(p, 'open').content ?? '',
    writeFile: async (p, data, o) => {
      const rp = resolve(p);
      const e = files.get(rp);
      if (e) e.content = data;
      else {
        if (!files.has(dirname(rp))) throw err('ENOENT', 'open', p);
        put(rp, { content: data, ...(o?.mode === undefined ? {} : { mode: o.mode }) });
      }
    },
    stat: async (p) => statOf(need(p, 'stat')),
    lstat: async (p) => statOf(need(p, 'lstat', false)),
    exists: async (p) => files.has(resolve(p)),
    mkdir: async (p, o) => {
      if (files.has(p)) {
        if (o?.recursive) return;
        throw err('EEXIST', 'mkdir', p);
      }
      if (!o?.recursive && !files.has(dirname(p))) throw err('ENOENT', 'mkdir', p);
      put(p, { kind: 'dir', ...(o?.mode === undefined ? {} : { mode: o.mode }) });
    },
    readdir: async (p) => {
      need(p, 'scandir');
      const prefix = p.endsWith('/') ? p : `${p}/`;
      return [...files.keys()]
        .filter((k) => k.startsWith(prefix) && k !== p && !k.slice(prefix.length).includes('/'))
        .map((k) => k.slice(prefix.length));
    },
    unlink: async (p) => {
      need(p, 'unlink', false);
      files.delete(p);
    },
    rmdir: async (p) => {
      need(p, 'rmdir', false);
      files.delete(p);
    },
    chmod: async (p, mode) => {
      need(p, 'chmod').mode = mode & 0o7777;
    },
    chown: async (p, uid, gid) => {
      const e = need(p, 'chown');
      if (uid !== -1) e.uid = uid;
      if (gid !== -1) e.gid = gid;
    },
    realpath: async (p) => {
      const r = resolve(p);
      need(r, 'realpath');
      return r;
    },
    readlink: async (p) => {
      const e = need(p, 'readlink', false);
      if (e.kind !== 'symlink') throw err('EINVAL', 'readlink', p);
      return e.target ?? '';
    },
    getxattr: async (p, name) => need(p, 'getxattr').xattrs?.[name],
    setxattr: async (p, name, value) => {
      const e = need(p, 'setxattr');
      e.xattrs = { ...(e.xattrs ?? {}), [name]: value };
    },
    removexattr: async (p, name) => {
      const e = need(p, 'removexattr');
      if (e.xattrs) delete e.xattrs[name];
    },
    listxattr: async (p) => Object.keys(need(p, 'listxattr').xattrs ?? {}),
    exec: async (file, args, o) =>
      options.exec ? options.exec(file, args, o) : { code: 0, stdout: '', stderr: '' },
    cgroupMounts: async () => mounts,
    cgroupPlacement: async (pid) =>
      options.placements?.[String(pid)] ?? [
        ...mounts
          .filter((m) => m.type === 'cgroup')
          .map((m, i) => ({ hierarchy: i + 1, controllers: m.controllers, path: '/' })),
        { hierarchy: 0, controllers: [], path: '/' },
      ],
    cgroupMkdir: async (dir) => {
      if (!files.has(dir)) put(dir, { kind: 'dir' });
    },
    cgroupRmdir: async (dir) => {
      const prefix = `${dir}/`;
      if ([...files.keys()].some((k) => k.startsWith(prefix) && files.get(k)?.kind === 'dir'))
        throw err('EBUSY', 'rmdir', dir);
      for (const k of [...files.keys()]) if (k === dir || k.startsWith(prefix)) files.delete(k);
    },
    cgroupWrite: async (dir, file, value) => {
      need(dir, 'open');
      const p = `${dir}/${file}`;
      const e = files.get(p);
      // A control file takes one write at a time; keep them all, one per line, for assertions.
      if (e) e.content = `${e.content ?? ''}${value}\n`;
      else put(p, { content: `${value}\n` });
    },
    cgroupRead: async (dir, file) => need(`${dir}/${file}`, 'open').content ?? '',
    getuid: () => options.uid ?? 0,
    getgid: () => options.gid ?? 0,
    lookupUser: async (x) =>
      users.find((u) => (typeof x === 'number' || /^\d+$/.test(x) ? u.uid === Number(x) : u.name === x)),
    lookupGroup: async (x) =>
      groups.find((g) => (typeof x === 'number' || /^\d+$/.test(x) ? g.gid === Number(x) : g.name === x)),
    groupList: async (user, gid) => [gid, ...(options.memberships?.[user] ?? []).filter((g) => g !== gid)],
  };

  const base = options.inner ?? fake;
  const host = {} as RecordingHost;
  for (const op of Object.keys(fake) as Array<keyof HostPort>) {
    const impl = base[op] as (...a: unknown[]) => unknown;
    (host as unknown as Record<string, unknown>)[op] = (...args: unknown[]) => {
      calls.push({ op, args });
      const first = args[0];
      const idx = faults.findIndex(
        (f) =>
          f.op === op &&
          (f.path === undefined ||
            (typeof f.path === 'string'
              ? f.path === first
              : typeof first === 'string' && f.path.test(first))),
      );
      if (idx >= 0) {
        const f = faults[idx]!;
        if (f.times !== undefined && --f.times <= 0) faults.splice(idx, 1);
        const e = err(f.code, String(op), typeof first === 'string' ? first : '');
        if (op === 'getuid' || op === 'getgid') throw e;
        return Promise.reject(e);
      }
      return impl.apply(base, args);
    };
  }
  Object.defineProperties(host, {
    calls: { value: calls },
    files: { value: files },
  });
  host.callsOf = (op) => calls.filter((c) => c.op === op).map((c) => c.args);
  host.fault = (f) => {
    faults.push(f);
  };
  host.clear = () => {
    calls.length = 0;
  };
  return host;
}
