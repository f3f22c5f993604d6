/**
 * `qemu-conf`: libvirt's config-file syntax (virConf). The manifest of DIR/qemu-conf lists the
 * cases and their kind:
 *
 * - `roundtrip`: parse `input`, serialise it, compare byte-for-byte with `expected`;
 * - `typed-values`: parse `input`; `expected` (NAME.expect.json) gives the type and value stored
 *   for each key and the result of typed getters (`"error"`: the getter must fail).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import {
  errorLine,
  parseVirConf,
  serializeVirConf,
  type VirConf,
  type VirConfValue,
  virConfGet,
} from '@qvirt/core';
import type { CaseResult, ConformanceSet } from '../set.js';
import { readJson, readText, setDir } from './corpus.js';

interface ManifestCase {
  name: string;
  kind: string;
  input: string;
  expected: string;
}

interface Manifest {
  cases: ManifestCase[];
}

interface TypedExpectation {
  values?: Record<string, { type: string; value: unknown }>;
  getters?: { getter: string; key: string; compat_string?: boolean; expect: unknown }[];
}

/** A stored value as JSON: integers as numbers when exact, else as decimal strings. */
function plain(value: VirConfValue): unknown {
  switch (value.type) {
    case 'llong':
    case 'ullong':
      return plainResult(value.value);
    case 'string':
      return value.value;
    case 'list':
      return value.value.map(plain);
  }
}

function plainResult(v: unknown): unknown {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  return v;
}

/** The first line where `got` and `want` differ, for a short reason. */
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

function roundtrip(dir: string, c: ManifestCase): CaseResult {
  const text = readText(path.join(dir, c.input));
  const want = readText(path.join(dir, c.expected));
  let out: string;
  try {
    out = serializeVirConf(parseVirConf(text, { file: c.input }));
  } catch (err) {
    return { name: c.name, pass: false, reason: `refused: ${errorLine(err)}`, family: 'parse' };
  }
  if (out === want) return { name: c.name, pass: true };
  return { name: c.name, pass: false, reason: firstDifference(out, want), family: 'serialise' };
}

function typedValues(dir: string, c: ManifestCase): CaseResult {
  const expectation = readJson<TypedExpectation>(path.join(dir, c.expected));
  const text = readText(path.join(dir, c.input));
  let conf: VirConf;
  try {
    conf = parseVirConf(text, { file: c.input });
  } catch (err) {
    return { name: c.name, pass: false, reason: `refused: ${errorLine(err)}`, family: 'parse' };
  }
  for (const [key, want] of Object.entries(expectation.values ?? {})) {
    const v = conf.getValue(key);
    if (v === undefined) return { name: c.name, pass: false, reason: `${key}: not stored`, family: 'values' };
    const got = { type: v.type, value: plain(v) };
    if (!isDeepStrictEqual(got, { type: want.type, value: want.value })) {
      return {
        name: c.name,
        pass: false,
        reason: `${key}: stored ${JSON.stringify(got)}, want ${JSON.stringify(want)}`,
        family: 'values',
      };
    }
  }
  for (const g of expectation.getters ?? []) {
    const call = `${g.getter}(${g.key}${g.compat_string ? ', compat' : ''})`;
    let got: unknown;
    let failure: unknown;
    try {
      got = plainResult(virConfGet(conf, g.getter, g.key, g.compat_string ?? false));
    } catch (err) {
      failure = err;
    }
    if (g.expect === 'error') {
      if (failure === undefined) {
        return {
          name: c.name,
          pass: false,
          reason: `${call}: gave ${JSON.stringify(got)}, want an error`,
          family: 'getters',
        };
      }
    } else if (failure !== undefined) {
      return { name: c.name, pass: false, reason: `${call}: ${errorLine(failure)}`, family: 'getters' };
    } else if (!isDeepStrictEqual(got, g.expect)) {
      return {
        name: c.name,
        pass: false,
        reason: `${call}: gave ${JSON.stringify(got)}, want ${JSON.stringify(g.expect)}`,
        family: 'getters',
      };
    }
  }
  return { name: c.name, pass: true };
}

function runCase(dir: string, c: ManifestCase): CaseResult {
  try {
    if (c.kind === 'roundtrip') return roundtrip(dir, c);
    if (c.kind === 'typed-values') return typedValues(dir, c);
    return { name: c.name, pass: false, reason: `unknown case kind '${c.kind}'`, family: 'manifest' };
  } catch (err) {
    return { name: c.name, pass: false, reason: `cannot run: ${errorLine(err)}`, family: 'manifest' };
  }
}

export const qemuConfSet: ConformanceSet = {
  name: 'qemu-conf',
  applies: (root) => existsSync(path.join(setDir(root, 'qemu-conf'), 'manifest.json')),
  run: async (root) => {
    const dir = setDir(root, 'qemu-conf');
    const manifest = readJson<Manifest>(path.join(dir, 'manifest.json'));
    return manifest.cases.map((c) => runCase(dir, c));
  },
};
