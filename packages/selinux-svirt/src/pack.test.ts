/**
 * The package installs and works alone: pack @qvirt/core and @qvirt/selinux-svirt, install the
 * tarballs in an empty project, and from there generate a guest's label, put it in a launch spec
 * and label a real file (SELinux enforcement faked: this kernel has none).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';

const run = promisify(execFile);
const packages = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
let app: string;

beforeAll(async () => {
  app = await mkdtemp(join(tmpdir(), 'qvirt-pack-selinux-'));
  for (const p of ['core', 'selinux-svirt']) {
    await run('pnpm', ['pack', '--pack-destination', app], { cwd: join(packages, p) });
  }
}, 120_000);
afterAll(async () => rm(app, { recursive: true, force: true }));

it('installs from the packed tarballs and labels a guest', async () => {
  const tarballs = (await readdir(app)).filter((f) => f.endsWith('.tgz')).map((f) => `./${f}`);
  expect(tarballs).toHaveLength(2);
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...tarballs], { cwd: app });
  await writeFile(join(app, 'disk.img'), '');
  await writeFile(
    join(app, 'main.js'),
    `
import * as core from '@qvirt/core';
import selinux, { DRIVER_NAME, fakeSELinux, SELINUX_XATTR } from '@qvirt/selinux-svirt';
const host = core.nodeHost();
const conf = core.defaultQemuConf({ privileged: true });
const d = selinux({ virtDriver: 'QEMU', conf, privileged: true, user: 107, group: 107,
  defaultConfined: true, requireConfined: false, dynamicOwnership: true, mountNamespace: false,
  dirs: { config: '.', run: '.', lib: '.', cache: '.', log: '.' },
  kernel: fakeSELinux(), contextsDir: './no-policy', onWarn: () => {} }, host);
const real = selinux({ virtDriver: 'QEMU', conf, privileged: true }, host);
const def = core.parseDomainXML("<domain type='kvm'><name>p</name><memory>1</memory><os><type>hvm</type></os>" +
  "<devices><disk type='file' device='disk'><source file='" + process.cwd() + "/disk.img'/><target dev='vda' bus='virtio'/></disk></devices>" +
  "<seclabel type='dynamic' model='selinux'/></domain>");
await d.domainGenSecurityLabel(def);
const spec = core.baseLaunchSpec({ binary: 'q', args: [], env: [], cwd: '/', logFd: 2 });
await d.domainSetSecurityChildProcessLabel(def, spec);
await d.domainSetSecurityAllLabel(def, {});
const fileLabel = await host.getxattr(process.cwd() + '/disk.img', SELINUX_XATTR);
console.log(JSON.stringify({ name: DRIVER_NAME, model: d.getModel(), factoryName: selinux.driverName,
  probeHere: await real.probe('QEMU'), label: spec.seLinuxLabel, image: def.seclabel[0].imagelabel, fileLabel }));
`,
  );
  const { stdout } = await run('node', ['main.js'], { cwd: app });
  const out = JSON.parse(stdout);
  expect(out).toMatchObject({
    name: 'selinux',
    model: 'selinux',
    factoryName: 'selinux',
    probeHere: 'disable',
  });
  expect(out.label).toMatch(/^system_u:system_r:svirt_t:s0:c\d+,c\d+$/);
  expect(out.image).toBe(out.label.replace('system_r:svirt_t', 'object_r:svirt_image_t'));
  expect(out.fileLabel).toBe(out.image);
}, 180_000);
