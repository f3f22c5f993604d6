/**
 * `nodeHost()`: the host port on the real machine. Files through node:fs; extended attributes
 * through libc's getxattr(2)/setxattr(2)/removexattr(2)/listxattr(2) called with koffi (no
 * compiler, no subprocess per attribute, exact errno; see README); users and groups through
 * `getent` and `id` so NSS (LDAP, sssd) is honoured as libvirt's getpwnam_r is.
 */
import { execFile } from 'node:child_process';
import type { Stats } from 'node:fs';
import * as fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
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

export function toHostStat(s: Stats): HostStat {
  return {
    dev: s.dev,
    ino: s.ino,
    mode: s.mode,
    uid: s.uid,
    gid: s.gid,
    rdev: s.rdev,
    size: s.size,
    isFile: s.isFile(),
    isDirectory: s.isDirectory(),
    isSymbolicLink: s.isSymbolicLink(),
    isBlockDevice: s.isBlockDevice(),
    isCharacterDevice: s.isCharacterDevice(),
    isFIFO: s.isFIFO(),
    isSocket: s.isSocket(),
  };
}

const ERRNO_NAMES = new Map<number, string>(
  Object.entries(osConstants.errno).map(([name, num]) => [num, name] as [number, string]),
);

/** An error shaped like Node's fs errors: `code` is the errno name. */
export function errnoError(syscall: string, errno: number, path: string): NodeJS.ErrnoException {
  const code = ERRNO_NAMES.get(errno) ?? `E${errno}`;
  const err: NodeJS.ErrnoException = new Error(`${code}: ${syscall} '${path}'`);
  err.code = code;
  err.errno = -errno;
  err.syscall = syscall;
  err.path = path;
  return err;
}

interface XattrCalls {
  getxattr(path: string, name: string, value: Buffer | null, size: number): number | bigint;
  setxattr(path: string, name: string, value: Buffer, size: number, flags: number): number;
  removexattr(path: string, name: string): number;
  listxattr(path: string, list: Buffer | null, size: number): number | bigint;
  errno(): number;
}

let xattrCalls: XattrCalls | undefined;

function libcXattr(): XattrCalls {
  if (xattrCalls) return xattrCalls;
  // Loaded on first use so importing @qvirt/core never loads native code.
  const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
  const libc = koffi.load('libc.so.6');
  xattrCalls = {
    getxattr: libc.func('long getxattr(const char *path, const char *name, void *value, size_t size)'),
    setxattr: libc.func(
      'int setxattr(const char *path, const char *name, const void *value, size_t size, int flags)',
    ),
    removexattr: libc.func('int removexattr(const char *path, const char *name)'),
    listxattr: libc.func('long listxattr(const char *path, void *list, size_t size)'),
    errno: () => koffi.errno(),
  } as XattrCalls;
  return xattrCalls;
}

const ENODATA = osConstants.errno.ENODATA;
const ERANGE = osConstants.errno.ERANGE;

function getxattrSync(path: string, name: string): string | undefined {
  const c = libcXattr();
  for (;;) {
    const size = Number(c.getxattr(path, name, null, 0));
    if (size < 0) {
      const e = c.errno();
      if (e === ENODATA) return undefined;
      throw errnoError('getxattr', e, path);
    }
    const buf = Buffer.alloc(size);
    const got = Number(c.getxattr(path, name, buf, size));
    if (got < 0) {
      const e = c.errno();
      if (e === ERANGE) continue; // grew between the calls
      if (e === ENODATA) return undefined;
      throw errnoError('getxattr', e, path);
    }
    // libvirt stores NUL-terminated strings; SELinux contexts end in NUL too.
    let end = got;
    while (end > 0 && buf[end - 1] === 0) end--;
    return buf.subarray(0, end).toString('utf8');
  }
}

function listxattrSync(path: string): string[] {
  const c = libcXattr();
  for (;;) {
    const size = Number(c.listxattr(path, null, 0));
    if (size < 0) throw errnoError('listxattr', c.errno(), path);
    if (size === 0) return [];
    const buf = Buffer.alloc(size);
    const got = Number(c.listxattr(path, buf, size));
    if (got < 0) {
      const e = c.errno();
      if (e === ERANGE) continue;
      throw errnoError('listxattr', e, path);
    }
    return buf
      .subarray(0, got)
      .toString('utf8')
      .split('\0')
      .filter((n) => n !== '');
  }
}

function run(file: string, args: string[], options: HostExecOptions = {}): Promise<HostExecResult> {
  return new Promise((resolve) => {
    const child = execFile(
      file,
      args,
      {
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
        ...(options.env ? { env: options.env } : {}),
        ...(options.cwd ? { cwd: options.cwd } : {}),
      },
      (err, stdout, stderr) => {
        let code = 0;
        if (err) {
          const e = err as NodeJS.ErrnoException & { code?: unknown; signal?: string | null };
          if (typeof e.code === 'number') code = e.code;
          else if (e.signal) code = 128 + (osConstants.signals[e.signal as NodeJS.Signals] ?? 0);
          else code = 127; // could not be run (ENOENT, EACCES)
          if (code === 127 && !stderr) stderr = `${file}: ${e.message}`;
        }
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
    else child.stdin?.end();
  });
}

const V1_MOUNT_OPTIONS = new Set([
  'rw',
  'ro',
  'nosuid',
  'nodev',
  'noexec',
  'relatime',
  'noatime',
  'strictatime',
  'xattr',
  'clone_children',
  'cpuset_v2_mode',
  'noprefix',
]);

/** Parse /proc/PID/mountinfo's cgroup lines. */
export function parseCgroupMounts(
  mountinfo: string,
): Array<{ type: 'cgroup' | 'cgroup2'; path: string; options: string[] }> {
  const out: Array<{ type: 'cgroup' | 'cgroup2'; path: string; options: string[] }> = [];
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const type = right[0];
    if (type !== 'cgroup' && type !== 'cgroup2') continue;
    const path = (left[4] ?? '').replace(/\\(\d{3})/g, (_m, o: string) =>
      String.fromCharCode(Number.parseInt(o, 8)),
    );
    out.push({ type, path, options: (right[2] ?? '').split(',') });
  }
  return out;
}

/** Parse /proc/PID/cgroup. */
export function parseCgroupPlacement(text: string): HostCgroupPlacement[] {
  const out: HostCgroupPlacement[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const a = line.indexOf(':');
    const b = line.indexOf(':', a + 1);
    if (a < 0 || b < 0) continue;
    const ctrls = line.slice(a + 1, b);
    out.push({
      hierarchy: Number(line.slice(0, a)),
      controllers: ctrls === '' ? [] : ctrls.split(','),
      path: line.slice(b + 1),
    });
  }
  return out;
}

/**
 * Whether NSS asks /etc/DB before any other source (nsswitch.conf's `DB: files …`, glibc's default
 * when the line is absent). Then a name found in the file is exactly what getpwnam_r answers, and
 * reading the file spares a `getent` process (~20 ms at every driver open); a name not there
 * still goes to `getent`, which asks the other sources.
 */
async function filesFirst(db: 'passwd' | 'group'): Promise<boolean> {
  let conf = '';
  try {
    conf = await fs.readFile('/etc/nsswitch.conf', 'utf8');
  } catch {
    return true;
  }
  const line = new RegExp(`^${db}:\\s*(.*)$`, 'm').exec(conf);
  return !line || /^files\b/.test(line[1]!.trim());
}

/** The first line of /etc/DB whose name (field 0) or id (field 2) is `key`, when NSS reads it first. */
async function lookupFile(db: 'passwd' | 'group', key: string): Promise<string | undefined> {
  if (!(await filesFirst(db))) return undefined;
  let text: string;
  try {
    text = await fs.readFile(`/etc/${db}`, 'utf8');
  } catch {
    return undefined;
  }
  const byId = /^\d+$/.test(key);
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length >= 3 && (byId ? f[2] === key : f[0] === key)) return line;
  }
  return undefined;
}

function parsePasswd(line: string): HostUser | undefined {
  const f = line.trim().split(':');
  if (f.length < 7) return undefined;
  return { name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5]! };
}

export function nodeHost(): HostPort {
  return {
    readFile: (path) => fs.readFile(path, 'utf8'),
    writeFile: (path, data, options) =>
      fs.writeFile(path, data, options?.mode === undefined ? {} : { mode: options.mode }),
    stat: async (path) => toHostStat(await fs.stat(path)),
    lstat: async (path) => toHostStat(await fs.lstat(path)),
    exists: async (path) => {
      try {
        await fs.stat(path);
        return true;
      } catch {
        return false;
      }
    },
    mkdir: async (path, options) => {
      await fs.mkdir(path, {
        recursive: options?.recursive ?? false,
        ...(options?.mode === undefined ? {} : { mode: options.mode }),
      });
    },
    readdir: (path) => fs.readdir(path),
    unlink: (path) => fs.unlink(path),
    rmdir: (path) => fs.rmdir(path),
    chmod: (path, mode) => fs.chmod(path, mode),
    chown: (path, uid, gid) => fs.chown(path, uid, gid),
    realpath: (path) => fs.realpath(path),
    readlink: (path) => fs.readlink(path),

    getxattr: async (path, name) => getxattrSync(path, name),
    setxattr: async (path, name, value) => {
      const c = libcXattr();
      const buf = Buffer.from(value, 'utf8');
      if (c.setxattr(path, name, buf, buf.length, 0) < 0) throw errnoError('setxattr', c.errno(), path);
    },
    removexattr: async (path, name) => {
      const c = libcXattr();
      if (c.removexattr(path, name) < 0) {
        const e = c.errno();
        if (e !== ENODATA) throw errnoError('removexattr', e, path);
      }
    },
    listxattr: async (path) => listxattrSync(path),

    exec: run,

    cgroupMounts: async () => {
      const mounts: HostCgroupMount[] = [];
      for (const m of parseCgroupMounts(await fs.readFile('/proc/self/mountinfo', 'utf8'))) {
        if (m.type === 'cgroup2') {
          let controllers: string[] = [];
          try {
            controllers = (await fs.readFile(`${m.path}/cgroup.controllers`, 'utf8'))
              .split(/\s+/)
              .filter(Boolean);
          } catch {
            // an unreadable hierarchy has no usable controllers
          }
          mounts.push({ type: 'cgroup2', path: m.path, controllers });
        } else {
          const controllers = m.options.filter(
            (o) => !V1_MOUNT_OPTIONS.has(o) && !o.startsWith('release_agent='),
          );
          mounts.push({ type: 'cgroup', path: m.path, controllers });
        }
      }
      return mounts;
    },
    cgroupPlacement: async (pid) => parseCgroupPlacement(await fs.readFile(`/proc/${pid}/cgroup`, 'utf8')),
    cgroupMkdir: async (dir) => {
      await fs.mkdir(dir, { recursive: true });
    },
    cgroupRmdir: async (dir) => {
      try {
        await fs.rmdir(dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    },
    cgroupWrite: (dir, file, value) => fs.writeFile(`${dir}/${file}`, value),
    cgroupRead: (dir, file) => fs.readFile(`${dir}/${file}`, 'utf8'),

    getuid: () => process.getuid?.() ?? 0,
    getgid: () => process.getgid?.() ?? 0,
    lookupUser: async (nameOrUid) => {
      const line = await lookupFile('passwd', String(nameOrUid));
      if (line !== undefined) return parsePasswd(line);
      const r = await run('getent', ['passwd', String(nameOrUid)]);
      return r.code === 0 ? parsePasswd(r.stdout.split('\n')[0] ?? '') : undefined;
    },
    lookupGroup: async (nameOrGid) => {
      let line = await lookupFile('group', String(nameOrGid));
      if (line === undefined) {
        const r = await run('getent', ['group', String(nameOrGid)]);
        if (r.code !== 0) return undefined;
        line = r.stdout.split('\n')[0] ?? '';
      }
      const f = line.split(':');
      return f.length >= 3 ? ({ name: f[0]!, gid: Number(f[2]) } satisfies HostGroup) : undefined;
    },
    groupList: async (user, gid) => {
      const r = await run('id', ['-G', user]);
      const groups = r.code === 0 ? r.stdout.trim().split(/\s+/).filter(Boolean).map(Number) : [];
      return [gid, ...groups.filter((g) => g !== gid)];
    },
  };
}
