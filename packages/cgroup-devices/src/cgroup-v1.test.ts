/** cgroup v1 backend on the real `devices` hierarchy of this machine. */
import { nodeHost } from '@qvirt/core';
import { afterEach, describe, expect, it } from 'vitest';
import { v1DevicesCgroup } from './cgroup-v1.js';
import { formatRule, rule } from './device-rule.js';
import {
  deniedBlockNode,
  hasV1Devices,
  isRoot,
  removePartition,
  spawnSleeper,
  testPartition,
  tryOpenIn,
  V1_DEVICES,
} from './test-support/real-cgroups.js';

const partition = testPartition('v1');
afterEach(() => removePartition(partition));

describe.skipIf(!isRoot || !hasV1Devices)('cgroup v1 devices (real cgroups)', () => {
  it('denies all, allows the list, and a process in the group can open only that', async () => {
    const dir = `${V1_DEVICES}${partition}/qemu-1-v1.qvirt-qemu`;
    const cg = v1DevicesCgroup(dir, nodeHost());
    await cg.create();
    await cg.denyAll();
    expect(await cg.list()).toEqual([]);
    await cg.allow([rule('c', 1, 3, 'rw'), rule('c', 1, 9, 'r'), rule('c', 136, '*', 'rw')]);
    expect((await cg.list()).map(formatRule)).toEqual(['c 1:3 rw', 'c 1:9 r', 'c 136:* rw']);

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
        ...(denied ? [[denied, 'r'] as [string, 'r']] : []),
      ];
      expect(tryOpenIn([dir], opens)).toEqual(['ok', 'ok', 'EPERM', 'EPERM', ...(denied ? ['EPERM'] : [])]);

      // Denying takes access away again; the kernel merges partial rules.
      await cg.deny([rule('c', 1, 3, 'w')]);
      expect((await cg.list()).map(formatRule)).toContain('c 1:3 r');
      expect(
        tryOpenIn(
          [dir],
          [
            ['/dev/null', 'r'],
            ['/dev/null', 'rw'],
          ],
        ),
      ).toEqual(['ok', 'EPERM']);
    } finally {
      await sleeper.stop();
    }
    expect(await cg.populated()).toBe(false);
    await cg.remove();
    expect(await nodeHost().exists(dir)).toBe(false);
  });

  it('removing an absent group is not an error', async () => {
    const cg = v1DevicesCgroup(`${V1_DEVICES}${partition}/nothing.qvirt-qemu`, nodeHost());
    await expect(cg.remove()).resolves.toBeUndefined();
  });
});
