/**
 * State directory full or read-only: the config directory (etc/qemu) and the status directory
 * (run/qemu) of an embed root on a small full tmpfs, or bind-mounted read-only. define and start
 * fail with a clear one-line error; no torn or half-written config or status file (nor temporary
 * file) is left, the previous definition is intact, no QEMU keeps running, and once space is back
 * the same start succeeds.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { QemuDriver } from '@qvirt/driver';
import { afterEach, describe, expect, it } from 'vitest';
import {
  guestXml,
  hasQemu,
  isRoot,
  leaks,
  makeInstance,
  removeInstance,
  serialText,
  sleep,
  snapshotHost,
  uriOf,
  waitFor,
} from './host-state.js';

const mounts: string[] = [];
const roots: string[] = [];
const drivers: QemuDriver[] = [];

afterEach(async () => {
  for (const d of drivers.splice(0)) await d.close();
  for (const m of mounts.splice(0).reverse()) execFileSync('umount', ['-l', m]);
  for (const r of roots.splice(0)) removeInstance(r);
});

function tmpfs(dir: string, size: string): void {
  mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', dir]);
  mounts.push(dir);
}

function readOnlyBind(dir: string): void {
  execFileSync('mount', ['--bind', dir, dir]);
  mounts.push(dir);
  execFileSync('mount', ['-o', 'remount,ro,bind', dir]);
}

/** Fills the file system of `dir` to the last block; returns the filler to remove. */
function fill(dir: string): string {
  const filler = path.join(dir, 'filler.bin');
  const chunk = Buffer.alloc(4096, 1);
  try {
    for (;;) writeFileSync(filler, chunk, { flag: 'a' });
  } catch (err) {
    expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
  }
  return filler;
}

// `autostarted` (run) is the once-per-boot mark, `autostart` (etc) the links' directory,
// `driver.pid` (run) the open driver's instance lock
const files = (dir: string) =>
  readdirSync(dir)
    .filter((f) => !['filler.bin', 'autostarted', 'autostart', 'driver.pid'].includes(f))
    .sort();

async function open(): Promise<{ root: string; d: QemuDriver; before: ReturnType<typeof snapshotHost> }> {
  const before = snapshotHost();
  const root = makeInstance('libvirt');
  roots.push(root);
  return { root, d: undefined as unknown as QemuDriver, before };
}

async function driverOf(root: string): Promise<QemuDriver> {
  const d = await QemuDriver.open(uriOf(root));
  drivers.push(d);
  return d;
}

const oneLine = (err: unknown) => {
  const m = String((err as Error).message);
  expect(m).not.toContain('\n');
  return m;
};

describe.skipIf(!isRoot || !hasQemu)('state directory full or read-only', () => {
  it('config directory full: define fails in one line, the old definition stays whole', async () => {
    const { root, before } = await open();
    const etc = path.join(root, 'etc/qemu');
    tmpfs(etc, '64k');
    const d = await driverOf(root);
    const first = guestXml(root, 'full1');
    const { uuid } = await d.defineXML(first);
    const xml = first.replace('<name>', `<uuid>${uuid}</uuid>\n  <name>`);
    const old = readFileSync(path.join(etc, 'full1.xml'), 'utf8');
    const filler = fill(etc);
    // a redefinition and a new definition, each bigger than what is left
    const big = `<description>${'x'.repeat(8192)}</description>\n  <name>`;
    const errors = await Promise.all([
      d.defineXML(xml.replace('<name>', big)).then(() => 'defined', oneLine),
      d.defineXML(guestXml(root, 'full2').replace('<name>', big)).then(() => 'defined', oneLine),
    ]);
    console.log(`config directory full: ${errors.join(' | ')}`);
    expect(errors[0]).toMatch(/^.*full1.*No space left on device$|ENOSPC/);
    expect(errors[1]).toMatch(/No space left on device|ENOSPC/);
    expect(files(etc)).toEqual(['full1.xml']);
    expect(readFileSync(path.join(etc, 'full1.xml'), 'utf8')).toBe(old);
    expect(d.listDomains().map((x) => x.name)).toEqual(['full1']);
    expect(d.getXMLDesc('full1', { inactive: true })).not.toContain('<description>');
    // space back: the same define works
    unlinkSync(filler);
    await d.defineXML(guestXml(root, 'full2').replace('<name>', big));
    expect(await leaks(root, before)).toEqual([]);
  });

  // Regression: the domain's cgroup and BPF program used to stay behind when the early pid/status
  // write failed; cgroup-devices now makes the group only when labelling, after those writes.
  it('status directory full: start fails in one line, no status file, no QEMU; then starts', async () => {
    const { root, before } = await open();
    const run = path.join(root, 'run/qemu');
    tmpfs(run, '16k');
    const d = await driverOf(root);
    await d.defineXML(guestXml(root, 'full3'));
    const filler = fill(run);
    const err = await d.start('full3').then(() => 'started', oneLine);
    console.log(`status directory full: ${err}`);
    expect(err).toMatch(/No space left on device|ENOSPC/);
    expect(d.listDomains().map((x) => [x.name, x.state])).toEqual([['full3', 'shutoff']]);
    expect(files(run)).toEqual([]);
    let left: string[] = [];
    for (let i = 0; i < 50 && (left = await leaks(root, before, {}, ['full3'])).length > 0; i++)
      await sleep(100);
    expect(left).toEqual([]);
    unlinkSync(filler);
    await d.start('full3');
    await waitFor(() => serialText(root, 'full3').includes('Hello from full3!'), 30_000, 'the greeting');
    await d.destroy('full3');
    expect(await leaks(root, before, {}, ['full3'])).toEqual([]);
  });

  // the same regression (see above) for the read-only run directory's failed start
  it('config and status directories read-only: define and start fail in one line, nothing changes', async () => {
    const { root, before } = await open();
    const d = await driverOf(root);
    const first = guestXml(root, 'ro1');
    const { uuid } = await d.defineXML(first);
    const xml = first.replace('<name>', `<uuid>${uuid}</uuid>\n  <name>`);
    const etc = path.join(root, 'etc/qemu');
    const run = path.join(root, 'run/qemu');
    const old = readFileSync(path.join(etc, 'ro1.xml'), 'utf8');
    readOnlyBind(etc);
    readOnlyBind(run);
    const errors = [
      await d.defineXML(xml.replace('32768', '16384')).then(() => 'defined', oneLine),
      await d.defineXML(guestXml(root, 'ro2')).then(() => 'defined', oneLine),
      await d.start('ro1').then(() => 'started', oneLine),
    ];
    console.log(`read-only: ${errors.join(' | ')}`);
    for (const e of errors) expect(e).toMatch(/Read-only file system|EROFS/);
    expect(files(etc)).toEqual(['ro1.xml']);
    expect(readFileSync(path.join(etc, 'ro1.xml'), 'utf8')).toBe(old);
    expect(files(run)).toEqual([]);
    expect(d.listDomains().map((x) => [x.name, x.state])).toEqual([['ro1', 'shutoff']]);
    expect(d.getInfo('ro1').maxMem).toBe(32768);
    expect(await leaks(root, before, {}, ['ro1'])).toEqual([]);
  });
});
