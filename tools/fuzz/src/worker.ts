/**
 * Runs one target's inputs in a worker thread, so the main thread can stop a hung parser. The
 * index of the input in progress and when it started are published in shared memory.
 */
import { parentPort, workerData } from 'node:worker_threads';
import fc from 'fast-check';
import { classifyAsync, type Outcome } from './outcome.js';
import { allTargets } from './targets.js';

export interface WorkerJob {
  target: string;
  seed: number;
  runs: number;
  slowMs: number;
  budgetMs: number;
  /** [index in progress, ms since `epoch` when it started] */
  progress: SharedArrayBuffer;
  epoch: number;
}

export interface Failure {
  index: number;
  reason: string;
  input: string;
}

export interface WorkerResult {
  target: string;
  tried: number;
  accepted: number;
  rejected: number;
  failures: number;
  examples: Failure[];
  distinctReasons: Record<string, number>;
  slowestMs: number;
  elapsedMs: number;
  stoppedByBudget: boolean;
}

const MAX_EXAMPLES = 8;

async function main(job: WorkerJob): Promise<WorkerResult> {
  const { targets } = await allTargets();
  const target = targets.find((t) => t.name === job.target);
  if (!target) throw new Error(`no fuzz target ${job.target}`);
  const progress = new Int32Array(job.progress);
  const started = performance.now();
  const inputs = fc.sample(target.arbitrary(), { seed: job.seed, numRuns: job.runs });
  const result: WorkerResult = {
    target: target.name,
    tried: 0,
    accepted: 0,
    rejected: 0,
    failures: 0,
    examples: [],
    distinctReasons: {},
    slowestMs: 0,
    elapsedMs: 0,
    stoppedByBudget: false,
  };
  for (let i = 0; i < inputs.length; i++) {
    if (performance.now() - started > job.budgetMs) {
      result.stoppedByBudget = true;
      break;
    }
    const input = inputs[i];
    Atomics.store(progress, 0, i);
    Atomics.store(progress, 1, Date.now() - job.epoch);
    const t0 = performance.now();
    let outcome: Outcome = await classifyAsync(() => target.run(input));
    const ms = performance.now() - t0;
    result.slowestMs = Math.max(result.slowestMs, ms);
    if (outcome.kind !== 'failure' && ms > job.slowMs) {
      outcome = {
        kind: 'failure',
        reason: `slow: ${Math.round(ms)} ms for one input (bound ${job.slowMs} ms)`,
      };
    }
    result.tried++;
    if (outcome.kind === 'accepted') result.accepted++;
    else if (outcome.kind === 'rejected') result.rejected++;
    else {
      result.failures++;
      const key = outcome.reason.replace(/\d+/g, 'N').slice(0, 160);
      result.distinctReasons[key] = (result.distinctReasons[key] ?? 0) + 1;
      if (result.examples.length < MAX_EXAMPLES && result.distinctReasons[key] === 1) {
        const shown = target.show ? target.show(input) : JSON.stringify(input);
        result.examples.push({ index: i, reason: outcome.reason, input: shown.slice(0, 4000) });
      }
    }
  }
  Atomics.store(progress, 0, -1);
  result.elapsedMs = performance.now() - started;
  return result;
}

if (parentPort) {
  main(workerData as WorkerJob).then(
    (r) => parentPort!.postMessage({ ok: r }),
    (err: Error) => parentPort!.postMessage({ error: err.stack ?? String(err) }),
  );
}
