/**
 * The host port: every way a security driver touches the host (files, ownership, extended
 * attributes, programs, cgroupfs, the user database) goes through one object passed to its
 * factory, so a backend runs unchanged against the real host (`nodeHost()`) or a recorded
 * fake (`recordingHost()`).
 *
 * Failures are thrown as Node's errors (`err.code` is `ENOENT`, `EPERM`, …) so backends can
 * tolerate the errno values libvirt tolerates; `exec` never throws for a non-zero exit.
 */

export interface HostStat {
  dev: number;
  ino: number;
  /** st_mode, type bits included. */
  mode: number;
  uid: number;
  gid: number;
  /** Device number of a block or character device node. */
  rdev: number;
  size: number;
  isFile: boolean;
  isDirectory: boolean;
  isSymbolicLink: boolean;
  isBlockDevice: boolean;
  isCharacterDevice: boolean;
  isFIFO: boolean;
  isSocket: boolean;
}

export interface HostExecResult {
  /** Exit status; 128+N when killed by signal N. */
  code: number;
  stdout: string;
  stderr: string;
}

export interface HostExecOptions {
  /** Written to the program's stdin. */
  input?: string;
  /** Replaces the environment (default: the caller's). */
  env?: Record<string, string>;
  cwd?: string;
}

export interface HostUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export interface HostGroup {
  name: string;
  gid: number;
}

/** One mounted cgroup hierarchy. */
export interface HostCgroupMount {
  /** `cgroup` (v1) or `cgroup2`. */
  type: 'cgroup' | 'cgroup2';
  /** Mount point, e.g. `/sys/fs/cgroup/devices` or `/sys/fs/cgroup/unified`. */
  path: string;
  /** v1: the controllers bound to it (`devices`, `cpu`, …, `name=systemd`); v2: `cgroup.controllers`. */
  controllers: string[];
}

/** A process's placement: one line of /proc/PID/cgroup. */
export interface HostCgroupPlacement {
  /** 0 for the v2 hierarchy. */
  hierarchy: number;
  /** Controllers of that hierarchy (empty for v2). */
  controllers: string[];
  /** Path relative to the hierarchy's root, e.g. `/machine/qemu-1-demo.qvirt-qemu`. */
  path: string;
}

export interface HostPort {
  // --- files -----------------------------------------------------------------------------
  readFile(path: string): Promise<string>;
  writeFile(path: string, data: string, options?: { mode?: number }): Promise<void>;
  stat(path: string): Promise<HostStat>;
  lstat(path: string): Promise<HostStat>;
  /** Whether the path exists (following symlinks). */
  exists(path: string): Promise<boolean>;
  mkdir(path: string, options?: { recursive?: boolean; mode?: number }): Promise<void>;
  readdir(path: string): Promise<string[]>;
  unlink(path: string): Promise<void>;
  rmdir(path: string): Promise<void>;
  chmod(path: string, mode: number): Promise<void>;
  /** chown(2): follows symlinks, as libvirt's DAC driver does. */
  chown(path: string, uid: number, gid: number): Promise<void>;
  realpath(path: string): Promise<string>;
  readlink(path: string): Promise<string>;

  // --- extended attributes (follow symlinks, like getxattr(2)) ----------------------------
  /** The value as a string, or undefined when the attribute is absent (ENODATA). */
  getxattr(path: string, name: string): Promise<string | undefined>;
  setxattr(path: string, name: string, value: string): Promise<void>;
  /** Removing an absent attribute is not an error. */
  removexattr(path: string, name: string): Promise<void>;
  listxattr(path: string): Promise<string[]>;

  // --- programs ----------------------------------------------------------------------------
  exec(file: string, args: string[], options?: HostExecOptions): Promise<HostExecResult>;

  // --- cgroupfs ------------------------------------------------------------------------------
  cgroupMounts(): Promise<HostCgroupMount[]>;
  /** /proc/PID/cgroup (`self` for this process). */
  cgroupPlacement(pid: number | 'self'): Promise<HostCgroupPlacement[]>;
  cgroupMkdir(dir: string): Promise<void>;
  /** rmdir of a cgroup directory; absent is not an error. */
  cgroupRmdir(dir: string): Promise<void>;
  /** Write one value to a cgroup control file (`devices.allow`, `cgroup.procs`, …). */
  cgroupWrite(dir: string, file: string, value: string): Promise<void>;
  cgroupRead(dir: string, file: string): Promise<string>;

  // --- users and groups ---------------------------------------------------------------------
  getuid(): number;
  getgid(): number;
  lookupUser(nameOrUid: string | number): Promise<HostUser | undefined>;
  lookupGroup(nameOrGid: string | number): Promise<HostGroup | undefined>;
  /** getgrouplist(3): every group the user is in, the primary `gid` included. */
  groupList(user: string, gid: number): Promise<number[]>;
}
