/**
 * `xml2xml`: libvirt 9.0's canonical definition (`define` + `dumpxml --inactive`) of every
 * xml2argv input. A case passes when our parse + post-parse + print (as dumpxml prints, without
 * secrets) gives the same text
 * (placeholders aside), or when both refuse the input.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { errorLine, parseDomainXML } from '@qvirt/core';
import { canonicalizeDomain, formatDefinition, referenceContext } from '@qvirt/qemu-argv';
import type { CaseResult, ConformanceSet } from '../set.js';
import { caseNames, readText } from './corpus.js';
import { firstDifference, matchesWithPlaceholders } from './placeholders.js';

/** A coarse feature family from the first differing line, to group failures in reports. */
export function familyOf(line: string): string {
  const m = /<\/?([a-zA-Z:_-]+)/.exec(line);
  return m ? m[1]! : 'other';
}

function check(dir: string, name: string): CaseResult {
  const errorFile = path.join(dir, `${name}.error.txt`);
  const expectError = existsSync(errorFile);
  let actual: string;
  try {
    const ctx = referenceContext();
    const def = canonicalizeDomain(
      parseDomainXML(readText(path.join(dir, `${name}.xml`)), { source: `${name}.xml` }),
      ctx,
    );
    actual = `${formatDefinition(def)}\n`;
  } catch (err) {
    if (expectError) return { name, pass: true, reason: `both refuse: ${errorLine(err)}` };
    return { name, pass: false, reason: `refused: ${errorLine(err)}`, family: 'refused' };
  }
  if (expectError) {
    const why = readText(errorFile).trim().split('\n').at(-1) ?? '';
    return { name, pass: false, reason: `accepted, libvirt refuses: ${why}`, family: 'validation' };
  }
  const expected = readText(path.join(dir, `${name}.out.xml`));
  if (matchesWithPlaceholders(expected, actual)) return { name, pass: true };
  const diff = firstDifference(expected, actual);
  const expectedLine = /expected ("(?:[^"\\]|\\.)*")/.exec(diff)?.[1];
  return {
    name,
    pass: false,
    reason: diff,
    family: familyOf(expectedLine ? JSON.parse(expectedLine) : diff),
  };
}

export const xml2xmlSet: ConformanceSet = {
  name: 'xml2xml',
  applies: (root) => existsSync(path.join(root, 'xml2xml')),
  run: async (root) => {
    const dir = path.join(root, 'xml2xml');
    const names = caseNames(dir, '.xml', (f) => f.endsWith('.out.xml'));
    return names.map((n) => check(dir, n));
  },
};
