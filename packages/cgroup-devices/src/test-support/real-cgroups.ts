/**
 * Helpers for tests on the real cgroups of this machine: a private partition per test file,
 * processes placed in a group the way the launch chain places QEMU, a tiny child that reports
 * which device nodes it may open, loop devices as block-device disks, and cleanup of all of it.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const V1_DEVICES = '/sys/fs/cgroup/devices';
export const V2_UNIFIED = '/sys/fs/cgroup/unified';
export const BPFMAP = '/work/shared/tools/bpfmap.py';

export const isRoot = process.getuid?.() === 0;
export const hasV1Devices = existsSync(`${V1_DEVICES}/devices.list`);
export const hasV2 = existsSync(`${V2_UNIFIED}/cgroup.procs`);

/** A partition name of our own, so tests never touch `/machine`. */
export function testPartition(tag: string): string {
  return `/qvirt-test-${tag}-${process.pid}-${Math.random().toString(16).slice(2, 8)}`;
}

/** Remove a directory tree of cgroups, deepest first (processes must be gone). */
export function removeCgroupTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) removeCgroupTree(path.join(dir, entry.name));
  }
  rmdirSync(dir);
}

/** Remove a test partition (libvirt's `.partition` suffix included) from both hierarchies. */
export function removePartition(partition: string): void {
  for (const root of [V1_DEVICES, V2_UNIFIED]) {
    for (const p of [partition, `${partition}.partition`]) removeCgroupTree(`${root}${p}`);
  }
}

/** The launch chain's way in: `sh -c 'echo $$ > G/cgroup.procs; exec CMD'`. */
function joinScript(cgroupDirs: readonly string[], cmd: string): string {
  return `${cgroupDirs.map((d) => `echo $$ > '${d}/cgroup.procs' && `).join('')}exec ${cmd}`;
}

/** A long-running process (`sleep`) placed in the groups before exec. */
export function spawnSleeper(cgroupDirs: readonly string[]) {
  const child = spawn('sh', ['-c', joinScript(cgroupDirs, 'sleep 600')], { stdio: 'ignore' });
  return {
    pid: child.pid!,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    },
  };
}

export type OpenResult = 'ok' | string;

/**
 * Run a tiny child in the groups that opens each node (`r` read-only, `rw` read-write) and
 * reports `ok` or the errno name (`EPERM` when the device cgroup refuses).
 */
export function tryOpenIn(cgroupDirs: readonly string[], opens: Array<[string, 'r' | 'rw']>): OpenResult[] {
  const script = `const fs=require('fs');const out=[];for(const [p,m] of ${JSON.stringify(opens)}){try{fs.closeSync(fs.openSync(p,m==='r'?'r':'r+'));out.push('ok')}catch(e){out.push(e.code)}}console.log(JSON.stringify(out))`;
  const r = spawnSync(
    'sh',
    ['-c', joinScript(cgroupDirs, `'${process.execPath}' -e "${script.replace(/"/g, '\\"')}"`)],
    {
      encoding: 'utf8',
    },
  );
  if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim());
}

/** The entries of a BPF map as `bpfmap.py` prints them in libvirt's encoding (`c 1:3 rw`). */
export function bpfmapRules(mapId: number): string[] {
  return execFileSync('python3', [BPFMAP, String(mapId)], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map((l) => l.replace(/\s+\(raw val=.*\)$/, ''));
}

/** A loop device over a temp file: a real block-device disk. */
export async function loopDevice(sizeMiB = 1) {
  const dir = await mkdtemp(path.join(tmpdir(), 'qvirt-cgd-'));
  const file = path.join(dir, 'disk.img');
  writeFileSync(file, Buffer.alloc(sizeMiB * 1024 * 1024));
  const dev = execFileSync('losetup', ['--find', '--show', file], { encoding: 'utf8' }).trim();
  const rdev = statSync(dev).rdev;
  return {
    dev,
    major: Math.floor(rdev / 256) & 0xfff,
    minor: (rdev & 0xff) | ((rdev >> 12) & ~0xff),
    async close() {
      spawnSync('losetup', ['-d', dev]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A device node the tests expect to be denied: the root disk, opened read-only. */
export function deniedBlockNode(): string | undefined {
  for (const p of ['/dev/vda', '/dev/sda', '/dev/nvme0n1', '/dev/xvda']) if (existsSync(p)) return p;
  return undefined;
}

export function writeCgroupFile(dir: string, file: string, value: string): void {
  writeFileSync(`${dir}/${file}`, value);
}
