/**
 * `xml2argv`: the command line libvirt 9.0 prints for `domxml-to-native qemu-argv NAME.xml`.
 * A case passes when our words equal `NAME.argv.json` word for word (placeholders compare equal to
 * anything of their kind), or when both refuse the input. Our output goes through the corpus's
 * own normalisations (PATH) before comparing, as libvirt's did.
 *
 * Diagnostic: with QVIRT_ARGV_INPUT=libvirt-canonical the builder is fed libvirt's canonical XML
 * (xml2xml/NAME.out.xml) instead of our post-parse, to measure the builder alone. The figure that
 * counts is the default.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { type DomainDef, errorLine, parseDomainXML } from '@qvirt/core';
import { readFirmwareDescriptors } from '@qvirt/host-prober';
import {
  buildCommandLine,
  canonicalizeDomain,
  commandLineWords,
  type FirmwareDescriptor,
  prepareDomain,
  type QemuContext,
  referenceContext,
} from '@qvirt/qemu-argv';
import type { CaseResult, ConformanceSet } from '../set.js';
import { caseNames, readJson, readText } from './corpus.js';
import { corpusHost } from './host.js';
import { matchesWithPlaceholders } from './placeholders.js';

/** The manifest's normalisations that apply to any output (not only libvirt's). */
function normalise(word: string): string {
  return word.startsWith('PATH=') ? 'PATH=/usr/bin:/bin' : word;
}

/** `-device` words are grouped by driver, other options by their name. */
export function argvFamily(words: string[], index: number): string {
  for (let i = Math.min(index, words.length - 1); i >= 0; i--) {
    const w = words[i]!;
    if (w.startsWith('-') && !w.startsWith('-{')) {
      const value = words[i + 1] ?? '';
      const driver = /"(?:driver|qom-type|type)":"([^"]+)"/.exec(value)?.[1];
      return driver ? `${w} ${driver}` : w;
    }
  }
  return 'env';
}

/**
 * libvirt converted with its own host's firmware descriptors (the corpus host: Debian 12 with the
 * `ovmf` package); the `firmware-auto-*` cases depend on this host having the same ones
 * (`tools/bootstrap.sh` installs `ovmf`). Read once per run, as the system daemon reads them.
 */
let hostFirmwares: FirmwareDescriptor[] | undefined;
function firmwares(): FirmwareDescriptor[] {
  hostFirmwares ??= readFirmwareDescriptors({ privileged: true });
  return hostFirmwares;
}

/** The context libvirt converted the corpus with: QEMU 7.2, the corpus host, this host's firmware. */
export function corpusContext(root: string): QemuContext {
  const host = corpusHost(root);
  return referenceContext({ firmwares: firmwares(), ...(host ? { host } : {}) });
}

/** The definition a command line is built from: libvirt's post-parse, then the start-time prepare. */
export function preparedDefinition(def: DomainDef, ctx: QemuContext): DomainDef {
  const canonical = canonicalizeDomain(def, ctx);
  prepareDomain(canonical, ctx, { startNew: true });
  return canonical;
}

function wordsFor(root: string, name: string): string[] {
  const ctx = corpusContext(root);
  const canonicalInput = process.env.QVIRT_ARGV_INPUT === 'libvirt-canonical';
  const canonical = canonicalInput
    ? parseDomainXML(readText(path.join(root, 'xml2xml', `${name}.out.xml`)))
    : canonicalizeDomain(
        parseDomainXML(readText(path.join(root, 'xml2argv', `${name}.xml`)), { source: `${name}.xml` }),
        ctx,
      );
  // qemuProcessPrepareDomain (firmware autoselection) runs on libvirt's canonical XML as well
  prepareDomain(canonical, ctx, { startNew: true });
  return commandLineWords(buildCommandLine(canonical, ctx)).map(normalise);
}

function check(root: string, name: string): CaseResult {
  const dir = path.join(root, 'xml2argv');
  const errorFile = path.join(dir, `${name}.error.txt`);
  const expectError = existsSync(errorFile);
  let actual: string[];
  try {
    actual = wordsFor(root, name);
  } catch (err) {
    if (expectError) return { name, pass: true, reason: `both refuse: ${errorLine(err)}` };
    return { name, pass: false, reason: `refused: ${errorLine(err)}`, family: 'refused' };
  }
  if (expectError) {
    const why = readText(errorFile).trim().split('\n')[0] ?? '';
    return { name, pass: false, reason: `accepted, libvirt refuses: ${why}`, family: 'validation' };
  }
  const expected = readJson<string[]>(path.join(dir, `${name}.argv.json`));
  for (let i = 0; i < Math.max(expected.length, actual.length); i++) {
    if (!matchesWithPlaceholders(expected[i] ?? '<end>', actual[i] ?? '<end>')) {
      return {
        name,
        pass: false,
        reason: `word ${i}: expected ${JSON.stringify(expected[i] ?? '<end>')}, got ${JSON.stringify(actual[i] ?? '<end>')}`,
        family: argvFamily(expected, i),
      };
    }
  }
  return { name, pass: true };
}

export const xml2argvSet: ConformanceSet = {
  name: 'xml2argv',
  applies: (root) => existsSync(path.join(root, 'xml2argv')),
  run: async (root) => {
    const dir = path.join(root, 'xml2argv');
    const names = caseNames(dir, '.xml').filter(
      (n) => existsSync(path.join(dir, `${n}.argv.json`)) || existsSync(path.join(dir, `${n}.error.txt`)),
    );
    return names.map((n) => check(root, n));
  },
};
