/**
 * The storage contract, two ways: every test runs against @qvirt/storage in this process and
 * against a RemoteClient talking to a real qvirtd (streams included). A dir pool in a temp
 * directory, and (as root, with lvm2) a logical pool on a loop device the test makes and removes.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  VIR_CONNECT_LIST_STORAGE_POOLS as L,
  type StorageDriver,
  type StoragePoolEvent,
  sendAll,
  VIR_STORAGE_POOL_EVENT,
  VIR_STORAGE_POOL_EVENT_ID,
  VIR_STORAGE_POOL_STATE,
  VIR_STORAGE_VOL_RESIZE,
  VIR_STORAGE_VOL_TYPE,
  VIR_STORAGE_XML_INACTIVE,
  type VirStream,
} from '@qvirt/core/hypervisor';
import { resolveInstance } from '@qvirt/driver';
import { openStorageDriver } from '@qvirt/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RemoteClient } from '../client/client.js';
import { defaultDaemonConfig } from '../daemon/config.js';
import { startDaemon } from '../daemon/daemon.js';
import { makeTestDir } from '../test-support/harness.js';

interface Way {
  conn: StorageDriver;
  dir: string;
  /** Closes and opens the connection again (a daemon restart, or a new in-process driver). */
  reopen(): Promise<void>;
  close(): Promise<void>;
}

async function inProcess(): Promise<Way> {
  const { dir, root } = makeTestDir('qvirt-storage-local-');
  const layout = resolveInstance(`qemu:///embed?root=${root}`).layout;
  const way: Way = {
    conn: await openStorageDriver(layout),
    dir,
    async reopen() {
      way.conn = await openStorageDriver(layout);
    },
    async close() {},
  };
  return way;
}

async function throughQvirtd(): Promise<Way> {
  const { dir, root } = makeTestDir('qvirt-storage-remote-');
  const start = () =>
    startDaemon({
      uri: `qemu:///embed?root=${root}`,
      socketDir: path.join(dir, 'sock'),
      config: defaultDaemonConfig(),
    });
  let daemon = await start();
  let client = await RemoteClient.open(`qemu+unix:///system?socket=${daemon.sockets.rw}`);
  const way: Way = {
    conn: client,
    dir,
    async reopen() {
      await client.connectClose();
      await daemon.close();
      daemon = await start();
      client = await RemoteClient.open(`qemu+unix:///system?socket=${daemon.sockets.rw}`);
      way.conn = client;
    },
    async close() {
      await client.connectClose();
      await daemon.close();
    },
  };
  return way;
}

/** Reads a whole download stream. */
async function readAll(st: VirStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (;;) {
    const c = await st.recv();
    if (c === null) break;
    parts.push('hole' in c ? Buffer.alloc(c.hole) : Buffer.from(c.data));
  }
  await st.finish();
  return Buffer.concat(parts);
}

async function* chunked(data: Buffer, size: number): AsyncIterable<Uint8Array> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

const dirPoolXml = (name: string, target: string) =>
  `<pool type="dir"><name>${name}</name><uuid>5f4cd1f4-9d0f-4bf0-8e8a-${randomBytes(6).toString('hex')}</uuid><target><path>${target}//</path></target></pool>`;

describe.each([
  ['in process', inProcess],
  ['through qvirtd', throughQvirtd],
])('storage contract %s', (_label, open) => {
  let way: Way;
  let target: string;
  const events: StoragePoolEvent[] = [];
  beforeAll(async () => {
    way = await open();
    target = path.join(way.dir, 'pool');
  }, 60_000);
  afterAll(async () => {
    await way?.close();
    if (way) rmSync(way.dir, { recursive: true, force: true });
  });

  it('defines a dir pool and prints it as libvirt does after define', async () => {
    await way.conn.connectStoragePoolEventRegisterAny(null, VIR_STORAGE_POOL_EVENT_ID.LIFECYCLE, (e) =>
      events.push(e),
    );
    await way.conn.connectStoragePoolEventRegisterAny(null, VIR_STORAGE_POOL_EVENT_ID.REFRESH, (e) =>
      events.push(e),
    );
    const pool = await way.conn.storagePoolDefineXML(dirPoolXml('p1', target), 0);
    expect(pool.name).toBe('p1');
    const xml = await way.conn.storagePoolGetXMLDesc(pool, 0);
    expect(xml).toBe(
      `<pool type='dir'>\n  <name>p1</name>\n  <uuid>${pool.uuid}</uuid>\n  <capacity unit='bytes'>0</capacity>\n  <allocation unit='bytes'>0</allocation>\n  <available unit='bytes'>0</available>\n  <source>\n  </source>\n  <target>\n    <path>${target}</path>\n  </target>\n</pool>\n`,
    );
    expect(await way.conn.storagePoolIsActive(pool)).toBe(0);
    expect(await way.conn.storagePoolIsPersistent(pool)).toBe(1);
    expect((await way.conn.connectListAllStoragePools(L.INACTIVE)).map((p) => p.name)).toEqual(['p1']);
    expect(await way.conn.connectListAllStoragePools(L.ACTIVE)).toEqual([]);
  });

  it('refuses bad pool definitions and unknown pools with libvirt errors', async () => {
    await expect(way.conn.storagePoolDefineXML('<pool/>', 0)).rejects.toThrow(
      "XML error: Missing required attribute 'type' in element 'pool'",
    );
    await expect(way.conn.storagePoolDefineXML("<pool type='dir'><name>x</name></pool>", 0)).rejects.toThrow(
      'XML error: missing storage pool target path',
    );
    await expect(way.conn.storagePoolLookupByName('nope')).rejects.toThrow(
      "Storage pool not found: no storage pool with matching name 'nope'",
    );
    // a target that is a file: the start fails and nothing is left running
    const file = path.join(way.dir, 'a-file');
    writeFileSync(file, '');
    await expect(
      way.conn.storagePoolCreateXML(
        `<pool type='dir'><name>bad</name><target><path>${file}</path></target></pool>`,
        0,
      ),
    ).rejects.toThrow(`cannot open directory '${file}': Not a directory`);
    await expect(way.conn.storagePoolLookupByName('bad')).rejects.toThrow(/no storage pool/);
  });

  it('builds, starts and refreshes, finding files made outside', async () => {
    const pool = await way.conn.storagePoolLookupByName('p1');
    await way.conn.storagePoolBuild(pool, 0);
    expect(statSync(target).isDirectory()).toBe(true);
    writeFileSync(path.join(target, 'outside.img'), Buffer.alloc(4096, 1));
    await way.conn.storagePoolCreate(pool, 0);
    const info = await way.conn.storagePoolGetInfo(pool);
    expect(info.state).toBe(VIR_STORAGE_POOL_STATE.RUNNING);
    expect(info.capacity).toBeGreaterThan(0);
    expect(await way.conn.storagePoolListVolumes(pool, 100)).toEqual(['outside.img']);
    writeFileSync(path.join(target, 'later.img'), Buffer.alloc(512));
    // a symlink out of the pool is not a volume
    symlinkSync('/etc/passwd', path.join(target, 'escape'));
    await way.conn.storagePoolRefresh(pool, 0);
    expect((await way.conn.storagePoolListAllVolumes(pool, 0)).map((v) => v.name).sort()).toEqual([
      'later.img',
      'outside.img',
    ]);
    expect(await way.conn.storagePoolGetXMLDesc(pool, 0)).toMatch(/<permissions>\n {6}<mode>0\d+<\/mode>/);
  });

  it('creates raw and qcow2 volumes, with a backing store, and describes them', async () => {
    const pool = await way.conn.storagePoolLookupByName('p1');
    const raw = await way.conn.storageVolCreateXML(
      pool,
      "<volume><name>r1</name><capacity unit='M'>1</capacity><allocation>0</allocation></volume>",
      0,
    );
    expect(raw).toEqual({ pool: 'p1', name: 'r1', key: path.join(target, 'r1') });
    expect(await way.conn.storageVolGetInfo(raw)).toEqual({
      type: VIR_STORAGE_VOL_TYPE.FILE,
      capacity: 1048576,
      allocation: 0,
    });
    const q = await way.conn.storageVolCreateXML(
      pool,
      `<volume><name>q1.qcow2</name><capacity unit='M'>8</capacity><target><format type='qcow2'/></target><backingStore><path>${path.join(target, 'r1')}</path><format type='raw'/></backingStore></volume>`,
      0,
    );
    const xml = await way.conn.storageVolGetXMLDesc(q, 0);
    expect(xml).toMatch(
      /^<volume type='file'>\n {2}<name>q1.qcow2<\/name>\n {2}<key>[^<]+<\/key>\n {2}<capacity unit='bytes'>8388608<\/capacity>/,
    );
    expect(xml).toContain("<format type='qcow2'/>");
    expect(xml).toContain(
      `<backingStore>\n    <path>${path.join(target, 'r1')}</path>\n    <format type='raw'/>`,
    );
    expect(xml).toContain('<mode>0600</mode>');
    expect(await way.conn.storageVolGetPath(q)).toBe(path.join(target, 'q1.qcow2'));
    expect(await way.conn.storageVolLookupByPath(path.join(target, 'q1.qcow2'))).toEqual(q);
    expect(await way.conn.storageVolLookupByKey(q.key)).toEqual(q);
    expect(await way.conn.storagePoolLookupByVolume(q)).toEqual(pool);
  });

  it('refuses volume names that leave the pool, creating nothing', async () => {
    const pool = await way.conn.storagePoolLookupByName('p1');
    const before = await way.conn.storagePoolListVolumes(pool, 100);
    await expect(
      way.conn.storageVolCreateXML(pool, '<volume><name>a/b</name><capacity>1024</capacity></volume>', 0),
    ).rejects.toThrow("Requested operation is not valid: volume name 'a/b' cannot contain '/'");
    await expect(
      way.conn.storageVolCreateXML(pool, '<volume><name>..</name><capacity>1024</capacity></volume>', 0),
    ).rejects.toThrow(`Requested operation is not valid: volume target path '${target}/..' already exists`);
    await expect(
      way.conn.storageVolCreateXML(pool, '<volume><name>r1</name><capacity>1024</capacity></volume>', 0),
    ).rejects.toThrow("storage volume 'r1' exists already");
    expect(await way.conn.storagePoolListVolumes(pool, 100)).toEqual(before);
    expect(existsSync(path.join(way.dir, 'b'))).toBe(false);
  });

  it('uploads and downloads byte for byte, sparse streams too', async () => {
    const pool = await way.conn.storagePoolLookupByName('p1');
    const vol = await way.conn.storageVolCreateXML(
      pool,
      "<volume><name>data</name><capacity unit='KiB'>3072</capacity></volume>",
      0,
    );
    const payload = randomBytes(1024 * 1024 + 12345);
    await sendAll(await way.conn.storageVolUpload(vol, 0, 0, 0), chunked(payload, 300_000));
    const back = await readAll(await way.conn.storageVolDownload(vol, 0, payload.length, 0));
    expect(back.equals(payload)).toBe(true);
    // an offset and a length select a window
    const mid = await readAll(await way.conn.storageVolDownload(vol, 1000, 5000, 0));
    expect(mid.equals(payload.subarray(1000, 6000))).toBe(true);
    // sparse: a hole written as a skip, read back as a hole
    const up = await way.conn.storageVolUpload(vol, 0, 0, 1);
    await up.send(Buffer.from('head'));
    await up.sendHole(1024 * 1024);
    await up.send(Buffer.from('tail'));
    await up.finish();
    const down = await way.conn.storageVolDownload(vol, 0, 4 + 1024 * 1024 + 4, 1);
    let holes = 0;
    const parts: Buffer[] = [];
    for (let c = await down.recv(); c; c = await down.recv()) {
      if ('hole' in c) {
        holes += c.hole;
        parts.push(Buffer.alloc(c.hole));
      } else parts.push(Buffer.from(c.data));
    }
    await down.finish();
    const all = Buffer.concat(parts);
    expect(all.subarray(0, 4).toString()).toBe('head');
    expect(all.subarray(all.length - 4).toString()).toBe('tail');
    expect(holes).toBeGreaterThan(0);
  });

  it('clones, resizes, wipes and deletes volumes', async () => {
    const pool = await way.conn.storagePoolLookupByName('p1');
    const src = await way.conn.storageVolLookupByName(pool, 'data');
    const copy = await way.conn.storageVolCreateXMLFrom(
      pool,
      '<volume><name>copy</name><capacity>0</capacity></volume>',
      src,
      0,
    );
    const a = await readAll(await way.conn.storageVolDownload(src, 0, 0, 0));
    const b = await readAll(await way.conn.storageVolDownload(copy, 0, 0, 0));
    expect(b.equals(a)).toBe(true);
    await expect(way.conn.storageVolResize(copy, 1024, 0)).rejects.toThrow(/shrink capacity below/);
    await way.conn.storageVolResize(copy, 8 * 1024 * 1024, 0);
    expect((await way.conn.storageVolGetInfo(copy)).capacity).toBe(8 * 1024 * 1024);
    await way.conn.storageVolResize(copy, 1024 * 1024, VIR_STORAGE_VOL_RESIZE.DELTA);
    expect((await way.conn.storageVolGetInfo(copy)).capacity).toBe(9 * 1024 * 1024);
    await way.conn.storageVolWipe(copy, 0);
    const wiped = await readAll(await way.conn.storageVolDownload(copy, 0, 4096, 0));
    expect(wiped.equals(Buffer.alloc(4096))).toBe(true);
    await way.conn.storageVolDelete(copy, 0);
    expect(existsSync(path.join(target, 'copy'))).toBe(false);
    await expect(way.conn.storageVolLookupByName(pool, 'copy')).rejects.toThrow(
      "Storage volume not found: no storage vol with matching name 'copy'",
    );
  });

  it('keeps pools, autostart and running state across a restart', async () => {
    let pool = await way.conn.storagePoolLookupByName('p1');
    await way.conn.storagePoolSetAutostart(pool, 1);
    await way.reopen();
    pool = await way.conn.storagePoolLookupByName('p1');
    expect(await way.conn.storagePoolGetAutostart(pool)).toBe(1);
    expect(await way.conn.storagePoolIsActive(pool)).toBe(1);
    expect(await way.conn.storagePoolListVolumes(pool, 100)).toContain('data');
    expect((await way.conn.connectListAllStoragePools(L.AUTOSTART)).map((p) => p.name)).toEqual(['p1']);
  }, 60_000);

  it('stops, deletes and undefines, with lifecycle events', async () => {
    const pool = await way.conn.storagePoolLookupByName('p1');
    await way.conn.connectStoragePoolEventRegisterAny(null, VIR_STORAGE_POOL_EVENT_ID.LIFECYCLE, (e) =>
      events.push(e),
    );
    await expect(way.conn.storagePoolUndefine(pool)).rejects.toThrow("storage pool 'p1' is still active");
    await way.conn.storagePoolDestroy(pool);
    for (const v of ['data', 'later.img', 'outside.img', 'q1.qcow2', 'r1', 'escape'])
      rmSync(path.join(target, v), { force: true });
    await way.conn.storagePoolDelete(pool, 0);
    expect(existsSync(target)).toBe(false);
    await way.conn.storagePoolUndefine(pool);
    await expect(way.conn.storagePoolLookupByName('p1')).rejects.toThrow(/no storage pool/);
    await new Promise((r) => setTimeout(r, 100));
    const lifecycle = events
      .filter((e) => e.eventID === VIR_STORAGE_POOL_EVENT_ID.LIFECYCLE)
      .map((e) => e.event);
    expect(lifecycle).toContain(VIR_STORAGE_POOL_EVENT.STOPPED);
    expect(lifecycle).toContain(VIR_STORAGE_POOL_EVENT.UNDEFINED);
  });

  it('answers pool capabilities with the types it serves', async () => {
    const caps = await way.conn.connectGetStoragePoolCapabilities(0);
    expect(caps).toMatch(/^<storagepoolCapabilities>\n {2}<pool type='dir' supported='yes'>/);
    expect(caps).toContain("<pool type='logical' supported='yes'>");
    expect(caps).toContain("<pool type='rbd' supported='no'>");
  });
});

const isRoot = process.geteuid?.() === 0;
const hasLvm =
  spawnSync('sh', ['-c', 'command -v lvcreate'], { env: { PATH: `${process.env.PATH}:/usr/sbin:/sbin` } })
    .status === 0;
const hasDeviceMapper = existsSync('/proc/misc') && /device-mapper/.test(readFileSync('/proc/misc', 'utf8'));
if (isRoot && hasLvm && !hasDeviceMapper)
  console.warn('storage-contract: no device-mapper in this kernel: logical volumes are not created');
if (!isRoot || !hasLvm) console.warn('storage-contract: logical pool tests skipped (need root and lvm2)');

describe.skipIf(!isRoot || !hasLvm).each([
  ['in process', inProcess],
  ['through qvirtd', throughQvirtd],
])('logical pool on a loop device %s', (label, open) => {
  let way: Way;
  let loop = '';
  const vg = `qvirttest${process.pid}${label === 'in process' ? 'a' : 'b'}`;
  beforeAll(async () => {
    way = await open();
    const img = path.join(way.dir, 'disk.img');
    writeFileSync(img, '');
    execFileSync('truncate', ['-s', '64M', img]);
    loop = execFileSync('losetup', ['--find', '--show', img], { encoding: 'utf8' }).trim();
  }, 60_000);
  afterAll(async () => {
    spawnSync('vgremove', ['-f', vg]);
    if (loop) {
      spawnSync('pvremove', ['-ff', '-y', loop]);
      spawnSync('losetup', ['-d', loop]);
    }
    await way?.close();
    if (way) rmSync(way.dir, { recursive: true, force: true });
  });

  it('builds, starts, finds and refreshes a volume group', async () => {
    const pool = await way.conn.storagePoolDefineXML(
      `<pool type='logical'><name>${vg}</name><source><device path='${loop}'/></source></pool>`,
      0,
    );
    expect(await way.conn.storagePoolGetXMLDesc(pool, VIR_STORAGE_XML_INACTIVE)).toContain(
      `<source>\n    <device path='${loop}'/>\n    <name>${vg}</name>\n    <format type='lvm2'/>\n  </source>\n  <target>\n    <path>/dev/${vg}</path>`,
    );
    await way.conn.storagePoolBuild(pool, 0);
    // a built device is not built over without --overwrite
    await expect(way.conn.storagePoolBuild(pool, 4)).rejects.toThrow(
      `Device '${loop}' already formatted using 'LVM2_member'`,
    );
    await way.conn.storagePoolCreate(pool, 0);
    expect((await way.conn.storagePoolGetInfo(pool)).capacity).toBeGreaterThan(0);
    expect(await way.conn.connectFindStoragePoolSources('logical', null, 0)).toContain(
      `<source>\n    <device path='${loop}'/>\n    <name>${vg}</name>\n    <format type='lvm2'/>\n  </source>`,
    );
    await way.conn.storagePoolRefresh(pool, 0);
  }, 120_000);

  // creating a logical volume needs the kernel's device-mapper, which some machines lack
  it.skipIf(!hasDeviceMapper)(
    'creates, uploads, downloads, clones, wipes and deletes LVs',
    async () => {
      const pool = await way.conn.storagePoolLookupByName(vg);
      const lv = await way.conn.storageVolCreateXML(
        pool,
        "<volume><name>lv1</name><capacity unit='M'>8</capacity></volume>",
        0,
      );
      expect(await way.conn.storageVolGetPath(lv)).toBe(`/dev/${vg}/lv1`);
      expect((await way.conn.storageVolGetInfo(lv)).type).toBe(VIR_STORAGE_VOL_TYPE.BLOCK);
      const payload = randomBytes(100_000);
      await sendAll(await way.conn.storageVolUpload(lv, 0, 0, 0), chunked(payload, 65536));
      expect(
        (await readAll(await way.conn.storageVolDownload(lv, 0, payload.length, 0))).equals(payload),
      ).toBe(true);
      const copy = await way.conn.storageVolCreateXMLFrom(
        pool,
        '<volume><name>lv2</name><capacity>0</capacity></volume>',
        lv,
        0,
      );
      expect(
        (await readAll(await way.conn.storageVolDownload(copy, 0, payload.length, 0))).equals(payload),
      ).toBe(true);
      // libvirt 9.0's logical backend cannot resize
      await expect(way.conn.storageVolResize(copy, 16 * 1024 * 1024, 0)).rejects.toThrow(
        'this function is not supported by the connection driver: storage pool does not support changing of volume capacity',
      );
      await way.conn.storageVolWipe(copy, 0);
      expect(
        (await readAll(await way.conn.storageVolDownload(copy, 0, 4096, 0))).equals(Buffer.alloc(4096)),
      ).toBe(true);
      await way.conn.storageVolDelete(copy, 0);
      await way.conn.storageVolDelete(lv, 0);
      expect(await way.conn.storagePoolListVolumes(pool, 10)).toEqual([]);
    },
    120_000,
  );

  it('stops and deletes the volume group', async () => {
    const pool = await way.conn.storagePoolLookupByName(vg);
    await way.conn.storagePoolDestroy(pool);
    await way.conn.storagePoolDelete(pool, 0);
    await way.conn.storagePoolUndefine(pool);
    expect(spawnSync('vgs', [vg]).status).not.toBe(0);
  }, 120_000);
});

const hasMkfs =
  spawnSync('sh', ['-c', 'command -v mkfs.ext4'], { env: { PATH: `${process.env.PATH}:/usr/sbin:/sbin` } })
    .status === 0;

describe.skipIf(!isRoot || !hasMkfs).each([
  ['in process', inProcess],
  ['through qvirtd', throughQvirtd],
])('fs pool on a loop device %s', (_label, open) => {
  let way: Way;
  let loop = '';
  let mnt = '';
  beforeAll(async () => {
    way = await open();
    const img = path.join(way.dir, 'fs.img');
    writeFileSync(img, '');
    execFileSync('truncate', ['-s', '32M', img]);
    loop = execFileSync('losetup', ['--find', '--show', img], { encoding: 'utf8' }).trim();
    mnt = path.join(way.dir, 'mnt');
  }, 60_000);
  afterAll(async () => {
    if (mnt && readFileSync('/proc/mounts', 'utf8').includes(` ${mnt} `)) spawnSync('umount', [mnt]);
    if (loop) spawnSync('losetup', ['-d', loop]);
    await way?.close();
    if (way) rmSync(way.dir, { recursive: true, force: true });
  });

  it('makes a file system, mounts it at start, keeps volumes on it, unmounts at destroy', async () => {
    const pool = await way.conn.storagePoolDefineXML(
      `<pool type='fs'><name>fs1</name><source><device path='${loop}'/><format type='ext4'/></source><target><path>${mnt}</path></target></pool>`,
      0,
    );
    await way.conn.storagePoolBuild(pool, 8);
    await expect(way.conn.storagePoolBuild(pool, 4)).rejects.toThrow(
      `Device '${loop}' already formatted using 'ext4'`,
    );
    await way.conn.storagePoolCreate(pool, 0);
    expect(readFileSync('/proc/mounts', 'utf8')).toContain(`${loop} ${mnt} ext4`);
    await way.conn.storageVolCreateXML(
      pool,
      "<volume><name>v</name><capacity unit='K'>64</capacity></volume>",
      0,
    );
    await way.conn.storagePoolDestroy(pool);
    expect(readFileSync('/proc/mounts', 'utf8')).not.toContain(` ${mnt} `);
    await way.conn.storagePoolCreate(pool, 0);
    expect(await way.conn.storagePoolListVolumes(pool, 10)).toContain('v');
    await way.conn.storagePoolDestroy(pool);
    await way.conn.storagePoolDelete(pool, 0);
    await way.conn.storagePoolUndefine(pool);
  }, 120_000);
});
