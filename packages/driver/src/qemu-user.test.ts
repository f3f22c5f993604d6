/**
 * The QEMU user an instance picks when its qemu.conf names none: libvirt-qemu where the host has
 * that user and group (Debian's libvirt installed), root where it does not. Both hosts are made
 * here, over the real one, so the two paths run on every machine whatever it has installed.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { type HostPort, nodeHost } from '@qvirt/core';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { QemuDriver } from './driver.js';
import {
  cleanupRoots,
  GREETING,
  guestXml,
  makeRoot,
  pidsMentioning,
  QEMU,
  serialText,
  sweepRun,
  waitFor,
} from './test-support/guests.js';

/** Debian's fixed ids for libvirt-qemu (its libvirt-daemon-system postinst). */
const LIBVIRT_QEMU = { name: 'libvirt-qemu', uid: 64055, gid: 64055, home: '/var/lib/libvirt' };

/** The real host, but with libvirt-qemu (user and group) present or absent, whatever it has. */
function hostWithLibvirtQemu(present: boolean): HostPort {
  const real = nodeHost();
  const isIt = (key: string | number, name: string, id: number) =>
    key === name || key === id || key === String(id);
  return {
    ...real,
    lookupUser: async (key) =>
      isIt(key, LIBVIRT_QEMU.name, LIBVIRT_QEMU.uid)
        ? present
          ? LIBVIRT_QEMU
          : undefined
        : real.lookupUser(key),
    lookupGroup: async (key) =>
      isIt(key, LIBVIRT_QEMU.name, LIBVIRT_QEMU.gid)
        ? present
          ? { name: LIBVIRT_QEMU.name, gid: LIBVIRT_QEMU.gid }
          : undefined
        : real.lookupGroup(key),
    groupList: async (user, gid) => (user === LIBVIRT_QEMU.name ? [gid] : real.groupList(user, gid)),
  };
}

const drivers: QemuDriver[] = [];
afterEach(async () => {
  for (const d of drivers.splice(0)) await d.close();
  cleanupRoots();
});
afterAll(sweepRun);

function processIds(pid: number): { uid: number; gid: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return {
    uid: Number(/^Uid:\s+(\d+)/m.exec(status)![1]),
    gid: Number(/^Gid:\s+(\d+)/m.exec(status)![1]),
  };
}

describe.skipIf(process.geteuid?.() !== 0 || !existsSync(QEMU))(
  'the default QEMU user of a root instance',
  () => {
    it.each([
      { libvirtQemu: true, user: 'libvirt-qemu', ids: { uid: LIBVIRT_QEMU.uid, gid: LIBVIRT_QEMU.gid } },
      { libvirtQemu: false, user: 'root', ids: { uid: 0, gid: 0 } },
    ])('libvirt-qemu present: $libvirtQemu → QEMU runs as $user', async ({ libvirtQemu, user, ids }) => {
      const root = makeRoot({ ids: null });
      const d = await QemuDriver.open(`qemu:///embed?root=${root}`, {
        host: hostWithLibvirtQemu(libvirtQemu),
      });
      drivers.push(d);
      expect({ user: d.conf.user, group: d.conf.group }).toEqual({ user, group: user });

      const disk = path.join(root, 'g1.img');
      await d.defineXML(guestXml(root, 'g1'));
      await d.start('g1');
      const pid = d.getProcess('g1')!.pid;
      expect(processIds(pid)).toEqual(ids);
      expect(statSync(disk)).toMatchObject(ids);
      const label = `+${ids.uid}:+${ids.gid}`;
      expect(d.getXMLDesc('g1')).toContain(`<label>${label}</label>\n    <imagelabel>${label}</imagelabel>`);
      await waitFor(() => serialText(root, 'g1').includes(GREETING), 30_000, 'the greeting');

      await d.destroy('g1');
      expect(statSync(disk)).toMatchObject({ uid: 0, gid: 0 });
      expect(pidsMentioning(root)).toEqual([]);
    });
  },
);

describe.skipIf(process.geteuid?.() !== 0 || !existsSync(QEMU))('a start refused after the launch', () => {
  // The launch chain is unref'd; a rollback that waits for it without a reference would let a
  // process with nothing else to do (qvirsh on an embed URI) exit with code 13 and no message.
  // whether the chain's exit is seen before the loop runs dry is a race: several tries catch it
  const TRIES = 5;
  it('is reported by a process that has nothing else pending', async () => {
    const root = makeRoot({ ids: { user: '+65534', group: '+65534' } });
    const d = await QemuDriver.open(`qemu:///embed?root=${root}`);
    await d.defineXML(guestXml(root, 'g1'));
    await d.close();
    chmodSync(root, 0o700);
    const dist = path.resolve(import.meta.dirname, '../dist/index.js');
    const script = `
      const { QemuDriver } = await import(${JSON.stringify(dist)});
      const d = await QemuDriver.open(${JSON.stringify(`qemu:///embed?root=${root}`)}, { autostart: false });
      for (let i = 0; i < ${TRIES}; i++) {
        await d.start('g1').then(() => console.log('started'), (e) => console.log(e.message));
      }
      console.log(JSON.stringify(d.getState('g1')));
      await d.close();`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    const refused =
      `Cannot access storage file '${root}/g1.img' (as uid:65534, gid:65534): Permission denied: directory '${root}' ` +
      `(owner 0:0, mode 0700) does not let that user through; fix: chmod o+x ${root}, or give the directory to that user or group\n`;
    expect(out).toBe(`${refused.repeat(TRIES)}${JSON.stringify({ state: 'shutoff', reason: 'failed' })}\n`);
    expect(pidsMentioning(root)).toEqual([]);
    expect(statSync(path.join(root, 'g1.img'))).toMatchObject({ uid: 0, gid: 0 });
  });
});
