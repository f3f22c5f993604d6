/**
 * The driver through its hooks on the real cgroups of this hybrid host: the launch spec gets the
 * group, a process joined to it the launch chain's way is confined, the rules are exactly the
 * expected ones (v2 map via bpfmap.py, v1 devices.list), hotplug and reconnect work, and
 * everything is gone after stop.
 */
import { existsSync, readFileSync } from 'node:fs';
import {
  baseLaunchSpec,
  defaultQemuConf,
  diskImageSource,
  type LaunchSpec,
  nodeHost,
  parseDomainXML,
  type QemuConf,
  recordingHost,
} from '@qvirt/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { koffiBpf } from './bpf.js';
import { type CgroupDevicesOptions, cgroupDevicesDriver, DRIVER_NAME } from './cgroup-devices-driver.js';
import {
  bpfmapRules,
  deniedBlockNode,
  hasV1Devices,
  hasV2,
  isRoot,
  loopDevice,
  removePartition,
  spawnSleeper,
  testPartition,
  tryOpenIn,
  V1_DEVICES,
  V2_UNIFIED,
} from './test-support/real-cgroups.js';

function options(
  extra: Partial<CgroupDevicesOptions> = {},
  conf: Partial<QemuConf> = {},
): CgroupDevicesOptions {
  return {
    virtDriver: 'QEMU',
    conf: { ...defaultQemuConf({ privileged: true }), ...conf },
    privileged: true,
    user: 0,
    group: 0,
    defaultConfined: true,
    requireConfined: false,
    dynamicOwnership: true,
    mountNamespace: false,
    dirs: {
      config: '/tmp/x/etc',
      run: '/tmp/x/run',
      lib: '/tmp/x/lib',
      cache: '/tmp/x/cache',
      log: '/tmp/x/log',
    },
    ...extra,
  };
}

function spec(): LaunchSpec {
  return baseLaunchSpec({ binary: '/bin/true', args: [], env: [], cwd: '/', logFd: 2 });
}

let partition: string;
let loops: Array<Awaited<ReturnType<typeof loopDevice>>> = [];
beforeEach(() => {
  partition = testPartition('drv');
});
afterEach(async () => {
  removePartition(partition);
  for (const l of loops) await l.close();
  loops = [];
});

async function domain(id: number, name: string, disks: string) {
  return parseDomainXML(
    `<domain type='qemu' id='${id}'><name>${name}</name><memory>65536</memory>
      <resource><partition>${partition}</partition></resource>
      <os><type>hvm</type></os><devices>${disks}<console type='pty'/></devices></domain>`,
    { live: true },
  );
}

const blockDisk = (dev: string, target: string, readonly = false) =>
  `<disk type='block' device='disk'><source dev='${dev}'/><target dev='${target}'/>${readonly ? '<readonly/>' : ''}</disk>`;

/** libvirt's default ACL on this host (those that exist), then the disks, then PTYs. */
function defaultAcl(): string[] {
  const out: string[] = [];
  for (const [p, r] of [
    ['/dev/null', 'c 1:3 rw'],
    ['/dev/full', 'c 1:7 rw'],
    ['/dev/zero', 'c 1:5 rw'],
    ['/dev/random', 'c 1:8 rw'],
    ['/dev/urandom', 'c 1:9 rw'],
    ['/dev/ptmx', 'c 5:2 rw'],
    ['/dev/kvm', 'c 10:232 rw'],
  ] as const) {
    if (!existsSync(p)) continue;
    out.push(r);
  }
  return out;
}

const canBpf = (() => {
  try {
    koffiBpf().queryDevicePrograms(V2_UNIFIED);
    return true;
  } catch {
    return false;
  }
})();

describe('cgroup-devices driver', () => {
  it('is named and modelled cgroup-devices, DOI 0', () => {
    const d = cgroupDevicesDriver(options(), recordingHost());
    expect([d.name, d.getModel(), d.getDOI(), cgroupDevicesDriver.driverName]).toEqual([
      DRIVER_NAME,
      'cgroup-devices',
      '0',
      'cgroup-devices',
    ]);
  });

  it('does nothing when cgroup_controllers leaves out devices, or unprivileged', async () => {
    const def = await domain(1, 'off', '');
    for (const d of [
      cgroupDevicesDriver(options({}, { cgroupControllers: ['cpu', 'memory'] }), recordingHost()),
      cgroupDevicesDriver(options({ privileged: false }), recordingHost()),
    ]) {
      const s = spec();
      await d.domainSetSecurityChildProcessLabel!(def, s);
      await d.domainSetSecurityAllLabel!(def, {});
      expect(s.cgroupPaths).toEqual([]);
      expect(d.domainDevicesCgroup(def)).toBeUndefined();
    }
  });

  it('probes disabled on a host with no devices hierarchy', async () => {
    const none = recordingHost({
      cgroupMounts: [{ type: 'cgroup', path: '/sys/fs/cgroup/cpu', controllers: ['cpu'] }],
    });
    expect(await cgroupDevicesDriver(options(), none).probe('QEMU')).toBe('disable');
  });
});

describe.skipIf(!isRoot || !hasV2 || !canBpf)(
  'cgroup-devices driver, cgroup v2 chosen as libvirt does',
  () => {
    it('places QEMU in a group whose BPF map holds exactly the expected rules, then removes it all', async () => {
      const rw = await loopDevice();
      const ro = await loopDevice();
      loops.push(rw, ro);
      const def = await domain(7, 'v2-guest', blockDisk(rw.dev, 'vda') + blockDisk(ro.dev, 'vdb', true));
      const d = cgroupDevicesDriver(options(), nodeHost());
      expect(await d.probe('QEMU')).toBe('enable');

      const s = spec();
      await d.domainSetSecurityChildProcessLabel!(def, s);
      const path = `${partition}.partition/qemu-7-v2-guest.qvirt-qemu`;
      expect(s.cgroupPaths).toEqual([`${V2_UNIFIED}${path}`]);
      await d.domainSetSecurityAllLabel!(def, {});
      const info = d.domainDevicesCgroup(def)!;
      expect(info).toMatchObject({ backend: 'v2', path, filtering: true });

      const expected = [
        ...defaultAcl(),
        `b ${rw.major}:${rw.minor} rw`,
        `b ${ro.major}:${ro.minor} r`,
        'c 136:* rw',
      ];
      expect(await d.expectedDeviceRules(def)).toEqual(expected);
      expect(bpfmapRules(info.mapId!).sort()).toEqual([...expected].sort());

      const qemu = spawnSleeper(s.cgroupPaths);
      try {
        await new Promise((r) => setTimeout(r, 100));
        expect(readFileSync(`/proc/${qemu.pid}/cgroup`, 'utf8')).toContain(`0::${path}\n`);
        const denied = deniedBlockNode();
        expect(
          tryOpenIn(s.cgroupPaths, [
            ['/dev/null', 'rw'],
            [rw.dev, 'rw'],
            [ro.dev, 'r'],
            [ro.dev, 'rw'],
            ['/dev/kmsg', 'r'],
            ...(denied ? [[denied, 'r'] as [string, 'r']] : []),
          ]),
        ).toEqual(['ok', 'ok', 'ok', 'EPERM', 'EPERM', ...(denied ? ['EPERM'] : [])]);

        // A rollback while QEMU still lives keeps the group (and its confinement).
        await d.domainRestoreSecurityAllLabel!(def, {});
        expect(await nodeHost().exists(`${V2_UNIFIED}${path}`)).toBe(true);
      } finally {
        await qemu.stop();
      }
      const progIds = koffiBpf().queryDevicePrograms(`${V2_UNIFIED}${path}`);
      await d.domainReleaseSecurityLabel!(def);
      expect(await nodeHost().exists(`${V2_UNIFIED}${path}`)).toBe(false);
      expect(d.domainDevicesCgroup(def)).toBeUndefined();
      expect(() => koffiBpf().progFdById(progIds[0]!)).toThrow(/No such file/);
    });

    it('reconnects to a running domain, hotplugs a disk, and restores on stop', async () => {
      const disk = await loopDevice();
      const hot = await loopDevice();
      loops.push(disk, hot);
      const def = await domain(8, 'reconnect', blockDisk(disk.dev, 'vda'));
      const first = cgroupDevicesDriver(options(), nodeHost());
      const s = spec();
      await first.domainSetSecurityChildProcessLabel!(def, s);
      await first.domainSetSecurityAllLabel!(def, {});
      const qemu = spawnSleeper(s.cgroupPaths);
      try {
        await new Promise((r) => setTimeout(r, 100));
        await first.close!(); // the daemon goes away; the guest and its program stay

        const second = cgroupDevicesDriver(options(), nodeHost());
        await second.domainReserveSecurityLabel!(def, qemu.pid);
        const before = await second.domainDeviceRules(def);
        expect(before).toContain(`b ${disk.major}:${disk.minor} rw`);
        expect(tryOpenIn(s.cgroupPaths, [[hot.dev, 'rw']])).toEqual(['EPERM']);

        const hotDisk = parseDomainXML(
          `<domain type='qemu'><name>h</name><memory>1</memory><os><type>hvm</type></os><devices>${blockDisk(hot.dev, 'vdc')}</devices></domain>`,
        ).devices!.disk![0]!;
        await second.domainSetSecurityImageLabel!(def, diskImageSource(hotDisk), { backingChain: true });
        expect(await second.domainDeviceRules(def)).toContain(`b ${hot.major}:${hot.minor} rw`);
        expect(tryOpenIn(s.cgroupPaths, [[hot.dev, 'rw']])).toEqual(['ok']);
        await second.domainRestoreSecurityImageLabel!(def, diskImageSource(hotDisk), { backingChain: true });
        expect((await second.domainDeviceRules(def)).sort()).toEqual([...before].sort());
        expect(tryOpenIn(s.cgroupPaths, [[hot.dev, 'rw']])).toEqual(['EPERM']);

        await qemu.stop();
        await second.domainRestoreSecurityAllLabel!(def, {});
        expect(await nodeHost().exists(s.cgroupPaths[0]!)).toBe(false);
      } finally {
        await qemu.stop();
      }
    });

    it('removes a group its QEMU left only after the stop gave up waiting, once it is empty', async () => {
      const def = await domain(9, 'late', '');
      const d = cgroupDevicesDriver(options(), nodeHost());
      const s = spec();
      await d.domainSetSecurityChildProcessLabel!(def, s);
      await d.domainSetSecurityAllLabel!(def, {});
      const qemu = spawnSleeper(s.cgroupPaths);
      try {
        await new Promise((r) => setTimeout(r, 100));
        await d.domainRestoreSecurityAllLabel!(def, {}); // still in use: kept, removal pending
        expect(await nodeHost().exists(s.cgroupPaths[0]!)).toBe(true);
      } finally {
        await qemu.stop();
      }
      // No further hook is called: the background retry notices the group is empty.
      for (let i = 0; i < 40 && existsSync(s.cgroupPaths[0]!); i++)
        await new Promise((r) => setTimeout(r, 100));
      expect(existsSync(s.cgroupPaths[0]!)).toBe(false);
      expect(d.domainDevicesCgroup(def)).toBeUndefined();
      await d.close!();
    });

    it('names an embed instance qemu-embed-<8hex>-ID-NAME', async () => {
      const def = await domain(2, 'emb', '');
      const d = cgroupDevicesDriver(options({ embedRoot: '/var/lib/embed' }), nodeHost());
      const s = spec();
      await d.domainSetSecurityChildProcessLabel!(def, s);
      expect(s.cgroupPaths).toEqual([
        `${V2_UNIFIED}${partition}.partition/qemu-embed-9d1b4760-2-emb.qvirt-qemu`,
      ]);
      await d.domainSetSecurityAllLabel!(def, {});
      await d.domainRestoreSecurityAllLabel!(def, {});
      expect(await nodeHost().exists(s.cgroupPaths[0]!)).toBe(false);
    });

    it('a start that fails while setting up leaves no group behind', async () => {
      const def = await domain(3, 'fails', blockDisk('/dev/qvirt-no-such-disk', 'vda'));
      const d = cgroupDevicesDriver(options(), nodeHost());
      const s = spec();
      // The launch spec learns the group's path; the group is only made when labelling.
      await d.domainSetSecurityChildProcessLabel!(def, s);
      await expect(d.domainSetSecurityAllLabel!(def, {})).rejects.toThrow(
        "Path '/dev/qvirt-no-such-disk' is not accessible: No such file or directory",
      );
      expect(await nodeHost().exists(`${V2_UNIFIED}${partition}.partition/qemu-3-fails.qvirt-qemu`)).toBe(
        false,
      );
    });
  },
);

describe.skipIf(!isRoot || !hasV1Devices)('cgroup-devices driver, cgroup v1 by option', () => {
  it('writes deny-all and the allow list; devices.list holds exactly the expected rules', async () => {
    const disk = await loopDevice();
    loops.push(disk);
    const def = await domain(9, 'v1-guest', blockDisk(disk.dev, 'vda', true));
    const d = cgroupDevicesDriver(options({ backend: 'v1' }), nodeHost());
    const s = spec();
    await d.domainSetSecurityChildProcessLabel!(def, s);
    await d.domainSetSecurityAllLabel!(def, {});
    const path = `${partition}.partition/qemu-9-v1-guest.qvirt-qemu`;
    expect(s.cgroupPaths).toEqual([`${V1_DEVICES}${path}`]);
    const expected = [...defaultAcl(), `b ${disk.major}:${disk.minor} r`, 'c 136:* rw'];
    expect(readFileSync(`${V1_DEVICES}${path}/devices.list`, 'utf8').trim().split('\n').sort()).toEqual(
      [...expected].sort(),
    );
    expect(d.domainDevicesCgroup(def)).toMatchObject({ backend: 'v1', path, filtering: true });

    const qemu = spawnSleeper(s.cgroupPaths);
    try {
      await new Promise((r) => setTimeout(r, 100));
      expect(readFileSync(`/proc/${qemu.pid}/cgroup`, 'utf8')).toMatch(new RegExp(`:devices:${path}\\n`));
      expect(
        tryOpenIn(s.cgroupPaths, [
          ['/dev/null', 'rw'],
          [disk.dev, 'r'],
          [disk.dev, 'rw'],
          ['/dev/kmsg', 'r'],
        ]),
      ).toEqual(['ok', 'ok', 'EPERM', 'EPERM']);
    } finally {
      await qemu.stop();
    }
    await d.domainRestoreSecurityAllLabel!(def, {});
    expect(await nodeHost().exists(`${V1_DEVICES}${path}`)).toBe(false);
  });

  it("EPERM on deny-all: libvirt's warning, and filtering is off", async () => {
    const warnings: string[] = [];
    const host = recordingHost({
      inner: nodeHost(),
      faults: [{ op: 'cgroupWrite', path: /qemu-4-eperm/, code: 'EPERM' }],
    });
    const def = await domain(4, 'eperm', '');
    const d = cgroupDevicesDriver(options({ backend: 'v1', warn: (m) => warnings.push(m) }), host);
    await d.domainSetSecurityChildProcessLabel!(def, spec());
    await d.domainSetSecurityAllLabel!(def, {});
    expect(warnings).toEqual(['Group devices ACL is not accessible, disabling filtering']);
    expect(d.domainDevicesCgroup(def)?.filtering).toBe(false);
    await d.domainRestoreSecurityAllLabel!(def, {});
  });
});
