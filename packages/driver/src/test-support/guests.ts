/** Helpers for tests on real (TCG) guests: temp roots, guest XML, waiting, and cleanup. */
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DEFAULT_GREETING, greetingBootSector } from '../boot-sector.js';

export const QEMU = '/usr/bin/qemu-system-x86_64';
export const GREETING = DEFAULT_GREETING;

const roots: string[] = [];
/** Every root of this test process starts with this, so a final sweep finds any stray QEMU. */
export const RUN_PREFIX = `qvirt-driver-test-${process.pid}-`;

/** Kills every process mentioning this run's roots (afterAll safety net). */
export async function sweepRun(): Promise<void> {
  for (let round = 0; round < 3; round++) {
    const pids = pidsMentioning(path.join(tmpdir(), RUN_PREFIX));
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await sleep(50);
  }
}

/**
 * The QEMU user and group every test instance names in its qemu.conf. Left unset, the driver picks
 * libvirt-qemu where Debian's libvirt is installed and root elsewhere, so one test would take
 * different paths on different hosts. As root the tests pin nobody's ids: QEMU runs unprivileged
 * on every host, so owners really change and come back. Unprivileged, an instance runs QEMU as
 * its caller and none are named.
 */
export const TEST_QEMU_IDS: { user: string; group: string } | undefined =
  process.geteuid?.() === 0 ? { user: '+65534', group: '+65534' } : undefined;

export interface RootOptions {
  /** More qemu.conf lines (after `user` and `group`). */
  conf?: string;
  /**
   * Other ids than TEST_QEMU_IDS, as qemu.conf's `user`/`group` take them; null names none, for
   * tests of the driver's own default (which must then give it a host of their making).
   */
  ids?: { user: string; group: string } | null;
}

/** The qemu.conf of a test instance: the pinned QEMU ids, then `conf`. */
export function testQemuConf(options: RootOptions = {}): string {
  const ids = options.ids === undefined ? TEST_QEMU_IDS : options.ids;
  return `${ids ? `user = "${ids.user}"\ngroup = "${ids.group}"\n` : ''}${options.conf ?? ''}`;
}

/**
 * An embed root whose qemu.conf names the QEMU ids (see TEST_QEMU_IDS). mkdtemp makes it 0700:
 * it is opened to 0711 so that QEMU's user can pass through to the disks, serial logs and NVRAM
 * stores under it, as the DAC driver's traversal check demands before a start.
 */
export function makeRoot(options: RootOptions = {}): string {
  const root = mkdtempSync(path.join(tmpdir(), `${RUN_PREFIX}`));
  roots.push(root);
  chmodSync(root, 0o711);
  mkdirSync(path.join(root, 'etc'));
  writeFileSync(path.join(root, 'etc/qemu.conf'), testQemuConf(options));
  return root;
}

export function guestXml(
  root: string,
  name: string,
  options: { disk?: string; emulator?: string; uuid?: string } = {},
): string {
  const disk = options.disk ?? path.join(root, `${name}.img`);
  if (options.disk === undefined) writeFileSync(disk, greetingBootSector());
  return `<domain type='qemu'>
  <name>${name}</name>
  ${options.uuid ? `<uuid>${options.uuid}</uuid>` : ''}
  <memory unit='KiB'>65536</memory>
  <vcpu>1</vcpu>
  <os><type arch='i686' machine='pc'>hvm</type><boot dev='hd'/></os>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <emulator>${options.emulator ?? QEMU}</emulator>
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

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(check: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

export function serialText(root: string, name: string): string {
  try {
    return readFileSync(path.join(root, `${name}-serial.log`), 'utf8');
  } catch {
    return '';
  }
}

/** PIDs of processes whose command line mentions `text`. */
export function pidsMentioning(text: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state !== 'Z' && cmdline.includes(text)) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Kills every QEMU a test root started and removes the roots. */
export function cleanupRoots(): void {
  for (const root of roots.splice(0)) {
    for (const pid of pidsMentioning(root)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    if (existsSync(root)) rmSync(root, { recursive: true, force: true });
  }
}
