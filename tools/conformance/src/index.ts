import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorLine } from '@qvirt/core';
import {
  type BaselineEntry,
  checkAgainstBaseline,
  formatBaseline,
  readBaseline,
  readHostDependent,
  regenerateBaseline,
} from './baseline.js';
import type { CaseResult, ConformanceSet } from './set.js';
import { allSets } from './sets/index.js';

export type { CaseResult, ConformanceSet } from './set.js';

const USAGE = `usage: pnpm conformance [--dir DIR] [--json FILE] [--set NAME]...
                        [--check | --write-baseline] [--baseline FILE]

Runs qvirt against a libvirt conformance corpus (default ../shared/conformance) and prints
one line per set: "SET: N passed, M failed".

  --check           also compare every case with the baseline of known failures
                    (default tools/conformance/baseline.tsv) and exit 1 on a failure it
                    does not list, or on a listed case that passes or is gone
  --write-baseline  rewrite the baseline from this run's failures (after fixing cases only)`;

/** Beside the package's dist/ and src/: tools/conformance/baseline.tsv. */
const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
export const DEFAULT_BASELINE = path.join(PACKAGE_DIR, 'baseline.tsv');
export const HOST_DEPENDENT = path.join(PACKAGE_DIR, 'host-dependent.tsv');

interface Options {
  dir: string;
  json?: string;
  sets: string[];
  mode: 'report' | 'check' | 'write-baseline';
  baseline: string;
}

function parseArgs(argv: string[]): Options | string {
  const opts: Options = {
    dir: path.resolve(process.env.INIT_CWD ?? process.cwd(), '../shared/conformance'),
    sets: [],
    mode: 'report',
    baseline: DEFAULT_BASELINE,
  };
  const setMode = (mode: Options['mode']): void => {
    if (opts.mode !== 'report' && opts.mode !== mode)
      throw new Error('--check and --write-baseline exclude each other');
    opts.mode = mode;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`option ${arg} needs a value`);
      return v;
    };
    if (arg === '--') continue;
    else if (arg === '--dir') opts.dir = path.resolve(process.env.INIT_CWD ?? process.cwd(), value());
    else if (arg === '--json') opts.json = path.resolve(process.env.INIT_CWD ?? process.cwd(), value());
    else if (arg === '--set') opts.sets.push(value());
    else if (arg === '--check') setMode('check');
    else if (arg === '--write-baseline') setMode('write-baseline');
    else if (arg === '--baseline')
      opts.baseline = path.resolve(process.env.INIT_CWD ?? process.cwd(), value());
    else if (arg === '-h' || arg === '--help') return USAGE;
    else throw new Error(`unknown option '${arg}'`);
  }
  return opts;
}

export async function main(argv: string[]): Promise<number> {
  let opts: Options;
  try {
    const parsed = parseArgs(argv);
    if (typeof parsed === 'string') {
      console.log(parsed);
      return 0;
    }
    opts = parsed;
  } catch (err) {
    console.error(`error: ${errorLine(err)}`);
    return 2;
  }
  // Read the baseline before the long run, so a broken file fails at once.
  let baseline: BaselineEntry[] = [];
  try {
    if (opts.mode === 'check' || (opts.mode === 'write-baseline' && existsSync(opts.baseline))) {
      baseline = readBaseline(opts.baseline);
    }
  } catch (err) {
    console.error(`error: ${errorLine(err)}`);
    return 2;
  }
  const report: Record<string, CaseResult[]> = {};
  let ran = 0;
  for (const set of allSets as ConformanceSet[]) {
    if (opts.sets.length > 0 && !opts.sets.includes(set.name)) continue;
    if (!set.applies(opts.dir)) continue;
    const results = await set.run(opts.dir);
    report[set.name] = results;
    const passed = results.filter((r) => r.pass).length;
    console.log(`${set.name}: ${passed} passed, ${results.length - passed} failed`);
    ran++;
  }
  if (ran === 0) {
    console.error(`error: no conformance set applies to ${opts.dir}`);
    return 1;
  }
  if (opts.json) await writeFile(opts.json, `${JSON.stringify(report, null, 1)}\n`);
  if (opts.mode === 'write-baseline') {
    const entries = regenerateBaseline(baseline, report);
    await writeFile(opts.baseline, formatBaseline(entries));
    console.log(
      `wrote ${entries.length} known failures to ${path.relative(process.cwd(), opts.baseline) || opts.baseline}`,
    );
    return 0;
  }
  if (opts.mode === 'check') return check(opts, report, baseline);
  return 0;
}

/** Prints one line per case that breaks the baseline; 1 when there is any. */
function check(opts: Options, report: Record<string, CaseResult[]>, baseline: BaselineEntry[]): number {
  let hostDependent: ReturnType<typeof readHostDependent>;
  try {
    hostDependent = existsSync(HOST_DEPENDENT) ? readHostDependent(HOST_DEPENDENT) : [];
  } catch (err) {
    console.error(`error: ${errorLine(err)}`);
    return 2;
  }
  const { problems, notes } = checkAgainstBaseline(report, baseline, {
    // Sets left out with --set keep their entries; without --set, every set was asked for.
    inScope: (set) => opts.sets.length === 0 || opts.sets.includes(set),
    hostDependent,
  });
  for (const line of notes) console.log(line);
  for (const line of problems) console.error(line);
  const known = baseline.filter((e) => e.set in report).length;
  const file = path.relative(process.cwd(), opts.baseline) || opts.baseline;
  if (problems.length > 0) {
    console.error(`conformance check failed: ${problems.length} case(s) differ from ${file}`);
    return 1;
  }
  console.log(`conformance check passed: no failure beyond the ${known} known in ${file}`);
  return 0;
}
