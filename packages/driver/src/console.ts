/**
 * Consoles and channels over streams (libvirt's qemuDomainOpenConsole/OpenChannel with
 * virchrdev.c): the stream is joined to the guest's character device, a pty for consoles and a
 * unix socket for channels, one session per device unless forced, in which case the old session
 * is aborted. The pty's path comes from QEMU (`query-chardev`) once the guest is started and is
 * written into the live XML as libvirt does (`<source path='/dev/pts/N'/>`, and `tty=` on the
 * console).
 */
import { constants as fsc, openSync } from 'node:fs';
import net from 'node:net';
import type { Readable, Writable } from 'node:stream';
import tty from 'node:tty';
import { type DomainDef, VirError } from '@qvirt/core';
import {
  type StreamChunk,
  VIR_DOMAIN_CHANNEL,
  VIR_DOMAIN_CONSOLE,
  type VirStream,
} from '@qvirt/core/hypervisor';

type Chr = {
  type?: string;
  tty?: string;
  source?: Array<{ path?: string; mode?: string }>;
  alias?: Array<{ name?: string }> | { name?: string };
  target?: { type?: string; name?: string; port?: number };
};

const aliasOf = (c: Chr): string | undefined => {
  const a = c.alias as unknown;
  if (Array.isArray(a)) return a[0]?.name;
  return (a as { name?: string } | undefined)?.name;
};

const internal = (msg: string) => new VirError('INTERNAL_ERROR', 'qemu', `internal error: ${msg}`);

/**
 * qemuProcessRefreshChardevs/LookupPTYs: after QEMU is up, each pty chardev's path (QEMU's
 * `pty:/dev/pts/N`) goes into the live definition; a `<console>` that is the serial port's
 * copy (target type serial) shares it and prints it as `tty=` too.
 */
export function applyPtyPaths(live: DomainDef, chardevs: Array<{ label: string; filename: string }>): void {
  const byLabel = new Map(chardevs.map((c) => [c.label, c.filename]));
  const d = live.devices as Record<string, Chr[] | undefined> | undefined;
  if (!d) return;
  const ptyOf = (c: Chr): string | undefined => {
    const alias = aliasOf(c);
    const f = alias ? byLabel.get(`char${alias}`) : undefined;
    return f?.startsWith('pty:') ? f.slice(4) : undefined;
  };
  for (const kind of ['serial', 'parallel', 'channel', 'console'] as const) {
    for (const c of d[kind] ?? []) {
      if (c.type !== 'pty') continue;
      let p = ptyOf(c);
      if (!p && kind === 'console') {
        // the console of a serial target is the serial port itself
        const port = c.target?.port ?? 0;
        const s = (d.serial ?? []).find((x) => (x.target?.port ?? 0) === port && x.type === 'pty');
        p = s?.source?.[0]?.path;
      }
      if (!p) continue;
      c.source = [{ ...(c.source?.[0] ?? {}), path: p }];
      if (kind === 'console') c.tty = p;
    }
  }
}

/** The console qemuDomainOpenConsole picks: by alias, else the first console or serial port. */
function findConsole(def: DomainDef, devName: string | null): Chr {
  const d = (def.devices ?? {}) as Record<string, Chr[] | undefined>;
  let chr: Chr | undefined;
  if (devName) {
    for (const kind of ['console', 'serial', 'parallel'] as const)
      chr ??= (d[kind] ?? []).find((c) => aliasOf(c) === devName);
  } else chr = d.console?.[0] ?? d.serial?.[0];
  if (!chr) throw internal(`cannot find character device ${devName ?? '<null>'}`);
  if (chr.type !== 'pty')
    throw internal(`character device ${devName ?? aliasOf(chr) ?? '<null>'} is not using a PTY`);
  return chr;
}

function findChannel(def: DomainDef, name: string | null): Chr {
  const list = ((def.devices ?? {}) as Record<string, Chr[] | undefined>).channel ?? [];
  let chr: Chr | undefined;
  if (name) {
    for (const c of list) {
      if (aliasOf(c) === name) chr = c;
      if (c.target?.type === 'virtio' && c.target.name === name) chr = c;
    }
  } else chr = list[0];
  if (!chr) throw internal(`cannot find channel ${name ?? '<null>'}`);
  if (chr.type !== 'unix')
    throw internal(`channel ${name ?? aliasOf(chr) ?? '<null>'} is not using a UNIX socket`);
  return chr;
}

/** A VirStream over a readable and a writable end (the device), closed by `close`. */
class DeviceStream implements VirStream {
  #queue: Buffer[] = [];
  #ended = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;
  #closed = false;

  constructor(
    private readonly input: Readable,
    private readonly output: Writable,
    private readonly close: () => void,
  ) {
    input.on('data', (b: Buffer) => {
      this.#queue.push(b);
      // the guest's output waits here while the client is slow (virFDStream's back-pressure)
      if (this.#queue.length > 64) input.pause();
      this.#poke();
    });
    const end = () => {
      this.#ended = true;
      this.#poke();
    };
    input.on('end', end);
    input.on('close', end);
    // a pty whose QEMU went away reads EIO: that is the end of the console, not an error
    input.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EIO') this.#error ??= e;
      end();
    });
    output.on('error', () => {});
  }

  #poke(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  /** Another session forced this one out (virChrdevOpen with force aborts the old stream). */
  kick(): void {
    this.#error ??= new VirError('OPERATION_FAILED', 'qemu', 'operation failed: console session taken over');
    this.#shut();
  }

  #shut(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.close();
    this.#ended = true;
    this.#poke();
  }

  async send(data: Uint8Array): Promise<void> {
    if (this.#error) throw this.#error;
    if (this.#closed) return;
    await new Promise<void>((resolve, reject) =>
      this.output.write(Buffer.from(data), (err) => (err ? reject(err) : resolve())),
    );
  }

  async sendHole(): Promise<void> {
    throw new VirError('OPERATION_UNSUPPORTED', 'streams', 'Operation not supported: sparse stream');
  }

  async recv(): Promise<StreamChunk | null> {
    for (;;) {
      const b = this.#queue.shift();
      if (b) {
        if (this.#queue.length < 16) this.input.resume();
        return { data: b };
      }
      if (this.#error) throw this.#error;
      if (this.#ended) return null;
      await new Promise<void>((r) => {
        this.#wake = r;
      });
    }
  }

  async finish(): Promise<void> {
    this.#shut();
  }

  async abort(): Promise<void> {
    this.#shut();
  }
}

/** virChrdevs: the open sessions of one driver, by device path. */
export class ChrdevSessions {
  readonly #open = new Map<string, DeviceStream>();

  /** virChrdevOpen: true when `force` is false and a session is open (the caller refuses). */
  async #openDevice(
    path: string,
    force: boolean,
    busy: string,
    connect: () => Promise<{ input: Readable; output: Writable; close: () => void }>,
  ): Promise<VirStream> {
    const old = this.#open.get(path);
    if (old) {
      if (!force) throw new VirError('OPERATION_FAILED', 'qemu', `operation failed: ${busy}`);
      this.#open.delete(path);
      old.kick();
    }
    const io = await connect();
    const st: DeviceStream = new DeviceStream(io.input, io.output, () => {
      io.close();
      if (this.#open.get(path) === st) this.#open.delete(path);
    });
    this.#open.set(path, st);
    return st;
  }

  /** qemuDomainOpenConsole on the live definition (undefined when the domain is not running). */
  openConsole(live: DomainDef | undefined, devName: string | null, flags: number): Promise<VirStream> {
    if (!live)
      throw new VirError(
        'OPERATION_INVALID',
        'qemu',
        'Requested operation is not valid: domain is not running',
      );
    const chr = findConsole(live, devName);
    const path = chr.source?.[0]?.path;
    if (!path) throw internal(`character device ${devName ?? aliasOf(chr) ?? '<null>'} is not using a PTY`);
    return this.#openDevice(
      path,
      (flags & VIR_DOMAIN_CONSOLE.FORCE) !== 0,
      'Active console session exists for this domain',
      async () => openPty(path),
    );
  }

  /** qemuDomainOpenChannel: a unix channel (QEMU listens on it) joined to the stream. */
  openChannel(live: DomainDef | undefined, name: string | null, flags: number): Promise<VirStream> {
    if (!live)
      throw new VirError(
        'OPERATION_INVALID',
        'qemu',
        'Requested operation is not valid: domain is not running',
      );
    const chr = findChannel(live, name);
    const path = chr.source?.[0]?.path;
    if (!path) throw internal(`channel ${name ?? aliasOf(chr) ?? '<null>'} is not using a UNIX socket`);
    return this.#openDevice(
      path,
      (flags & VIR_DOMAIN_CHANNEL.FORCE) !== 0,
      'Active channel stream exists for this domain',
      () => openUnix(path),
    );
  }

  /** The guest stopped: its sessions end. */
  closeAll(live: DomainDef | undefined): void {
    if (!live) return;
    const d = (live.devices ?? {}) as Record<string, Chr[] | undefined>;
    for (const kind of ['console', 'serial', 'parallel', 'channel'] as const) {
      for (const c of d[kind] ?? []) {
        const p = c.source?.[0]?.path;
        const st = p ? this.#open.get(p) : undefined;
        if (st) void st.finish();
      }
    }
  }
}

/** virFDStreamOpenPTY: the pty's slave end in raw mode, read through libuv (never a blocking read). */
function openPty(path: string): { input: Readable; output: Writable; close: () => void } {
  let rfd: number;
  let wfd: number;
  try {
    // two descriptors: libuv's tty handles are one-way each (they close them)
    rfd = openSync(path, fsc.O_RDWR | fsc.O_NOCTTY);
    wfd = openSync(path, fsc.O_RDWR | fsc.O_NOCTTY);
  } catch (err) {
    throw new VirError(
      'SYSTEM_ERROR',
      'qemu',
      `Unable to open tty ${path}: ${(err as NodeJS.ErrnoException).message}`,
    );
  }
  const input = new tty.ReadStream(rfd);
  input.setRawMode(true);
  const output = new tty.WriteStream(wfd);
  return {
    input,
    output,
    close: () => {
      input.destroy();
      output.destroy();
    },
  };
}

function openUnix(path: string): Promise<{ input: Readable; output: Writable; close: () => void }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(path, () => {
      s.off('error', fail);
      resolve({ input: s, output: s, close: () => s.destroy() });
    });
    const fail = (err: NodeJS.ErrnoException) =>
      reject(
        new VirError('SYSTEM_ERROR', 'qemu', `Unable to connect to UNIX socket ${path}: ${err.message}`),
      );
    s.once('error', fail);
  });
}
