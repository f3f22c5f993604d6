/** Helpers for the tests that read the qemu-conf conformance corpus (not part of the build). */

import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { VirConfValue } from '../vir-conf.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The qemu-conf corpus folder: $QVIRT_CONFORMANCE_DIR/qemu-conf, else ../shared/conformance/qemu-conf. */
export const corpusDir = path.join(
  process.env.QVIRT_CONFORMANCE_DIR ?? path.resolve(here, '../../../../../../shared/conformance'),
  'qemu-conf',
);
export const haveCorpus = existsSync(path.join(corpusDir, 'manifest.json'));

/** A stored value as plain JSON: integers as numbers when exact, else as decimal strings. */
export function plain(value: VirConfValue): unknown {
  switch (value.type) {
    case 'llong':
    case 'ullong':
      return Number.isSafeInteger(Number(value.value)) ? Number(value.value) : value.value.toString();
    case 'string':
      return value.value;
    case 'list':
      return value.value.map(plain);
  }
}

export { virConfGet as runGetter } from '../vir-conf.js';

/** A getter's result as plain JSON (bigint -> number when exact). */
export function plainResult(v: unknown): unknown {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  return v;
}
