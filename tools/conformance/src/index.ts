import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { errorLine } from '@qvirt/core';
import type { CaseResult, ConformanceSet } from './set.js';
import { allSets } from './sets/index.js';

export type { CaseResult, ConformanceSet } from './set.js';

const USAGE = `usage: pnpm conformance [--dir DIR] [--json FILE] [--set NAME]...

Runs qvirt against a libvirt conformance corpus (default ../shared/conformance) and prints
one line per set: "SET: N passed, M failed".`;

interface Options {
  dir: string;
  json?: string;
  sets: string[];
}

function parseArgs(argv: string[]): Options | string {
  const opts: Options = {
    dir: path.resolve(process.env.INIT_CWD ?? process.cwd(), '../shared/conformance'),
    sets: [],
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
  return 0;
}
