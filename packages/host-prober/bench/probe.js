#!/usr/bin/env node
// Cold and warm probe times of every emulator on this host (`pnpm bench`). Cold: empty cache
// directory, every binary probed over QMP. Warm: the same directory again, every probe from cache.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { probeHost } from '../dist/index.js';

const runs = Number(process.env.BENCH_RUNS ?? 3);
const quiet = { isTTY: false, write: () => true };
const ids = { uid: process.getuid(), gid: process.getgid(), dropPrivileges: false, progress: quiet };
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const cold = [];
const warm = [];
let emulators = [];
for (let i = 0; i < runs; i++) {
  const cacheDir = mkdtempSync(join(tmpdir(), 'qvirt-bench-'));
  try {
    let t = performance.now();
    const probe = await probeHost({ ...ids, cacheDir });
    cold.push(performance.now() - t);
    if (probe.errors.length) console.error(probe.errors.join('\n'));
    emulators = [...new Set(probe.emulators.map((e) => e.binary))];
    t = performance.now();
    const again = await probeHost({ ...ids, cacheDir });
    warm.push(performance.now() - t);
    if (!again.emulators.every((e) => e.cached || e.error || e.osType !== 'hvm'))
      console.error('warm run missed the cache');
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
}
if (emulators.length === 0) {
  console.log('host-prober: no emulators on PATH; nothing to measure');
} else {
  const c = median(cold);
  const w = median(warm);
  console.log(`host-prober: ${emulators.length} emulator(s): ${emulators.join(', ')} (median of ${runs})`);
  console.log(`  cold probe  ${c.toFixed(0)} ms  (${(c / emulators.length).toFixed(0)} ms per binary)`);
  console.log(`  warm probe  ${w.toFixed(1)} ms`);
  console.log(`  cold/warm   ${(c / w).toFixed(1)}x`);
}
