#!/usr/bin/env node
// pnpm bench. Every figure is a median over repeated runs, reported with a baseline measured in
// the same invocation (never against a number from another machine or day).
//   BENCH_RUNS (default 20): process starts per command; BENCH_CORPUS: corpus root;
//   BENCH_COLD_RUNS (default 5): cold domcapabilities starts.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseDomainXML } from '@qvirt/core';
import { buildCommandLine, canonicalizeDomain, referenceContext } from '@qvirt/qemu-argv';

const here = path.dirname(new URL(import.meta.url).pathname);
const corpus = process.env.BENCH_CORPUS ?? path.resolve(here, '../../../shared/conformance');
const runs = Number(process.env.BENCH_RUNS ?? 20);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function timeProcess(cmd, args) {
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'ignore'] });
    times.push(performance.now() - t);
  }
  return median(times);
}

// 1. Conversion throughput: every xml2argv input converted in one process, against parsing alone.
const dir = path.join(corpus, 'xml2argv');
if (existsSync(dir)) {
  const inputs = readdirSync(dir)
    .filter((f) => f.endsWith('.xml'))
    .map((f) => readFileSync(path.join(dir, f), 'utf8'));
  const ctx = referenceContext();
  const pass = (convert) => {
    const t = performance.now();
    let ok = 0;
    for (const xml of inputs) {
      try {
        const def = parseDomainXML(xml);
        if (convert) buildCommandLine(canonicalizeDomain(def, ctx), ctx);
        ok++;
      } catch {
        // refused inputs still cost their parse and checks
      }
    }
    return { ms: performance.now() - t, ok };
  };
  pass(true); // warm up
  const parseOnly = median(Array.from({ length: 5 }, () => pass(false).ms));
  const full = median(Array.from({ length: 5 }, () => pass(true).ms));
  const perSecond = Math.round((inputs.length / full) * 1000);
  console.log(
    `domxml-to-native in process: ${inputs.length} cases in ${full.toFixed(1)} ms = ${perSecond} cases/s; ` +
      `${(full / parseOnly).toFixed(2)}x the time of parsing alone (${parseOnly.toFixed(1)} ms)`,
  );
}

// 2. qvirsh domxml-to-native per invocation, against `node -e 0` (the floor of any Node CLI).
const qvirsh = path.resolve(here, '../../packages/cli/bin/qvirsh.js');
const seed = path.resolve(here, '../../docs/examples/demo.xml');
const floor = timeProcess(process.execPath, ['-e', '0']);
// the conversion is the connection's (virConnectDomainXMLToNative): an embedded instance, removed after
const nativeRoot = mkdtempSync(path.join(tmpdir(), 'qvirt-bench-native-'));
const cli = timeProcess(process.execPath, [
  qvirsh,
  '-c',
  `qemu:///embed?root=${nativeRoot}`,
  'domxml-to-native',
  'qemu-argv',
  seed,
]);
rmSync(nativeRoot, { recursive: true, force: true });
console.log(
  `qvirsh domxml-to-native per invocation: ${cli.toFixed(1)} ms median of ${runs}; node -e 0: ${floor.toFixed(1)} ms; ratio ${(cli / floor).toFixed(2)}x`,
);

// 3. qvirsh domcapabilities per invocation, cold (a new instance: its QEMU probed over QMP) and
// warm (the instance's capabilities cache), against `node -e 0`; libvirt's `virsh domcapabilities`
// timed the same way when libvirtd runs here (its cache is libvirtd's: warm unless libvirt finds
// it stale). BENCH_COLD_RUNS (default 5): cold starts, each with a new instance.
const coldRuns = Number(process.env.BENCH_COLD_RUNS ?? 5);
const domcaps = (root) => [qvirsh, '-c', `qemu:///embed?root=${root}`, 'domcapabilities'];
const coldTimes = [];
for (let i = 0; i < coldRuns; i++) {
  const root = mkdtempSync(path.join(tmpdir(), 'qvirt-bench-domcaps-'));
  try {
    const t = performance.now();
    execFileSync(process.execPath, domcaps(root), { stdio: ['ignore', 'ignore', 'ignore'] });
    coldTimes.push(performance.now() - t);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
const warmRoot = mkdtempSync(path.join(tmpdir(), 'qvirt-bench-domcaps-'));
let warmDomcaps;
try {
  execFileSync(process.execPath, domcaps(warmRoot), { stdio: ['ignore', 'ignore', 'ignore'] });
  warmDomcaps = timeProcess(process.execPath, domcaps(warmRoot));
} finally {
  rmSync(warmRoot, { recursive: true, force: true });
}
const coldDomcaps = median(coldTimes);
let libvirtNote = 'libvirtd not running here';
if (existsSync('/usr/bin/virsh') && existsSync('/run/libvirt/libvirt-sock')) {
  try {
    const lv = timeProcess('/usr/bin/virsh', ['-c', 'qemu:///system', 'domcapabilities']);
    libvirtNote = `libvirt's virsh domcapabilities: ${lv.toFixed(1)} ms median of ${runs} (${(lv / floor).toFixed(2)}x)`;
  } catch {
    libvirtNote = 'libvirtd did not answer';
  }
}
console.log(
  `qvirsh domcapabilities per invocation: cold ${coldDomcaps.toFixed(0)} ms median of ${coldRuns} (${(coldDomcaps / floor).toFixed(2)}x node -e 0), ` +
    `warm ${warmDomcaps.toFixed(1)} ms median of ${runs} (${(warmDomcaps / floor).toFixed(2)}x); ${libvirtNote}`,
);
