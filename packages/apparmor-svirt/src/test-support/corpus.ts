/** The public aa-helper corpus (../shared/conformance/aa-helper) for tests, and its scratch setup. */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const CORPUS = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../../../shared/conformance/aa-helper',
);

export interface CorpusCase {
  name: string;
  args: string[];
  stdin: string | null;
  expect_exit_code: number;
  setup?: { tmpdir: string; entries: Array<{ type: string; path: string }> };
  actual?: { profile?: string; stderr?: string };
}

export function corpusCases(): CorpusCase[] {
  if (!existsSync(CORPUS)) return [];
  return readdirSync(CORPUS)
    .filter((f) => f.endsWith('.json') && f !== 'manifest.json')
    .sort()
    .map((f) => JSON.parse(readFileSync(path.join(CORPUS, f), 'utf8')) as CorpusCase);
}

export function stdinOf(c: CorpusCase): string {
  return c.stdin ? readFileSync(path.join(CORPUS, c.stdin), 'utf8') : '';
}

export function prepareScratch(c: CorpusCase): void {
  if (!c.setup) return;
  rmSync(c.setup.tmpdir, { recursive: true, force: true });
  mkdirSync(c.setup.tmpdir, { recursive: true });
  const fifos: string[] = [];
  for (const e of c.setup.entries) {
    if (e.type === 'file') writeFileSync(e.path, '');
    else fifos.push(e.path);
  }
  if (fifos.length) execFileSync('mkfifo', ['--', ...fifos]);
}

export function cleanScratch(c: CorpusCase): void {
  if (c.setup) rmSync(c.setup.tmpdir, { recursive: true, force: true });
}
