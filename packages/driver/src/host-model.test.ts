/**
 * `<cpu mode='host-model'>` at start, on KVM where this host has it: the guest gets the host-model
 * CPU of its emulator (probed as domain capabilities are) and its live XML shows it expanded. The
 * TCG half is in the shared contract suite (packages/remote/src/contract); this one needs a QEMU
 * user that can open /dev/kvm, so its instance runs QEMU as root.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { QemuDriver } from './driver.js';
import { cleanupRoots, guestXml, makeRoot } from './test-support/guests.js';

const kvmUsable = (() => {
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    return process.geteuid?.() === 0;
  } catch {
    return false;
  }
})();

afterAll(() => cleanupRoots());

describe.skipIf(!kvmUsable || !existsSync('/usr/bin/qemu-system-x86_64'))('a host-model guest on KVM', () => {
  it("starts with the host's model and features in its live XML", async () => {
    const root = makeRoot({ ids: { user: 'root', group: 'root' } });
    const d = await QemuDriver.open(`qemu:///embed?root=${root}`);
    try {
      const xml = guestXml(root, 'kvm1')
        .replace("<domain type='qemu'>", "<domain type='kvm'>")
        .replace("arch='i686'", "arch='x86_64'")
        .replace('<devices>', "<cpu mode='host-model'/>\n  <devices>");
      const dom = await d.domainDefineXML(xml);
      await d.domainCreateWithFlags(dom, 0);
      try {
        const live = await d.domainGetXMLDesc(dom, 0);
        expect(live).toMatch(
          /<cpu mode='custom' match='exact' check='(partial|full)'>\n\s+<model fallback='forbid'>[\w-]+<\/model>/,
        );
        expect(live).toMatch(/<feature policy='require' name='[\w-]+'\/>/);
        expect(d.getProcess('kvm1')?.commandLine?.args.join(' ')).toMatch(/-accel kvm .*-cpu [\w-]+,/);
      } finally {
        await d.domainDestroy(dom);
      }
    } finally {
      await d.connectClose();
    }
  }, 120_000);
});
