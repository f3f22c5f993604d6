import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../index.js';

// libvirt 9.0's own `define` + `dumpxml --inactive` of the seed's examples (../shared/conformance).
const corpus = path.resolve(import.meta.dirname, '../../../../../shared/conformance/xml2xml');
const root = mkdtempSync(path.join(tmpdir(), 'qvirsh-define-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function qvirsh(...argv: string[]) {
  let out = '';
  let err = '';
  const code = await main(['-c', `qemu:///embed?root=${root}`, ...argv], {
    out: (t) => (out += t),
    err: (t) => (err += t),
  });
  return { code, out, err };
}

describe.skipIf(!existsSync(corpus))("define, then dumpxml --inactive, prints libvirt's text", () => {
  it.each([
    ['seed-demo', 'QEMUGuest1'],
    ['seed-kvm-demo2', 'demo2'],
  ])('%s', async (name, domain) => {
    const defined = await qvirsh('define', path.join(corpus, `${name}.xml`));
    expect(defined.err).toBe('');
    expect(defined.code).toBe(0);
    const dumped = await qvirsh('dumpxml', '--inactive', domain);
    expect(dumped.out).toBe(readFileSync(path.join(corpus, `${name}.out.xml`), 'utf8'));
    expect((await qvirsh('undefine', domain)).code).toBe(0);
  });
});
