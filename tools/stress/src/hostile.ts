/**
 * `pnpm stress` (tools/stress/bin/hostile.js): qvirtd against hostile clients. Starts a real qvirtd
 * (its own process, an embed instance in a temp dir, its sockets there) and reports its RSS (VmRSS
 * of /proc/PID/status) while:
 *
 * A. one client on the read-only socket (what any local user may open) pipelines `--calls`
 *    ConnectGetCapabilities without reading the replies for `--stall` seconds, then reads them all
 *    and leaves;
 * B. `--senders` clients on the read-only socket each declare a 32 MiB packet (VIR_NET_MESSAGE_MAX)
 *    and send half of it, hold it for `--stall` seconds, then leave.
 *
 * The RSS "after" a phase is sampled `--settle` seconds after its clients left.
 *
 * The hostile clients run in a child process, as uid/gid 65534 (nobody) through util-linux
 * `setpriv` when this tool runs as root: what an unprivileged local user can do to the daemon.
 *
 * Throughout, a well-behaved client on the read-write socket calls ConnectGetLibVersion every
 * 50 ms; its latencies are reported per phase (it must keep being answered). Every client is a raw
 * Node socket writing hand-encoded packets. Exit status 1 when a target is missed: growth over
 * `--max-growth` MiB while A's client does not read, or an RSS after a phase more than
 * `--max-growth` MiB above idle, or the well-behaved client not answered.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

interface Options {
  calls: number;
  senders: number;
  stall: number;
  settle: number;
  maxGrowth: number;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { calls: 200_000, senders: 20, stall: 3, settle: 8, maxGrowth: 50 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') continue;
    const v = Number(argv[++i]);
    if (!(v >= 0)) throw new Error(`${a} needs a non-negative number`);
    if (a === '--calls') o.calls = v;
    else if (a === '--senders') o.senders = v;
    else if (a === '--stall') o.stall = v;
    else if (a === '--settle') o.settle = v;
    else if (a === '--max-growth') o.maxGrowth = v;
    else throw new Error(`unknown option ${a}`);
  }
  return o;
}

// libvirt's wire constants (virnetprotocol.x, remote_protocol.x), written out so that this client
// shares no code with the daemon it attacks.
const REMOTE_PROGRAM = 0x20008086;
const CALL = 0;
const PROC_CONNECT_OPEN = 1;
const PROC_CONNECT_GET_CAPABILITIES = 7;
const PROC_CONNECT_GET_LIB_VERSION = 157;
const MESSAGE_MAX = 32 * 1024 * 1024;

/** One CALL packet: length word, header, then `args`. */
function callPacket(proc: number, serial: number, args: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(28 + args.length);
  b.writeUInt32BE(b.length, 0);
  b.writeUInt32BE(REMOTE_PROGRAM, 4);
  b.writeUInt32BE(1, 8);
  b.writeInt32BE(proc, 12);
  b.writeInt32BE(CALL, 16);
  b.writeUInt32BE(serial, 20);
  b.writeInt32BE(0, 24);
  args.copy(b, 28);
  return b;
}

/** remote_connect_open_args with a NULL name (the daemon's own instance) and no flags. */
const OPEN_ARGS = Buffer.alloc(8);

/** A raw protocol client: counts reply packets by serial and remembers the latest reply status. */
class Raw {
  private buf: Buffer = Buffer.alloc(0);
  replies = 0;
  errors = 0;
  private waiters = new Map<number, () => void>();
  closed = false;

  private constructor(readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => this.onData(d));
    sock.on('close', () => {
      this.closed = true;
    });
    sock.on('error', () => {});
  }

  static connect(p: string): Promise<Raw> {
    return new Promise((resolve, reject) => {
      const s = net.connect(p, () => resolve(new Raw(s)));
      s.once('error', reject);
    });
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    let at = 0;
    while (this.buf.length - at >= 4) {
      const len = this.buf.readUInt32BE(at);
      if (this.buf.length - at < len) break;
      const serial = this.buf.readUInt32BE(at + 20);
      if (this.buf.readInt32BE(at + 24) !== 0) this.errors++;
      this.replies++;
      this.waiters.get(serial)?.();
      this.waiters.delete(serial);
      at += len;
    }
    this.buf = this.buf.subarray(at);
  }

  call(proc: number, serial: number, args?: Buffer, timeoutMs = 60_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiters.delete(serial);
        reject(new Error(`call ${proc} (serial ${serial}) not answered in ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(serial, () => {
        clearTimeout(t);
        resolve();
      });
      this.sock.write(callPacket(proc, serial, args));
    });
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function rssMiB(pid: number): number {
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  if (kb === undefined) throw new Error(`no VmRSS for process ${pid}`);
  return Math.round((Number(kb) / 1024) * 10) / 10;
}

/** The well-behaved client: a cheap call every 50 ms, latencies grouped by the current phase. */
class Prober {
  phase = 'idle';
  readonly latencies = new Map<string, number[]>();
  failures = 0;
  private serial = 1;
  private running = true;
  private done: Promise<void>;

  constructor(private readonly c: Raw) {
    this.done = this.loop();
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const t = performance.now();
      const phase = this.phase;
      try {
        await this.c.call(PROC_CONNECT_GET_LIB_VERSION, this.serial++, undefined, 10_000);
        const list = this.latencies.get(phase) ?? [];
        list.push(performance.now() - t);
        this.latencies.set(phase, list);
      } catch {
        this.failures++;
      }
      await sleep(50);
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }
}

/** Max RSS sampled every 100 ms while `work` runs. */
async function sampleWhile(pid: number, work: Promise<unknown>): Promise<number> {
  let max = rssMiB(pid);
  let finished = false;
  const w = work.finally(() => {
    finished = true;
  });
  while (!finished) {
    max = Math.max(max, rssMiB(pid));
    await Promise.race([w, sleep(100)]);
  }
  await w;
  return Math.max(max, rssMiB(pid));
}

/** RSS `seconds` after a phase (qvirtd collects a departed heavy client's garbage within ~5 s). */
async function settledRss(pid: number, seconds: number): Promise<number> {
  let last = rssMiB(pid);
  for (let i = 0; i < seconds * 4; i++) {
    await sleep(250);
    last = rssMiB(pid);
  }
  return last;
}

async function startDaemon(
  dir: string,
): Promise<{ proc: ChildProcess; ro: string; rw: string; stop(): Promise<void> }> {
  const conf = path.join(dir, 'qvirtd.conf');
  writeFileSync(conf, '');
  // the bin users run: the bundled daemon when built (dist/index.js → ../bin/qvirtd.js)
  const bin = path.join(
    path.dirname(createRequire(import.meta.url).resolve('@qvirt/remote')),
    '../bin/qvirtd.js',
  );
  let stderr = '';
  const proc = spawn(
    process.execPath,
    [
      bin,
      '-f',
      conf,
      '-p',
      path.join(dir, 'qvirtd.pid'),
      '--uri',
      `qemu:///embed?root=${path.join(dir, 'root')}`,
      '--socket-dir',
      dir,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  proc.stderr!.on('data', (b: Buffer) => {
    stderr = (stderr + b.toString()).slice(-2000);
  });
  const gone = new Promise<void>((r) => proc.once('exit', () => r()));
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      await Promise.race([gone, sleep(10_000)]);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await gone;
    }
  };
  const ro = path.join(dir, 'libvirt-sock-ro');
  const rw = path.join(dir, 'libvirt-sock');
  for (const t = Date.now(); !existsSync(ro); await sleep(20)) {
    if (proc.exitCode !== null || proc.signalCode !== null || Date.now() - t > 30_000) {
      await stop();
      throw new Error(`qvirtd did not start: ${stderr.trim() || `exit ${proc.exitCode ?? proc.signalCode}`}`);
    }
  }
  return { proc, ro, rw, stop };
}

function latencyLine(xs: number[] | undefined): string {
  if (!xs || xs.length === 0) return 'no call answered';
  const s = [...xs].sort((a, b) => a - b);
  const q = (f: number) => s[Math.min(s.length - 1, Math.floor(s.length * f))]!.toFixed(1);
  return `${s.length} calls, median ${q(0.5)} ms, p99 ${q(0.99)} ms, max ${s[s.length - 1]!.toFixed(1)} ms`;
}

/**
 * The hostile side, in its own process (`hostile.js --client pipeline|half SOCKET N`): it does
 * its damage, prints "ready", waits for a line on stdin, then finishes (pipeline: reads every
 * reply, then prints "done") and exits.
 */
export async function client(kind: string, socket: string, n: number): Promise<number> {
  const go = new Promise<void>((r) => process.stdin.once('data', () => r()));
  if (kind === 'pipeline') {
    const c = await Raw.connect(socket);
    await c.call(PROC_CONNECT_OPEN, 0, OPEN_ARGS);
    const before = c.replies;
    c.sock.pause();
    for (let s = 1; s <= n; s += 1000) {
      const batch = Math.min(1000, n - s + 1);
      c.sock.write(
        Buffer.concat(
          Array.from({ length: batch }, (_, i) => callPacket(PROC_CONNECT_GET_CAPABILITIES, s + i)),
        ),
      );
    }
    console.log('ready');
    await go;
    c.sock.resume();
    for (const end = Date.now() + 600_000; c.replies - before < n; await sleep(50)) {
      if (c.closed || Date.now() > end)
        throw new Error(`${c.replies - before} of ${n} replies, then closed or timed out`);
    }
    if (c.errors > 0) throw new Error(`${c.errors} error replies`);
    c.sock.destroy();
    console.log('done');
    return 0;
  }
  const clients = await Promise.all(Array.from({ length: n }, () => Raw.connect(socket)));
  const header = callPacket(PROC_CONNECT_GET_CAPABILITIES, 1);
  header.writeUInt32BE(MESSAGE_MAX + 4, 0);
  const chunk = Buffer.alloc(64 * 1024, 0x41);
  await Promise.all(
    clients.map(async (c) => {
      c.sock.write(header);
      for (let sent = header.length; sent < MESSAGE_MAX / 2; sent += chunk.length) {
        if (!c.sock.write(chunk)) await new Promise((r) => c.sock.once('drain', r));
      }
    }),
  );
  const closedEarly = clients.filter((c) => c.closed).length;
  console.log(`ready ${closedEarly}`);
  await go;
  for (const c of clients) c.sock.destroy();
  return 0;
}

/** Starts the hostile side as nobody (when root and setpriv is there); resolves its lines as they come. */
function hostileChild(args: string[]): { lines: AsyncIterator<string>; go(): void; exited: Promise<number> } {
  const bin = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../bin/hostile.js');
  const asNobody = process.geteuid?.() === 0 && existsSync('/usr/bin/setpriv');
  const argv = [process.execPath, bin, '--client', ...args];
  const child = spawn(
    asNobody ? 'setpriv' : argv[0]!,
    asNobody ? ['--reuid=65534', '--regid=65534', '--clear-groups', ...argv] : argv.slice(1),
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const queue: string[] = [];
  let wake: (() => void) | undefined;
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      queue.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
    wake?.();
  });
  const exited = new Promise<number>((r) => child.once('exit', (code) => r(code ?? 1)));
  const lines: AsyncIterator<string> = {
    async next() {
      while (queue.length === 0) {
        if (child.exitCode !== null) throw new Error(`hostile client exited with ${child.exitCode}`);
        await Promise.race([new Promise<void>((r) => (wake = r)), exited]);
      }
      return { value: queue.shift()!, done: false };
    },
  };
  return { lines, go: () => child.stdin!.end('go\n'), exited };
}

/** Phase A: pipelined calls not read for `stall` s, then read. Returns [rss while stalled, while draining]. */
async function pipeline(pid: number, ro: string, o: Options): Promise<[number, number]> {
  const h = hostileChild(['pipeline', ro, String(o.calls)]);
  await h.lines.next();
  const stalled = await sampleWhile(pid, sleep(o.stall * 1000));
  h.go();
  const draining = await sampleWhile(
    pid,
    (async () => {
      if ((await h.lines.next()).value !== 'done' || (await h.exited) !== 0)
        throw new Error('pipelining client failed');
    })(),
  );
  return [stalled, draining];
}

/** Phase B: `senders` clients each declare a 32 MiB packet and send half. Returns the RSS while they hold it. */
async function halfSent(pid: number, ro: string, o: Options): Promise<number> {
  const h = hostileChild(['half', ro, String(o.senders)]);
  const closedEarly = Number((await h.lines.next()).value.split(' ')[1] ?? 0);
  const held = await sampleWhile(pid, sleep(o.stall * 1000));
  if (closedEarly > 0) console.log(`  (${closedEarly} senders were closed by qvirtd before leaving)`);
  h.go();
  await h.exited;
  return held;
}

export async function main(argv: string[]): Promise<number> {
  const o = parseArgs(argv);
  const dir = mkdtempSync(path.join(tmpdir(), 'qvirt-hostile-'));
  // the read-only socket (0777) must be reachable by the unprivileged hostile client
  chmodSync(dir, 0o711);
  const d = await startDaemon(dir);
  const pid = d.proc.pid!;
  let failed = false;
  const check = (ok: boolean, what: string) => {
    if (!ok) failed = true;
    return ok ? 'ok' : `MISSED: ${what}`;
  };
  try {
    const good = await Raw.connect(d.rw);
    await good.call(PROC_CONNECT_OPEN, 0, OPEN_ARGS);
    // the first capabilities call probes QEMU: do it before measuring
    await good.call(PROC_CONNECT_GET_CAPABILITIES, 1);
    const prober = new Prober(good);
    await sleep(1000);
    const idle = await settledRss(pid, 2);
    console.log(`qvirtd pid ${pid}: idle RSS ${idle} MiB`);

    prober.phase = 'A';
    const [stalled, draining] = await pipeline(pid, d.ro, o);
    prober.phase = 'A after';
    const afterA = await settledRss(pid, o.settle);
    const who =
      process.geteuid?.() === 0 && existsSync('/usr/bin/setpriv')
        ? 'uid 65534'
        : `uid ${process.geteuid?.()}`;
    console.log(`A. ${o.calls} pipelined ConnectGetCapabilities on the read-only socket, from ${who}:`);
    console.log(
      `  not reading for ${o.stall} s: max RSS ${stalled} MiB (+${(stalled - idle).toFixed(1)}) ` +
        check(stalled - idle <= o.maxGrowth, `growth over ${o.maxGrowth} MiB`),
    );
    console.log(
      `  reading all ${o.calls} replies: max RSS ${draining} MiB (+${(draining - idle).toFixed(1)})`,
    );
    console.log(
      `  ${o.settle} s after it left: RSS ${afterA} MiB (+${(afterA - idle).toFixed(1)}) ` +
        check(afterA - idle <= o.maxGrowth, `not back within ${o.maxGrowth} MiB of idle`),
    );

    prober.phase = 'B';
    const held = await halfSent(pid, d.ro, o);
    prober.phase = 'B after';
    const afterB = await settledRss(pid, o.settle);
    console.log(`B. ${o.senders} clients (${who}) each declaring a 32 MiB packet and sending half of it:`);
    console.log(
      `  while held: max RSS ${held} MiB (+${(held - idle).toFixed(1)}; ${o.senders} x 16 MiB = ${o.senders * 16} MiB arrived)`,
    );
    console.log(
      `  ${o.settle} s after they left: RSS ${afterB} MiB (+${(afterB - idle).toFixed(1)}) ` +
        check(afterB - idle <= o.maxGrowth, `not back within ${o.maxGrowth} MiB of idle`),
    );

    await prober.stop();
    console.log('well-behaved client (ConnectGetLibVersion every 50 ms on the read-write socket):');
    for (const [phase, label] of [
      ['idle', 'idle'],
      ['A', 'during A'],
      ['A after', 'after A'],
      ['B', 'during B'],
      ['B after', 'after B'],
    ] as const) {
      const xs = prober.latencies.get(phase);
      console.log(`  ${label}: ${latencyLine(xs)}`);
      if (!xs?.length && phase !== 'A after') check(false, `no answer ${label}`);
    }
    console.log(
      `  unanswered within 10 s: ${prober.failures} ${check(prober.failures === 0, 'calls unanswered')}`,
    );
    good.sock.destroy();
  } finally {
    await d.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return failed ? 1 : 0;
}
