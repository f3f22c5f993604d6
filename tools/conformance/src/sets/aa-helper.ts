/**
 * `aa-helper`: virt-aa-helper (`@qvirt/apparmor-svirt`) against libvirt 9.0's own helper. Each
 * case of DIR/aa-helper gives the arguments, the XML on stdin (NAME.xml) and the files that
 * existed in the scratch directory; the case passes when the exit status is libvirt's and, for a
 * passing `-c`/`-r` case, what the helper printed (the dry-run rules on stderr) equals
 * NAME.profile byte for byte. The scratch entries are made before each case and removed after.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type HelperIo, nodeHelperFs, runHelper } from '@qvirt/apparmor-svirt';
import { errorLine } from '@qvirt/core';
import type { CaseResult, ConformanceSet } from '../set.js';
import { readJson, setDir } from './corpus.js';

interface ManifestCase {
  name: string;
}

interface CaseFile {
  name: string;
  args: string[];
  stdin: string | null;
  expect_exit_code: number;
  setup?: { tmpdir: string; entries: Array<{ type: 'file' | 'fifo' | 'dir'; path: string }> };
  actual?: { profile?: string };
}

/** libvirt's helper path, so getopt's messages read as libvirt's. */
const ARGV0 = '/usr/lib/libvirt/virt-aa-helper';

function prepare(setup: CaseFile['setup']): void {
  if (!setup) return;
  rmSync(setup.tmpdir, { recursive: true, force: true });
  mkdirSync(setup.tmpdir, { recursive: true });
  const fifos: string[] = [];
  for (const e of setup.entries) {
    if (!e.path.startsWith(`${setup.tmpdir}/`))
      throw new Error(`setup entry outside ${setup.tmpdir}: ${e.path}`);
    mkdirSync(path.dirname(e.path), { recursive: true });
    if (e.type === 'file') writeFileSync(e.path, '');
    else if (e.type === 'dir') mkdirSync(e.path, { recursive: true });
    else fifos.push(e.path);
  }
  // node has no mkfifo(3); one mkfifo(1) per case.
  if (fifos.length > 0) execFileSync('mkfifo', ['--', ...fifos]);
}

function cleanup(setup: CaseFile['setup']): void {
  if (setup) rmSync(setup.tmpdir, { recursive: true, force: true });
}

function firstDifference(got: string, want: string): string {
  const a = got.split('\n');
  const b = want.split('\n');
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] !== b[i]) {
      return `line ${i + 1}: got ${JSON.stringify(a[i] ?? '<end>')}, want ${JSON.stringify(b[i] ?? '<end>')}`;
    }
  }
  return 'outputs differ';
}

async function runCase(dir: string, name: string): Promise<CaseResult> {
  const c = readJson<CaseFile>(path.join(dir, `${name}.json`));
  const family = c.args.find((a) => /^-[acDrRh]$/.test(a)) ?? 'args';
  try {
    prepare(c.setup);
    let stderr = '';
    const io: HelperIo = {
      args: c.args,
      argv0: ARGV0,
      readStdin: async () => (c.stdin ? readFileSync(path.join(dir, c.stdin), 'utf8') : ''),
      stdout: () => {},
      stderr: (t) => {
        stderr += t;
      },
      fs: nodeHelperFs(),
      // Dry runs never load anything; a case that would is reported, not run.
      runParser: async () => undefined,
    };
    const code = await runHelper(io);
    if (code !== c.expect_exit_code) {
      return {
        name,
        pass: false,
        reason: `exit ${code}, want ${c.expect_exit_code}: ${stderr.trim().split('\n').pop() ?? ''}`,
        family,
      };
    }
    if (c.expect_exit_code === 0 && c.actual?.profile) {
      const want = readFileSync(path.join(dir, c.actual.profile), 'utf8');
      if (stderr !== want) return { name, pass: false, reason: firstDifference(stderr, want), family };
    }
    return { name, pass: true };
  } catch (err) {
    return { name, pass: false, reason: `cannot run: ${errorLine(err)}`, family: 'harness' };
  } finally {
    cleanup(c.setup);
  }
}

export const aaHelperSet: ConformanceSet = {
  name: 'aa-helper',
  applies: (root) => existsSync(path.join(setDir(root, 'aa-helper'), 'manifest.json')),
  run: async (root) => {
    const dir = setDir(root, 'aa-helper');
    const manifest = readJson<{ cases: ManifestCase[] }>(path.join(dir, 'manifest.json'));
    const results: CaseResult[] = [];
    // One at a time: every case uses the same scratch directory.
    for (const c of manifest.cases) {
      if (!existsSync(path.join(dir, `${c.name}.json`))) continue;
      results.push(await runCase(dir, c.name));
    }
    return results;
  },
};
