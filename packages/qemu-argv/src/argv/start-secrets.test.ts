/**
 * Secrets in the command line of a start (QemuContext.secrets): libvirt's own qemuxml2argv cases
 * for LUKS, rbd and iSCSI auth (test-fixtures/secrets, with their expected `.args`), built with
 * libvirt's test secret and master key. Every `-object secret` and `-blockdev` that names one is
 * the one libvirt prints; the ciphertext matches once decrypted, as its IV is random here (libvirt's
 * tests fix it).
 */
import { createDecipheriv } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { referenceContext } from '../context.js';
import { domxmlToCommandLine } from '../native.js';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../test-fixtures/secrets');
/** qemuxml2argvtest's fakeSecretGetValue. */
const VALUE = 'AQCVn5hO6HzFAhAAq0NCv8jtJcIcE+HOBlMQ1A';
/** libvirt's tests' master key: virRandomBytes mocked to 0, 1, 2, … */
const MASTER_KEY = Buffer.from([...Array(32).keys()]);

/** The JSON `-object secret` (other than the master key) and `-blockdev` words that carry secrets. */
function secretWords(words: string[]): unknown[] {
  const out: unknown[] = [];
  for (let i = 0; i < words.length - 1; i++) {
    if (words[i] !== '-object' && words[i] !== '-blockdev') continue;
    const w = words[i + 1]!;
    if (!w.startsWith('{') || !/secret/.test(w) || w.includes('"masterKey0","format":"raw"')) continue;
    const o = JSON.parse(w) as Record<string, unknown>;
    if (o['qom-type'] === 'secret') {
      const d = createDecipheriv('aes-256-cbc', MASTER_KEY, Buffer.from(o.iv as string, 'base64'));
      o.data = Buffer.concat([d.update(Buffer.from(o.data as string, 'base64')), d.final()]).toString();
      delete o.iv;
    }
    out.push(o);
  }
  return out;
}

/** libvirt's `.args` file as words (one option and its value per line, single-quoted JSON). */
function argsWords(text: string): string[] {
  return text.split(' \\\n').flatMap((line) => {
    const m = /^(-\S+) '(.*)'$/.exec(line);
    return m ? [m[1]!, m[2]!] : line.split(' ');
  });
}

describe('secrets at start: libvirt qemuxml2argv cases', () => {
  const cases = readdirSync(FIXTURES)
    .filter((f) => f.endsWith('.xml'))
    .map((f) => f.slice(0, -4));
  it.each(cases)('%s', (name) => {
    const asked: Array<[unknown, number]> = [];
    const ctx = referenceContext({
      secrets: {
        masterKey: MASTER_KEY,
        value: (lookup, usageType) => {
          asked.push([lookup, usageType]);
          return Buffer.from(VALUE);
        },
      },
    });
    const ours = secretWords(
      domxmlToCommandLine(readFileSync(path.join(FIXTURES, `${name}.xml`), 'utf8'), ctx).args,
    );
    const theirs = secretWords(
      argsWords(readFileSync(path.join(FIXTURES, `${name}.x86_64-latest.args`), 'utf8')),
    );
    expect(theirs.length).toBeGreaterThan(0);
    expect(ours).toEqual(theirs);
    // encryption secrets are asked for as volume secrets, rbd auth as ceph, iSCSI auth as iscsi
    for (const [, usageType] of asked) expect([1, 2, 3]).toContain(usageType);
  });

  it('refuses a disk whose secret the start does not have, as libvirt', () => {
    const xml = readFileSync(path.join(FIXTURES, 'luks-disks.xml'), 'utf8');
    expect(() =>
      domxmlToCommandLine(
        xml,
        referenceContext({ secrets: { masterKey: MASTER_KEY, value: () => undefined } }),
      ),
    ).toThrow(/^Secret not found: no secret with matching (uuid|usage) '/);
  });
});
