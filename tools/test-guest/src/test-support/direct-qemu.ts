// Boots the test guest straight under QEMU (no qvirt) for this package's own tests: QEMU on TCG,
// a QMP socket, the agent's virtio-serial channel on a socket chardev, the serial port read
// from QEMU's stdout into a GuestConsole.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import type { TestGuest } from '../locate.js';
import { GuestConsole } from '../report.js';

type Json = any;

/** Line-delimited JSON over a unix socket, as QMP and the guest agent speak it. */
class JsonLines {
  private buf = '';
  private readers: ((v: Json) => void)[] = [];
  private queue: Json[] = [];
  private constructor(private readonly sock: Socket) {
    sock.setEncoding('utf8');
    // QEMU going away resets the socket: a reader then sees no message, not an exception.
    sock.on('error', () => undefined);
    sock.on('data', (d: string) => {
      this.buf += d;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl).trim();
        this.buf = this.buf.slice(nl + 1);
        if (!line) continue;
        const msg = JSON.parse(line);
        const reader = this.readers.shift();
        if (reader) reader(msg);
        else this.queue.push(msg);
      }
    });
  }

  static async open(path: string, timeoutMs = 10000): Promise<JsonLines> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const sock = connect(path);
        await once(sock, 'connect');
        return new JsonLines(sock);
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  send(msg: Json): void {
    this.sock.write(`${JSON.stringify(msg)}\n`);
  }

  /** The next message, or undefined after timeoutMs. */
  next(timeoutMs: number): Promise<Json | undefined> {
    const queued = this.queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve) => {
      const reader = (v: Json) => {
        clearTimeout(timer);
        resolve(v);
      };
      const timer = setTimeout(() => {
        this.readers = this.readers.filter((r) => r !== reader);
        resolve(undefined);
      }, timeoutMs);
      this.readers.push(reader);
    });
  }

  close(): void {
    this.sock.destroy();
  }
}

export class Qmp {
  readonly events: Json[] = [];
  private constructor(private readonly io: JsonLines) {}

  static async open(path: string): Promise<Qmp> {
    const io = await JsonLines.open(path);
    const greeting = await io.next(10000);
    if (!greeting?.QMP) throw new Error(`no QMP greeting on ${path}`);
    const qmp = new Qmp(io);
    await qmp.execute('qmp_capabilities');
    return qmp;
  }

  async execute(command: string, args?: Json, timeoutMs = 30000): Promise<Json> {
    this.io.send(args ? { execute: command, arguments: args } : { execute: command });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const msg = await this.io.next(Math.max(1, deadline - Date.now()));
      if (msg === undefined) throw new Error(`QMP ${command}: no answer within ${timeoutMs} ms`);
      if (msg.event) {
        this.events.push(msg);
        continue;
      }
      if (msg.error) throw new Error(`QMP ${command}: ${msg.error.desc}`);
      return msg.return;
    }
  }

  /** Waits for an event (already received or to come) of this name that `match` accepts. */
  async waitEvent(
    name: string,
    match: (data: Json) => boolean = () => true,
    timeoutMs = 60000,
  ): Promise<Json> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const seen = this.events.find((e) => e.event === name && match(e.data ?? {}));
      if (seen) return seen;
      const msg = await this.io.next(Math.max(1, deadline - Date.now()));
      if (msg === undefined) throw new Error(`QMP: no ${name} event within ${timeoutMs} ms`);
      if (msg.event) this.events.push(msg);
    }
  }

  close(): void {
    this.io.close();
  }
}

/** The guest agent's protocol over the host side of org.qemu.guest_agent.0. */
export class Agent {
  private constructor(private readonly io: JsonLines) {}

  /**
   * Connects and synchronises with guest-sync, resending until the agent in the guest is up
   * (what QEMU holds for a port no one in the guest opened yet may be lost).
   */
  static async open(path: string, timeoutMs = 60000): Promise<Agent> {
    const io = await JsonLines.open(path);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const id = Math.floor(Math.random() * 2 ** 31);
      io.send({ execute: 'guest-sync', arguments: { id } });
      const until = Date.now() + 3000;
      for (;;) {
        const msg = await io.next(Math.max(1, until - Date.now()));
        if (msg === undefined) break;
        if (msg.return === id) return new Agent(io);
      }
    }
    io.close();
    throw new Error(`guest agent: no answer to guest-sync within ${timeoutMs} ms`);
  }

  async execute(command: string, args?: Json, timeoutMs = 30000): Promise<Json> {
    this.io.send(args ? { execute: command, arguments: args } : { execute: command });
    const msg = await this.io.next(timeoutMs);
    if (msg === undefined) throw new Error(`guest agent ${command}: no answer within ${timeoutMs} ms`);
    if (msg.error) throw new Error(`guest agent ${command}: ${msg.error.desc}`);
    return msg.return;
  }

  close(): void {
    this.io.close();
  }
}

export interface DirectGuest {
  qemu: ChildProcess;
  console: GuestConsole;
  qmp: Qmp;
  agentSocket: string;
  /** When QEMU was started (Date.now()), for boot-time measurements. */
  startedAt: number;
  /** QEMU's exit: its code, or the signal that ended it. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Ends QEMU if still running and closes the sockets. */
  stop(): Promise<void>;
}

/**
 * Boots the guest as the brief's reference command does: q35, TCG, 256 MiB, -nographic (serial
 * on stdout), plus QMP, the agent channel, a free PCIe root port for hotplug and room for a
 * second vCPU.
 */
export async function bootDirect(guest: TestGuest, dir: string, extra: string[] = []): Promise<DirectGuest> {
  const qmpPath = join(dir, 'qmp.sock');
  const agentSocket = join(dir, 'qga.sock');
  const args = [
    '-machine',
    'q35',
    '-accel',
    'tcg',
    '-m',
    '256',
    '-smp',
    '1,maxcpus=2',
    '-nographic',
    '-no-reboot',
    '-kernel',
    guest.kernel,
    '-initrd',
    guest.initrd,
    '-append',
    guest.append,
    '-qmp',
    `unix:${qmpPath},server=on,wait=off`,
    '-chardev',
    `socket,path=${agentSocket},server=on,wait=off,id=qga0`,
    '-device',
    'virtio-serial',
    '-device',
    'virtserialport,chardev=qga0,name=org.qemu.guest_agent.0',
    '-device',
    'virtio-balloon',
    '-device',
    'pcie-root-port,id=hotplug0,bus=pcie.0,chassis=1',
    ...extra,
  ];
  const startedAt = Date.now();
  const qemu = spawn('nice', ['qemu-system-x86_64', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const console = new GuestConsole();
  let stderr = '';
  qemu.stdout!.on('data', (d: Buffer) => console.feed(d));
  qemu.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    qemu.on('exit', (code, signal) => {
      console.close(`QEMU exited (${signal ?? code})${stderr ? `: ${stderr.trim()}` : ''}`);
      resolve({ code, signal });
    });
  });
  let qmp: Qmp;
  try {
    qmp = await Promise.race([
      Qmp.open(qmpPath),
      exited.then(() => {
        throw new Error(`QEMU exited at start: ${stderr.trim()}`);
      }),
    ]);
  } catch (err) {
    qemu.kill('SIGKILL');
    throw err;
  }
  return {
    qemu,
    console,
    qmp,
    agentSocket,
    startedAt,
    exited,
    async stop() {
      qmp.close();
      if (qemu.exitCode === null && qemu.signalCode === null) {
        qemu.kill('SIGKILL');
        await exited;
      }
    },
  };
}

export function haveQemu(): boolean {
  return ['/usr/bin/qemu-system-x86_64', '/usr/local/bin/qemu-system-x86_64'].some((p) => existsSync(p));
}
