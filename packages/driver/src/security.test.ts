/**
 * The security stack on real TCG guests: QEMU as an unprivileged user with no capabilities, in
 * its device cgroup, its disk chowned while running and given back afterwards, in explicit mode
 * and in libvirt mode, and a failed start leaving the host as it was.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { machineName } from '@qvirt/cgroup-devices';
import { nodeHost, parseDomainXML, type SecurityDriverFactory, SecurityRegistry } from '@qvirt/core';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { QemuDriver } from './driver.js';
import {
  cleanupRoots,
  GREETING,
  guestXml,
  makeRoot,
  pidsMentioning,
  serialText,
  sweepRun,
  waitFor,
} from './test-support/guests.js';

const root = process.getuid?.() === 0;
const QEMU_UID = 65534;
const drivers: QemuDriver[] = [];
const host = nodeHost();

afterEach(async () => {
  for (const d of drivers.splice(0)) await d.close();
  cleanupRoots();
});
afterAll(sweepRun);

function instance(conf: string): string {
  return makeRoot({ ids: { user: `+${QEMU_UID}`, group: `+${QEMU_UID}` }, conf });
}

async function open(dir: string, registry?: SecurityRegistry): Promise<QemuDriver> {
  const d = await QemuDriver.open(
    `qemu:///embed?root=${dir}`,
    registry ? { securityRegistry: registry } : {},
  );
  drivers.push(d);
  return d;
}

function status(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

function devicesCgroup(pid: number): string | undefined {
  const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8')
    .split('\n')
    .find((l) => /^\d+:([^:]*,)?devices(,[^:]*)?:/.test(l));
  return line?.slice(line.lastIndexOf(':') + 1);
}

async function xattrs(file: string): Promise<string[]> {
  return (await host.listxattr(file)).filter((n) => n.startsWith('trusted.libvirt.')).sort();
}

/** The device cgroup directory of run `id` of domain g1 in an embed instance, per hierarchy. */
function groupDir(hierarchy: 'devices' | 'unified', dir: string, id: number): string {
  const name = machineName({ drivername: 'qemu', embedRoot: dir, id, name: 'g1', privileged: true });
  return `/sys/fs/cgroup/${hierarchy}/machine/${name}.qvirt-qemu`;
}

async function runAndCheck(d: QemuDriver, dir: string): Promise<void> {
  const disk = path.join(dir, 'g1.img');
  await d.defineXML(guestXml(dir, 'g1'));
  chownSync(disk, 0, 0);
  await d.start('g1');
  await waitFor(() => serialText(dir, 'g1').includes(GREETING), 10_000, 'the greeting');
  const pid = d.getProcess('g1')!.pid;

  const st = status(pid);
  expect(st.Uid).toBe(`${QEMU_UID}\t${QEMU_UID}\t${QEMU_UID}\t${QEMU_UID}`);
  expect(st.Gid).toBe(`${QEMU_UID}\t${QEMU_UID}\t${QEMU_UID}\t${QEMU_UID}`);
  for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb'])
    expect(st[set], set).toBe('0000000000000000');
  expect(st.NoNewPrivs).toBe('1');

  // The private /dev (libvirt's default cgroup_device_acl, the preserved mounts), assembled over
  // the run directory inside QEMU's namespace only: nothing of it shows outside, or in there.
  const acl = ['null', 'full', 'zero', 'random', 'urandom', 'ptmx', 'kvm'];
  const kept = ['pts', 'shm', 'mqueue', 'hugepages'];
  expect(readdirSync(`/proc/${pid}/root/dev`).sort()).toEqual(
    [...acl, ...kept].filter((n) => existsSync(`/dev/${n}`)).sort(),
  );
  expect(statSync(`/proc/${pid}/root/dev/null`).rdev).toBe(statSync('/dev/null').rdev);
  const runDir = path.join(dir, 'run/qemu');
  expect(readFileSync(`/proc/${pid}/mountinfo`, 'utf8')).not.toContain(` ${runDir} `);
  expect(readdirSync(runDir).filter((n) => !/^g1\.(xml|pid)$|^autostarted$|^driver\.pid$/.test(n))).toEqual(
    [],
  );

  // The device cgroup: v1 devices.list, or the v2 BPF map read with ../shared/tools/bpfmap.py
  const expected = ['c 1:3 rw', 'c 1:5 rw', 'c 1:7 rw', 'c 1:8 rw', 'c 1:9 rw', 'c 5:2 rw', 'c 136:* rw']
    .concat(existsSync('/dev/kvm') ? ['c 10:232 rw'] : [])
    .sort();
  const v1 = devicesCgroup(pid);
  let cgDir: string;
  if (v1 && v1 !== '/') {
    expect(v1).toMatch(/\/machine\/qemu-embed-[0-9a-f]{8}-1-g1\.qvirt-qemu$/);
    cgDir = `/sys/fs/cgroup/devices${v1}`;
    expect(readFileSync(`${cgDir}/devices.list`, 'utf8').trim().split('\n').sort()).toEqual(expected);
  } else {
    const v2 = readFileSync(`/proc/${pid}/cgroup`, 'utf8').match(/^0::(.*)$/m)![1]!;
    expect(v2).toMatch(/\/machine\/qemu-embed-[0-9a-f]{8}-1-g1\.qvirt-qemu$/);
    cgDir = `/sys/fs/cgroup/unified${v2}`;
    const cgd = d.security.driver('cgroup-devices') as unknown as {
      domainDevicesCgroup(def: unknown): { backend: string; mapId?: number } | undefined;
    };
    const info = cgd.domainDevicesCgroup(parseDomainXML(d.getXMLDesc('g1'), { live: true }));
    expect(info?.mapId).toBeTypeOf('number');
    const out = execFileSync('python3', ['/work/shared/tools/bpfmap.py', String(info!.mapId)], {
      encoding: 'utf8',
    });
    const rules = out
      .trim()
      .split('\n')
      .map((l) => l.replace(/\s+\(raw.*$/, '').replace(/ rwm?$/, ' rw'))
      .sort();
    expect(rules).toEqual(expected);
  }
  const cg = cgDir;
  expect(statSync(disk)).toMatchObject({ uid: QEMU_UID, gid: QEMU_UID });
  expect(await host.getxattr(disk, 'trusted.libvirt.security.dac')).toBe('+0:+0');
  expect(await host.getxattr(disk, 'trusted.libvirt.security.ref_dac')).toBe('1');

  const live = d.getXMLDesc('g1');
  expect(live).toContain(
    `<seclabel type='dynamic' model='dac' relabel='yes'>\n    <label>+${QEMU_UID}:+${QEMU_UID}</label>\n    <imagelabel>+${QEMU_UID}:+${QEMU_UID}</imagelabel>\n  </seclabel>`,
  );

  await d.destroy('g1');
  expect(statSync(disk)).toMatchObject({ uid: 0, gid: 0 });
  expect(await xattrs(disk)).toEqual([]);
  expect(existsSync(cg)).toBe(false);
  expect(pidsMentioning(dir)).toEqual([]);
}

describe.skipIf(!root)('security drivers on real guests', () => {
  it('explicit mode ["dac","capng","cgroup-devices"]', async () => {
    const dir = instance('security_driver = [ "dac", "capng", "cgroup-devices" ]\n');
    const d = await open(dir);
    expect(d.security.drivers.map((x) => x.name)).toEqual(['dac', 'capng', 'cgroup-devices']);
    expect((await d.secModels()).map((m) => m.model)).toEqual(['dac', 'capng', 'cgroup-devices']);
    await runAndCheck(d, dir);
  });

  it('libvirt mode (security_driver unset)', async () => {
    const dir = instance('');
    const d = await open(dir);
    expect(d.security.drivers.map((x) => x.name)).toEqual(['none', 'dac', 'capng', 'cgroup-devices']);
    const models = await d.secModels();
    expect(models.map((m) => m.model)).toEqual(['none', 'dac']);
    expect(models[1]!.baseLabels).toEqual([
      ['kvm', `+${QEMU_UID}:+${QEMU_UID}`],
      ['qemu', `+${QEMU_UID}:+${QEMU_UID}`],
    ]);
    await runAndCheck(d, dir);
  });

  it('a start that fails after labelling leaves owners, xattrs and cgroups as they were', async () => {
    const failing: SecurityDriverFactory = Object.assign(
      () => ({
        name: 'qvirt-test-fail',
        probe: () => 'enable' as const,
        getModel: () => 'qvirt-test-fail',
        getDOI: () => '0',
        async domainSetSecurityAllLabel() {
          throw new Error('qvirt-test-fail refuses to label');
        },
      }),
      { driverName: 'qvirt-test-fail' },
    );
    const dir = instance('security_driver = [ "dac", "capng", "cgroup-devices", "qvirt-test-fail" ]\n');
    const d = await open(dir, new SecurityRegistry().register(failing));
    const disk = path.join(dir, 'g1.img');
    await d.defineXML(guestXml(dir, 'g1'));
    chownSync(disk, 1234, 1234);
    await expect(d.start('g1')).rejects.toThrow('qvirt-test-fail refuses to label');
    expect(statSync(disk)).toMatchObject({ uid: 1234, gid: 1234 });
    expect(await xattrs(disk)).toEqual([]);
    expect(existsSync(groupDir('devices', dir, 1))).toBe(false);
    expect(existsSync(groupDir('unified', dir, 1))).toBe(false);
    expect(pidsMentioning(dir)).toEqual([]);
    expect(d.getState('g1')).toEqual({ state: 'shutoff', reason: 'failed' });
  });

  it('a QEMU that dies after labelling is cleaned up the same way', async () => {
    const dir = instance('security_driver = [ "dac", "capng", "cgroup-devices" ]\n');
    const d = await QemuDriver.open(`qemu:///embed?root=${dir}`, {
      launchHooks: [(spec) => void spec.args.push('-no-such-option')],
    });
    drivers.push(d);
    const disk = path.join(dir, 'g1.img');
    await d.defineXML(guestXml(dir, 'g1'));
    chownSync(disk, 1234, 1234);
    await expect(d.start('g1')).rejects.toThrow(/no-such-option/);
    expect(statSync(disk)).toMatchObject({ uid: 1234, gid: 1234 });
    expect(await xattrs(disk)).toEqual([]);
    expect(existsSync(groupDir('devices', dir, 2))).toBe(false);
    expect(existsSync(groupDir('devices', dir, 1))).toBe(false);
    expect(existsSync(groupDir('unified', dir, 1))).toBe(false);
    expect(pidsMentioning(dir)).toEqual([]);
  });
});
