/**
 * Internal snapshots of a qcow2 guest, one suite two ways (in process and through a real qvirtd):
 * a guest counting on its serial port is snapshotted, reverted (its counter goes back), snapshots
 * are listed, deleted, kept across a daemon restart, and undefine honours --snapshots-metadata.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  type Domain,
  type HypervisorDriver,
  VIR_CONNECT_LIST_DOMAINS as L,
  VIR_DOMAIN_STATE,
  VIR_DOMAIN_UNDEFINE,
} from '@qvirt/core/hypervisor';
import { countsIn, QemuDriver, serialGuestBootSector } from '@qvirt/driver';
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
    await c().domainRevertToSnapshot(s1, 0);
    expect((await c().domainGetState(dom, 0)).state).toBe(VIR_DOMAIN_STATE.running);
    // the guest counted on until the revert stopped it (every such count is above the snapshot's,
    // by the wait above); a count back near the snapshot's can only come from the reverted memory
    const fresh = await until('counts from the snapshot after the revert', () => {
      const n = countsIn(read(log).slice(before));
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
    // reverting to a snapshot with memory starts the guest from it
    await c().domainRevertToSnapshot(await c().domainSnapshotLookupByName(dom, 's1', 0), 0);
    expect((await c().domainGetState(dom, 0)).state).toBe(VIR_DOMAIN_STATE.running);
    await c().domainDestroy(dom);
  });

  it('undefine refuses a domain with snapshots unless --snapshots-metadata', async () => {
    await expect(c().domainUndefine(dom)).rejects.toThrow(
      'Requested operation is not valid: cannot delete inactive domain with 2 snapshots',
    );
    await c().domainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE.SNAPSHOTS_METADATA);
    await expect(c().domainLookupByName('snap')).rejects.toThrow('Domain not found');
  });
});
