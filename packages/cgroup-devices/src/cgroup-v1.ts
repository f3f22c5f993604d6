/** cgroup v1: the `devices` hierarchy's control files (vircgroupv1.c). */
import type { HostPort } from '@qvirt/core';
import { formatRule, parseRule } from './device-rule.js';
import type { DevicesCgroup } from './devices-cgroup.js';
import { systemError } from './errors.js';

/** `dir` is the group's absolute path, e.g. `/sys/fs/cgroup/devices/machine/qemu-1-x.qvirt-qemu`. */
export function v1DevicesCgroup(dir: string, host: HostPort): DevicesCgroup {
  const write = async (file: string, value: string) => {
    try {
      await host.cgroupWrite(dir, file, value);
    } catch (err) {
      throw systemError(err, `Unable to write to '${dir}/${file}'`);
    }
  };
  return {
    backend: 'v1',
    dir,
    async create() {
      try {
        await host.cgroupMkdir(dir);
      } catch (err) {
        throw systemError(err, `Failed to create v1 controller devices for group '${dir}'`);
      }
    },
    denyAll: () => write('devices.deny', 'a'),
    async allow(rules) {
      for (const r of rules) await write('devices.allow', formatRule(r));
    },
    async deny(rules) {
      for (const r of rules) await write('devices.deny', formatRule(r));
    },
    async list() {
      const text = await host.cgroupRead(dir, 'devices.list');
      return text
        .split('\n')
        .filter((l) => l.trim())
        .map(parseRule);
    },
    async populated() {
      return (await host.cgroupRead(dir, 'cgroup.procs')).trim() !== '';
    },
    async remove() {
      try {
        await host.cgroupRmdir(dir);
      } catch (err) {
        throw systemError(err, `Unable to remove cgroup '${dir}'`);
      }
    },
    release() {},
  };
}
