/** Helpers for the tests that read the qemu-conf conformance corpus (not part of the build). */

import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { VirConf, VirConfValue } from '../vir-conf.js';

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

/** Runs one of virconftest's typed getters by name. */
export function runGetter(conf: VirConf, getter: string, key: string, compatString = false): unknown {
  switch (getter) {
    case 'int':
      return conf.getInt(key);
    case 'uint':
      return conf.getUInt(key);
    case 'llong':
      return conf.getLLong(key);
    case 'ullong':
      return conf.getULLong(key);
    case 'size_t':
      return conf.getSizeT(key);
    case 'ssize_t':
      return conf.getSSizeT(key);
    case 'bool':
      return conf.getBool(key);
    case 'string':
      return conf.getString(key);
    case 'string_list':
      return conf.getStringList(key, compatString);
    default:
      throw new Error(`unknown getter '${getter}'`);
  }
}

/** A getter's result as plain JSON (bigint -> number when exact). */
export function plainResult(v: unknown): unknown {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  return v;
}
