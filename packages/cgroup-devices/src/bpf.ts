/**
 * The bpf(2) calls the cgroup v2 backend needs, made through koffi's `syscall(321, cmd, attr,
 * size)`: no compiler and no native addon of our own. `BpfOps` is the seam: tests of the rule
 * logic can pass a fake; `koffiBpf()` is the real one (x86-64 only, like the syscall number).
 *
 * Errors are Node-style (`err.code` = `EPERM`, …) with libvirt's wording
 * (`failed to load cgroup BPF prog: Operation not permitted`).
 */
import { closeSync, constants, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import { errnoName, strerror } from '@qvirt/core';
import { deviceProgram } from './bpf-program.js';

export interface BpfMapInfo {
  id: number;
  maxEntries: number;
}

export interface BpfOps {
  /** BPF_PROG_QUERY(BPF_CGROUP_DEVICE) on a cgroup directory: the attached programs' ids. */
  queryDevicePrograms(cgroupDir: string): number[];
  /** A hash map u64 → u32 with `maxEntries` (libvirt's device map). Returns its fd. */
  createDeviceMap(maxEntries: number): number;
  /** Load the device program bound to a map. Returns its fd. */
  loadDeviceProgram(mapFd: number): number;
  attachDeviceProgram(cgroupDir: string, progFd: number): void;
  detachDeviceProgram(cgroupDir: string, progFd: number): void;
  mapUpdate(mapFd: number, key: bigint, value: number): void;
  mapLookup(mapFd: number, key: bigint): number | undefined;
  mapDelete(mapFd: number, key: bigint): void;
  mapEntries(mapFd: number): Array<[bigint, number]>;
  mapInfo(mapFd: number): BpfMapInfo;
  progId(progFd: number): number;
  /** The ids of the maps a program uses. */
  progMapIds(progFd: number): number[];
  progFdById(id: number): number;
  mapFdById(id: number): number;
  close(fd: number): void;
}

const SYS_bpf = 321; // x86-64
const BPF_MAP_CREATE = 0;
const BPF_MAP_LOOKUP_ELEM = 1;
const BPF_MAP_UPDATE_ELEM = 2;
const BPF_MAP_DELETE_ELEM = 3;
const BPF_MAP_GET_NEXT_KEY = 4;
const BPF_PROG_LOAD = 5;
const BPF_PROG_ATTACH = 8;
const BPF_PROG_DETACH = 9;
const BPF_PROG_GET_FD_BY_ID = 13;
const BPF_MAP_GET_FD_BY_ID = 14;
const BPF_OBJ_GET_INFO_BY_FD = 15;
const BPF_PROG_QUERY = 16;
const BPF_MAP_TYPE_HASH = 1;
const BPF_PROG_TYPE_CGROUP_DEVICE = 15;
const BPF_CGROUP_DEVICE = 6;
const ATTR_SIZE = 128;

/** A Node-style error (`code`, `errno`) with virReportSystemError's wording: `<what>: <strerror>`. */
function systemError(errno: number, what: string): Error {
  const err = new Error(`${what}: ${strerror(errno)}`) as NodeJS.ErrnoException;
  err.code = errnoName(errno) ?? `E${errno}`;
  err.errno = errno;
  return err;
}

type Syscall = (nr: number, cmd: number, attr: Buffer, size: number) => number | bigint;

interface Ffi {
  syscall: Syscall;
  errno(): number;
  address(b: Buffer): bigint;
}

/**
 * BPF_PROG_LOAD fails with EAGAIN when a signal reaches the loading thread while the verifier
 * works (a SIGCHLD of another QEMU, when many start at once): libbpf loads again, up to 5 times.
 */
export function retryOnEagain<T>(load: () => T, attempts = 5): T {
  for (let attempt = 1; ; attempt++) {
    try {
      return load();
    } catch (e) {
      if (attempt >= attempts || (e as NodeJS.ErrnoException).errno !== osConstants.errno.EAGAIN) throw e;
    }
  }
}

let ffi: Ffi | undefined;

function loadFfi(): Ffi {
  if (ffi) return ffi;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw systemError(osConstants.errno.ENOSYS, 'cgroups v2 BPF devices not supported with this kernel');
  }
  const koffi = createRequire(import.meta.url)('koffi');
  const libc = koffi.load('libc.so.6');
  const syscall = libc.func('long syscall(long nr, long cmd, void *attr, unsigned int size)');
  ffi = { syscall, errno: () => koffi.errno(), address: (b) => koffi.address(b) };
  return ffi;
}

/** The real bpf(2), through koffi. */
export function koffiBpf(): BpfOps {
  const f = loadFfi();

  const bpf = (cmd: number, attr: Buffer, what: string): number => {
    const rc = Number(f.syscall(SYS_bpf, cmd, attr, ATTR_SIZE));
    if (rc < 0) throw systemError(f.errno(), what);
    return rc;
  };
  const attr = () => Buffer.alloc(ATTR_SIZE);
  const u64 = (v: bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt.asUintN(64, v));
    return b;
  };
  const withDir = <T>(dir: string, fn: (fd: number) => T): T => {
    let fd: number;
    try {
      fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    } catch (e) {
      const errno = Math.abs((e as NodeJS.ErrnoException).errno ?? osConstants.errno.ENOENT);
      throw systemError(errno, `unable to open '${dir}'`);
    }
    try {
      return fn(fd);
    } finally {
      closeSync(fd);
    }
  };
  const elemAttr = (mapFd: number, key: Buffer, value: Buffer | undefined, flags = 0n) => {
    const a = attr();
    a.writeUInt32LE(mapFd, 0);
    a.writeBigUInt64LE(f.address(key), 8);
    if (value) a.writeBigUInt64LE(f.address(value), 16);
    a.writeBigUInt64LE(flags, 24);
    return a;
  };
  const infoByFd = (fd: number, info: Buffer, what: string) => {
    const a = attr();
    a.writeUInt32LE(fd, 0);
    a.writeUInt32LE(info.length, 4);
    a.writeBigUInt64LE(f.address(info), 8);
    bpf(BPF_OBJ_GET_INFO_BY_FD, a, what);
    return info;
  };

  const ops: BpfOps = {
    queryDevicePrograms(cgroupDir) {
      return withDir(cgroupDir, (cgfd) => {
        const ids = Buffer.alloc(4 * 64);
        const a = attr();
        a.writeUInt32LE(cgfd, 0);
        a.writeUInt32LE(BPF_CGROUP_DEVICE, 4);
        a.writeBigUInt64LE(f.address(ids), 16);
        a.writeUInt32LE(64, 24);
        bpf(BPF_PROG_QUERY, a, 'unable to query cgroup BPF progs');
        const n = a.readUInt32LE(24);
        return Array.from({ length: Math.min(n, 64) }, (_, i) => ids.readUInt32LE(i * 4));
      });
    },
    createDeviceMap(maxEntries) {
      const a = attr();
      a.writeUInt32LE(BPF_MAP_TYPE_HASH, 0);
      a.writeUInt32LE(8, 4); // key: u64
      a.writeUInt32LE(4, 8); // value: u32
      a.writeUInt32LE(maxEntries, 12);
      a.write('qvirt_devices', 28, 'latin1'); // map_name[16]
      try {
        return bpf(BPF_MAP_CREATE, a, 'failed to initialize device BPF map');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EPERM') {
          throw systemError(
            osConstants.errno.EPERM,
            'failed to initialize device BPF map; locked memory limit for qvirt probably needs to be raised',
          );
        }
        throw e;
      }
    },
    loadDeviceProgram(mapFd) {
      const insns = deviceProgram(mapFd);
      const license = Buffer.from('GPL\0', 'latin1');
      const load = (log?: Buffer) => {
        const a = attr();
        a.writeUInt32LE(BPF_PROG_TYPE_CGROUP_DEVICE, 0);
        a.writeUInt32LE(insns.length / 8, 4);
        a.writeBigUInt64LE(f.address(insns), 8);
        a.writeBigUInt64LE(f.address(license), 16);
        if (log) {
          a.writeUInt32LE(1, 24); // log_level
          a.writeUInt32LE(log.length, 28);
          a.writeBigUInt64LE(f.address(log), 32);
        }
        a.write('qvirt_devices', 48, 'latin1'); // prog_name[16]
        return retryOnEagain(() => bpf(BPF_PROG_LOAD, a, 'failed to load cgroup BPF prog'));
      };
      try {
        return load();
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EINVAL' && (e as NodeJS.ErrnoException).code !== 'EACCES')
          throw e;
        // Load again with the verifier's log so the failure says why.
        const log = Buffer.alloc(65536);
        try {
          return load(log);
        } catch (e2) {
          const text = log.toString('latin1', 0, log.indexOf(0)).trim().split('\n').slice(-2).join('; ');
          const err = e2 as NodeJS.ErrnoException;
          if (text) err.message += ` (verifier: ${text})`;
          throw err;
        }
      }
    },
    attachDeviceProgram(cgroupDir, progFd) {
      withDir(cgroupDir, (cgfd) => {
        const a = attr();
        a.writeUInt32LE(cgfd, 0); // target_fd
        a.writeUInt32LE(progFd, 4); // attach_bpf_fd
        a.writeUInt32LE(BPF_CGROUP_DEVICE, 8);
        bpf(BPF_PROG_ATTACH, a, 'failed to attach cgroup BPF prog');
      });
    },
    detachDeviceProgram(cgroupDir, progFd) {
      withDir(cgroupDir, (cgfd) => {
        const a = attr();
        a.writeUInt32LE(cgfd, 0);
        a.writeUInt32LE(progFd, 4);
        a.writeUInt32LE(BPF_CGROUP_DEVICE, 8);
        bpf(BPF_PROG_DETACH, a, 'failed to detach cgroup BPF prog');
      });
    },
    mapUpdate(mapFd, key, value) {
      const v = Buffer.alloc(4);
      v.writeUInt32LE(value >>> 0);
      bpf(BPF_MAP_UPDATE_ELEM, elemAttr(mapFd, u64(key), v), 'failed to update device in BPF cgroup map');
    },
    mapLookup(mapFd, key) {
      const v = Buffer.alloc(4);
      try {
        bpf(BPF_MAP_LOOKUP_ELEM, elemAttr(mapFd, u64(key), v), 'failed to lookup device in BPF cgroup map');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw e;
      }
      return v.readUInt32LE(0);
    },
    mapDelete(mapFd, key) {
      bpf(
        BPF_MAP_DELETE_ELEM,
        elemAttr(mapFd, u64(key), undefined),
        'failed to remove device from BPF cgroup map',
      );
    },
    mapEntries(mapFd) {
      const out: Array<[bigint, number]> = [];
      let prev: Buffer | undefined;
      for (;;) {
        const next = Buffer.alloc(8);
        const a = attr();
        a.writeUInt32LE(mapFd, 0);
        if (prev) a.writeBigUInt64LE(f.address(prev), 8); // NULL key: the first entry
        a.writeBigUInt64LE(f.address(next), 16);
        try {
          bpf(BPF_MAP_GET_NEXT_KEY, a, 'failed to iterate the BPF cgroup map');
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOENT') break;
          throw e;
        }
        const key = next.readBigUInt64LE(0);
        const value = ops.mapLookup(mapFd, key);
        if (value !== undefined) out.push([key, value]);
        prev = next;
      }
      return out;
    },
    mapInfo(mapFd) {
      // struct bpf_map_info: type, id, key_size, value_size, max_entries, …
      const info = infoByFd(mapFd, Buffer.alloc(80), 'failed to get cgroup BPF map info');
      return { id: info.readUInt32LE(4), maxEntries: info.readUInt32LE(16) };
    },
    progId(progFd) {
      const info = infoByFd(progFd, Buffer.alloc(80), 'failed to get cgroup BPF prog info');
      return info.readUInt32LE(4);
    },
    progMapIds(progFd) {
      // struct bpf_prog_info: nr_map_ids at 52, map_ids (u64 pointer) at 56.
      const ids = Buffer.alloc(4 * 8);
      const info = Buffer.alloc(80);
      info.writeUInt32LE(8, 52);
      info.writeBigUInt64LE(f.address(ids), 56);
      infoByFd(progFd, info, 'failed to get cgroup BPF prog info');
      const n = Math.min(info.readUInt32LE(52), 8);
      return Array.from({ length: n }, (_, i) => ids.readUInt32LE(i * 4));
    },
    progFdById(id) {
      const a = attr();
      a.writeUInt32LE(id, 0);
      return bpf(BPF_PROG_GET_FD_BY_ID, a, 'failed to get cgroup BPF prog FD');
    },
    mapFdById(id) {
      const a = attr();
      a.writeUInt32LE(id, 0);
      return bpf(BPF_MAP_GET_FD_BY_ID, a, 'failed to get cgroup BPF map FD');
    },
    close(fd) {
      closeSync(fd);
    },
  };
  return ops;
}
