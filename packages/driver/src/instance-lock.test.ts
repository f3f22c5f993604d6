/**
 * One driver per instance across processes: a second process's open fails in one line naming the
 * instance and the holder; once the holder closes, or is killed, the next open works.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { QemuDriver } from './driver.js';
import { acquireInstanceLock } from './instance-lock.js';

const DIST = path.resolve(import.meta.dirname, '../dist/index.js');
const roots: string[] = [];
const children: ChildProcess[] = [];

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

function makeRoot(): string {
  const r = mkdtempSync(path.join(tmpdir(), 'qvirt-lock-'));
  roots.push(r);
  return r;
}

/** Another process holding the instance open until told to close (a line on stdin). */
async function holder(root: string): Promise<ChildProcess> {
  const script = `
    const { QemuDriver } = await import(${JSON.stringify(DIST)});
    const d = await QemuDriver.open(${JSON.stringify(`qemu:///embed?root=${root}`)}, { autostart: false });
    process.stdout.write('open\\n');
    process.stdin.once('data', async () => { await d.close(); process.stdout.write('closed\\n'); process.exit(0); });`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  children.push(child);
  await until(child, 'open');
  return child;
}

function until(child: ChildProcess, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.split('\n').includes(line)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`holder exited (${code}) before '${line}'`)));
  });
}

const exited = (child: ChildProcess) => new Promise((r) => child.once('exit', r));

/** What an open of the instance in another process says. */
function openElsewhere(root: string): string {
  const script = `
    const { QemuDriver } = await import(${JSON.stringify(DIST)});
    try { await (await QemuDriver.open(${JSON.stringify(`qemu:///embed?root=${root}`)})).close(); console.log('opened'); }
    catch (e) { console.log(e.message); }`;
  return execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }).trim();
}

describe.skipIf(!existsSync(DIST))('instance lock', () => {
  it('refuses a second process while the first has the instance open, until it closes', async () => {
    const root = makeRoot();
    const child = await holder(root);
    const pidFile = path.join(root, 'run/qemu/driver.pid');
    expect(readFileSync(pidFile, 'utf8')).toBe(`${child.pid}\n`);
    const err = await QemuDriver.open(`qemu:///embed?root=${root}`).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).toBe(
      `Failed to acquire pid file '${pidFile}': the instance at ${root} is in use by process ${child.pid}`,
    );
    child.stdin!.write('close\n');
    await until(child, 'closed');
    await exited(child);
    expect(existsSync(pidFile)).toBe(false);
    const d = await QemuDriver.open(`qemu:///embed?root=${root}`);
    expect(readFileSync(pidFile, 'utf8')).toBe(`${process.pid}\n`);
    await d.close();
    expect(existsSync(pidFile)).toBe(false);
  });

  it('a killed holder does not block the next open', async () => {
    const root = makeRoot();
    const child = await holder(root);
    child.kill('SIGKILL');
    await exited(child);
    // its pid file stays, naming a dead process: the kernel's lock went with it
    expect(existsSync(path.join(root, 'run/qemu/driver.pid'))).toBe(true);
    const d = await QemuDriver.open(`qemu:///embed?root=${root}`);
    await d.close();
  });

  it('drivers of one instance in one process share the lock', async () => {
    const root = makeRoot();
    const a = await QemuDriver.open(`qemu:///embed?root=${root}`);
    const b = await QemuDriver.open(`qemu:///embed?root=${root}`);
    await a.close();
    // still held for b
    const file = path.join(root, 'run/qemu/driver.pid');
    expect(openElsewhere(root)).toContain(`is in use by process ${process.pid}`);
    await b.close();
    expect(openElsewhere(root)).toBe('opened');
    expect(existsSync(file)).toBe(false);
    // released for good: acquiring works and can be released twice harmlessly
    const l = acquireInstanceLock(file, root);
    l.release();
    l.release();
  });
});
