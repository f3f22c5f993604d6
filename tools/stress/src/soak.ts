/**
 * `pnpm soak -- --minutes N [--guests N] [--stack libvirt|explicit]`: start/stop cycles with mixed
 * operations (define, start, suspend, resume, reset, dumpxml, dominfo, destroy, redefine,
 * undefine) on a few guests through one driver, for N minutes. Every cycle ends with the guests
 * shut off and a leak scan; the RSS of this process (the driver's) is printed over time, and the
 * run fails on any leak, any failed operation, or an RSS that keeps growing.
 *
 * Once qvirtd exists, the same cycle can run through a client (the `Target` interface below is
 * what a cycle needs).
 */
import { QemuDriver } from '@qvirt/driver';
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
  guests: number;
  stack: StackName;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { minutes: 1, guests: 4, stack: 'libvirt' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') continue;
    const v = argv[++i];
    if (v === undefined) throw new Error(`${a} needs a value`);
    if (a === '--minutes') o.minutes = Number(v);
    else if (a === '--guests') o.guests = Number(v);
    else if (a === '--stack' && (v === 'libvirt' || v === 'explicit')) o.stack = v;
    else throw new Error(`unknown option ${a} ${v}`);
  }
  if (!(o.minutes > 0) || !(o.guests > 0)) throw new Error('--minutes and --guests must be positive');
  return o;
}

/** One guest's cycle of mixed operations. */
async function cycle(d: QemuDriver, root: string, name: string, n: number): Promise<void> {
  // one uuid per guest, so a redefinition is the same domain
  const uuid = `c7a5fdbd-edaf-9455-926a-${name.replace(/\D/g, '').padStart(12, '0')}`;
  const xml = guestXml(root, name).replace('<name>', `<uuid>${uuid}</uuid>\n  <name>`);
  await d.defineXML(xml);
  await d.start(name);
  await waitFor(() => serialText(root, name).includes(`Hello from ${name}!`), 30_000, `${name}'s greeting`);
  await d.suspend(name);
  d.getInfo(name);
  await d.resume(name);
  d.getXMLDesc(name);
  if (n % 2 === 0) await d.reset(name);
  // redefine while running: applied at the next stop
  await d.defineXML(xml.replace('32768', n % 2 === 0 ? '32768' : '36864'));
  if (n % 3 === 0) await d.shutdown(name, { timeoutMs: 200 });
  else await d.destroy(name);
  if (n % 4 === 3) await d.undefine(name);
}

export async function main(argv: string[]): Promise<number> {
  const o = parseArgs(argv);
  const before = snapshotHost();
  const root = makeInstance(o.stack);
  const names = Array.from({ length: o.guests }, (_, i) => `soak${i}`);
  const d = await QemuDriver.open(uriOf(root));
  const deadline = Date.now() + o.minutes * 60_000;
  const samples: Array<{ s: number; rss: number }> = [];
  const t0 = Date.now();
  let cycles = 0;
  let failures = 0;
  let leaked = 0;
  console.log(`soak: ${o.minutes} min, ${o.guests} guests, ${o.stack} stack, instance ${root}`);
  try {
    while (Date.now() < deadline) {
      const results = await Promise.allSettled(names.map((n) => cycle(d, root, n, cycles)));
      for (const r of results) {
        if (r.status === 'rejected') {
          failures++;
          console.log(`  cycle ${cycles}: ${(r.reason as Error).message}`);
          for (const n of names) await d.destroy(n).catch(() => {});
        }
      }
      cycles++;
      const found = await leaks(root, before, {}, names);
      leaked += found.length;
      for (const l of found) console.log(`  cycle ${cycles}: leak: ${l}`);
      if (cycles % 5 === 1 || Date.now() >= deadline) {
        (globalThis as { gc?: () => void }).gc?.();
        const rss = rssMiB();
        samples.push({ s: Math.round((Date.now() - t0) / 1000), rss });
        console.log(
          `  ${samples.at(-1)!.s} s: ${cycles} cycles, ${cycles * o.guests} starts, RSS ${rss} MiB`,
        );
      }
    }
  } finally {
    await d.close();
    removeInstance(root);
  }
  // growth: the last third's mean against the first third's (after warm-up)
  const third = Math.max(1, Math.floor(samples.length / 3));
  const mean = (xs: typeof samples) => xs.reduce((a, x) => a + x.rss, 0) / xs.length;
  const early = mean(samples.slice(1, 1 + third).length ? samples.slice(1, 1 + third) : samples.slice(0, 1));
  const late = mean(samples.slice(-third));
  const growth = late - early;
  const grows = samples.length >= 4 && growth > Math.max(20, early * 0.2);
  console.log(
    `soak: ${cycles} cycles, ${cycles * o.guests} guest starts, ${failures} failed operations, ${leaked} leaks, RSS ${early.toFixed(1)} -> ${late.toFixed(1)} MiB${grows ? ' (GROWING)' : ''}`,
  );
  return failures > 0 || leaked > 0 || grows ? 1 : 0;
}
