/**
 * `argv2xml`: libvirt's former qemuargv2xml pairs (legacy QEMU command lines → domain XML).
 * Compared as that suite compared, but on our models: the imported domain and the expected XML
 * both go through the same post-parse (libvirt 9.0's defaults, so the older libvirt's defaults in
 * the expected files do not count against us), are formatted, and the lines the suite blanked
 * (name, uuid, memory, currentMemory, readonly, shareable, secrets) are blanked on both sides.
 *
 * An expected file is read with the meaning the libvirt that wrote it gave it:
 * - a file without `-M` in its arguments says nothing about the machine (see `check`);
 * - a file with no `<memballoon>` predates libvirt's balloon model: from libvirt 0.8.3 every QEMU
 *   domain libvirt formats has one (virtio unless the domain says `none`), and before it QEMU
 *   guests libvirt started had no balloon device, so such a file means `<memballoon model='none'/>`
 *   (today's post-parse would otherwise add a virtio balloon the guest never had).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { errorLine, formatDomainXML, parseDomainXML } from '@qvirt/core';
import { canonicalizeDomain, domxmlFromNative, referenceContext } from '@qvirt/qemu-argv';
import type { CaseResult, ConformanceSet } from '../set.js';
import { caseNames, readText } from './corpus.js';
import { familyOf } from './xml2xml.js';

const BLANKED = [
  /^\s*<name>[^<]*<\/name>$/,
  /^\s*<uuid>[^<]*<\/uuid>$/,
  /^\s*<memory.*>\d+<\/memory>$/,
  /^\s*<currentMemory.*>\d+<\/currentMemory>$/,
  /^\s*<readonly\/>$/,
  /^\s*<sharable\/>$/,
  /^\s*<shareable\/>$/,
  /^\s*<secret.*$/,
];

/** The suite blanked these lines on both sides; we drop them, so one side lacking a line is no shift. */
function blanked(xml: string): string[] {
  return xml.split('\n').filter((line) => !BLANKED.some((re) => re.test(line)));
}

function canonicalText(def: ReturnType<typeof parseDomainXML>): string[] {
  // The suite's documents have no name; give both sides the same one so post-parse can run.
  return blanked(
    formatDomainXML(canonicalizeDomain({ ...def, name: def.name || 'imported' }, referenceContext())),
  );
}

function check(dir: string, name: string): CaseResult {
  let actual: string[];
  let imported: ReturnType<typeof domxmlFromNative>['def'];
  try {
    imported = domxmlFromNative(readText(path.join(dir, `${name}.args`))).def;
    actual = canonicalText(imported);
  } catch (err) {
    return { name, pass: false, reason: `import failed: ${errorLine(err)}`, family: 'refused' };
  }
  let expected: string[];
  try {
    const def = parseDomainXML(readText(path.join(dir, `${name}.xml`)), { requireName: false });
    // A command line without -M gets the target QEMU's default machine; the expected file holds
    // the default of the suite's fake emulator, which says nothing about the import.
    if (imported.os?.type?.machine === undefined && def.os?.type) delete def.os.type.machine;
    if ((def.type === 'qemu' || def.type === 'kvm') && !def.devices?.memballoon)
      (def.devices ??= {}).memballoon = { model: 'none' };
    expected = canonicalText(def);
  } catch (err) {
    return { name, pass: false, reason: `expected XML not accepted: ${errorLine(err)}`, family: 'expected' };
  }
  for (let i = 0; i < Math.max(actual.length, expected.length); i++) {
    if (actual[i] !== expected[i]) {
      const e = expected[i] ?? '<end>';
      return {
        name,
        pass: false,
        reason: `line ${i + 1}: expected ${JSON.stringify(e)}, got ${JSON.stringify(actual[i] ?? '<end>')}`,
        family: familyOf(e),
      };
    }
  }
  return { name, pass: true };
}

export const argv2xmlSet: ConformanceSet = {
  name: 'argv2xml',
  applies: (root) => existsSync(path.join(root, 'argv2xml')),
  run: async (root) => {
    const dir = path.join(root, 'argv2xml');
    return caseNames(dir, '.args').map((n) => check(dir, n));
  },
};
