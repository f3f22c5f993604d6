#!/usr/bin/env node
// Lists what the domain schema keeps only as $extra across a corpus: a to-do list for modelling.
// usage: node scripts/schema-coverage.mjs [CORPUS_DIR] [PATH_PREFIX]
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseDomainXML, unknownParts } from '../dist/index.js';

const dir = process.argv[2] ?? '../../../shared/conformance';
const prefix = process.argv[3] ?? '';
const counts = new Map();
let files = 0;
let failed = 0;
for (const set of ['xml2argv', 'argv2xml', 'aa-helper', 'xml2xml']) {
  let names = [];
  try {
    names = readdirSync(path.join(dir, set));
  } catch {
    continue;
  }
  for (const name of names) {
    if (!name.endsWith('.xml')) continue;
    files++;
    try {
      const def = parseDomainXML(readFileSync(path.join(dir, set, name), 'utf8'));
      for (const p of new Set(unknownParts(def).map((p) => p.replace(/\[\d+\]/g, '')))) {
        if (!p.startsWith(`domain${prefix}`)) continue;
        const e = counts.get(p) ?? { n: 0, example: `${set}/${name}` };
        e.n++;
        counts.set(p, e);
      }
    } catch (err) {
      failed++;
      if (process.env.VERBOSE) console.error(`${set}/${name}: ${err.message}`);
    }
  }
}
for (const [p, e] of [...counts].sort((a, b) => b[1].n - a[1].n))
  console.log(`${String(e.n).padStart(5)} ${p}  (${e.example})`);
console.log(`${files} files, ${failed} rejected, ${counts.size} unknown paths`);
