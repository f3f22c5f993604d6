/**
 * `argv-roundtrip`: domxml-from-native for the modern syntax libvirt 9.0 emits. For every
 * `xml2argv` case whose export we pass (our words equal `NAME.argv.json`), importing the expected
 * words must give the model of the case's XML after libvirt's defaults:
 * `canonicalizeDomain(parseDomainXML(NAME.xml))`. A word with a placeholder (`@MAC@`, `@FD@`, …)
 * stands for a value made when it was printed; it is filled with the value our export printed for
 * the same model (which matched the placeholder), so a generated MAC is the model's own.
 *
 * Both sides go through the same post-parse (the import says only what the command line says, so
 * libvirt's defaults fill the rest, as they did for the XML), then through `nativeRoundtripView`,
 * which removes only what domxml-to-native itself loses (every `<interface>` becomes a tap
 * `ethernet` one, paths under the instance's directories, settings the command line cannot
 * express; see that function), and are compared as formatted XML, line by line.
 *
 * Cases our export fails, and cases libvirt refuses, are not eligible: they are not counted.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { type DomainDef, errorLine, formatDomainXML, parseDomainXML } from '@qvirt/core';
import {
  buildCommandLine,
  canonicalizeDomain,
  commandLineWords,
  domxmlFromNativeWords,
  nativeRoundtripView,
  referenceContext,
} from '@qvirt/qemu-argv';
import type { CaseResult, ConformanceSet } from '../set.js';
import { caseNames, readJson, readText } from './corpus.js';
import { hasPlaceholder, matchesWithPlaceholders } from './placeholders.js';
import { corpusContext, preparedDefinition } from './xml2argv.js';
import { familyOf } from './xml2xml.js';

function normalise(word: string): string {
  return word.startsWith('PATH=') ? 'PATH=/usr/bin:/bin' : word;
}

/**
 * The case's canonical model and the expected words with placeholders filled from our export, or
 * undefined when our export does not pass the case (not eligible).
 */
function eligible(
  dir: string,
  name: string,
  expected: string[],
): { def: DomainDef; words: string[] } | undefined {
  try {
    const ctx = corpusContext(path.dirname(dir));
    const def = preparedDefinition(
      parseDomainXML(readText(path.join(dir, `${name}.xml`)), { source: `${name}.xml` }),
      ctx,
    );
    const words = commandLineWords(buildCommandLine(def, ctx)).map(normalise);
    if (words.length !== expected.length) return undefined;
    for (let i = 0; i < words.length; i++) {
      if (!matchesWithPlaceholders(expected[i]!, words[i]!)) return undefined;
    }
    return { def, words: expected.map((w, i) => (hasPlaceholder(w) ? words[i]! : w)) };
  } catch {
    return undefined;
  }
}

function view(def: DomainDef): string[] {
  return formatDomainXML(nativeRoundtripView(def)).split('\n');
}

function check(name: string, canonical: DomainDef, words: string[]): CaseResult {
  let actual: string[];
  try {
    const imported = domxmlFromNativeWords(words).def;
    actual = view(canonicalizeDomain(imported, referenceContext()));
  } catch (err) {
    return { name, pass: false, reason: `import failed: ${errorLine(err)}`, family: 'refused' };
  }
  const expected = view(canonical);
  for (let i = 0; i < Math.max(actual.length, expected.length); i++) {
    if (actual[i] !== expected[i]) {
      const e = expected[i] ?? '<end>';
      return {
        name,
        pass: false,
        reason: `line ${i + 1}: expected ${JSON.stringify(e)}, got ${JSON.stringify(actual[i] ?? '<end>')}`,
        family: familyOf(e === '<end>' ? (actual[i] ?? '') : e),
      };
    }
  }
  return { name, pass: true };
}

export const argvRoundtripSet: ConformanceSet = {
  name: 'argv-roundtrip',
  applies: (root) => existsSync(path.join(root, 'xml2argv')),
  run: async (root) => {
    const dir = path.join(root, 'xml2argv');
    const out: CaseResult[] = [];
    for (const name of caseNames(dir, '.xml')) {
      const file = path.join(dir, `${name}.argv.json`);
      if (!existsSync(file)) continue;
      const words = readJson<string[]>(file);
      const ok = eligible(dir, name, words);
      if (ok) out.push(check(name, ok.def, ok.words));
    }
    return out;
  },
};
