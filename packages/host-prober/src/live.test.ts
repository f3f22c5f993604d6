/**
 * Against the QEMU installed on this host (Debian 12's QEMU 7.2): the `<guest>` sections for
 * x86_64 and i686 equal libvirt 9.0's (capabilities.live.xml) ignoring order. Skipped without QEMU.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { capabilitiesXml, guestsFromProbe, readHostInfo } from './capabilities.js';
import { probeHost } from './host-prober.js';

const LIVE = '/work/shared/conformance/host/capabilities.live.xml';
const haveQemu = existsSync('/usr/bin/qemu-system-x86_64') && existsSync('/usr/bin/qemu-system-i386');

/** Each `<guest>` of an XML document as its sorted, trimmed lines. */
function guests(xml: string, dropKvm: boolean): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const g of xml.match(/<guest>[\s\S]*?<\/guest>/g) ?? []) {
    const arch = g.match(/<arch name='([^']+)'/)?.[1] ?? '';
    const lines = g
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !(dropKvm && l === "<domain type='kvm'/>"));
    out.set(arch, lines.sort());
  }
  return out;
}

describe.skipIf(!haveQemu)('live probe of the installed QEMU', () => {
  let cacheDir = '';
  afterEach(() => rmSync(cacheDir, { recursive: true, force: true }));

  it('gives the <guest> sections of libvirt 9.0 on a Debian 12 / QEMU 7.2 host', async () => {
    cacheDir = mkdtempSync(join(tmpdir(), 'qvirt-live-'));
    const probe = await probeHost({
      path: '/usr/bin:/bin',
      uid: 0,
      gid: 0,
      cacheDir,
      progress: { isTTY: false, write: () => true },
    });
    expect(probe.errors).toEqual([]);
    const xml = capabilitiesXml({ host: readHostInfo(), guests: guestsFromProbe(probe) });
    // libvirt's host had a usable /dev/kvm; without one here the kvm domain type is rightly absent
    const dropKvm = !probe.kvm.usable;
    const ours = guests(xml, dropKvm);
    const theirs = guests(readFileSync(LIVE, 'utf8'), dropKvm);
    for (const arch of ['x86_64', 'i686']) {
      expect(ours.get(arch), arch).toEqual(theirs.get(arch));
    }
    if (probe.kvm.usable) expect(xml).toContain("<domain type='kvm'/>");
  });
});
