/**
 * `pnpm fuzz`: every target gets `--runs` inputs (default 10,000) generated from `--seed`
 * (default fixed, so two runs try the same inputs), each in a worker thread the main thread
 * watches. Per target it prints inputs tried, accepted, rejected (VirError), failures and the
 * slowest input; failures come with the input's index, so `--replay TARGET:INDEX` shows it again.
 *
 *   pnpm fuzz [-- --seed N --runs N --target a,b --slow-ms N --hang-ms N --budget-s N --json FILE]
 */
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { classifyAsync } from './outcome.js';
import { allTargets } from './targets.js';
import type { WorkerJob, WorkerResult } from './worker.js';

export const DEFAULT_SEED = 0x71e7;
export const MIN_RUNS = 10_000;

interface Options {
  seed: number;
  runs: number;
  targets?: string[];
  slowMs: number;
  hangMs: number;
  budgetS: number;
  json?: string;
  replay?: string;
  jobs: number;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    seed: DEFAULT_SEED,
    runs: MIN_RUNS,
    slowMs: 2000,
    hangMs: 15_000,
    budgetS: 600,
    jobs: Math.max(1, Math.min(2, availableParallelism())),
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const num = () => {
      const v = Number(next());
      if (!Number.isSafeInteger(v) || v < 0) throw new Error(`${a} needs a non-negative integer`);
      return v;
    };
    switch (a) {
      case '--':
        break;
      case '--seed':
        o.seed = num();
        break;
      case '--runs':
        o.runs = num();
        break;
      case '--target':
        o.targets = next().split(',');
        break;
      case '--slow-ms':
        o.slowMs = num();
        break;
      case '--hang-ms':
        o.hangMs = num();
        break;
      case '--budget-s':
        o.budgetS = num();
        break;
      case '--jobs':
        o.jobs = Math.max(1, num());
        break;
      case '--json':
        o.json = next();
        break;
      case '--replay':
        o.replay = next();
        break;
      case '-h':
      case '--help':
        console.log(
          'usage: pnpm fuzz [-- --seed N --runs N --target a,b --slow-ms N --hang-ms N --budget-s N --jobs N --json FILE --replay TARGET:INDEX]',
        );
        process.exit(0);
        break;
      default:
        throw new Error(`unknown option ${a}`);
    }
  }
  return o;
}

interface TargetReport extends WorkerResult {
  hang?: { index: number; input: string };
  crash?: string;
}

/** Per-target seed: the run's seed and the target's name, so adding a target changes no other. */
function targetSeed(seed: number, name: string): number {
  let h = seed | 0;
  for (const c of name) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193);
  return h;
}

async function inputAt(
  name: string,
  seed: number,
  index: number,
): Promise<{ shown: string; input: unknown }> {
  const { targets } = await allTargets();
  const t = targets.find((x) => x.name === name);
  if (!t) throw new Error(`no fuzz target ${name}`);
  const input = fc.sample(t.arbitrary(), { seed: targetSeed(seed, name), numRuns: index + 1 })[index];
  return { shown: t.show ? t.show(input) : JSON.stringify(input), input };
}

function runTarget(name: string, o: Options): Promise<TargetReport> {
  const progress = new SharedArrayBuffer(8);
  const epoch = Date.now();
  const job: WorkerJob = {
    target: name,
    seed: targetSeed(o.seed, name),
    runs: o.runs,
    slowMs: o.slowMs,
    budgetMs: o.budgetS * 1000,
    progress,
    epoch,
  };
  const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: job });
  const view = new Int32Array(progress);
  return new Promise((resolve) => {
    let done = false;
    const empty = (): TargetReport => ({
      target: name,
      tried: 0,
      accepted: 0,
      rejected: 0,
      failures: 0,
      examples: [],
      distinctReasons: {},
      slowestMs: 0,
      elapsedMs: Date.now() - epoch,
      stoppedByBudget: false,
    });
    const finish = (r: TargetReport) => {
      if (done) return;
      done = true;
      clearInterval(watch);
      resolve(r);
    };
    const watch = setInterval(() => {
      const index = Atomics.load(view, 0);
      const since = Date.now() - epoch - Atomics.load(view, 1);
      if (index < 0 || since < o.hangMs || done) return;
      void worker.terminate();
      void inputAt(name, o.seed, index).then(({ shown }) => {
        const r = empty();
        r.tried = index + 1;
        r.failures = 1;
        r.hang = { index, input: shown.slice(0, 4000) };
        r.examples.push({
          index,
          reason: `hang: no result after ${o.hangMs} ms`,
          input: shown.slice(0, 4000),
        });
        finish(r);
      });
    }, 200);
    worker.on('message', (m: { ok?: WorkerResult; error?: string }) => {
      if (m.ok) finish(m.ok);
      else finish({ ...empty(), failures: 1, crash: m.error });
    });
    worker.on('error', (err) => finish({ ...empty(), failures: 1, crash: err.stack ?? String(err) }));
    worker.on('exit', (code) => {
      if (!done) finish({ ...empty(), failures: 1, crash: `worker exited with ${code}` });
    });
  });
}

export async function main(argv: string[]): Promise<number> {
  const o = parseArgs(argv);
  const { targets, skipped } = await allTargets();
  if (o.replay) {
    const [name, idx] = o.replay.split(':');
    const { shown, input } = await inputAt(name!, o.seed, Number(idx));
    const t = targets.find((x) => x.name === name)!;
    console.log(shown);
    console.log('->', await classifyAsync(() => t.run(input)));
    return 0;
  }
  const chosen = o.targets ? targets.filter((t) => o.targets!.includes(t.name)) : targets;
  for (const n of o.targets ?? []) {
    if (!targets.some((t) => t.name === n))
      throw new Error(`no fuzz target ${n} (have ${targets.map((t) => t.name).join(', ')})`);
  }
  console.log(
    `fuzz: seed ${o.seed}, ${o.runs} inputs per target, one input may take ${o.slowMs} ms (${o.hangMs} ms is a hang), ${o.jobs} at a time`,
  );
  for (const s of skipped) console.log(`  skipped ${s}`);
  const reports: TargetReport[] = [];
  const queue = [...chosen];
  await Promise.all(
    Array.from({ length: o.jobs }, async () => {
      for (let t = queue.shift(); t; t = queue.shift()) {
        const r = await runTarget(t.name, o);
        reports.push(r);
        const flag = r.failures > 0 ? 'FAIL' : r.tried < o.runs ? 'SHORT' : 'ok';
        console.log(
          `${r.target}: ${r.tried} inputs tried, ${r.accepted} accepted, ${r.rejected} rejected with a one-line VirError, ${r.failures} failures; slowest ${r.slowestMs.toFixed(1)} ms, ${(r.elapsedMs / 1000).toFixed(1)} s  [${flag}]`,
        );
        for (const [reason, n] of Object.entries(r.distinctReasons)) console.log(`    ${n} x ${reason}`);
        for (const e of r.examples) {
          console.log(
            `    #${e.index}: ${e.reason}\n      replay: pnpm fuzz -- --seed ${o.seed} --replay ${r.target}:${e.index}`,
          );
        }
        if (r.crash) console.log(`    worker crashed: ${r.crash.split('\n').slice(0, 5).join('\n    ')}`);
      }
    }),
  );
  reports.sort(
    (a, b) => chosen.findIndex((t) => t.name === a.target) - chosen.findIndex((t) => t.name === b.target),
  );
  const bad = reports.filter((r) => r.failures > 0 || r.tried < o.runs);
  const total = reports.reduce((n, r) => n + r.tried, 0);
  console.log(
    `fuzz: ${reports.length} targets, ${total} inputs, ${reports.reduce((n, r) => n + r.failures, 0)} failures${skipped.length ? `, ${skipped.length} targets not built yet` : ''}`,
  );
  if (o.json)
    writeFileSync(o.json, `${JSON.stringify({ seed: o.seed, runs: o.runs, skipped, reports }, null, 2)}\n`);
  return bad.length > 0 ? 1 : 0;
}
