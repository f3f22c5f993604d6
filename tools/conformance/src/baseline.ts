/**
 * The gate behind `pnpm conformance --check`: the corpus results against a checked-in list of
 * known failures (`baseline.tsv`). The list may only shrink: a failure it does not name is a
 * regression, a case it names that passes or has left the corpus must be taken out of it.
 *
 * Some cases depend on the machine they run on (a device node, a firmware file): libvirt
 * recorded the corpus on a host where they were present or absent. `host-dependent.tsv` names
 * those paths; where this host differs from the corpus host, such a case's outcome is not gated.
 */
import { accessSync, readFileSync } from 'node:fs';
import type { CaseResult } from './set.js';

/** One known failure: the set, the case and the runner's reason when it was listed. */
export interface BaselineEntry {
  set: string;
  name: string;
  reason: string;
}

/** A case whose outcome depends on whether `path` exists, and whether it did on the corpus host. */
export interface HostCondition {
  set: string;
  name: string;
  path: string;
  corpusHost: 'present' | 'absent';
}

export interface CheckOptions {
  /** Whether baseline entries of this set are judged (false for sets left out with --set). */
  inScope?: (set: string) => boolean;
  hostDependent?: HostCondition[];
  /** Whether a path exists on this host; default: the real file system. */
  exists?: (path: string) => boolean;
}

export interface CheckOutcome {
  /** One line per offending case; the gate fails when there is any. */
  problems: string[];
  /** Lines worth printing that do not fail the gate. */
  notes: string[];
}

/** Longest reason kept in the baseline: enough to recognise a failure, short enough to diff. */
export const REASON_MAX = 160;

/** A reason on one line without tabs, truncated to REASON_MAX characters. */
export function oneLineReason(reason: string | undefined): string {
  const line = (reason ?? '').replace(/\s+/g, ' ').trim();
  return line.length > REASON_MAX ? `${line.slice(0, REASON_MAX - 1)}…` : line;
}

function keyOf(set: string, name: string): string {
  return `${set}/${name}`;
}

const BASELINE_HEADER = `# Known conformance failures: SET<TAB>CASE<TAB>REASON (the runner's reason, one line).
# \`pnpm conformance --check\` fails on a failure not listed here and on a listed case that passes
# or is gone from the corpus. Regenerate with \`pnpm conformance --write-baseline\` only after fixing
# cases, never to hide a regression (see tools/conformance/README.md).
`;

/** Reads a TSV file of rows with at least `columns` fields; `#` lines and blank lines are skipped. */
function readRows(file: string, text: string, columns: number): string[][] {
  const rows: string[][] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '' || line.startsWith('#')) return;
    const fields = line.split('\t');
    if (fields.length < columns || fields.slice(0, columns - 1).some((f) => f === '')) {
      throw new Error(`${file}:${i + 1}: expected ${columns} tab-separated fields`);
    }
    rows.push(fields);
  });
  return rows;
}

export function parseBaseline(text: string, file = 'baseline'): BaselineEntry[] {
  const seen = new Set<string>();
  return readRows(file, text, 3).map(([set, name, ...rest]) => {
    const key = keyOf(set!, name!);
    if (seen.has(key)) throw new Error(`${file}: ${key} is listed twice`);
    seen.add(key);
    return { set: set!, name: name!, reason: rest.join(' ') };
  });
}

export function formatBaseline(entries: BaselineEntry[]): string {
  const rows = [...entries]
    .sort((a, b) => (a.set === b.set ? (a.name < b.name ? -1 : 1) : a.set < b.set ? -1 : 1))
    .map((e) => `${e.set}\t${e.name}\t${oneLineReason(e.reason)}\n`);
  return BASELINE_HEADER + rows.join('');
}

export function parseHostDependent(text: string, file = 'host-dependent'): HostCondition[] {
  return readRows(file, text, 4).map(([set, name, path, state]) => {
    if (state !== 'present' && state !== 'absent') {
      throw new Error(`${file}: ${keyOf(set!, name!)}: the corpus host's state must be present or absent`);
    }
    return { set: set!, name: name!, path: path!, corpusHost: state };
  });
}

export function readBaseline(file: string): BaselineEntry[] {
  return parseBaseline(readFileSync(file, 'utf8'), file);
}

export function readHostDependent(file: string): HostCondition[] {
  return parseHostDependent(readFileSync(file, 'utf8'), file);
}

function pathExists(p: string): boolean {
  try {
    accessSync(p);
    return true;
  } catch {
    return false;
  }
}

/** The failing cases of `report`, as baseline entries. */
export function baselineOf(report: Record<string, CaseResult[]>): BaselineEntry[] {
  return Object.entries(report).flatMap(([set, results]) =>
    results.filter((r) => !r.pass).map((r) => ({ set, name: r.name, reason: oneLineReason(r.reason) })),
  );
}

/**
 * `previous` with the entries of every set in `report` replaced by that set's current failures,
 * so regenerating after `--set X` leaves the other sets' entries alone.
 */
export function regenerateBaseline(
  previous: BaselineEntry[],
  report: Record<string, CaseResult[]>,
): BaselineEntry[] {
  return [...previous.filter((e) => !(e.set in report)), ...baselineOf(report)];
}

/** Compares the results of the sets that ran with the baseline. Pure but for `exists`. */
export function checkAgainstBaseline(
  report: Record<string, CaseResult[]>,
  baseline: BaselineEntry[],
  options: CheckOptions = {},
): CheckOutcome {
  const inScope = options.inScope ?? (() => true);
  const exists = options.exists ?? pathExists;
  const problems: string[] = [];
  const notes: string[] = [];

  // A case is ungated when any of its paths differs from the corpus host's.
  const ungated = new Map<string, string>();
  for (const c of options.hostDependent ?? []) {
    const here = exists(c.path) ? 'present' : 'absent';
    if (here !== c.corpusHost && !ungated.has(keyOf(c.set, c.name))) {
      ungated.set(keyOf(c.set, c.name), `${c.path} is ${here} here, ${c.corpusHost} on the corpus host`);
    }
  }

  const known = new Map(baseline.map((e) => [keyOf(e.set, e.name), e]));
  const current = new Set<string>();
  for (const [set, results] of Object.entries(report)) {
    for (const r of results) {
      const key = keyOf(set, r.name);
      current.add(key);
      const entry = known.get(key);
      const hostNote = ungated.get(key);
      if (hostNote !== undefined) {
        const listed = entry ? 'listed' : 'not listed';
        if (r.pass === !entry) continue;
        notes.push(`note: ${key} ${r.pass ? 'passes' : 'fails'} (${listed}), not gated: ${hostNote}`);
        continue;
      }
      if (r.pass && entry) problems.push(`now passes: ${key}: remove it from the baseline`);
      else if (!r.pass && !entry) problems.push(`regression: ${key}: ${oneLineReason(r.reason)}`);
      else if (!r.pass && entry && oneLineReason(r.reason) !== entry.reason) {
        notes.push(`note: ${key} still fails, for another reason: ${oneLineReason(r.reason)}`);
      }
    }
  }
  for (const e of baseline) {
    const key = keyOf(e.set, e.name);
    if (inScope(e.set) && !current.has(key)) {
      problems.push(`gone: ${key} is not in the corpus: remove it from the baseline`);
    }
  }
  return { problems, notes };
}
