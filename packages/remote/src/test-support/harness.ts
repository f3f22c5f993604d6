/** Test helpers: a qvirtd on an embed root in a temp dir, real virsh, raw protocol clients. */
import { execFile } from 'node:child_process';
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
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { greetingBootSector } from '@qvirt/driver';
import { defaultDaemonConfig } from '../daemon/config.js';
import { type Daemon, startDaemon } from '../daemon/daemon.js';
import { PacketFramer } from '../rpc/framer.js';
import { decodePacket, type Packet } from '../rpc/header.js';

export const VIRSH = '/usr/bin/virsh';
export const hasVirsh = existsSync(VIRSH);
export const PREFIX = `qvirt-remote-test-${process.pid}-`;

export interface TestDaemon {
  dir: string;
  root: string;
  daemon: Daemon;
  rwUri: string;
  roUri: string;
  stop(): Promise<void>;
}

/**
 * The QEMU user and group every test instance names in its qemu.conf. Left unset, the driver picks
 * libvirt-qemu where Debian's libvirt is installed and root elsewhere, so one test would take
 * different paths on different hosts. As root the tests pin nobody's ids (QEMU unprivileged on
 * every host); unprivileged, an instance runs QEMU as its caller and none are named.
 */
export const TEST_QEMU_IDS: { user: string; group: string } | undefined =
  process.geteuid?.() === 0 ? { user: '+65534', group: '+65534' } : undefined;

/**
 * A temp directory for a test instance: `DIR/root` is the embed root, its qemu.conf names
 * TEST_QEMU_IDS (or `ids`), and DIR is opened from mkdtemp's 0700 to 0711 so that QEMU's user can
 * pass through to the disks and serial logs the tests put in DIR, as DAC's traversal check demands.
 */
export function makeTestDir(prefix = PREFIX, ids = TEST_QEMU_IDS): { dir: string; root: string } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  chmodSync(dir, 0o711);
  const root = path.join(dir, 'root');
  mkdirSync(path.join(root, 'etc'), { recursive: true });
  writeFileSync(
    path.join(root, 'etc/qemu.conf'),
    ids ? `user = "${ids.user}"\ngroup = "${ids.group}"\n` : '',
  );
  return { dir, root };
}

export async function startTestDaemon(
  extra: Partial<Parameters<typeof startDaemon>[0]> = {},
): Promise<TestDaemon> {
  const { dir, root } = makeTestDir();
  const daemon = await startDaemon({
    uri: `qemu:///embed?root=${root}`,
    socketDir: path.join(dir, 'sock'),
    config: defaultDaemonConfig(),
    ...extra,
  });
  return {
    dir,
    root,
    daemon,
    rwUri: `qemu+unix:///system?socket=${daemon.sockets.rw}`,
    roUri: `qemu+unix:///system?socket=${daemon.sockets.ro}`,
    async stop() {
      for (const d of daemon.driver.listDomains()) {
        if (d.state !== 'shutoff') await daemon.driver.destroy(d.name).catch(() => {});
      }
      await daemon.close();
      killMentioning(dir);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Kills any process whose command line mentions `text` (a stray QEMU of a failed test). */
export function killMentioning(text: string): void {
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(text)) process.kill(Number(pid), 'SIGKILL');
    } catch {
      // gone
    }
  }
}

export function guestXml(dir: string, name: string): string {
  const disk = path.join(dir, `${name}.img`);
  writeFileSync(disk, greetingBootSector());
  const file = path.join(dir, `${name}.xml`);
  writeFileSync(
    file,
    `<domain type='qemu'>
  <name>${name}</name>
  <memory unit='KiB'>65536</memory>
  <vcpu>1</vcpu>
  <os><type arch='i686' machine='pc'>hvm</type><boot dev='hd'/></os>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${disk}'/><target dev='hda' bus='ide'/></disk>
    <serial type='file'><source path='${path.join(dir, `${name}-serial.log`)}'/><target port='0'/></serial>
  </devices>
</domain>
`,
  );
  return file;
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err
        ? typeof (err as { code?: unknown }).code === 'number'
          ? (err as { code: number }).code
          : 1
        : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

export const virsh = (uri: string, ...args: string[]) =>
  run(VIRSH, ['-c', uri, ...args], { ...process.env, LIBVIRT_AUTOSTART: '0', LC_ALL: 'C' });

/** A raw socket to the daemon: send bytes, read whole packets, see whether it closed. */
export class RawClient {
  readonly packets: Packet[] = [];
  closed = false;
  private framer = new PacketFramer();
  private waiters: (() => void)[] = [];

  private constructor(readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => {
      for (const p of this.framer.push(d)) this.packets.push(decodePacket(p));
      this.wake();
    });
    sock.on('close', () => {
      this.closed = true;
      this.wake();
    });
    sock.on('error', () => {});
  }

  static connect(p: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect(p, () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  send(buf: Buffer): void {
    this.sock.write(buf);
  }

  /** Waits until `pred` holds or `ms` pass. */
  async until(pred: () => boolean, ms = 5000): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!pred()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    return true;
  }

  close(): void {
    this.sock.destroy();
  }
}
