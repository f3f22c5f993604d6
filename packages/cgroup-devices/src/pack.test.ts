/**
 * The package installs and works alone: pack it and @qvirt/core (pnpm pack turns `workspace:^`
 * into a version range, which `npm pack` would leave as is), install both tarballs with npm in an
 * empty folder, name `cgroup-devices` in a qemu.conf, and let @qvirt/core's registry compose
 * the driver from the installed package; also import the factory directly and build a driver.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const here = path.dirname(new URL(import.meta.url).pathname);
const pkgDir = path.resolve(here, '..');
const coreDir = path.resolve(pkgDir, '../core');
let work: string | undefined;

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

function pack(dir: string, dest: string): string {
  const out = execFileSync('pnpm', ['pack', '--pack-destination', dest], { cwd: dir, encoding: 'utf8' });
  const tgz = out
    .trim()
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l.endsWith('.tgz'));
  if (!tgz) throw new Error(`pnpm pack printed no tarball: ${out}`);
  return path.isAbsolute(tgz) ? tgz : path.join(dest, tgz);
}

const APP = `
import { readFileSync } from 'node:fs';
import { baseLaunchSpec, parseDomainXML, parseQemuConf, recordingHost, securityRegistry } from '@qvirt/core';
import cgroupDevices, { DRIVER_NAME, koffiBpf } from '@qvirt/cgroup-devices';

const conf = parseQemuConf(readFileSync('qemu.conf', 'utf8'), { privileged: true, file: 'qemu.conf' });
const dirs = { config: '/c', run: '/r', lib: '/l', cache: '/k', log: '/g' };
// An in-memory host with a v1 devices hierarchy and cgroup2 (recordingHost's default mounts).
const host = recordingHost();
const registry = securityRegistry();
await registry.createManager({
  conf, host, privileged: true, confPath: 'qemu.conf', dirs, extraOptions: { backend: 'v1' },
});

const driver = cgroupDevices(
  { virtDriver: 'QEMU', conf, privileged: true, user: 0, group: 0, defaultConfined: true,
    requireConfined: false, dynamicOwnership: true, mountNamespace: false, dirs, backend: 'v1' },
  host,
);
const def = parseDomainXML("<domain type='qemu' id='1'><name>alone</name><memory>1</memory><os><type>hvm</type></os></domain>", { live: true });
const spec = baseLaunchSpec({ binary: 'qemu', args: [], env: [], cwd: '/', logFd: 2 });
await driver.domainSetSecurityChildProcessLabel(def, spec);
await driver.domainSetSecurityAllLabel(def, {});

let bpf = 'skipped';
if (process.getuid() === 0) bpf = JSON.stringify(koffiBpf().queryDevicePrograms('/sys/fs/cgroup/unified'));

console.log(JSON.stringify({
  resolved: registry.resolved,
  name: DRIVER_NAME,
  driverName: cgroupDevices.driverName,
  cgroupPaths: spec.cgroupPaths,
  writes: host.callsOf('cgroupWrite'),
  bpf,
}));
`;

describe('npm pack + install alone', () => {
  it('installs with @qvirt/core in an empty folder; qemu.conf names it and the registry builds it', async () => {
    work = await mkdtemp(path.join(tmpdir(), 'qvirt-cgd-pack-'));
    const tarballs = [pack(coreDir, work), pack(pkgDir, work)];
    const app = path.join(work, 'app');
    execFileSync('mkdir', ['-p', app]);
    await writeFile(
      path.join(app, 'package.json'),
      JSON.stringify({ name: 'app', private: true, type: 'module' }),
    );
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...tarballs], {
      cwd: app,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    await writeFile(
      path.join(app, 'qemu.conf'),
      'security_driver = [ "cgroup-devices" ]\nuser = "+0"\ngroup = "+0"\n',
    );
    await writeFile(path.join(app, 'app.mjs'), APP);
    const out = JSON.parse(execFileSync(process.execPath, ['app.mjs'], { cwd: app, encoding: 'utf8' }));

    expect(out.resolved).toHaveLength(1);
    expect(out.resolved[0].name).toBe('cgroup-devices');
    expect(out.resolved[0].source).toContain(path.join(app, 'node_modules/@qvirt/cgroup-devices/'));
    expect([out.name, out.driverName]).toEqual(['cgroup-devices', 'cgroup-devices']);
    expect(out.cgroupPaths).toEqual(['/sys/fs/cgroup/devices/machine/qemu-1-alone.qvirt-qemu']);
    expect(out.writes).toEqual([
      ['/sys/fs/cgroup/devices/machine/qemu-1-alone.qvirt-qemu', 'devices.deny', 'a'],
      ['/sys/fs/cgroup/devices/machine/qemu-1-alone.qvirt-qemu', 'devices.allow', 'c 136:* rw'],
    ]);
    // koffi installed from the registry loads and makes the bpf(2) call.
    if (process.getuid?.() === 0) expect(out.bpf).toBe('[]');
  }, 180_000);
});
