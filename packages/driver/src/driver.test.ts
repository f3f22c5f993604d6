import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
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

const drivers: QemuDriver[] = [];

async function openDriver(root: string): Promise<QemuDriver> {
  const d = await QemuDriver.open(`qemu:///embed?root=${root}`);
  drivers.push(d);
  return d;
}

afterEach(async () => {
  for (const d of drivers.splice(0)) await d.close();
  cleanupRoots();
});

afterAll(sweepRun);

/** Nothing of a run is left: process, monitor socket, pid and status files, private dir. */
function expectNoLeftovers(root: string, name: string): void {
  expect(pidsMentioning(root)).toEqual([]);
  expect(readdirSync(path.join(root, 'run/qemu')).filter((f) => f.startsWith(name))).toEqual([]);
  expect(readdirSync(path.join(root, 'lib/qemu')).filter((f) => f.startsWith('domain-'))).toEqual([]);
}

describe('definitions', () => {
  it('define, list, dumpxml --inactive, a new driver, undefine', async () => {
    const root = makeRoot();
    const d = await openDriver(root);
    const dom = await d.defineXML(guestXml(root, 'g1'));
    expect(dom).toMatchObject({ name: 'g1', id: -1, state: 'shutoff', persistent: true, autostart: false });
    const file = path.join(root, 'etc/qemu/g1.xml');
    const stored = readFileSync(file, 'utf8');
    expect(stored).toMatch(/^<!--\nWARNING: THIS IS AN AUTO-GENERATED FILE/);
    const xml = d.getXMLDesc('g1', { inactive: true });
    expect(stored.endsWith(xml)).toBe(true);
    expect(xml).toContain(`<uuid>${dom.uuid}</uuid>`);
    expect(xml).toContain("machine='pc-i440fx-7.2'");

    const d2 = await openDriver(root);
    expect(d2.listDomains()).toEqual([dom]);
    expect(d2.getXMLDesc('g1')).toBe(xml);
    expect(d2.find(dom.uuid)?.name).toBe('g1');

    await d2.setAutostart('g1', true);
    expect(existsSync(path.join(root, 'etc/qemu/autostart/g1.xml'))).toBe(true);
    expect((await openDriver(root)).find('g1')?.autostart).toBe(true);

    await d2.undefine('g1');
    expect(existsSync(file)).toBe(false);
    expect(existsSync(path.join(root, 'etc/qemu/autostart/g1.xml'))).toBe(false);
    expect(d2.listDomains()).toEqual([]);
    expect(() => d2.getState('g1')).toThrow("Domain not found: no domain with matching name 'g1'");
  });

  it("refuses a second name for a UUID and a second UUID for a name, with libvirt's messages", async () => {
    const root = makeRoot();
    const d = await openDriver(root);
    const uuid = 'c7a5fdbd-edaf-9455-926a-d65c16db1809';
    await d.defineXML(guestXml(root, 'a', { uuid }));
    await expect(d.defineXML(guestXml(root, 'b', { uuid }))).rejects.toThrow(
      `operation failed: domain 'a' is already defined with uuid ${uuid}`,
    );
    await expect(d.defineXML(guestXml(root, 'a'))).rejects.toThrow(
      `operation failed: domain 'a' already exists with uuid ${uuid}`,
    );
    // the same name and uuid redefines
    await d.defineXML(guestXml(root, 'a', { uuid }).replace('65536', '32768'));
    expect(d.getXMLDesc('a')).toContain('32768');
  });

  it('two concurrent defines of one name: one wins, the other is refused (found by tools/stress)', async () => {
    const root = makeRoot();
    const d = await openDriver(root);
    const xml = guestXml(root, 'g1');
    const [a, b] = await Promise.allSettled([
      d.defineXML(xml.replace('<name>', '<uuid>c7a5fdbd-edaf-9455-926a-d65c16db1801</uuid><name>')),
      d.defineXML(xml.replace('<name>', '<uuid>c7a5fdbd-edaf-9455-926a-d65c16db1802</uuid><name>')),
    ]);
    expect(a).toMatchObject({ status: 'fulfilled' });
    expect(b).toMatchObject({ status: 'rejected' });
    expect((b as PromiseRejectedResult).reason.message).toBe(
      "operation failed: domain 'g1' already exists with uuid c7a5fdbd-edaf-9455-926a-d65c16db1801",
    );
    expect(d.listDomains()).toHaveLength(1);
    expect((await openDriver(root)).find('g1')?.uuid).toBe('c7a5fdbd-edaf-9455-926a-d65c16db1801');
  });

  it('refuses bad XML and a missing emulator at define', async () => {
    const root = makeRoot();
    const d = await openDriver(root);
    await expect(d.defineXML('<domain type="qemu"><name>x</name>')).rejects.toThrow(/XML error/);
    await expect(d.defineXML(guestXml(root, 'x', { emulator: '/nonexistent/qemu' }))).rejects.toThrow(
      'Cannot check QEMU binary /nonexistent/qemu: No such file or directory',
    );
    expect(readdirSync(path.join(root, 'etc/qemu'))).toEqual(['autostart']);
  });
});

describe('real guests (TCG)', () => {
  it('start → greeting on the serial log → destroy', async () => {
    const root = makeRoot();
    const d = await openDriver(root);
    await d.defineXML(guestXml(root, 'g1'));
    const dom = await d.start('g1');
    expect(dom).toMatchObject({ id: 1, state: 'running', reason: 'booted' });
    await waitFor(() => serialText(root, 'g1').includes(GREETING), 20_000, 'greeting');

    const proc = d.getProcess('g1')!;
    expect(pidsMentioning(root)).toEqual([proc.pid]);
    expect(existsSync(proc.monitorPath)).toBe(true);
    expect(readFileSync(path.join(root, 'run/qemu/g1.pid'), 'utf8')).toBe(`${proc.pid}\n`);
    const status = readFileSync(path.join(root, 'run/qemu/g1.xml'), 'utf8');
    expect(status).toContain(`<domstatus state='running' reason='booted' pid='${proc.pid}'>`);
    const live = d.getXMLDesc('g1');
    expect(live).toContain("<domain type='qemu' id='1'>");
    expect(live).toContain("<alias name='ide0-0-0'/>");
    expect(status).toContain(live.split('\n')[1]!.trim());
    const log = readFileSync(path.join(root, 'log/qemu/g1.log'), 'utf8');
    expect(log).toContain('LC_ALL=C \\\n');
    expect(log).toContain(`-name guest=g1,debug-threads=on \\\n-S \\\n`);

    await d.suspend('g1');
    expect(d.getState('g1')).toEqual({ state: 'paused', reason: 'user' });
    await d.resume('g1');
    expect(d.getState('g1')).toEqual({ state: 'running', reason: 'unpaused' });
    expect(d.getInfo('g1')).toMatchObject({ state: 'running', maxMem: 65536, nrVirtCpu: 1 });

    await expect(d.start('g1')).rejects.toThrow(
      'Requested operation is not valid: domain is already running',
    );
    await d.destroy('g1');
    expect(d.getState('g1')).toEqual({ state: 'shutoff', reason: 'destroyed' });
    expect(d.find('g1')?.id).toBe(-1);
    expectNoLeftovers(root, 'g1');
    expect(readFileSync(path.join(root, 'log/qemu/g1.log'), 'utf8')).toMatch(
      /shutting down, reason=destroyed\n$/,
    );
    await expect(d.destroy('g1')).rejects.toThrow('Requested operation is not valid: domain is not running');
  });

  it('a pid file that cannot be written fails the start, not the process (found by tools/stress)', async () => {
    const root = makeRoot();
    const d = await openDriver(root);
    await d.defineXML(guestXml(root, 'g1'));
    // the atomic write's rename onto a non-empty directory fails, as a full or read-only run dir
    mkdirSync(path.join(root, 'run/qemu/g1.pid/x'), { recursive: true });
    await expect(d.start('g1')).rejects.toThrow();
    expect(d.getState('g1').state).toBe('shutoff');
    expect(pidsMentioning(root)).toEqual([]);
  });

  it('kill -9 of QEMU is noticed as crashed', async () => {
    const root = makeRoot();
    const d = await openDriver(root);
    await d.defineXML(guestXml(root, 'g1'));
    await d.start('g1');
    const { pid } = d.getProcess('g1')!;
    process.kill(pid, 'SIGKILL');
    await waitFor(() => d.getState('g1').state === 'shutoff', 5000, 'shut off');
    expect(d.getState('g1')).toEqual({ state: 'shutoff', reason: 'crashed' });
    expectNoLeftovers(root, 'g1');
  });

  it('a transient domain (create) disappears when it stops', async () => {
    const root = makeRoot();
    const d = await openDriver(root);
    const dom = await d.createXML(guestXml(root, 't1'));
    expect(dom).toMatchObject({ persistent: false, state: 'running' });
    await expect(d.undefine('t1')).rejects.toThrow('cannot undefine transient domain');
    await d.destroy('t1');
    expect(d.listDomains()).toEqual([]);
    expectNoLeftovers(root, 't1');
  });

  it('a new driver reconnects to a running guest; a dead one becomes shut off (crashed)', async () => {
    const root = makeRoot();
    const a = await openDriver(root);
    await a.defineXML(guestXml(root, 'g1'));
    await a.defineXML(guestXml(root, 'g2'));
    await a.start('g1');
    await a.start('g2');
    const pid1 = a.getProcess('g1')!.pid;
    const pid2 = a.getProcess('g2')!.pid;
    await a.close();
    process.kill(pid2, 'SIGKILL');
    await waitFor(() => !pidsMentioning(root).includes(pid2), 5000, 'g2 gone');

    const b = await openDriver(root);
    expect(b.find('g1')).toMatchObject({ id: 1, state: 'running', reason: 'booted' });
    expect(b.getProcess('g1')!.pid).toBe(pid1);
    expect(b.getState('g2')).toEqual({ state: 'shutoff', reason: 'crashed' });
    expect(b.find('3')).toBeUndefined();
    await b.suspend('g1');
    expect(b.getState('g1')).toEqual({ state: 'paused', reason: 'user' });
    await b.close();

    const c = await openDriver(root);
    expect(c.getState('g1')).toEqual({ state: 'paused', reason: 'user' });
    await c.resume('g1');
    await c.start('g2');
    expect(c.find('g2')?.id).not.toBe(1);
    await waitFor(() => serialText(root, 'g1').includes(GREETING), 20_000, 'greeting');
    await c.destroy('g1');
    await c.destroy('g2');
    expectNoLeftovers(root, 'g');
  });

  it('autostart domains start once per boot of the host (the run directory marks it)', async () => {
    const root = makeRoot();
    const a = await openDriver(root);
    await a.defineXML(guestXml(root, 'g1'));
    await a.setAutostart('g1', true);
    await a.close();
    const again = await openDriver(root);
    expect(again.getState('g1').state).toBe('shutoff');
    await again.close();
    // A host reboot empties the run directory, and with it the marker.
    execFileSync('rm', ['-f', path.join(root, 'run/qemu/autostarted')]);
    const booted = await openDriver(root);
    expect(booted.getState('g1')).toEqual({ state: 'running', reason: 'booted' });
    await booted.destroy('g1');
    expectNoLeftovers(root, 'g1');
  });

  it('shutdown of a guest that ignores ACPI ends by timeout and destroy', async () => {
    const root = makeRoot();
    const d = await openDriver(root);
    await d.defineXML(guestXml(root, 'g1'));
    await d.start('g1');
    expect(await d.shutdown('g1', { timeoutMs: 500 })).toBe('destroyed');
    expect(d.getState('g1')).toEqual({ state: 'shutoff', reason: 'destroyed' });
    expectNoLeftovers(root, 'g1');
  });

  it('serialises operations on one domain', async () => {
    const root = makeRoot();
    const d = await openDriver(root);
    await d.defineXML(guestXml(root, 'g1'));
    const results = await Promise.allSettled([
      d.start('g1'),
      d.suspend('g1'),
      d.destroy('g1'),
      d.start('g1'),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
    expect(d.getState('g1')).toEqual({ state: 'running', reason: 'booted' });
    expect(d.find('g1')?.id).toBe(2);
    await d.destroy('g1');
  });
});

describe('failed starts leave nothing behind and say why in one line', () => {
  async function expectFailure(root: string, d: QemuDriver, name: string, message: RegExp | string) {
    const err = await d.start(name).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect(err!.message).not.toContain('\n');
    if (typeof message === 'string') expect(err!.message).toBe(message);
    else expect(err!.message).toMatch(message);
    expect(d.getState(name).state).toBe('shutoff');
    expectNoLeftovers(root, name);
  }

  it('a missing disk', async () => {
    const root = makeRoot();
    const d = await openDriver(root);
    await d.defineXML(guestXml(root, 'g1', { disk: `${root}/missing.img` }));
    const uid = process.geteuid!();
    await expectFailure(
      root,
      d,
      'g1',
      `Cannot access storage file '${root}/missing.img' (as uid:${uid}, gid:${process.getegid!()}): No such file or directory`,
    );
    expect(d.getState('g1').reason).toBe('unknown');
  });

  it('a disk QEMU cannot open', async () => {
    const root = makeRoot();
    mkdirSync(`${root}/adir`);
    const d = await openDriver(root);
    await d.defineXML(guestXml(root, 'g1', { disk: `${root}/adir` }));
    await expectFailure(root, d, 'g1', /^internal error: process exited while connecting to monitor: .*adir/);
    expect(d.getState('g1').reason).toBe('failed');
  });

  it('a broken emulator', async () => {
    const root = makeRoot();
    const fake = `${root}/broken-qemu`;
    writeFileSync(fake, '#!/bin/sh\necho "broken-qemu: cannot start" >&2\nexit 1\n');
    chmodSync(fake, 0o755);
    const d = await openDriver(root);
    await d.defineXML(guestXml(root, 'g1', { emulator: fake }));
    await expectFailure(
      root,
      d,
      'g1',
      'internal error: process exited while connecting to monitor: broken-qemu: cannot start',
    );
  });

  it('an emulator that is not there (create)', async () => {
    const root = makeRoot();
    const d = await openDriver(root);
    await expect(d.createXML(guestXml(root, 't', { emulator: `${root}/nope` }))).rejects.toThrow(
      `Cannot check QEMU binary ${root}/nope: No such file or directory`,
    );
    expect(d.listDomains()).toEqual([]);
    expectNoLeftovers(root, 't');
  });
});

describe('atomic definition writes', () => {
  it('a crash between the temporary write and the rename leaves the old file', async () => {
    const root = makeRoot();
    const d = await openDriver(root);
    const uuid = 'c7a5fdbd-edaf-9455-926a-d65c16db1809';
    await d.defineXML(guestXml(root, 'g1', { uuid }));
    await d.close();
    const file = path.join(root, 'etc/qemu/g1.xml');
    const before = readFileSync(file, 'utf8');
    // A real crash: another process is killed (SIGKILL) between its flushed temp write and the rename.
    const built = new URL('../dist/atomic-file.js', import.meta.url).pathname;
    expect(existsSync(built)).toBe(true);
    const script = `
      import { writeFileAtomic } from ${JSON.stringify(built)};
      await writeFileAtomic(${JSON.stringify(file)}, 'half-written', {
        beforeRename: () => process.kill(process.pid, 'SIGKILL'),
      });`;
    let signal: string | undefined;
    try {
      execFileSync(process.execPath, ['--input-type=module', '-e', script], { stdio: 'ignore' });
    } catch (err) {
      signal = (err as { signal?: string }).signal;
    }
    expect(signal).toBe('SIGKILL');
    expect(readdirSync(path.join(root, 'etc/qemu')).filter((f) => f.includes('.qvirt-tmp-'))).toHaveLength(1);
    expect(readFileSync(file, 'utf8')).toBe(before);
    const d2 = await openDriver(root);
    expect(d2.find('g1')?.uuid).toBe(uuid);
    expect(readdirSync(path.join(root, 'etc/qemu')).sort()).toEqual(['autostart', 'g1.xml']);
  });
});
