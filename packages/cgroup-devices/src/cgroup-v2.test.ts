/** cgroup v2 backend: a real eBPF device program on a group under /sys/fs/cgroup/unified. */
import { nodeHost } from '@qvirt/core';
import { afterEach, describe, expect, it } from 'vitest';
import { koffiBpf } from './bpf.js';
import { INITIAL_BPF_MAP_SIZE, v2DevicesCgroup } from './cgroup-v2.js';
import { formatRule, rule } from './device-rule.js';
import {
  bpfmapRules,
  deniedBlockNode,
  hasV2,
  isRoot,
  removePartition,
  spawnSleeper,
  testPartition,
  tryOpenIn,
  V2_UNIFIED,
} from './test-support/real-cgroups.js';

const partition = testPartition('v2');
afterEach(() => removePartition(partition));

const canBpf = (() => {
  try {
    koffiBpf().queryDevicePrograms(V2_UNIFIED);
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!isRoot || !hasV2 || !canBpf)('cgroup v2 device program (real BPF)', () => {
  it('an empty map denies everything; the map is in libvirt encoding; access is enforced', async () => {
    const bpf = koffiBpf();
    const dir = `${V2_UNIFIED}${partition}/qemu-1-v2.qvirt-qemu`;
    const cg = v2DevicesCgroup(dir, nodeHost(), bpf);
    await cg.create();
    await cg.denyAll();
    expect(bpf.queryDevicePrograms(dir)).toHaveLength(1);
    expect(bpfmapRules(cg.mapId!()!)).toEqual([]);
    expect(tryOpenIn([dir], [['/dev/null', 'r']])).toEqual(['EPERM']);

    await cg.allow([rule('c', 1, 3, 'rw'), rule('c', 1, 9, 'r'), rule('c', 136, '*', 'rw')]);
    // bpfmap.py reads the map through the bpf syscall, in libvirt's encoding.
    expect(bpfmapRules(cg.mapId!()!).sort()).toEqual(['c 1:3 rw', 'c 1:9 r', 'c 136:* rw'].sort());

    const sleeper = spawnSleeper([dir]);
    try {
      await new Promise((r) => setTimeout(r, 100));
      expect(await cg.populated()).toBe(true);
      const denied = deniedBlockNode();
      const opens: Array<[string, 'r' | 'rw']> = [
        ['/dev/null', 'rw'],
        ['/dev/urandom', 'r'],
        ['/dev/urandom', 'rw'],
        ['/dev/zero', 'r'],
        ['/dev/ptmx', 'rw'],
        ...(denied ? [[denied, 'r'] as [string, 'r']] : []),
      ];
      expect(tryOpenIn([dir], opens)).toEqual([
        'ok',
        'ok',
        'EPERM',
        'EPERM',
        'EPERM',
        ...(denied ? ['EPERM'] : []),
      ]);
      // Allowing adds access (r + w = rw), denying takes it away.
      await cg.allow([rule('c', 1, 9, 'w')]);
      await cg.deny([rule('c', 1, 3, 'w')]);
      expect((await cg.list()).map(formatRule).sort()).toEqual(['c 1:3 r', 'c 1:9 rw', 'c 136:* rw'].sort());
      expect(
        tryOpenIn(
          [dir],
          [
            ['/dev/urandom', 'rw'],
            ['/dev/null', 'rw'],
          ],
        ),
      ).toEqual(['ok', 'EPERM']);
      await cg.deny([rule('c', 1, 3, 'rwm')]);
      expect((await cg.list()).map(formatRule).sort()).toEqual(['c 1:9 rw', 'c 136:* rw'].sort());
    } finally {
      await sleeper.stop();
    }
    const progIds = bpf.queryDevicePrograms(dir);
    await cg.remove();
    expect(await nodeHost().exists(dir)).toBe(false);
    // The program is gone from the kernel once detached and closed.
    expect(() => bpf.progFdById(progIds[0]!)).toThrow(/ENOENT|No such file/);
  });

  it('wildcards: c 1:* and a *:* match any minor / any device', async () => {
    const dir = `${V2_UNIFIED}${partition}/qemu-2-wild.qvirt-qemu`;
    const cg = v2DevicesCgroup(dir, nodeHost(), koffiBpf());
    await cg.create();
    await cg.denyAll();
    await cg.allow([rule('c', 1, '*', 'r')]);
    expect(
      tryOpenIn(
        [dir],
        [
          ['/dev/null', 'r'],
          ['/dev/zero', 'r'],
          ['/dev/null', 'rw'],
          ['/dev/ptmx', 'r'],
        ],
      ),
    ).toEqual(['ok', 'ok', 'EPERM', 'EPERM']);
    await cg.allow([rule('a', '*', '*', 'rw')]);
    expect(
      tryOpenIn(
        [dir],
        [
          ['/dev/null', 'rw'],
          ['/dev/ptmx', 'rw'],
        ],
      ),
    ).toEqual(['ok', 'ok']);
    await cg.remove();
  });

  it('grows the map past 64 entries by attaching a new program over a copy', async () => {
    const bpf = koffiBpf();
    const dir = `${V2_UNIFIED}${partition}/qemu-3-grow.qvirt-qemu`;
    const cg = v2DevicesCgroup(dir, nodeHost(), bpf);
    await cg.create();
    await cg.denyAll();
    const firstMap = cg.mapId!();
    const many = Array.from({ length: INITIAL_BPF_MAP_SIZE + 6 }, (_, i) => rule('b', 200, i, 'r'));
    await cg.allow([rule('c', 1, 3, 'rw'), ...many]);
    expect(cg.mapId!()).not.toBe(firstMap);
    expect(bpfmapRules(cg.mapId!()!)).toHaveLength(INITIAL_BPF_MAP_SIZE + 7);
    expect(bpf.mapInfo(bpf.mapFdById(cg.mapId!()!)).maxEntries).toBe(INITIAL_BPF_MAP_SIZE * 2);
    expect(bpf.queryDevicePrograms(dir)).toHaveLength(1);
    expect(tryOpenIn([dir], [['/dev/null', 'rw']])).toEqual(['ok']);
    await cg.remove();
  });

  it('a new process adopts the attached program and map (daemon restart)', async () => {
    const dir = `${V2_UNIFIED}${partition}/qemu-4-adopt.qvirt-qemu`;
    const first = v2DevicesCgroup(dir, nodeHost(), koffiBpf());
    await first.create();
    await first.denyAll();
    await first.allow([rule('c', 1, 3, 'rw')]);
    const mapId = first.mapId!();
    first.release(); // our fds closed; the attachment keeps program and map alive

    const second = v2DevicesCgroup(dir, nodeHost(), koffiBpf());
    expect((await second.list()).map(formatRule)).toEqual(['c 1:3 rw']);
    expect(second.mapId!()).toBe(mapId);
    await second.allow([rule('c', 1, 5, 'r')]);
    expect(bpfmapRules(mapId!).sort()).toEqual(['c 1:3 rw', 'c 1:5 r']);
    await second.remove();
    expect(await nodeHost().exists(dir)).toBe(false);
  });
});
