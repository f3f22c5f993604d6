/**
 * A define's TPM validation asks this host's swtpm (qemuValidateDomainDeviceDefTPM through
 * virQEMUCapsFillDomainDeviceTPMCaps): whether it is installed or not, the driver answers as
 * libvirt on the same host, and agrees with its own domain capabilities.
 */

import { findInPath } from '@qvirt/host-prober';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { QemuDriver } from './driver.js';
import { hostSwtpmSync } from './host-swtpm.js';
import { cleanupRoots, guestXml, makeRoot, sweepRun } from './test-support/guests.js';

const drivers: QemuDriver[] = [];
afterEach(async () => {
  for (const d of drivers.splice(0)) await d.close();
  cleanupRoots();
});
afterAll(sweepRun);

describe("a TPM emulator and the host's swtpm", () => {
  it('is defined when swtpm offers its version, and refused in libvirt words when not', async () => {
    const root = makeRoot();
    const d = await QemuDriver.open(`qemu:///embed?root=${root}`);
    drivers.push(d);
    const swtpm = hostSwtpmSync((n) => findInPath(n, process.env.PATH ?? '/usr/bin:/bin'));
    const xml = guestXml(root, 't1').replace(
      '</devices>',
      "<tpm model='tpm-crb'><backend type='emulator' version='2.0'/></tpm></devices>",
    );
    const domcaps = await d.connectGetDomainCapabilities(null, null, null, null, 0);
    if (swtpm?.versions.includes('2.0')) {
      expect(domcaps).toMatch(
        /<enum name='backendVersion'>\s*(<value>1\.2<\/value>\s*)?<value>2\.0<\/value>/,
      );
      await expect(d.domainDefineXML(xml)).resolves.toMatchObject({ name: 't1' });
    } else {
      expect(domcaps).not.toMatch(/<value>2\.0<\/value>/);
      await expect(d.domainDefineXML(xml)).rejects.toThrow(
        "unsupported configuration: TPM version '2.0' is not supported",
      );
    }
  });
});
