#!/usr/bin/env node
// Build step: the QEMU snapshot as JSON beside the compiled code, so that reading it costs a
// JSON.parse rather than an XML parse at every CLI start. The XML stays the source of truth.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { parseQemuCapsXml } from '../dist/caps/qemu-caps.js';

const src = new URL('../data/', import.meta.url);
const out = new URL('../dist/data/', import.meta.url);
mkdirSync(out, { recursive: true });
for (const file of readdirSync(src).filter((f) => f.endsWith('.caps.xml'))) {
  const caps = parseQemuCapsXml(readFileSync(new URL(file, src), 'utf8'), file);
  writeFileSync(
    new URL(file.replace(/\.xml$/, '.json'), out),
    JSON.stringify({ ...caps, flags: [...caps.flags] }),
  );
}
