import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nodeHost, parseCgroupMounts, parseCgroupPlacement } from './node-host.js';
import { recordingHost } from './recording-host.js';

const root = process.getuid?.() === 0;
const dir = mkdtempSync(path.join(tmpdir(), 'qvirt-host-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('nodeHost', () => {
  const host = nodeHost();

  it.skipIf(!root)('reads, writes and removes trusted.* xattrs as libvirt stores them', async () => {
    const f = path.join(dir, 'disk.img');
    writeFileSync(f, 'x');
    expect(await host.getxattr(f, 'trusted.libvirt.security.dac')).toBeUndefined();
    await host.setxattr(f, 'trusted.libvirt.security.dac', '+0:+0');
    await host.setxattr(f, 'trusted.libvirt.security.ref_dac', '1');
    expect(await host.getxattr(f, 'trusted.libvirt.security.dac')).toBe('+0:+0');
    expect((await host.listxattr(f)).sort()).toEqual([
      'trusted.libvirt.security.dac',
      'trusted.libvirt.security.ref_dac',
    ]);
    await host.removexattr(f, 'trusted.libvirt.security.dac');
    await host.removexattr(f, 'trusted.libvirt.security.dac'); // absent: fine
    expect(await host.listxattr(f)).toEqual(['trusted.libvirt.security.ref_dac']);
    // what getfattr (the attr package) sees
    const r = await host.exec('getfattr', ['-n', 'trusted.libvirt.security.ref_dac', '--only-values', f]);
    expect(r.stdout).toBe('1');
  });

  it('reports errno names', async () => {
    await expect(host.getxattr(path.join(dir, 'nope'), 'user.x')).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(host.stat(path.join(dir, 'nope'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it.skipIf(!root)('chowns and stats', async () => {
    const f = path.join(dir, 'own');
    writeFileSync(f, '');
    await host.chown(f, 65534, 65534);
    expect(await host.stat(f)).toMatchObject({ uid: 65534, gid: 65534, isFile: true });
    expect(statSync(f).uid).toBe(65534);
  });

  it('runs programs without throwing on a non-zero exit', async () => {
    expect(await host.exec('sh', ['-c', 'echo out; echo err >&2; exit 3'])).toEqual({
      code: 3,
      stdout: 'out\n',
      stderr: 'err\n',
    });
    expect(await host.exec('cat', [], { input: 'in' })).toMatchObject({ code: 0, stdout: 'in' });
    expect((await host.exec('/nonexistent/prog', [])).code).toBe(127);
  });

  it('looks up users and groups', async () => {
    expect(await host.lookupUser('root')).toMatchObject({ uid: 0, gid: 0 });
    expect(await host.lookupUser(0)).toMatchObject({ name: 'root' });
    expect(await host.lookupGroup('root')).toEqual({ name: 'root', gid: 0 });
    expect(await host.lookupUser('qvirt-no-such-user')).toBeUndefined();
    expect((await host.groupList('root', 0))[0]).toBe(0);
  });

  it('answers as getent does for every user and group of this machine, by name and by id', async () => {
    // the files are read directly when NSS reads them first; getent is the reference
    const getent = async (db: string, key: string) =>
      (await host.exec('getent', [db, key])).stdout.split('\n')[0]!;
    for (const line of (await readFile('/etc/passwd', 'utf8')).split('\n').filter(Boolean).slice(0, 40)) {
      const [name, , uid, gid] = line.split(':');
      const [, , gUid, gGid] = (await getent('passwd', name!)).split(':');
      expect(await host.lookupUser(name!)).toMatchObject({ uid: Number(gUid), gid: Number(gGid) });
      expect(await host.lookupUser(Number(uid))).toMatchObject({ uid: Number(uid), gid: Number(gid) });
    }
    for (const line of (await readFile('/etc/group', 'utf8')).split('\n').filter(Boolean).slice(0, 40)) {
      const [name, , gid] = line.split(':');
      expect(await host.lookupGroup(name!)).toEqual({
        name,
        gid: Number((await getent('group', name!)).split(':')[2]),
      });
      expect((await host.lookupGroup(Number(gid)))?.gid).toBe(Number(gid));
    }
  });

  it('lists cgroup hierarchies and placements', async () => {
    const mounts = await host.cgroupMounts();
    expect(mounts.length).toBeGreaterThan(0);
    const self = await host.cgroupPlacement('self');
    expect(self.length).toBeGreaterThan(0);
  });
});

describe('cgroup parsing', () => {
  it('reads mountinfo and /proc/PID/cgroup', () => {
    const mi = [
      '30 25 0:26 / /sys/fs/cgroup/devices rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,devices',
      '31 25 0:27 / /sys/fs/cgroup/unified rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate',
      '32 25 0:28 / /sys/fs/cgroup/cpu\\054cpuacct rw shared:5 - cgroup cgroup rw,cpu,cpuacct',
    ].join('\n');
    expect(parseCgroupMounts(mi)).toEqual([
      { type: 'cgroup', path: '/sys/fs/cgroup/devices', options: ['rw', 'devices'] },
      { type: 'cgroup2', path: '/sys/fs/cgroup/unified', options: ['rw', 'nsdelegate'] },
      { type: 'cgroup', path: '/sys/fs/cgroup/cpu,cpuacct', options: ['rw', 'cpu', 'cpuacct'] },
    ]);
    expect(parseCgroupPlacement('5:devices:/machine/qemu-1-a.qvirt-qemu\n0::/x\n')).toEqual([
      { hierarchy: 5, controllers: ['devices'], path: '/machine/qemu-1-a.qvirt-qemu' },
      { hierarchy: 0, controllers: [], path: '/x' },
    ]);
  });
});

describe('recordingHost', () => {
  it('serves an in-memory machine and records every call', async () => {
    const host = recordingHost({
      files: { '/var/lib/img/disk.qcow2': { uid: 0, gid: 0, mode: 0o600 } },
      users: [{ name: 'qemu', uid: 107, gid: 107, home: '/' }],
    });
    await host.chown('/var/lib/img/disk.qcow2', 107, 107);
    await host.setxattr('/var/lib/img/disk.qcow2', 'trusted.libvirt.security.dac', '+0:+0');
    expect(await host.stat('/var/lib/img/disk.qcow2')).toMatchObject({
      uid: 107,
      gid: 107,
      isFile: true,
      mode: 0o100600,
    });
    expect(await host.stat('/var/lib/img')).toMatchObject({ isDirectory: true, mode: 0o40755 });
    expect(await host.getxattr('/var/lib/img/disk.qcow2', 'trusted.libvirt.security.dac')).toBe('+0:+0');
    expect(await host.lookupUser('qemu')).toMatchObject({ uid: 107 });
    expect(host.callsOf('chown')).toEqual([['/var/lib/img/disk.qcow2', 107, 107]]);
    expect(host.calls.map((c) => c.op)).toEqual([
      'chown',
      'setxattr',
      'stat',
      'stat',
      'getxattr',
      'lookupUser',
    ]);
  });

  it('keeps cgroup writes for assertions', async () => {
    const host = recordingHost();
    const cg = '/sys/fs/cgroup/devices/machine/qemu-1-vm.qvirt-qemu';
    await host.cgroupMkdir(cg);
    await host.cgroupWrite(cg, 'devices.deny', 'a');
    await host.cgroupWrite(cg, 'devices.allow', 'c 1:3 rw');
    await host.cgroupWrite(cg, 'devices.allow', 'c 136:* rw');
    expect(await host.cgroupRead(cg, 'devices.allow')).toBe('c 1:3 rw\nc 136:* rw\n');
    await host.cgroupRmdir(cg);
    expect(await host.exists(cg)).toBe(false);
  });

  it('injects faults', async () => {
    const host = recordingHost({
      files: { '/nfs/disk.img': {} },
      faults: [{ op: 'chown', path: /^\/nfs\//, code: 'EPERM', times: 1 }],
    });
    await expect(host.chown('/nfs/disk.img', 1, 1)).rejects.toMatchObject({ code: 'EPERM' });
    await expect(host.chown('/nfs/disk.img', 1, 1)).resolves.toBeUndefined();
  });

  it('records against a real host', async () => {
    const host = recordingHost({ inner: nodeHost() });
    expect(await host.exists(dir)).toBe(true);
    expect(host.calls).toEqual([{ op: 'exists', args: [dir] }]);
  });
});
