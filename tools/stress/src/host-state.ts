/**
 * Instances on real TCG guests for the load, soak and fault runs, and the leak scan: what a run
 * may leave on the host (QEMU processes, cgroups, device-cgroup BPF programs, remembered-owner
 * xattrs, sockets, status and pid files, private directories, owners changed) is listed so a
 * test can require the list to be empty.
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { nodeHost } from '@qvirt/core';
import { greetingBootSector } from '@qvirt/driver';

export const QEMU = '/usr/bin/qemu-system-x86_64';
export const PREFIX = 'qvirt-stress-';
export const isRoot = process.getuid?.() === 0;
export const hasQemu = existsSync(QEMU);

/** qemu.conf for the two stacks the runs check: libvirt mode (unset) and an explicit list. */
export const STACKS = {
  libvirt: '',
  explicit: 'security_driver = [ "dac", "capng", "cgroup-devices" ]\n',
} as const;
export type StackName = keyof typeof STACKS;

/** An embed root; QEMU runs as nobody when root so that owners really change and come back. */
export function makeInstance(stack: StackName | string, extraConf = ''): string {
  const root = mkdtempSync(path.join(tmpdir(), `${PREFIX}${process.pid}-`));
  chmodSync(root, 0o755);
  mkdirSync(path.join(root, 'etc'), { recursive: true });
  const ids = isRoot ? 'user = "+65534"\ngroup = "+65534"\n' : '';
  const conf = stack in STACKS ? STACKS[stack as StackName] : stack;
  writeFileSync(path.join(root, 'etc/qemu.conf'), `${ids}${conf}${extraConf}`);
  return root;
}

export const uriOf = (root: string) => `qemu:///embed?root=${root}`;

/** A tiny guest: TCG, 32 MiB, the demo's boot sector on IDE, its greeting on a serial log. */
export function guestXml(root: string, name: string, greeting = `Hello from ${name}!`): string {
  const disk = path.join(root, `${name}.img`);
  if (!existsSync(disk)) writeFileSync(disk, greetingBootSector(greeting));
  return `<domain type='qemu'>
  <name>${name}</name>
  <memory unit='KiB'>32768</memory>
  <vcpu>1</vcpu>
  <os><type arch='i686' machine='pc'>hvm</type><boot dev='hd'/></os>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <emulator>${QEMU}</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='${disk}'/>
      <target dev='hda' bus='ide'/>
    </disk>
    <serial type='file'><source path='${path.join(root, `${name}-serial.log`)}'/><target port='0'/></serial>
  </devices>
</domain>
`;
}

export function serialText(root: string, name: string): string {
  try {
    return readFileSync(path.join(root, `${name}-serial.log`), 'utf8');
  } catch {
    return '';
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

/** Live (non-zombie) processes whose command line mentions `text`. */
export function pidsMentioning(text: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') continue;
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Every `*.qvirt-qemu` cgroup directory on the host, in every hierarchy. */
export function domainCgroups(): string[] {
  const out: string[] = [];
  const walk = (dir: string, depth: number) => {
    if (depth > 4) return;
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(dir, e);
      try {
        if (!lstatSync(p).isDirectory()) continue;
      } catch {
        continue;
      }
      if (e.endsWith('.qvirt-qemu')) out.push(p);
      else if (depth < 3 && (e === 'machine' || e.endsWith('.partition') || depth === 0)) walk(p, depth + 1);
    }
  };
  walk('/sys/fs/cgroup', 0);
  return out.sort();
}

/**
 * BPF programs and maps this process holds (`/proc/self/fd` links): the device programs the
 * cgroup-devices driver loaded and has not let go of. A program attached to a cgroup lives as
 * long as that cgroup, which the cgroup check covers.
 */
export function bpfDescriptors(): string[] {
  const out: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const link = readlinkSync(`/proc/self/fd/${fd}`);
      if (link.startsWith('anon_inode:bpf')) out.push(`${fd} ${link}`);
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

export interface HostSnapshot {
  cgroups: string[];
  bpf: string[];
}

export function snapshotHost(): HostSnapshot {
  return { cgroups: domainCgroups(), bpf: bpfDescriptors() };
}

/**
 * What a run left behind in `root` and on the host since `before`: one line per leak. `owners`
 * maps files to the uid:gid they must have again; `names` limits the cgroups looked at to those
 * of these domains.
 */
export async function leaks(
  root: string,
  before: HostSnapshot,
  owners: Record<string, string> = {},
  names?: readonly string[],
): Promise<string[]> {
  const out: string[] = [];
  for (const pid of pidsMentioning(root)) out.push(`process ${pid}: ${readCmd(pid)}`);
  const now = snapshotHost();
  // other instances may be running meanwhile: only the cgroups of this run's domains count
  const ours = (cg: string) => !names || names.some((n) => cg.endsWith(`-${n}.qvirt-qemu`));
  for (const cg of now.cgroups) if (!before.cgroups.includes(cg) && ours(cg)) out.push(`cgroup ${cg}`);
  for (const fd of now.bpf) if (!before.bpf.includes(fd)) out.push(`BPF descriptor ${fd}`);
  const host = nodeHost();
  const walk = async (dir: string) => {
    for (const e of readdirSync(dir)) {
      const p = path.join(dir, e);
      const st = lstatSync(p);
      if (st.isSocket()) out.push(`socket ${p}`);
      if (st.isDirectory()) {
        if (/^domain--?\d+-/.test(e)) out.push(`private directory ${p}`);
        await walk(p);
        continue;
      }
      if (!st.isFile()) continue;
      const names = (await host.listxattr(p).catch(() => [] as string[])).filter((n) =>
        n.startsWith('trusted.libvirt.'),
      );
      if (names.length > 0) out.push(`xattrs ${names.join(',')} on ${p}`);
      if (e.includes('.qvirt-tmp-')) out.push(`temporary file ${p}`);
    }
  };
  await walk(root);
  const run = path.join(root, 'run/qemu');
  if (existsSync(run)) {
    // (driver.pid is the open driver's instance lock, not a domain's)
    for (const f of readdirSync(run))
      if (f.endsWith('.xml') || (f.endsWith('.pid') && f !== 'driver.pid'))
        out.push(`status file ${run}/${f}`);
  }
  for (const [file, want] of Object.entries(owners)) {
    const st = lstatSync(file);
    if (`${st.uid}:${st.gid}` !== want) out.push(`owner ${st.uid}:${st.gid} of ${file} (was ${want})`);
  }
  return out;
}

function readCmd(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').slice(0, 200);
  } catch {
    return '?';
  }
}

/** Kills whatever still mentions `root` and removes it (a test's last resort). */
export function removeInstance(root: string): void {
  for (let round = 0; round < 3; round++) {
    const pids = pidsMentioning(root);
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    execFileSync('sleep', ['0.1']);
  }
  rmSync(root, { recursive: true, force: true });
}

/** The RSS of this process in MiB. */
export function rssMiB(): number {
  return Math.round((process.memoryUsage().rss / 1024 / 1024) * 10) / 10;
}
