/**
 * The dac driver on the real host (run as root): real chown, real trusted.* xattrs on temp files,
 * and the same rules against the recording fake where the kernel cannot be made to fail.
 */
import { chmod, chown, mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { baseLaunchSpec, bootTimeSource, nodeHost, recordingHost } from '@qvirt/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { domain, driver, fileDisk, QEMU_GID, QEMU_UID, tempDir } from './test-support/fixture.js';

const host = nodeHost();
const DAC = 'trusted.libvirt.security.dac';
const REF = 'trusted.libvirt.security.ref_dac';
const TS = 'trusted.libvirt.security.timestamp_dac';

async function owner(path: string): Promise<string> {
  const s = await stat(path);
  return `${s.uid}:${s.gid}`;
}
async function xattrs(path: string): Promise<Record<string, string | undefined>> {
  return {
    dac: await host.getxattr(path, DAC),
    ref: await host.getxattr(path, REF),
    ts: await host.getxattr(path, TS),
  };
}

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterEach(async () => cleanup());

async function image(name: string, uid = 1234, gid = 1235): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, 'x');
  await chown(p, uid, gid);
  return p;
}

describe('labels', () => {
  it('generates +uid:+gid for a dynamic label and keeps a static one', async () => {
    const d = driver(host);
    const def = domain('gen', '');
    await d.domainGenSecurityLabel!(def);
    expect(def.seclabel).toEqual([
      {
        type: 'dynamic',
        model: 'dac',
        label: `+${QEMU_UID}:+${QEMU_GID}`,
        imagelabel: `+${QEMU_UID}:+${QEMU_GID}`,
      },
    ]);
    expect(await d.getBaseLabel!('qemu')).toBe(`+${QEMU_UID}:+${QEMU_GID}`);
    const st = domain(
      'st',
      '',
      "<seclabel type='static' model='dac' relabel='yes'><label>root:+0</label></seclabel>",
    );
    await d.domainGenSecurityLabel!(st);
    expect(st.seclabel?.[0]?.imagelabel).toBe('root:+0');
    const bad = domain('bad', '', "<seclabel type='static' model='dac'/>");
    await expect(d.domainGenSecurityLabel!(bad)).rejects.toThrow(
      'internal error: missing label for static security driver in domain bad',
    );
  });
});

describe('set and restore on the real host', () => {
  it('chowns a disk to QEMU, remembers the owner in libvirt xattrs, and gives it back', async () => {
    const disk = await image('disk.qcow2');
    const d = driver(host);
    const def = domain('one', fileDisk(disk, 'vda'));
    await d.domainGenSecurityLabel!(def);
    await d.domainSetSecurityAllLabel!(def, {});
    expect(await owner(disk)).toBe(`${QEMU_UID}:${QEMU_GID}`);
    const x = await xattrs(disk);
    expect(x.dac).toBe('+1234:+1235');
    expect(x.ref).toBe('1');
    expect(x.ts).toBe(await bootTimeSource(host)());
    await d.domainRestoreSecurityAllLabel!(def, {});
    expect(await owner(disk)).toBe('1234:1235');
    expect(await xattrs(disk)).toEqual({ dac: undefined, ref: undefined, ts: undefined });
  });

  it('labels the backing chain, readonly and shareable disks, but restores only writable tops', async () => {
    const top = await image('top.qcow2');
    const base = await image('base.raw');
    const ro = await image('ro.iso');
    const shared = await image('shared.img');
    const d = driver(host);
    const def = domain(
      'chain',
      `<disk type='file' device='disk'><source file='${top}'/><backingStore type='file'><format type='raw'/><source file='${base}'/></backingStore><target dev='vda'/></disk>` +
        fileDisk(ro, 'vdb', '<readonly/>') +
        fileDisk(shared, 'vdc', '<shareable/>'),
    );
    await d.domainGenSecurityLabel!(def);
    await d.domainSetSecurityAllLabel!(def, {});
    for (const p of [top, base, ro, shared]) expect(await owner(p)).toBe(`${QEMU_UID}:${QEMU_GID}`);
    for (const p of [base, ro, shared]) expect((await xattrs(p)).ref).toBeUndefined();
    await d.domainRestoreSecurityAllLabel!(def, {});
    expect(await owner(top)).toBe('1234:1235');
    for (const p of [base, ro, shared]) expect(await owner(p)).toBe(`${QEMU_UID}:${QEMU_GID}`);
  });

  it("honours relabel='no' on the domain and on one disk", async () => {
    const a = await image('a.img');
    const b = await image('b.img');
    const d = driver(host);
    const perDisk = domain(
      'perdisk',
      `<disk type='file'><source file='${a}'><seclabel model='dac' relabel='no'/></source><target dev='vda'/></disk>${fileDisk(b, 'vdb')}`,
    );
    await d.domainGenSecurityLabel!(perDisk);
    await d.domainSetSecurityAllLabel!(perDisk, {});
    expect(await owner(a)).toBe('1234:1235');
    expect(await owner(b)).toBe(`${QEMU_UID}:${QEMU_GID}`);
    await d.domainRestoreSecurityAllLabel!(perDisk, {});
    expect(await owner(b)).toBe('1234:1235');

    const whole = domain('whole', fileDisk(b, 'vda'), "<seclabel type='dynamic' model='dac' relabel='no'/>");
    await expect(d.domainGenSecurityLabel!(whole)).resolves.toBeUndefined();
    await d.domainSetSecurityAllLabel!(whole, {});
    expect(await owner(b)).toBe('1234:1235');
  });

  it('chowns pipe chardevs (.in/.out), kernel, initrd and nvram, and restores them', async () => {
    const pin = await image('pipe.in');
    const pout = await image('pipe.out');
    const kernel = await image('vmlinuz');
    const initrd = await image('initrd');
    const nvram = await image('VARS.fd');
    const d = driver(host);
    const def = domain(
      'files',
      `<serial type='pipe'><source path='${join(dir, 'pipe')}'/><target port='0'/></serial>`,
      '',
    );
    def.os = { ...def.os, kernel, initrd, nvram: { value: nvram } } as typeof def.os;
    await d.domainGenSecurityLabel!(def);
    await d.domainSetSecurityAllLabel!(def, {});
    for (const p of [pin, pout, kernel, initrd, nvram])
      expect(await owner(p)).toBe(`${QEMU_UID}:${QEMU_GID}`);
    await d.domainRestoreSecurityAllLabel!(def, {});
    for (const p of [pin, pout, kernel, initrd, nvram]) {
      expect(await owner(p)).toBe('1234:1235');
      expect((await xattrs(p)).ref).toBeUndefined();
    }
  });

  it('counts two domains on one image and restores only when the last one stops', async () => {
    const disk = await image('both.img');
    const d = driver(host);
    const a = domain('a', fileDisk(disk, 'vda'));
    const b = domain('b', fileDisk(disk, 'vda'));
    await d.domainGenSecurityLabel!(a);
    await d.domainGenSecurityLabel!(b);
    await d.domainSetSecurityAllLabel!(a, {});
    await d.domainSetSecurityAllLabel!(b, {});
    expect((await xattrs(disk)).ref).toBe('2');
    await d.domainRestoreSecurityAllLabel!(a, {});
    expect((await xattrs(disk)).ref).toBe('1');
    expect(await owner(disk)).toBe(`${QEMU_UID}:${QEMU_GID}`);
    await d.domainRestoreSecurityAllLabel!(b, {});
    expect(await owner(disk)).toBe('1234:1235');
    expect(await xattrs(disk)).toEqual({ dac: undefined, ref: undefined, ts: undefined });
  });

  it('refuses a different owner on an image in use, with libvirt message, and leaves the count alone', async () => {
    const disk = await image('busy.img');
    const d = driver(host);
    const a = domain('a', fileDisk(disk, 'vda'));
    const b = domain(
      'b',
      fileDisk(disk, 'vda'),
      "<seclabel type='static' model='dac' relabel='yes'><label>+0:+0</label></seclabel>",
    );
    await d.domainGenSecurityLabel!(a);
    await d.domainGenSecurityLabel!(b);
    await d.domainSetSecurityAllLabel!(a, {});
    await expect(d.domainSetSecurityAllLabel!(b, {})).rejects.toThrow(
      `Requested operation is not valid: Setting different DAC user or group on ${disk} which is already in use`,
    );
    expect((await xattrs(disk)).ref).toBe('1');
    expect(await owner(disk)).toBe(`${QEMU_UID}:${QEMU_GID}`);
    await d.domainRestoreSecurityAllLabel!(a, {});
    expect(await owner(disk)).toBe('1234:1235');
  });

  it("a static label without relabel leaves files alone, as libvirt's default relabel='no'", async () => {
    const disk = await image('static.img');
    const d = driver(host);
    const def = domain(
      's',
      fileDisk(disk, 'vda'),
      "<seclabel type='static' model='dac'><label>+0:+0</label></seclabel>",
    );
    await d.domainGenSecurityLabel!(def);
    await d.domainSetSecurityAllLabel!(def, {});
    expect(await owner(disk)).toBe('1234:1235');
    await d.domainRestoreSecurityAllLabel!(def, {});
    expect(await owner(disk)).toBe('1234:1235');
  });

  it('a failed start gives back what it labelled (rollback in reverse)', async () => {
    const good = await image('good.img');
    const d = driver(host);
    const def = domain('fail', fileDisk(good, 'vda') + fileDisk(join(dir, 'missing.img'), 'vdb'));
    await d.domainGenSecurityLabel!(def);
    await expect(d.domainSetSecurityAllLabel!(def, {})).rejects.toThrow(
      `unable to stat: ${join(dir, 'missing.img')}`,
    );
    expect(await owner(good)).toBe('1234:1235');
    expect(await xattrs(good)).toEqual({ dac: undefined, ref: undefined, ts: undefined });
  });
});

describe('libvirt interoperability', () => {
  it("restores an image labelled by libvirt (its xattrs, this boot's timestamp)", async () => {
    const disk = await image('libvirt.img', QEMU_UID, QEMU_GID);
    await host.setxattr(disk, DAC, '+1234:+1235');
    await host.setxattr(disk, REF, '1');
    await host.setxattr(disk, TS, await bootTimeSource(host)());
    const d = driver(host);
    const def = domain('lv', fileDisk(disk, 'vda'));
    await d.domainGenSecurityLabel!(def);
    await d.domainRestoreSecurityAllLabel!(def, {});
    expect(await owner(disk)).toBe('1234:1235');
    expect(await xattrs(disk)).toEqual({ dac: undefined, ref: undefined, ts: undefined });
  });

  it('drops stale xattrs from an earlier boot and falls back to root, as libvirt does', async () => {
    const disk = await image('stale.img', QEMU_UID, QEMU_GID);
    await host.setxattr(disk, DAC, '+1234:+1235');
    await host.setxattr(disk, REF, '3');
    await host.setxattr(disk, TS, '1000');
    const d = driver(host);
    const def = domain('stale', fileDisk(disk, 'vda'));
    await d.domainGenSecurityLabel!(def);
    await d.domainRestoreSecurityAllLabel!(def, {});
    expect(await owner(disk)).toBe('0:0');
    expect(await xattrs(disk)).toEqual({ dac: undefined, ref: undefined, ts: undefined });
  });
});

describe('pre-flight traversal check', () => {
  it('names the directory the QEMU user cannot enter and the fix, and changes nothing', async () => {
    const locked = join(dir, 'private');
    await mkdir(locked);
    await chmod(locked, 0o700);
    const disk = join(locked, 'disk.img');
    await writeFile(disk, 'x');
    await chown(disk, 1234, 1235);
    const d = driver(host);
    const def = domain('trav', fileDisk(disk, 'vda'));
    await d.domainGenSecurityLabel!(def);
    await expect(d.domainSetSecurityAllLabel!(def, {})).rejects.toThrow(
      `Cannot access storage file '${disk}' (as uid:${QEMU_UID}, gid:${QEMU_GID}): Permission denied: directory '${locked}' (owner 0:0, mode 0700) does not let that user through; fix: chmod o+x ${locked}, or give the directory to that user or group`,
    );
    expect(await owner(disk)).toBe('1234:1235');
    await chmod(locked, 0o711);
    await d.domainSetSecurityAllLabel!(def, {});
    expect(await owner(disk)).toBe(`${QEMU_UID}:${QEMU_GID}`);
    await d.domainRestoreSecurityAllLabel!(def, {});
  });

  it('lets a group member through a 0750 directory of its group', async () => {
    const fake = recordingHost({
      users: [{ name: 'qemu', uid: QEMU_UID, gid: QEMU_GID, home: '/' }],
      memberships: { qemu: [4242] },
      files: {
        '/srv': { kind: 'dir', mode: 0o750, uid: 0, gid: 4242 },
        '/srv/d.img': { kind: 'file', uid: 0, gid: 0 },
        '/proc/uptime': { content: '100.00 50.00' },
      },
    });
    const d = driver(fake);
    const def = domain('grp', fileDisk('/srv/d.img', 'vda'));
    await d.domainGenSecurityLabel!(def);
    await d.domainSetSecurityAllLabel!(def, {});
    expect(fake.files.get('/srv/d.img')?.uid).toBe(QEMU_UID);
  });
});

describe('tolerated chown failures (fake host)', () => {
  for (const code of ['EPERM', 'EROFS', 'EOPNOTSUPP', 'EINVAL']) {
    it(`${code} on chown is reported as info and not fatal`, async () => {
      const fake = recordingHost({
        files: {
          '/nfs/d.img': { kind: 'file', uid: 1, gid: 1 },
          '/proc/uptime': { content: '100.00 50.00' },
        },
        faults: [{ op: 'chown', path: '/nfs/d.img', code }],
      });
      const info: string[] = [];
      const d = driver(fake, { onInfo: (m) => info.push(m) });
      const def = domain('nfs', fileDisk('/nfs/d.img', 'vda'));
      await d.domainGenSecurityLabel!(def);
      await d.domainSetSecurityAllLabel!(def, {});
      expect(
        info.some((m) => m.startsWith(`Setting user and group to '${QEMU_UID}:${QEMU_GID}' on '/nfs/d.img'`)),
      ).toBe(true);
      expect(fake.files.get('/nfs/d.img')?.uid).toBe(1);
    });
  }

  it('any other errno fails with libvirt message', async () => {
    const fake = recordingHost({
      files: { '/x/d.img': { kind: 'file', uid: 1, gid: 1 }, '/proc/uptime': { content: '100.00 50.00' } },
      faults: [{ op: 'chown', path: '/x/d.img', code: 'EIO' }],
    });
    const d = driver(fake);
    const def = domain('eio', fileDisk('/x/d.img', 'vda'));
    await d.domainGenSecurityLabel!(def);
    await expect(d.domainSetSecurityAllLabel!(def, {})).rejects.toThrow(
      `unable to set user and group to '${QEMU_UID}:${QEMU_GID}' on '/x/d.img'`,
    );
  });

  it('a filesystem without xattrs is labelled and restored to root, like libvirt', async () => {
    const fake = recordingHost({
      files: { '/v/d.img': { kind: 'file', uid: 5, gid: 5 }, '/proc/uptime': { content: '100.00 50.00' } },
      faults: [
        { op: 'getxattr', code: 'EOPNOTSUPP' },
        { op: 'setxattr', code: 'EOPNOTSUPP' },
      ],
    });
    const d = driver(fake);
    const def = domain('noxattr', fileDisk('/v/d.img', 'vda'));
    await d.domainGenSecurityLabel!(def);
    await d.domainSetSecurityAllLabel!(def, {});
    expect(fake.files.get('/v/d.img')?.uid).toBe(QEMU_UID);
    await d.domainRestoreSecurityAllLabel!(def, {});
    expect(fake.files.get('/v/d.img')?.uid).toBe(0);
  });
});

describe('child process label', () => {
  it('puts uid, gid and the supplementary groups into the launch spec, and a private /dev', async () => {
    const fake = recordingHost({
      users: [{ name: 'qemu', uid: QEMU_UID, gid: QEMU_GID, home: '/' }],
      memberships: { qemu: [36, 4242] },
      files: {
        '/dev/null': { kind: 'char', mode: 0o666, rdev: (1 << 8) | 3 },
        '/dev/kvm': { kind: 'char', mode: 0o660, gid: 36, rdev: (10 << 8) | 232 },
        '/dev/sdb': { kind: 'block', mode: 0o660, gid: 6, rdev: (8 << 8) | 16 },
        '/dev/pts': { kind: 'dir' },
        '/proc/uptime': { content: '100.00 50.00' },
      },
    });
    const d = driver(fake, { mountNamespace: true });
    const def = domain('spec', `<disk type='block'><source dev='/dev/sdb'/><target dev='vda'/></disk>`);
    await d.domainGenSecurityLabel!(def);
    const spec = baseLaunchSpec({ binary: '/bin/true', args: [], env: [], cwd: '/', logFd: 2 });
    await d.domainSetSecurityChildProcessLabel!(def, spec);
    expect(spec.uid).toBe(QEMU_UID);
    expect(spec.gid).toBe(QEMU_GID);
    expect(spec.groups).toEqual([QEMU_GID, 36, 4242]);
    expect(spec.privateDev).toEqual({
      nodes: [
        { path: '/dev/null', kind: 'c', major: 1, minor: 3, mode: 0o666, uid: 0, gid: 0 },
        { path: '/dev/kvm', kind: 'c', major: 10, minor: 232, mode: 0o660, uid: QEMU_UID, gid: QEMU_GID },
        { path: '/dev/sdb', kind: 'b', major: 8, minor: 16, mode: 0o660, uid: QEMU_UID, gid: QEMU_GID },
      ],
      binds: ['/dev/pts'],
    });
    // The block disk is owned in the private /dev: the host's node is never chowned.
    await d.domainSetSecurityAllLabel!(def, {});
    expect(fake.callsOf('chown')).toEqual([]);
  });
});
