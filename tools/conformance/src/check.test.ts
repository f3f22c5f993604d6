import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from './index.js';

/** The real corpus: $QVIRT_CONFORMANCE_DIR, else ../shared/conformance beside the repository. */
const REAL =
  process.env.QVIRT_CONFORMANCE_DIR ??
  fileURLToPath(new URL('../../../../shared/conformance', import.meta.url));
const CASES = ['acpi-table', 'audio-alsa-best', 'audio-alsa-full'];
const haveCorpus = CASES.every((c) => existsSync(path.join(REAL, 'xml2xml', `${c}.out.xml`)));

let dir: string;
let corpus: string;
let baseline: string;
let out: string[];
let err: string[];

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'qvirt-conformance-check-'));
  corpus = path.join(dir, 'corpus');
  baseline = path.join(dir, 'baseline.tsv');
  // Three real xml2xml cases, laid out as in the corpus.
  mkdirSync(path.join(corpus, 'xml2xml'), { recursive: true });
  for (const c of CASES) {
    for (const f of [`${c}.xml`, `${c}.out.xml`]) {
      copyFileSync(path.join(REAL, 'xml2xml', f), path.join(corpus, 'xml2xml', f));
    }
  }
  out = [];
  err = [];
  vi.spyOn(console, 'log').mockImplementation((line: string) => void out.push(line));
  vi.spyOn(console, 'error').mockImplementation((line: string) => void err.push(line));
});
afterEach(() => {
  vi.restoreAllMocks();
  rmSync(dir, { recursive: true, force: true });
});

/** Changes one line of a case's expected output, so that the case fails. */
function breakExpected(name: string): () => void {
  const file = path.join(corpus, 'xml2xml', `${name}.out.xml`);
  const text = readFileSync(file, 'utf8');
  const broken = text.replace('<on_crash>destroy</on_crash>', '<on_crash>restart</on_crash>');
  expect(broken).not.toBe(text);
  writeFileSync(file, broken);
  return () => writeFileSync(file, text);
}

const check = () => main(['--dir', corpus, '--check', '--baseline', baseline]);
const writeBaseline = () => main(['--dir', corpus, '--write-baseline', '--baseline', baseline]);

describe.skipIf(!haveCorpus)('pnpm conformance --check', () => {
  it('passes when the results match the baseline, still printing the per-set lines', async () => {
    expect(await writeBaseline()).toBe(0);
    out = [];
    expect(await check()).toBe(0);
    expect(out[0]).toBe('xml2xml: 3 passed, 0 failed');
    expect(err).toEqual([]);
  });

  it('fails and names the case when an expected file changes', async () => {
    await writeBaseline();
    breakExpected('audio-alsa-best');
    out = [];
    expect(await check()).toBe(1);
    expect(out[0]).toBe('xml2xml: 2 passed, 1 failed');
    expect(err[0]).toMatch(/^regression: xml2xml\/audio-alsa-best: line 17: expected "\s*<on_crash>restart/);
    expect(err).toHaveLength(2);
  });

  it('keeps reporting as before without --check', async () => {
    breakExpected('audio-alsa-best');
    expect(await main(['--dir', corpus])).toBe(0);
    expect(out).toEqual(['xml2xml: 2 passed, 1 failed']);
  });

  it('accepts a listed failure, then fails when the listed case passes again', async () => {
    const restore = breakExpected('acpi-table');
    expect(await writeBaseline()).toBe(0);
    expect(readFileSync(baseline, 'utf8')).toMatch(/^xml2xml\tacpi-table\tline 23: /m);
    expect(await check()).toBe(0);
    restore();
    err = [];
    expect(await check()).toBe(1);
    expect(err[0]).toBe('now passes: xml2xml/acpi-table: remove it from the baseline');
  });

  it('fails when a listed case is gone from the corpus', async () => {
    breakExpected('acpi-table');
    await writeBaseline();
    for (const f of ['acpi-table.xml', 'acpi-table.out.xml']) rmSync(path.join(corpus, 'xml2xml', f));
    expect(await check()).toBe(1);
    expect(err[0]).toBe('gone: xml2xml/acpi-table is not in the corpus: remove it from the baseline');
  });

  it('refuses --check with --write-baseline, and a broken baseline before running', async () => {
    expect(await main(['--dir', corpus, '--check', '--write-baseline'])).toBe(2);
    writeFileSync(baseline, 'xml2xml\n');
    expect(await check()).toBe(2);
    expect(out).toEqual([]);
    expect(err).toEqual([
      'error: --check and --write-baseline exclude each other',
      `error: ${baseline}:1: expected 3 tab-separated fields`,
    ]);
  });
});
