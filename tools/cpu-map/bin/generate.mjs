#!/usr/bin/env node
// Usage: generate.mjs --src /tmp/libvirt-9.0.0 [--qemu qemu-system-x86_64] [--out FILE] [--check]
// Writes packages/cpu/src/x86-cpu-map.json; --check compares instead of writing and exits 1 when
// the file is out of date. Without --qemu the QEMU part is left out.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildCpuMap, stringifyCpuMap } from '../src/generate.mjs';

const DEFAULT_OUT = fileURLToPath(new URL('../../../packages/cpu/src/x86-cpu-map.json', import.meta.url));

/** @param {string[]} argv */
function main(argv) {
  let src = process.env.LIBVIRT_SRC;
  /** @type {string | undefined} */
  let qemu;
  let out = DEFAULT_OUT;
  let check = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') continue; // pnpm passes the separator through
    if (a === '--check') check = true;
    else if (a === '--src' || a === '--out' || a === '--qemu') {
      const v = argv[++i];
      if (!v) throw new Error(`${a} needs a value`);
      if (a === '--src') src = v;
      else if (a === '--qemu') qemu = v;
      else out = v;
    } else
      throw new Error(`unknown argument '${a}' (expected --src DIR, --qemu BINARY, --out FILE, --check)`);
  }
  if (!src) throw new Error('--src DIR (a libvirt source tree, e.g. /tmp/libvirt-9.0.0) is required');
  const text = stringifyCpuMap(buildCpuMap({ src, ...(qemu ? { qemu } : {}) }));
  if (check) {
    const same = existsSync(out) && readFileSync(out, 'utf8') === text;
    console.log(same ? `${out}: up to date` : `${out}: out of date, run without --check`);
    return same ? 0 : 1;
  }
  writeFileSync(out, text);
  console.log(`wrote ${out}`);
  return 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (e) {
  console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
}
