#!/usr/bin/env node
// Adds up every package's vitest JSON report into the one closing line CI reads:
// "tests: N passed, M failed". Run after `turbo run test`, whatever its exit code.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
let passed = 0;
let failed = 0;
let skipped = 0;
for (const group of ['packages', 'tools']) {
  for (const name of readdirSync(path.join(root, group))) {
    const file = path.join(root, group, name, '.test-results.json');
    if (!existsSync(file)) continue;
    const r = JSON.parse(readFileSync(file, 'utf8'));
    passed += r.numPassedTests ?? 0;
    // A suite that fails to load has no failed tests of its own; count it once.
    failed += (r.numFailedTests ?? 0) + (r.numFailedTests > 0 ? 0 : (r.numFailedTestSuites ?? 0));
    skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  }
}
console.log(`tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
