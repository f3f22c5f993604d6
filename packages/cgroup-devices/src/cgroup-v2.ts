/**
 * cgroup v2: an eBPF device program attached to the group, reading libvirt's map
 * (vircgroupv2devices.c semantics: deny all = a fresh empty map; the map starts with 64 entries
 * and doubles, by attaching a new program over a copy, when it is full).
 *
 * Two deliberate differences from libvirt 9.0, both so v2 means what v1 means: allowing a device
 * that is already in the map adds the access (libvirt overwrites it, so a disk allowed `rw` and
 * then again `r` as a backing layer would end up `r`), and denying clears only access bits
 * (libvirt also clears the type bits, leaving an entry that can never match).
 */
import type { HostPort } from '@qvirt/core';
import type { BpfOps } from './bpf.js';
import { bpfKey, bpfValue, type DeviceRule, ruleFromBpf } from './device-rule.js';
import type { DevicesCgroup } from './devices-cgroup.js';
import { bpfError, cgroupError, systemError } from './errors.js';

export const INITIAL_BPF_MAP_SIZE = 64;

interface Prog {
  progFd: number;
  mapFd: number;
  max: number;
  count: number;
}

/** `dir` is the group's absolute path, e.g. `/sys/fs/cgroup/unified/machine/qemu-1-x.qvirt-qemu`. */
export function v2DevicesCgroup(dir: string, host: HostPort, bpf: BpfOps): DevicesCgroup {
  let prog: Prog | undefined;

  const call = <T>(fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      throw bpfError(err);
    }
  };

  const closeProg = (p: Prog | undefined) => {
    if (!p) return;
    for (const fd of [p.progFd, p.mapFd]) {
      try {
        bpf.close(fd);
      } catch {
        // already closed
      }
    }
  };

  /** virCgroupV2DevicesDetectProg: adopt a program already attached (daemon restart). */
  const detect = () => {
    if (prog) return;
    const ids = call(() => bpf.queryDevicePrograms(dir));
    if (ids.length === 0) return;
    const progFd = call(() => bpf.progFdById(ids[0]!));
    try {
      const mapIds = call(() => bpf.progMapIds(progFd));
      if (mapIds.length === 0) throw cgroupError('no map for cgroup BPF prog');
      const mapFd = call(() => bpf.mapFdById(mapIds[0]!));
      const info = call(() => bpf.mapInfo(mapFd));
      prog = { progFd, mapFd, max: info.maxEntries, count: call(() => bpf.mapEntries(mapFd)).length };
    } catch (err) {
      bpf.close(progFd);
      throw bpfError(err);
    }
  };

  /** A new program over a new map holding `entries`, attached in place of the old one. */
  const attachNew = (max: number, entries: Array<[bigint, number]>) => {
    const mapFd = call(() => bpf.createDeviceMap(max));
    let progFd: number | undefined;
    try {
      for (const [k, v] of entries) call(() => bpf.mapUpdate(mapFd, k, v));
      progFd = call(() => bpf.loadDeviceProgram(mapFd));
      call(() => bpf.attachDeviceProgram(dir, progFd!));
    } catch (err) {
      if (progFd !== undefined) bpf.close(progFd);
      bpf.close(mapFd);
      throw err;
    }
    closeProg(prog);
    prog = { progFd, mapFd, max, count: entries.length };
  };

  /** virCgroupV2DevicesPrepareProg: a program exists and its map has room for one more. */
  const prepare = (): Prog => {
    detect();
    if (!prog) attachNew(INITIAL_BPF_MAP_SIZE, []);
    if (prog!.count >= prog!.max)
      attachNew(
        prog!.max * 2,
        call(() => bpf.mapEntries(prog!.mapFd)),
      );
    return prog!;
  };

  return {
    backend: 'v2',
    dir,
    async create() {
      try {
        await host.cgroupMkdir(dir);
      } catch (err) {
        throw systemError(err, `Failed to create v2 cgroup '${dir}'`);
      }
    },
    async denyAll() {
      detect();
      attachNew(INITIAL_BPF_MAP_SIZE, []);
    },
    async allow(rules) {
      for (const r of rules) {
        const p = prepare();
        const key = bpfKey(r);
        const old = call(() => bpf.mapLookup(p.mapFd, key));
        call(() => bpf.mapUpdate(p.mapFd, key, ((old ?? 0) | bpfValue(r)) >>> 0));
        if (old === undefined) p.count++;
      }
    },
    async deny(rules) {
      detect();
      if (!prog) return; // nothing is allowed
      const p = prog;
      for (const r of rules) {
        const key = bpfKey(r);
        const old = call(() => bpf.mapLookup(p.mapFd, key));
        if (old === undefined) continue;
        const access = (old >>> 16) & ~(bpfValue(r) >>> 16) & 0xffff;
        if (access === 0) {
          call(() => bpf.mapDelete(p.mapFd, key));
          p.count--;
        } else {
          call(() => bpf.mapUpdate(p.mapFd, key, ((access << 16) | (old & 0xffff)) >>> 0));
        }
      }
    },
    async list(): Promise<DeviceRule[]> {
      detect();
      if (!prog) return [];
      const p = prog;
      return call(() => bpf.mapEntries(p.mapFd)).map(([k, v]) => ruleFromBpf(k, v));
    },
    async populated() {
      // cgroup.events counts tasks still exiting, which cgroup.procs no longer lists (and which
      // keep rmdir failing with EBUSY)
      const events = await host.cgroupRead(dir, 'cgroup.events').catch(() => undefined);
      const m = events === undefined ? null : /^populated (\d)$/m.exec(events);
      if (m) return m[1] === '1';
      return (await host.cgroupRead(dir, 'cgroup.procs')).trim() !== '';
    },
    async remove() {
      if (await host.exists(dir)) {
        detect();
        if (prog) {
          const p = prog;
          try {
            call(() => bpf.detachDeviceProgram(dir, p.progFd));
          } catch (err) {
            if ((err as { cause?: { code?: string } }).cause?.code !== 'ENOENT') throw err;
          }
        }
      }
      closeProg(prog);
      prog = undefined;
      try {
        await host.cgroupRmdir(dir);
      } catch (err) {
        throw systemError(err, `Unable to remove cgroup '${dir}'`);
      }
    },
    release() {
      closeProg(prog);
      prog = undefined;
    },
    mapId() {
      if (!prog) return undefined;
      const p = prog;
      return call(() => bpf.mapInfo(p.mapFd)).id;
    },
  };
}
