/**
 * `pnpm soak -- --minutes N [--guests N] [--stack libvirt|explicit] [--via qvirtd|driver]
 * [--cycles N]`: start/stop cycles with mixed operations (define, start, suspend, resume, reset,
 * dumpxml, dominfo, shutdown or destroy, redefine, undefine) on a few guests, for N minutes (or N
 * cycles). Every cycle ends with the guests shut off and a leak scan; the run fails on any leak,
 * any failed operation, or an RSS that keeps growing.
 *
 * `--via qvirtd` (the default) runs the cycles through a real qvirtd (its own process, serving the
 * instance on a Unix socket) with a RemoteClient, and samples the daemon's RSS (VmRSS of
 * /proc/PID/status), so the daemon's leaks (RPC server, events, driver) are what is measured.
 * `--via driver` runs them through a driver in this process and samples this process's RSS.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type HypervisorDriver, VIR_DOMAIN_STATE } from '@qvirt/core/hypervisor';
import { QemuDriver } from '@qvirt/driver';
import { RemoteClient } from '@qvirt/remote';
import {
  guestXml,
  leaks,
  makeInstance,
  removeInstance,
  rssMiB,
  type StackName,
  serialText,
  snapshotHost,
  uriOf,
  waitFor,
} from './host-state.js';

interface Options {
  minutes: number;
  /** Stop after this many cycles instead (for a short run). */
  cycles?: number;
  guests: number;
  stack: StackName;
  via: 'qvirtd' | 'driver';
}

function parseArgs(argv: string[]): Options {
  const o: Options = { minutes: 1, guests: 4, stack: 'libvirt', via: 'qvirtd' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') continue;
    const v = argv[++i];
    if (v === undefined) throw new Error(`${a} needs a value`);
    if (a === '--minutes') o.minutes = Number(v);
    else if (a === '--cycles') o.cycles = Number(v);
    else if (a === '--guests') o.guests = Number(v);
    else if (a === '--stack' && (v === 'libvirt' || v === 'explicit')) o.stack = v;
    else if (a === '--via' && (v === 'qvirtd' || v === 'driver')) o.via = v;
    else throw new Error(`unknown option ${a} ${v}`);
  }
  if (!(o.minutes > 0) || !(o.guests > 0)) throw new Error('--minutes and --guests must be positive');
  if (o.cycles !== undefined && !(Number.isInteger(o.cycles) && o.cycles > 0)) {
    throw new Error('--cycles must be a positive integer');
  }
  return o;
}

/** What a cycle needs of a connection: the driver's operations, async, by domain name. */
interface Target {
  /** Whose RSS is sampled, for the report. */
  readonly label: string;
  defineXML(xml: string): Promise<unknown>;
  start(name: string): Promise<unknown>;
  suspend(name: string): Promise<unknown>;
  resume(name: string): Promise<unknown>;
  reset(name: string): Promise<unknown>;
  getInfo(name: string): Promise<unknown>;
  getXMLDesc(name: string): Promise<string>;
  /** Power button; destroyed when not off within `timeoutMs`. */
  shutdown(name: string, timeoutMs: number): Promise<unknown>;
  destroy(name: string): Promise<unknown>;
  undefine(name: string): Promise<unknown>;
  /** RSS of the process serving the operations, MiB. */
  rss(): number;
  /** Leak-scan lines that are the target itself (its own process), not a leak. */
  ownLine(line: string): boolean;
  close(): Promise<void>;
}

/**
 * The cycle's operations over the hypervisor contract, by domain name: the same code whether the
 * connection is the driver in this process or a client of qvirtd.
 */
function contractOps(c: HypervisorDriver): Omit<Target, 'label' | 'rss' | 'ownLine' | 'close'> {
  const dom = (n: string) => c.domainLookupByName(n);
  const isOff = async (n: string) =>
    (await c.domainGetState(await dom(n), 0)).state === VIR_DOMAIN_STATE.shutoff;
  return {
    defineXML: (xml) => c.domainDefineXML(xml),
    start: async (n) => c.domainCreateWithFlags(await dom(n), 0),
    suspend: async (n) => c.domainSuspend(await dom(n)),
    resume: async (n) => c.domainResume(await dom(n)),
    reset: async (n) => c.domainReset(await dom(n), 0),
    getInfo: async (n) => c.domainGetInfo(await dom(n)),
    getXMLDesc: async (n) => c.domainGetXMLDesc(await dom(n), 0),
    // virDomainShutdown only asks: destroy what has not powered off in time
    async shutdown(n, timeoutMs) {
      await c.domainShutdown(await dom(n));
      for (const until = Date.now() + timeoutMs; Date.now() < until; await sleep(20)) {
        if (await isOff(n)) return;
      }
      await c.domainDestroy(await dom(n)).catch(async (err) => {
        if (!(await isOff(n))) throw err;
      });
    },
    destroy: async (n) => c.domainDestroy(await dom(n)),
    undefine: async (n) => c.domainUndefine(await dom(n)),
  };
}

async function driverTarget(root: string): Promise<Target> {
  const d = await QemuDriver.open(uriOf(root));
  return {
    label: `the driver (this process, pid ${process.pid})`,
    ...contractOps(d),
    rss: () => {
      (globalThis as { gc?: () => void }).gc?.();
      return rssMiB();
    },
    ownLine: () => false,
    close: () => d.connectClose(),
  };
}

/** VmRSS of /proc/PID/status in MiB. */
export function processRssMiB(pid: number): number {
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  if (kb === undefined) throw new Error(`no VmRSS for process ${pid}`);
  return Math.round((Number(kb) / 1024) * 10) / 10;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** qvirtd in its own process on `root`, and a RemoteClient on its read-write socket. */
async function daemonTarget(root: string): Promise<Target> {
  const dir = mkdtempSync(path.join(tmpdir(), 'qvirt-soak-daemon-'));
  const conf = path.join(dir, 'qvirtd.conf');
  writeFileSync(conf, '');
  const socket = path.join(dir, 'libvirt-sock');
  // the bin users run: the bundled daemon when built (dist/index.js → ../bin/qvirtd.js)
  const bin = path.join(
    path.dirname(createRequire(import.meta.url).resolve('@qvirt/remote')),
    '../bin/qvirtd.js',
  );
  let stderr = '';
  const daemon: ChildProcess = spawn(
    process.execPath,
    [bin, '-f', conf, '-p', path.join(dir, 'qvirtd.pid'), '--uri', uriOf(root), '--socket-dir', dir],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  daemon.stderr!.on('data', (b: Buffer) => {
    stderr = (stderr + b.toString()).slice(-2000);
  });
  const gone = new Promise<void>((r) => daemon.once('exit', () => r()));
  const stopDaemon = async () => {
    if (daemon.exitCode === null && daemon.signalCode === null) {
      daemon.kill('SIGTERM');
      await Promise.race([gone, sleep(10_000)]);
      if (daemon.exitCode === null && daemon.signalCode === null) daemon.kill('SIGKILL');
      await gone;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  let client: RemoteClient;
  try {
    for (let t = Date.now(); !existsSync(socket); await sleep(20)) {
      if (daemon.exitCode !== null || daemon.signalCode !== null || Date.now() - t > 30_000) {
        throw new Error(
          `qvirtd did not start: ${stderr.trim() || `exit ${daemon.exitCode ?? daemon.signalCode}`}`,
        );
      }
    }
    client = await RemoteClient.open(`qemu+unix:///system?socket=${socket}`, { keepalive: false });
  } catch (err) {
    await stopDaemon();
    throw err;
  }
  const pid = daemon.pid!;
  return {
    label: `qvirtd (pid ${pid})`,
    ...contractOps(client),
    rss: () => processRssMiB(pid),
    // its command line names the instance
    ownLine: (line) => line.startsWith(`process ${pid}:`),
    async close() {
      await client.connectClose().catch(() => {});
      await stopDaemon();
    },
  };
}

/** One guest's cycle of mixed operations. */
async function cycle(d: Target, root: string, name: string, n: number): Promise<void> {
  // one uuid per guest, so a redefinition is the same domain
  const uuid = `c7a5fdbd-edaf-9455-926a-${name.replace(/\D/g, '').padStart(12, '0')}`;
  const xml = guestXml(root, name).replace('<name>', `<uuid>${uuid}</uuid>\n  <name>`);
  await d.defineXML(xml);
  await d.start(name);
  await waitFor(() => serialText(root, name).includes(`Hello from ${name}!`), 30_000, `${name}'s greeting`);
  await d.suspend(name);
  await d.getInfo(name);
  await d.resume(name);
  await d.getXMLDesc(name);
  if (n % 2 === 0) await d.reset(name);
  // redefine while running: applied at the next stop
  await d.defineXML(xml.replace('32768', n % 2 === 0 ? '32768' : '36864'));
  if (n % 3 === 0) await d.shutdown(name, 200);
  else await d.destroy(name);
  if (n % 4 === 3) await d.undefine(name);
}

export async function main(argv: string[]): Promise<number> {
  const o = parseArgs(argv);
  const before = snapshotHost();
  const root = makeInstance(o.stack);
  const names = Array.from({ length: o.guests }, (_, i) => `soak${i}`);
  let d: Target;
  try {
    d = o.via === 'qvirtd' ? await daemonTarget(root) : await driverTarget(root);
  } catch (err) {
    removeInstance(root);
    throw err;
  }
  const deadline = Date.now() + o.minutes * 60_000;
  const done = () => (o.cycles !== undefined ? cycles >= o.cycles : Date.now() >= deadline);
  const samples: Array<{ s: number; rss: number }> = [];
  const t0 = Date.now();
  let cycles = 0;
  let failures = 0;
  let leaked = 0;
  const sample = () => {
    samples.push({ s: Math.round((Date.now() - t0) / 1000), rss: d.rss() });
    return samples.at(-1)!;
  };
  const length = o.cycles !== undefined ? `${o.cycles} cycles` : `${o.minutes} min`;
  console.log(`soak: ${length}, ${o.guests} guests, ${o.stack} stack, through ${d.label}, instance ${root}`);
  const atStart = sample().rss;
  console.log(`  0 s: RSS of ${d.label} ${atStart} MiB`);
  let atEnd = atStart;
  try {
    while (!done()) {
      const results = await Promise.allSettled(names.map((n) => cycle(d, root, n, cycles)));
      for (const r of results) {
        if (r.status === 'rejected') {
          failures++;
          console.log(`  cycle ${cycles}: ${(r.reason as Error).message}`);
          for (const n of names) await d.destroy(n).catch(() => {});
        }
      }
      cycles++;
      const found = (await leaks(root, before, {}, names)).filter((l) => !d.ownLine(l));
      leaked += found.length;
      for (const l of found) console.log(`  cycle ${cycles}: leak: ${l}`);
      if (cycles % 5 === 1 || done()) {
        const { s, rss } = sample();
        console.log(`  ${s} s: ${cycles} cycles, ${cycles * o.guests} starts, RSS ${rss} MiB`);
      }
    }
    atEnd = samples.at(-1)!.rss;
  } finally {
    await d.close();
    removeInstance(root);
  }
  // growth: the last third's mean against the first third's (after warm-up: the sample before
  // the first cycle and the first one after it are left out when there are enough)
  const measured = samples.length > 4 ? samples.slice(2) : samples;
  const third = Math.max(1, Math.floor(measured.length / 3));
  const mean = (xs: typeof samples) => xs.reduce((a, x) => a + x.rss, 0) / xs.length;
  const early = mean(measured.slice(0, third));
  const late = mean(measured.slice(-third));
  const grows = measured.length >= 4 && late - early > Math.max(20, early * 0.2);
  console.log(
    `soak: ${cycles} cycles, ${cycles * o.guests} guest starts, ${failures} failed operations, ${leaked} leaks; ` +
      `RSS of ${d.label} at start ${atStart} MiB, at end ${atEnd} MiB; ` +
      `trend ${early.toFixed(1)} -> ${late.toFixed(1)} MiB${grows ? ' (GROWING)' : ''}`,
  );
  return failures > 0 || leaked > 0 || grows ? 1 : 0;
}
