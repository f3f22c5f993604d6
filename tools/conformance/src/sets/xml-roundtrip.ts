/**
 * `xml-roundtrip`: every domain XML of the corpus (xml2argv/, argv2xml/, aa-helper/) is parsed,
 * formatted and parsed again; the two models must be equal (which, with `$extra`, means nothing
 * was dropped) and formatting must be stable.
 *
 * A document we refuse passes only when libvirt refused it too: xml2xml/NAME.error.txt for the
 * xml2argv inputs (libvirt's define failed), or an aa-helper case whose helper could not get the
 * VM definition. A document we accept is judged on the round trip alone; whether we refuse
 * everything libvirt refuses at define time is measured by the `xml2xml` set.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { errorLine, formatDomainXML, parseDomainXML } from '@qvirt/core';
import type { CaseResult, ConformanceSet } from '../set.js';
import { caseNames, readJson, readText } from './corpus.js';

interface Source {
  set: string;
  name: string;
  file: string;
  /** Why libvirt refused this document, when it did. */
  libvirtRefusal?: string;
}

function sources(root: string): Source[] {
  const out: Source[] = [];
  const x2a = path.join(root, 'xml2argv');
  for (const name of caseNames(x2a, '.xml')) {
    const err = path.join(root, 'xml2xml', `${name}.error.txt`);
    out.push({
      set: 'xml2argv',
      name,
      file: path.join(x2a, `${name}.xml`),
      ...(existsSync(err) ? { libvirtRefusal: readText(err).trim().split('\n').at(-1)! } : {}),
    });
  }
  const a2x = path.join(root, 'argv2xml');
  for (const name of caseNames(a2x, '.xml'))
    out.push({ set: 'argv2xml', name, file: path.join(a2x, `${name}.xml`) });
  const aa = path.join(root, 'aa-helper');
  for (const name of caseNames(aa, '.xml')) {
    const meta = path.join(aa, `${name}.json`);
    const stderr = existsSync(meta)
      ? (readJson<{ actual?: { stderr?: string } }>(meta).actual?.stderr ?? '')
      : '';
    const refused =
      /could not parse XML|could not get VM definition/.test(stderr) && !/bad name/.test(stderr);
    out.push({
      set: 'aa-helper',
      name,
      file: path.join(aa, `${name}.xml`),
      ...(refused ? { libvirtRefusal: stderr.trim() } : {}),
    });
  }
  return out;
}

function check(src: Source): CaseResult {
  const name = `${src.set}/${src.name}`;
  let first: ReturnType<typeof parseDomainXML>;
  let requireName = true;
  try {
    // argv2xml holds import results, which need not carry a <name> (their suite blanked it).
    requireName = src.set !== 'argv2xml';
    first = parseDomainXML(readText(src.file), { source: path.basename(src.file), requireName });
  } catch (err) {
    if (src.libvirtRefusal !== undefined)
      return { name, pass: true, reason: `both refuse: ${errorLine(err)}` };
    return { name, pass: false, reason: `refused: ${errorLine(err)}`, family: 'refused' };
  }
  try {
    const text = formatDomainXML(first);
    const second = parseDomainXML(text, { requireName });
    if (!isDeepStrictEqual(first, second))
      return { name, pass: false, reason: 'model changed by format+parse', family: 'model' };
    if (formatDomainXML(second) !== text)
      return { name, pass: false, reason: 'formatting is not stable', family: 'format' };
    return { name, pass: true };
  } catch (err) {
    return { name, pass: false, reason: `re-parse failed: ${errorLine(err)}`, family: 'reparse' };
  }
}

export const xmlRoundtripSet: ConformanceSet = {
  name: 'xml-roundtrip',
  applies: (root) => existsSync(path.join(root, 'xml2argv')) || existsSync(path.join(root, 'argv2xml')),
  run: async (root) => sources(root).map(check),
};
