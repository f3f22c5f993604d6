import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { baseLaunchSpec } from '@qvirt/core';
import { afterAll, describe, expect, it } from 'vitest';
import { launch, launchCommand, setprivArgs, sq } from './launch.js';

const root = process.getuid?.() === 0;
const dir = mkdtempSync(path.join(tmpdir(), 'qvirt-launch-'));
const cgroup = `/sys/fs/cgroup/devices/qvirt-launch-test-${process.pid}`;
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  try {
    rmdirSync(cgroup);
  } catch {
    // not made
  }
});

const spec = (args: string[], logFd = 2) =>
  baseLaunchSpec({ binary: '/bin/sh', args, env: [['PATH', '/usr/bin:/bin']], cwd: dir, logFd });

function exited(child: import('node:child_process').ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

describe('launch spec', () => {
  it('spawns QEMU directly when the spec asks for nothing', () => {
    expect(launchCommand(spec(['-c', 'true']))).toEqual(['/bin/sh', '-c', 'true']);
  });

  it('maps ids, capabilities and labels to setpriv', () => {
    const s = spec([]);
    Object.assign(s, {
      uid: 107,
      gid: 108,
      groups: [108, 36],
      keepCaps: [],
      noNewPrivs: true,
      seLinuxLabel: 'system_u:system_r:svirt_t:s0:c1,c2',
      appArmorProfile: 'libvirt-1234',
    });
    expect(setprivArgs(s)).toEqual([
      '--reuid=107',
      '--regid=108',
      '--groups=108,36',
      '--inh-caps=-all',
      '--bounding-set=-all',
      '--no-new-privs',
      '--selinux-label=system_u:system_r:svirt_t:s0:c1,c2',
      '--apparmor-profile=libvirt-1234',
    ]);
    expect(setprivArgs({ ...s, groups: [], keepCaps: ['sys_rawio'], uid: 0 }).slice(2, 5)).toEqual([
      '--clear-groups',
      '--inh-caps=-all,+sys_rawio',
      '--bounding-set=-all,+sys_rawio',
    ]);
    expect(() => setprivArgs({ ...s, keepCaps: ['x; rm'] })).toThrow('invalid capability');
  });

  it.skipIf(!root)('runs the chain for real: ids, no caps, no_new_privs, cgroup, handshake', async () => {
    mkdirSync(cgroup);
    const log = path.join(dir, 'log');
    const fd = openSync(log, 'w');
    const s = spec(['-c', 'cat /proc/self/status /proc/self/cgroup'], fd);
    Object.assign(s, {
      uid: 65534,
      gid: 65534,
      groups: [],
      keepCaps: [],
      noNewPrivs: true,
      cgroupPaths: [cgroup],
    });
    const h = launch(s, { handshake: true });
    const code = exited(h.child);
    await h.ready();
    // waiting at the handshake: not yet in the cgroup, not yet dropped
    expect(readFileSync(`${cgroup}/cgroup.procs`, 'utf8')).toBe('');
    h.proceed();
    expect(await code).toBe(0);
    closeSync(fd);
    const out = readFileSync(log, 'utf8');
    expect(out).toMatch(/^Uid:\s+65534\s+65534\s+65534\s+65534$/m);
    expect(out).toMatch(/^Gid:\s+65534\s+65534\s+65534\s+65534$/m);
    expect(out).toMatch(/^Groups:\s*$/m);
    for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) {
      expect(out).toMatch(new RegExp(`^${set}:\\s+0000000000000000$`, 'm'));
    }
    expect(out).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(out).toContain(`devices:/qvirt-launch-test-${process.pid}`);
  });

  it.skipIf(!root)('fails the handshake when the chain dies first', async () => {
    const s = spec(['-c', 'true']);
    s.cgroupPaths = ['/nonexistent/cgroup'];
    s.logFd = openSync('/dev/null', 'w');
    const h = launch(s, { handshake: true });
    const code = exited(h.child);
    await h.ready();
    h.proceed();
    expect(await code).not.toBe(0);
    closeSync(s.logFd);
  });

  it.skipIf(!root)('builds a private /dev in a mount namespace', async () => {
    const log = path.join(dir, 'devlog');
    const fd = openSync(log, 'w');
    const s = spec(['-c', 'ls -ln /dev; ls /dev/pts >/dev/null && echo pts-ok'], fd);
    s.privateDev = {
      nodes: [
        { path: '/dev/null', kind: 'c', major: 1, minor: 3, mode: 0o666, uid: 0, gid: 0 },
        { path: '/dev/net/tun', kind: 'c', major: 10, minor: 200, mode: 0o660, uid: 65534, gid: 65534 },
      ],
      binds: ['/dev/pts'],
    };
    const h = launch(s, { handshake: true });
    const code = exited(h.child);
    await h.ready();
    h.proceed();
    expect(await code).toBe(0);
    closeSync(fd);
    const out = readFileSync(log, 'utf8');
    expect(out).toMatch(/crw-rw-rw- 1 0 0 1, 3 .* null/);
    expect(out).toMatch(/drwxr-xr-x 2 0 0 .* net/);
    expect(out).toContain('pts-ok');
    expect(out).not.toContain('kvm');
  });

  it.skipIf(!root)('assembles the private /dev over a given directory, binds from an fstab', async () => {
    const log = path.join(dir, 'devlog2');
    const fd = openSync(log, 'w');
    // a mount point needing fstab escapes; it must look untouched afterwards, inside and out
    const mp = path.join(dir, 'run dir\\x');
    mkdirSync(mp);
    writeFileSync(path.join(mp, 'marker'), '');
    const s = spec(
      [
        '-c',
        `ls -ln /dev /dev/net /dev/qvirt; ls /dev/pts >/dev/null && echo pts-ok; ls -A ${sq(mp)}; awk '$5 ~ "^/dev" { print $5 }' /proc/self/mountinfo | sort -u | tr '\\n' ' '; echo; ls -l /proc/self/fd | grep -c fstab || true`,
      ],
      fd,
    );
    s.privateDev = {
      nodes: [
        { path: '/dev/null', kind: 'c', major: 1, minor: 3, mode: 0o666, uid: 0, gid: 0 },
        // the host's node, owned and moded differently in the copy
        { path: '/dev/zero', kind: 'c', major: 1, minor: 5, mode: 0o600, uid: 65534, gid: 65534 },
        // in a subdirectory
        { path: '/dev/net/tun', kind: 'c', major: 10, minor: 200, mode: 0o660, uid: 65534, gid: 65534 },
        // not on the host as asked: made with mknod
        { path: '/dev/qvirt/made', kind: 'c', major: 1, minor: 7, mode: 0o640, uid: 0, gid: 65534 },
        // under a bound directory: hidden by the bind, not made
        { path: '/dev/pts/77', kind: 'c', major: 136, minor: 77, mode: 0o620, uid: 0, gid: 0 },
      ],
      binds: ['/dev/pts', '/dev/shm'],
    };
    const script = launchCommand(s, { handshake: true, devMountPoint: mp }).join(' ');
    expect(script).not.toContain('mktemp');
    expect(script).toContain('mount -a -T /proc/self/fd/4');
    const h = launch(s, { handshake: true, devMountPoint: mp });
    const code = exited(h.child);
    await h.ready();
    h.proceed();
    expect(await code).toBe(0);
    closeSync(fd);
    const out = readFileSync(log, 'utf8');
    expect(out).toMatch(/crw-rw-rw- +1 +0 +0 +1, +3 .* null/);
    expect(out).toMatch(/crw------- +1 +65534 +65534 +1, +5 .* zero/);
    expect(out).toMatch(/crw-rw---- +1 +65534 +65534 +10, +200 .* tun/);
    expect(out).toMatch(/crw-r----- +1 +0 +65534 +1, +7 .* made/);
    expect(out).not.toMatch(/ 77$/m);
    expect(out).toContain('pts-ok');
    // inside: the mount point shows its own content again; /dev, /dev/pts, /dev/shm are mounts
    expect(out).toContain('\nmarker\n/dev /dev/pts /dev/shm \n0\n');
    // outside: nothing changed, nothing left
    expect(readdirSync(mp)).toEqual(['marker']);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(mp.replace(/ /g, '\\040'));
  });
});
