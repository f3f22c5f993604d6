/**
 * A real QEMU (TCG, `-machine none`, paused) started the way the launch chain starts it, in the
 * group the driver made: it opens the disks of its definition (a readonly one read-only) and
 * cannot open a block device the definition does not name. Both backends.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { baseLaunchSpec, defaultQemuConf, nodeHost, parseDomainXML } from '@qvirt/core';
import { afterEach, describe, expect, it } from 'vitest';
import { koffiBpf } from './bpf.js';
import { type CgroupDevicesOptions, cgroupDevicesDriver } from './cgroup-devices-driver.js';
import {
  hasV1Devices,
  hasV2,
  isRoot,
  loopDevice,
  removePartition,
  testPartition,
  V2_UNIFIED,
} from './test-support/real-cgroups.js';

const QEMU = '/usr/bin/qemu-system-x86_64';
const hasQemu = existsSync(QEMU);
const canBpf = (() => {
  try {
    koffiBpf().queryDevicePrograms(V2_UNIFIED);
    return true;
  } catch {
    return false;
  }
})();

const partition = testPartition('qemu');
let cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
  removePartition(partition);
});

function options(backend: 'v1' | 'v2'): CgroupDevicesOptions {
  return {
    virtDriver: 'QEMU',
    conf: defaultQemuConf({ privileged: true }),
    privileged: true,
    user: 0,
    group: 0,
    defaultConfined: true,
    requireConfined: false,
    dynamicOwnership: true,
    mountNamespace: false,
    dirs: { config: '/tmp', run: '/tmp', lib: '/tmp', cache: '/tmp', log: '/tmp' },
    backend,
  };
}

/** Start QEMU in the spec's groups (`sh -c 'echo $$ > G/cgroup.procs; exec qemu …'`). */
function startQemu(cgroupPaths: string[], blockdevs: string[]) {
  const args = ['-machine', 'none', '-accel', 'tcg', '-nodefaults', '-display', 'none', '-S'];
  for (const b of blockdevs) args.push('-blockdev', b);
  const join = cgroupPaths.map((d) => `echo $$ > '${d}/cgroup.procs' && `).join('');
  const child = spawn('sh', ['-c', `${join}exec ${QEMU} ${args.join(' ')}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (b) => {
    stderr += b;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    /** The exit code if QEMU exits within `ms`, else undefined (it is running). */
    async exitWithin(ms: number) {
      return Promise.race([exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), ms))]);
    },
    stderr: () => stderr,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

const backends = [
  ['v2', isRoot && hasV2 && canBpf],
  ['v1', isRoot && hasV1Devices],
] as const;

describe.skipIf(!hasQemu)('QEMU confined by the cgroup-devices driver', () => {
  for (const [backend, available] of backends) {
    it.skipIf(!available)(`${backend}: QEMU opens its disks and nothing else`, async () => {
      const rw = await loopDevice();
      const ro = await loopDevice();
      const other = await loopDevice();
      cleanups.push(rw.close, ro.close, other.close);
      const def = parseDomainXML(
        `<domain type='qemu' id='5'><name>tcg-${backend}</name><memory>65536</memory>
          <resource><partition>${partition}</partition></resource><os><type>hvm</type></os><devices>
          <disk type='block' device='disk'><source dev='${rw.dev}'/><target dev='vda'/></disk>
          <disk type='block' device='disk'><source dev='${ro.dev}'/><target dev='vdb'/><readonly/></disk>
          </devices></domain>`,
        { live: true },
      );
      const driver = cgroupDevicesDriver(options(backend), nodeHost());
      const spec = baseLaunchSpec({ binary: QEMU, args: [], env: [], cwd: '/', logFd: 2 });
      await driver.domainSetSecurityChildProcessLabel!(def, spec);
      await driver.domainSetSecurityAllLabel!(def, {});
      cleanups.push(() => driver.domainRestoreSecurityAllLabel!(def, {}));

      const good = startQemu(spec.cgroupPaths, [
        `driver=host_device,filename=${rw.dev},node-name=d0`,
        `driver=host_device,filename=${ro.dev},node-name=d1,read-only=on`,
      ]);
      cleanups.push(good.stop);
      expect(await good.exitWithin(1500), good.stderr()).toBeUndefined();
      expect(spawnSync('cat', [`/proc/${good.child.pid}/cgroup`], { encoding: 'utf8' }).stdout).toContain(
        `${partition}.partition/qemu-5-tcg-${backend}.qvirt-qemu`,
      );
      await good.stop();

      // The readonly disk opened read-write, or a block device the XML does not name: refused.
      for (const bad of [
        `driver=host_device,filename=${ro.dev},node-name=d1`,
        `driver=host_device,filename=${other.dev},node-name=d2,read-only=on`,
      ]) {
        const q = startQemu(spec.cgroupPaths, [bad]);
        cleanups.push(q.stop);
        expect(await q.exitWithin(10000)).toBe(1);
        expect(q.stderr()).toMatch(/Could not open '\/dev\/loop\d+': Operation not permitted/);
      }
    });
  }
});
