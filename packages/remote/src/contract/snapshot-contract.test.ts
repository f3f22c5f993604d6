/**
 * Internal snapshots of a qcow2 guest, one suite two ways (in process and through a real qvirtd):
 * a guest counting on its serial port is snapshotted, reverted (its counter goes back), snapshots
 * are listed, deleted, kept across a daemon restart, and undefine honours --snapshots-metadata.
 * Then external snapshots of the Linux test guest (tools/test-guest): disk-only with its file
 * systems frozen by the agent, with memory, the children APIs, a write landing in the overlay and
 * not in the image below, deleting the top snapshot (its overlay committed), and the metadata
 * after a daemon restart.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  type Domain,
  type DomainEvent,
  type HypervisorDriver,
  VIR_CONNECT_LIST_DOMAINS as L,
  VIR_DOMAIN_EVENT,
  VIR_DOMAIN_EVENT_DETAIL,
  VIR_DOMAIN_EVENT_ID,
  VIR_DOMAIN_SAVE,
  VIR_DOMAIN_STATE,
  VIR_DOMAIN_UNDEFINE,
} from '@qvirt/core/hypervisor';
import { countsIn, QemuDriver, serialGuestBootSector } from '@qvirt/driver';
import { GuestConsole, testGuest } from '@qvirt/test-guest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RemoteClient } from '../client/client.js';
import { defaultDaemonConfig } from '../daemon/config.js';
import { type Daemon, startDaemon } from '../daemon/daemon.js';
import { killMentioning, makeTestDir } from '../test-support/harness.js';

interface Way {
  conn: HypervisorDriver;
  dir: string;
  /** Closes and opens the connection again (a daemon restart through qvirtd). */
  reopen(): Promise<void>;
  close(): Promise<void>;
}

async function inProcess(): Promise<Way> {
  const { dir, root } = makeTestDir('qvirt-snap-local-');
  const way: Way = {
    conn: await QemuDriver.open(`qemu:///embed?root=${root}`),
    dir,
    async reopen() {
      await way.conn.connectClose();
      way.conn = await QemuDriver.open(`qemu:///embed?root=${root}`);
    },
    close: () => way.conn.connectClose(),
  };
  return way;
}

async function throughQvirtd(): Promise<Way> {
  const { dir, root } = makeTestDir('qvirt-snap-remote-');
  const start = () =>
    startDaemon({
      uri: `qemu:///embed?root=${root}`,
      socketDir: path.join(dir, 'sock'),
      config: defaultDaemonConfig(),
    });
  let daemon: Daemon = await start();
  const way: Way = {
    conn: await RemoteClient.open(`qemu+unix:///system?socket=${daemon.sockets.rw}`),
    dir,
    async reopen() {
      await way.conn.connectClose();
      await daemon.close();
      daemon = await start();
      way.conn = await RemoteClient.open(`qemu+unix:///system?socket=${daemon.sockets.rw}`);
    },
    async close() {
      await way.conn.connectClose();
      await daemon.close();
    },
  };
  return way;
}

const read = (f: string) => (existsSync(f) ? readFileSync(f, 'latin1') : '');

async function until<T>(what: string, probe: () => T | undefined, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.each([
  ['in process', inProcess],
  ['through qvirtd', throughQvirtd],
])('internal snapshots %s', (_label, open) => {
  let way: Way;
  const c = () => way.conn;
  let dom: Domain;
  let log: string;
  beforeAll(async () => {
    way = await open();
    const raw = path.join(way.dir, 'snap.raw');
    writeFileSync(raw, serialGuestBootSector(2));
    const disk = path.join(way.dir, 'snap.qcow2');
    execFileSync('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, disk]);
    log = path.join(way.dir, 'snap.log');
    dom = await c().domainDefineXML(`<domain type='qemu'>
  <name>snap</name>
  <memory unit='KiB'>65536</memory>
  <vcpu>1</vcpu>
  <os><type arch='i686' machine='pc'>hvm</type><boot dev='hd'/></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='${disk}'/><target dev='hda' bus='ide'/></disk>
    <serial type='file'><source path='${log}'/><target port='0'/></serial>
  </devices>
</domain>`);
  });
  afterAll(async () => {
    for (const d of await c()
      .connectListAllDomains(L.ACTIVE)
      .catch(() => []))
      await c()
        .domainDestroy(d)
        .catch(() => {});
    await way?.close();
    killMentioning(way.dir);
    rmSync(way.dir, { recursive: true, force: true });
  });

  it('snapshots a running guest and reverts it: the counter goes back', async () => {
    await c().domainCreate(dom);
    await until('counts', () => (countsIn(read(log)).length >= 3 ? true : undefined));
    const s1 = await c().domainSnapshotCreateXML(
      dom,
      '<domainsnapshot><name>s1</name><description>first</description></domainsnapshot>',
      0,
    );
    expect(s1.name).toBe('s1');
    const atSnapshot = Math.max(...countsIn(read(log)));
    await until('more counts', () =>
      countsIn(read(log)).some((x) => x > atSnapshot + 10) ? true : undefined,
    );
    const xml = await c().domainSnapshotGetXMLDesc(s1, 0);
    expect(xml).toMatch(
      /^<domainsnapshot>\n {2}<name>s1<\/name>\n {2}<description>first<\/description>\n {2}<state>running<\/state>\n {2}<creationTime>\d+<\/creationTime>\n {2}<memory snapshot='internal'\/>\n {2}<disks>\n {4}<disk name='hda' snapshot='internal'\/>\n {2}<\/disks>\n {2}<domain type='qemu'>\n {4}<name>snap<\/name>\n/,
    );
    const s2 = await c().domainSnapshotCreateXML(dom, '<domainsnapshot><name>s2</name></domainsnapshot>', 0);
    expect((await c().domainSnapshotGetParent(s2, 0)).name).toBe('s1');
    expect((await c().domainSnapshotCurrent(dom, 0)).name).toBe('s2');
    // revert: the guest's memory is the snapshot's, so it counts again from there
    const before = read(log).length;
    const events: DomainEvent[] = [];
    const cb = await c().connectDomainEventRegisterAny(dom, VIR_DOMAIN_EVENT_ID.LIFECYCLE, (e) =>
      events.push(e),
    );
    await c().domainRevertToSnapshot(s1, 0);
    expect((await c().domainGetState(dom, 0)).state).toBe(VIR_DOMAIN_STATE.running);
    // libvirt 9.0's sequence (qemuSnapshotRevertActive, recorded against libvirtd): QEMU is
    // stopped and started again on the snapshot, then resumed, and the definition is the snapshot's
    const E = VIR_DOMAIN_EVENT;
    const D = VIR_DOMAIN_EVENT_DETAIL;
    await until('the revert events', () => (events.length >= 4 ? true : undefined));
    expect(events.map((e) => [e.event, e.detail])).toEqual([
      [E.STOPPED, D.STOPPED.FROM_SNAPSHOT],
      [E.STARTED, D.STARTED.FROM_SNAPSHOT],
      [E.RESUMED, D.RESUMED.FROM_SNAPSHOT],
      [E.DEFINED, D.DEFINED.FROM_SNAPSHOT],
    ]);
    await c().connectDomainEventDeregisterAny(cb);
    expect(await c().domainGetState(dom, 0)).toEqual({ state: VIR_DOMAIN_STATE.running, reason: 4 });
    // the guest counted on until the revert stopped it (every such count is above the snapshot's,
    // by the wait above); a count back near the snapshot's can only come from the reverted memory.
    // The new QEMU opened the serial file afresh (truncated), as under libvirt.
    const fresh = await until('counts from the snapshot after the revert', () => {
      const text = read(log);
      const n = countsIn(text.length < before ? text : text.slice(before));
      const i = n.findIndex((x) => x <= atSnapshot + 2);
      return i >= 0 && n.length > i + 1 ? n.slice(i) : undefined;
    });
    expect(fresh[1]).toBeGreaterThan(fresh[0]!);
    expect(await c().domainSnapshotIsCurrent(s1, 0)).toBe(1);
    await c().domainSnapshotDelete(s2, 0);
    expect(await c().domainSnapshotListNames(dom, 10, 0)).toEqual(['s1']);
    await expect(c().domainSnapshotLookupByName(dom, 's2', 0)).rejects.toThrow(
      "Domain snapshot not found: no domain snapshot with matching name 's2'",
    );
  });

  it('snapshots a shut-off guest with qemu-img and keeps the metadata across a restart', async () => {
    await c().domainDestroy(dom);
    const off = await c().domainSnapshotCreateXML(
      dom,
      '<domainsnapshot><name>off</name></domainsnapshot>',
      0,
    );
    expect(await c().domainSnapshotGetXMLDesc(off, 0)).toContain(
      '<state>shutoff</state>\n  <parent>\n    <name>s1</name>',
    );
    await way.reopen();
    dom = await c().domainLookupByName('snap');
    expect((await c().domainListAllSnapshots(dom, 0)).map((s) => s.name).sort()).toEqual(['off', 's1']);
    expect((await c().domainSnapshotCurrent(dom, 0)).name).toBe('off');
    // reverting to a snapshot with memory starts the guest from it (libvirt's events, recorded)
    const events: DomainEvent[] = [];
    const cb = await c().connectDomainEventRegisterAny(dom, VIR_DOMAIN_EVENT_ID.LIFECYCLE, (e) =>
      events.push(e),
    );
    await c().domainRevertToSnapshot(await c().domainSnapshotLookupByName(dom, 's1', 0), 0);
    expect((await c().domainGetState(dom, 0)).state).toBe(VIR_DOMAIN_STATE.running);
    const E = VIR_DOMAIN_EVENT;
    const D = VIR_DOMAIN_EVENT_DETAIL;
    await until('the revert events', () => (events.length >= 3 ? true : undefined));
    expect(events.map((e) => [e.event, e.detail])).toEqual([
      [E.STARTED, D.STARTED.FROM_SNAPSHOT],
      [E.RESUMED, D.RESUMED.FROM_SNAPSHOT],
      [E.DEFINED, D.DEFINED.FROM_SNAPSHOT],
    ]);
    // and to the one without: QEMU stops, the disks go back, the definition is the snapshot's
    events.length = 0;
    await c().domainRevertToSnapshot(await c().domainSnapshotLookupByName(dom, 'off', 0), 0);
    expect(await c().domainGetState(dom, 0)).toEqual({ state: VIR_DOMAIN_STATE.shutoff, reason: 7 });
    await until('the revert events', () => (events.length >= 2 ? true : undefined));
    expect(events.map((e) => [e.event, e.detail])).toEqual([
      [E.STOPPED, D.STOPPED.FROM_SNAPSHOT],
      [E.DEFINED, D.DEFINED.FROM_SNAPSHOT],
    ]);
    await c().connectDomainEventDeregisterAny(cb);
    await c().domainCreate(dom);
    await c().domainDestroy(dom);
  });

  it('save and restore report the events of libvirt 9.0 (SAVED, then RESTORED and resumed)', async () => {
    await c().domainCreate(dom);
    const events: DomainEvent[] = [];
    const cb = await c().connectDomainEventRegisterAny(dom, VIR_DOMAIN_EVENT_ID.LIFECYCLE, (e) =>
      events.push(e),
    );
    const image = path.join(way.dir, 'snap.save');
    await c().domainSave(dom, image);
    await c().domainRestore(image);
    const E = VIR_DOMAIN_EVENT;
    const D = VIR_DOMAIN_EVENT_DETAIL;
    await until('the events', () => (events.length >= 4 ? true : undefined));
    // recorded against libvirtd: qemuSaveImageStartVM reports the start, then the resume
    expect(events.map((e) => [e.event, e.detail])).toEqual([
      [E.SUSPENDED, D.SUSPENDED.PAUSED],
      [E.STOPPED, D.STOPPED.SAVED],
      [E.STARTED, D.STARTED.RESTORED],
      [E.RESUMED, D.RESUMED.FROM_SNAPSHOT],
    ]);
    // a paused restore: started, then suspended (paused as asked)
    events.length = 0;
    await c().domainSave(dom, image);
    await c().domainRestoreFlags(image, null, VIR_DOMAIN_SAVE.PAUSED);
    await until('the events', () => (events.length >= 4 ? true : undefined));
    expect(events.map((e) => [e.event, e.detail]).slice(2)).toEqual([
      [E.STARTED, D.STARTED.RESTORED],
      [E.SUSPENDED, D.SUSPENDED.PAUSED],
    ]);
    expect((await c().domainGetState(dom, 0)).state).toBe(VIR_DOMAIN_STATE.paused);
    await c().connectDomainEventDeregisterAny(cb);
    await c().domainDestroy(dom);
    rmSync(image);
  });

  it('undefine refuses a domain with snapshots unless --snapshots-metadata', async () => {
    await expect(c().domainUndefine(dom)).rejects.toThrow(
      'Requested operation is not valid: cannot delete inactive domain with 2 snapshots',
    );
    await c().domainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE.SNAPSHOTS_METADATA);
    await expect(c().domainLookupByName('snap')).rejects.toThrow('Domain not found');
  });
});

const guest = testGuest();
const S = { DISK_ONLY: 1 << 4, QUIESCE: 1 << 6, ATOMIC: 1 << 7, LIST_DESCENDANTS: 1 } as const;

describe.skipIf(!guest).each([
  ['in process', inProcess],
  ['through qvirtd', throughQvirtd],
])('external snapshots of the Linux guest %s', (_label, open) => {
  let way: Way;
  const c = () => way.conn;
  let dom: Domain;
  let base: string;
  let stop: () => void;
  const events: DomainEvent[] = [];

  /** Runs `cmd` in the guest through qvirt's agent connection (guest-exec). */
  async function inGuest(cmd: string): Promise<void> {
    const ask = async (execute: string, args: object) =>
      JSON.parse(
        (await c().domainQemuAgentCommand(dom, JSON.stringify({ execute, arguments: args }), 10, 0))!,
      ).return;
    const { pid } = await ask('guest-exec', { path: '/bin/sh', arg: ['-c', cmd] });
    for (;;) {
      const st = await ask('guest-exec-status', { pid });
      if (st.exited) {
        expect(st.exitcode).toBe(0);
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  /** The image's guest-visible content (its backing chain read through), searched for `mark`. */
  const holds = (image: string, mark: string) => {
    const out = path.join(way.dir, 'content.raw');
    execFileSync('qemu-img', ['convert', '-U', '-f', 'qcow2', '-O', 'raw', image, out]);
    const found = readFileSync(out).includes(mark);
    rmSync(out);
    return found;
  };

  beforeAll(async () => {
    way = await open();
    base = path.join(way.dir, 'data.qcow2');
    execFileSync('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', guest!.disk!, base]);
    const serial = path.join(way.dir, 'serial.log');
    dom = await c().domainDefineXML(`<domain type='qemu'>
  <name>ext</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type>
    <kernel>${guest!.kernel}</kernel><initrd>${guest!.initrd}</initrd><cmdline>${guest!.append}</cmdline></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='${base}'/><target dev='vda' bus='virtio'/></disk>
    <serial type='file'><source path='${serial}'/><target port='0'/></serial>
    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
  </devices>
</domain>`);
    await c().domainCreate(dom);
    const con = new GuestConsole();
    stop = con.followFile(serial);
    await con.waitUntil('the data disk mounted', (v) => v.ready && v.mounts.has('/mnt/data'), 180_000);
    // the agent answers once its port is open
    for (let i = 0; ; i++) {
      const ok = await c()
        .domainQemuAgentCommand(dom, '{"execute":"guest-ping"}', 5, 0)
        .then(() => true)
        .catch((e: Error) => (i > 300 ? Promise.reject(e) : false));
      if (ok) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    await c().connectDomainEventRegisterAny(dom, VIR_DOMAIN_EVENT_ID.LIFECYCLE, (e) => events.push(e));
  }, 240_000);
  afterAll(async () => {
    stop?.();
    for (const d of await c()
      .connectListAllDomains(L.ACTIVE)
      .catch(() => []))
      await c()
        .domainDestroy(d)
        .catch(() => {});
    await way?.close();
    killMentioning(way.dir);
    rmSync(way.dir, { recursive: true, force: true });
  });

  it('disk-only with quiesce: the write after it lands in the overlay, not below', async () => {
    const s1 = await c().domainSnapshotCreateXML(
      dom,
      '<domainsnapshot><name>s1</name></domainsnapshot>',
      S.DISK_ONLY | S.QUIESCE | S.ATOMIC,
    );
    const overlay = path.join(way.dir, 'data.s1');
    const xml = await c().domainSnapshotGetXMLDesc(s1, 0);
    expect(xml).toContain(`<state>disk-snapshot</state>\n  <creationTime>`);
    expect(xml).toContain(
      `<memory snapshot='no'/>\n  <disks>\n    <disk name='vda' snapshot='external' type='file'>\n      <driver type='qcow2'/>\n      <source file='${overlay}'/>\n    </disk>\n  </disks>\n`,
    );
    // the file systems were thawed again, and no lifecycle event was reported
    expect(
      JSON.parse((await c().domainQemuAgentCommand(dom, '{"execute":"guest-fsfreeze-status"}', 5, 0))!),
    ).toEqual({
      return: 'thawed',
    });
    expect(events).toEqual([]);
    const live = await c().domainGetXMLDesc(dom, 0);
    expect(live).toContain(`<source file='${overlay}'`);
    // labelled for QEMU like the image below it, and private
    expect(statSync(overlay).uid).toBe(statSync(base).uid);
    expect(statSync(overlay).mode & 0o077).toBe(0);
    expect((await c().domainGetXMLDesc(dom, 2)).match(/<source file='[^']+'/g)).toEqual([
      `<source file='${overlay}'`,
      `<source file='${base}'`,
    ]);
    await inGuest('echo QVIRT-SNAP-MARK-ONE > /mnt/data/mark1 && sync');
    expect(holds(overlay, 'QVIRT-SNAP-MARK-ONE')).toBe(true);
    expect(holds(base, 'QVIRT-SNAP-MARK-ONE')).toBe(false);
  });

  it('with memory: a save image of the guest and a second overlay; the children APIs', async () => {
    const mem = path.join(way.dir, 's2.mem');
    const s2 = await c().domainSnapshotCreateXML(
      dom,
      `<domainsnapshot><name>s2</name><memory snapshot='external' file='${mem}'/></domainsnapshot>`,
      0,
    );
    const E = VIR_DOMAIN_EVENT;
    const D = VIR_DOMAIN_EVENT_DETAIL;
    // libvirt 9.0: the guest pauses for its memory and goes on
    await until('the events', () => (events.length >= 2 ? true : undefined));
    expect(events.map((e) => [e.event, e.detail])).toEqual([
      [E.SUSPENDED, D.SUSPENDED.PAUSED],
      [E.RESUMED, D.RESUMED.UNPAUSED],
    ]);
    expect((await c().domainGetState(dom, 0)).state).toBe(VIR_DOMAIN_STATE.running);
    expect(readFileSync(mem).subarray(0, 16).toString()).toBe('LibvirtQemudSave');
    expect(await c().domainSaveImageGetXMLDesc(mem, 0)).toContain('<name>ext</name>');
    expect((await c().domainSnapshotGetParent(s2, 0)).name).toBe('s1');
    const s1 = await c().domainSnapshotLookupByName(dom, 's1', 0);
    expect(await c().domainSnapshotNumChildren(s1, 0)).toBe(1);
    expect(await c().domainSnapshotListChildrenNames(s1, 10, 0)).toEqual(['s2']);
    expect((await c().domainSnapshotListAllChildren(s1, S.LIST_DESCENDANTS)).map((s) => s.name)).toEqual([
      's2',
    ]);
    expect(await c().domainSnapshotNumChildren(s2, 0)).toBe(0);
    await expect(c().domainRevertToSnapshot(s2, 0)).rejects.toThrow(
      'unsupported configuration: revert to external snapshot not supported yet',
    );
  });

  it('deleting the top snapshot commits its overlay; the metadata outlives a daemon restart', async () => {
    await inGuest('echo QVIRT-SNAP-MARK-TWO > /mnt/data/mark2 && sync');
    const top = path.join(way.dir, 'data.s2');
    const below = path.join(way.dir, 'data.s1');
    expect(holds(top, 'QVIRT-SNAP-MARK-TWO')).toBe(true);
    await c().domainSnapshotDelete(await c().domainSnapshotLookupByName(dom, 's2', 0), 0);
    expect(existsSync(top)).toBe(false);
    expect(await c().domainGetXMLDesc(dom, 0)).toContain(`<source file='${below}'`);
    // the guest goes on writing into the image below, which now holds both marks
    await inGuest('echo QVIRT-SNAP-MARK-TRI > /mnt/data/mark3 && sync');
    for (const mark of ['QVIRT-SNAP-MARK-ONE', 'QVIRT-SNAP-MARK-TWO', 'QVIRT-SNAP-MARK-TRI'])
      expect(holds(below, mark)).toBe(true);
    expect((await c().domainSnapshotCurrent(dom, 0)).name).toBe('s1');
    await c().domainDestroy(dom);
    await way.reopen();
    dom = await c().domainLookupByName('ext');
    expect(await c().domainSnapshotListNames(dom, 10, 0)).toEqual(['s1']);
    expect((await c().domainSnapshotCurrent(dom, 0)).name).toBe('s1');
    expect(await c().domainGetXMLDesc(dom, 0)).toContain(`<source file='${below}'`);
    await c().domainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE.SNAPSHOTS_METADATA);
  });
});
