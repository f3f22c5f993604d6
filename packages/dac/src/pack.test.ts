/**
 * Each backend installs and works alone: pack @qvirt/core, @qvirt/dac and @qvirt/capng, install
 * the tarballs in an empty project, name the drivers in a qemu.conf and compose them from there.
 * (Until @qvirt/core's registry resolves names, the app resolves them the way the registry is to:
 * the package a name maps to, its default-exported factory, and a driver whose name matches.)
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
  app = await mkdtemp(join(tmpdir(), 'qvirt-pack-'));
  for (const p of ['core', 'dac', 'capng']) {
    await run('pnpm', ['pack', '--pack-destination', app], { cwd: join(packages, p) });
  }
}, 120_000);
afterAll(async () => rm(app, { recursive: true, force: true }));

it('installs from the packed tarballs and composes the drivers a qemu.conf names', async () => {
  const tarballs = (await readdir(app)).filter((f) => f.endsWith('.tgz')).map((f) => `./${f}`);
  expect(tarballs).toHaveLength(3);
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...tarballs], { cwd: app });
  await writeFile(
    join(app, 'qemu.conf'),
    'security_driver = [ "dac", "capng" ]\nuser = "+64123"\ngroup = "+64124"\n',
  );
  await writeFile(
    join(app, 'main.js'),
    `
import { readFile } from 'node:fs/promises';
import * as core from '@qvirt/core';
const conf = core.parseQemuConf(await readFile('qemu.conf', 'utf8'), { privileged: true });
const host = core.nodeHost();
const packageOf = { dac: '@qvirt/dac', capng: '@qvirt/capng' };
const out = [];
for (const name of conf.securityDriver) {
  const mod = await import(packageOf[name]);
  if (typeof mod.default !== 'function' || mod.DRIVER_NAME !== name) throw new Error('bad plugin ' + name);
  const d = mod.default({ virtDriver: 'QEMU', conf, privileged: true, user: 64123, group: 64124,
    defaultConfined: true, requireConfined: false, dynamicOwnership: conf.dynamicOwnership,
    mountNamespace: false, dirs: { config: '.', run: '.', lib: '.', cache: '.', log: '.' } }, host);
  out.push([d.name, d.getModel(), d.getDOI(), d.getBaseLabel ? await d.getBaseLabel('qemu') : null]);
}
const def = core.parseDomainXML("<domain type='qemu'><name>p</name><memory>1</memory><os><type>hvm</type></os></domain>");
const spec = core.baseLaunchSpec({ binary: 'q', args: [], env: [], cwd: '/', logFd: 2 });
for (const name of conf.securityDriver) {
  const mod = await import(packageOf[name]);
  const d = mod.default({ virtDriver: 'QEMU', conf, privileged: true, user: 64123, group: 64124,
    defaultConfined: true, requireConfined: false, dynamicOwnership: true, mountNamespace: false,
    dirs: { config: '.', run: '.', lib: '.', cache: '.', log: '.' } }, host);
  await d.domainGenSecurityLabel?.(def);
  await d.domainSetSecurityChildProcessLabel?.(def, spec);
}
console.log(JSON.stringify({ drivers: out, uid: spec.uid, gid: spec.gid, keepCaps: spec.keepCaps, nnp: spec.noNewPrivs }));
`,
  );
  const { stdout } = await run('node', ['main.js'], { cwd: app });
  expect(JSON.parse(stdout)).toEqual({
    drivers: [
      ['dac', 'dac', '0', '+64123:+64124'],
      ['capng', 'capng', '0', null],
    ],
    uid: 64123,
    gid: 64124,
    keepCaps: [],
    nnp: true,
  });
}, 180_000);
