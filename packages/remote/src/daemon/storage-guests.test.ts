/**
 * Guests on storage through qvirtd: virt-install (virtinst, as a new user runs it) importing a
 * disk by path and creating one in a pool, its --print-xml and --dry-run; and a domain whose
 * `<disk type='volume'>` names a pool volume, resolved at start and labelled for QEMU.
 */
import { spawnSync } from 'node:child_process';
import { rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { greetingBootSector } from '@qvirt/driver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RemoteClient } from '../client/client.js';
import {
  killMentioning,
  makeTestDir,
  run,
  startTestDaemon,
  TEST_QEMU_IDS,
  type TestDaemon,
} from '../test-support/harness.js';
import { defaultDaemonConfig } from './config.js';
import { startDaemon } from './daemon.js';

const hasVirtInstall = spawnSync('virt-install', ['--version'], { stdio: 'ignore' }).status === 0;
if (!hasVirtInstall) console.warn('storage-guests: virt-install tests skipped (apt-get install virtinst)');

describe('guests on storage through qvirtd', () => {
  let t: TestDaemon;
  let conn: RemoteClient;
  beforeAll(async () => {
    t = await startTestDaemon();
    conn = await RemoteClient.open(t.rwUri);
  }, 60_000);
  afterAll(async () => {
    await conn?.connectClose();
    await t?.stop();
  });

  const virtInstall = (name: string, ...args: string[]) =>
    run('virt-install', [
      '--connect',
      t.rwUri,
      '--name',
      name,
      '--memory',
      '64',
      '--vcpus',
      '1',
      '--virt-type',
      'qemu',
      '--import',
      '--osinfo',
      'detect=on,require=off',
      '--graphics',
      'none',
      '--network',
      'none',
      '--noautoconsole',
      ...args,
    ]);

  it.skipIf(!hasVirtInstall)(
    'prints the XML and dry-runs an import without defining anything',
    async () => {
      const disk = path.join(t.dir, 'boot.img');
      writeFileSync(disk, greetingBootSector());
      const xml = await virtInstall('vi0', '--disk', `path=${disk}`, '--print-xml');
      expect(xml.stderr).not.toMatch(/ERROR/);
      expect(xml.stdout).toContain(`<source file="${disk}"/>`);
      const dry = await virtInstall('vi0', '--disk', `path=${disk}`, '--dry-run');
      expect(dry.stdout + dry.stderr).toContain('Dry run completed successfully');
      expect(await conn.connectListAllDomains(0)).toEqual([]);
    },
    120_000,
  );

  it.skipIf(!hasVirtInstall)(
    'imports a disk by path and boots it, finding it through a pool',
    async () => {
      const disk = path.join(t.dir, 'boot.img');
      const r = await virtInstall('vi1', '--disk', `path=${disk}`);
      expect(r.stdout + r.stderr, r.stderr).toContain('Domain creation completed');
      const dom = await conn.domainLookupByName('vi1');
      expect(await conn.domainIsActive(dom)).toBe(1);
      // virt-install made a pool for the disk's directory, as it does against libvirt
      const pools = await conn.connectListAllStoragePools(0);
      const pool = pools.find((p) => p.name === path.basename(t.dir));
      expect(pool).toBeDefined();
      expect(await conn.storageVolLookupByPath(disk)).toMatchObject({ name: 'boot.img' });
      await conn.domainDestroy(dom);
      await conn.domainUndefine(dom);
    },
    180_000,
  );

  it.skipIf(!hasVirtInstall)(
    'creates a new volume with --disk size= and boots from it',
    async () => {
      const disk = path.join(t.dir, 'new.qcow2');
      const r = await virtInstall('vi2', '--disk', `path=${disk},size=0.05,format=qcow2`);
      expect(r.stdout + r.stderr, r.stderr).toContain('Domain creation completed');
      const vol = await conn.storageVolLookupByPath(disk);
      const info = await conn.storageVolGetInfo(vol);
      // qemu-img is given KiB (libvirt's rounding up), so the size is 0.05 GiB rounded up to a KiB
      expect(info.capacity).toBe(Math.ceil((0.05 * 1024 ** 3) / 1024) * 1024);
      expect(await conn.storageVolGetXMLDesc(vol, 0)).toContain("<format type='qcow2'/>");
      const dom = await conn.domainLookupByName('vi2');
      expect(await conn.domainIsActive(dom)).toBe(1);
      await conn.domainDestroy(dom);
      await conn.domainUndefine(dom);
    },
    180_000,
  );

  it('lets a read-only connection list and read pools and volumes, never change or transfer them', async () => {
    const ro = await RemoteClient.open(t.roUri, { readOnly: true });
    try {
      const pools = await ro.connectListAllStoragePools(0);
      expect(pools.length).toBeGreaterThan(0);
      expect(await ro.storagePoolGetXMLDesc(pools[0]!, 0)).toMatch(/^<pool type='dir'>/);
      const vol = await ro.storageVolLookupByPath(path.join(t.dir, 'boot.img'));
      expect(await ro.storageVolGetXMLDesc(vol, 0)).toMatch(/^<volume type='file'>/);
      await expect(
        ro.storagePoolDefineXML("<pool type='dir'><name>x</name><target><path>/x</path></target></pool>", 0),
      ).rejects.toThrow('operation forbidden: read only access prevents virStoragePoolDefineXML');
      await expect(ro.storageVolDownload(vol, 0, 0, 0)).rejects.toThrow(
        'operation forbidden: read only access prevents virStorageVolDownload',
      );
      await expect(ro.storageVolDelete(vol, 0)).rejects.toThrow(
        'operation forbidden: read only access prevents virStorageVolDelete',
      );
    } finally {
      await ro.connectClose();
    }
  });

  it("starts a domain whose <disk type='volume'> names a pool volume, labelled for QEMU", async () => {
    const dir = path.join(t.dir, 'vpool');
    const pool = await conn.storagePoolDefineXML(
      `<pool type='dir'><name>vpool</name><target><path>${dir}</path></target></pool>`,
      0,
    );
    await conn.storagePoolBuild(pool, 0);
    await conn.storagePoolCreate(pool, 0);
    const vol = await conn.storageVolCreateXML(
      pool,
      '<volume><name>boot.raw</name><capacity>512</capacity></volume>',
      0,
    );
    const file = await conn.storageVolGetPath(vol);
    writeFileSync(file, greetingBootSector());
    const xml = `<domain type='qemu'>
  <name>volguest</name>
  <memory unit='KiB'>65536</memory>
  <vcpu>1</vcpu>
  <os><type arch='i686' machine='pc'>hvm</type><boot dev='hd'/></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='volume' device='disk'><driver name='qemu' type='raw'/><source pool='vpool' volume='boot.raw'/><target dev='hda' bus='ide'/></disk>
  </devices>
</domain>`;
    const dom = await conn.domainDefineXML(xml);
    // the definition keeps naming the volume
    expect(await conn.domainGetXMLDesc(dom, 2)).toContain("<source pool='vpool' volume='boot.raw'/>");
    await conn.domainCreate(dom);
    expect(await conn.domainIsActive(dom)).toBe(1);
    // the live definition still names the volume, as libvirt's does
    const live = await conn.domainGetXMLDesc(dom, 0);
    expect(live).toContain("<disk type='volume' device='disk'>");
    expect(live).toMatch(/<source pool='vpool' volume='boot.raw'/);
    if (TEST_QEMU_IDS) {
      // DAC labelled the resolved path for QEMU's user while it runs
      expect(statSync(file).uid).toBe(Number(TEST_QEMU_IDS.user.replace('+', '')));
    }
    await conn.domainDestroy(dom);
    if (TEST_QEMU_IDS) expect(statSync(file).uid).toBe(process.geteuid!());
    // an inactive pool's volume cannot start
    await conn.storagePoolDestroy(pool);
    await expect(conn.domainCreate(dom)).rejects.toThrow(
      "unsupported configuration: storage pool 'vpool' containing volume 'boot.raw' is not active",
    );
    await conn.domainUndefine(dom);
  }, 120_000);

  it('creates a LUKS-encrypted qcow2 volume whose passphrase is a secret, and boots a guest on it', async () => {
    const uuid = 'b3a6b9c2-4c1e-4f7a-9a3e-2f6c1d0e9a11';
    const secret = await conn.secretDefineXML(
      `<secret ephemeral='no' private='yes'><uuid>${uuid}</uuid><usage type='volume'><volume>${path.join(t.dir, 'vpool', 'enc.qcow2')}</volume></usage></secret>`,
      0,
    );
    await conn.secretSetValue(secret, Buffer.from('correct horse battery staple'), 0);
    const pool = await conn.storagePoolLookupByName('vpool');
    if (!(await conn.storagePoolIsActive(pool))) await conn.storagePoolCreate(pool, 0);
    const vol = await conn.storageVolCreateXML(
      pool,
      `<volume><name>enc.qcow2</name><capacity unit='M'>16</capacity><target><format type='qcow2'/><encryption format='luks'><secret type='passphrase' uuid='${uuid}'/></encryption></target></volume>`,
      0,
    );
    const file = await conn.storageVolGetPath(vol);
    const info = await run('qemu-img', ['info', '--output=json', '-U', file]);
    expect(JSON.parse(info.stdout)['format-specific'].data.encrypt.format).toBe('luks');
    expect(await conn.storageVolGetXMLDesc(vol, 0)).toContain("<format type='qcow2'/>");
    expect(await conn.storageVolGetXMLDesc(vol, 0)).toContain("<encryption format='luks'>");
    // a wrong or missing secret creates nothing
    await expect(
      conn.storageVolCreateXML(
        pool,
        "<volume><name>enc2.qcow2</name><capacity unit='M'>16</capacity><target><format type='qcow2'/><encryption format='luks'/></target></volume>",
        0,
      ),
    ).rejects.toThrow('XML error: no secret provided for luks encryption');
    expect(await conn.storagePoolListVolumes(pool, 100)).not.toContain('enc2.qcow2');
    const dom = await conn.domainCreateXML(
      `<domain type='qemu'><name>encguest</name><memory unit='KiB'>65536</memory><vcpu>1</vcpu><os><type arch='i686' machine='pc'>hvm</type></os><devices><emulator>/usr/bin/qemu-system-x86_64</emulator><disk type='volume' device='disk'><driver name='qemu' type='qcow2'/><source pool='vpool' volume='enc.qcow2'><encryption format='luks'><secret type='passphrase' uuid='${uuid}'/></encryption></source><target dev='vda' bus='virtio'/></disk></devices></domain>`,
      0,
    );
    expect(await conn.domainIsActive(dom)).toBe(1);
    await conn.domainDestroy(dom);
    await conn.storageVolDelete(vol, 0);
  }, 120_000);

  it("restores a volume disk's labels when a restarted daemon stops the guest it reconnected to", async () => {
    const { dir, root } = makeTestDir('qvirt-volguest-restart-');
    const open = () =>
      startDaemon({
        uri: `qemu:///embed?root=${root}`,
        socketDir: path.join(dir, 'sock'),
        config: defaultDaemonConfig(),
      });
    let daemon = await open();
    try {
      let c = await RemoteClient.open(`qemu+unix:///system?socket=${daemon.sockets.rw}`);
      const pool = await c.storagePoolCreateXML(
        `<pool type='dir'><name>rp</name><target><path>${path.join(dir, 'rp')}</path></target></pool>`,
        1,
      );
      const vol = await c.storageVolCreateXML(
        pool,
        '<volume><name>b.raw</name><capacity>512</capacity></volume>',
        0,
      );
      const file = await c.storageVolGetPath(vol);
      writeFileSync(file, greetingBootSector());
      const dom = await c.domainCreateXML(
        `<domain type='qemu'><name>rg</name><memory unit='KiB'>65536</memory><vcpu>1</vcpu><os><type arch='i686' machine='pc'>hvm</type></os><devices><emulator>/usr/bin/qemu-system-x86_64</emulator><disk type='volume' device='disk'><driver name='qemu' type='raw'/><source pool='rp' volume='b.raw'/><target dev='hda' bus='ide'/></disk></devices></domain>`,
        0,
      );
      await c.connectClose();
      await daemon.close();
      // the guest keeps running; a new daemon adopts it and resolves its volume again
      daemon = await open();
      c = await RemoteClient.open(`qemu+unix:///system?socket=${daemon.sockets.rw}`);
      expect(await c.domainIsActive(await c.domainLookupByName('rg'))).toBe(1);
      if (TEST_QEMU_IDS) expect(statSync(file).uid).toBe(Number(TEST_QEMU_IDS.user.replace('+', '')));
      await c.domainDestroy(dom);
      if (TEST_QEMU_IDS) expect(statSync(file).uid).toBe(process.geteuid!());
      await c.storagePoolDestroy(pool);
      await c.connectClose();
    } finally {
      await daemon.close();
      killMentioning(dir);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
