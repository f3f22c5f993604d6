/**
 * Debian's virt-install (virtinst) against qvirtd: a UEFI guest with `--boot uefi`, which needs
 * domain capabilities (virt-install refuses UEFI without them: "Libvirt version does not
 * support UEFI"). The guest is defined with libvirt's firmware autoselection and started on TCG.
 */
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, startTestDaemon, type TestDaemon, virsh } from '../test-support/harness.js';

const VIRT_INSTALL = '/usr/bin/virt-install';

describe.skipIf(!existsSync(VIRT_INSTALL))('virt-install against qvirtd', () => {
  let t: TestDaemon;
  beforeAll(async () => {
    t = await startTestDaemon();
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('defines a UEFI guest with --boot uefi and starts it', async () => {
    const disk = path.join(t.dir, 'efi-disk.raw');
    writeFileSync(disk, Buffer.alloc(1024 * 1024));
    const r = await run(VIRT_INSTALL, [
      '--connect',
      t.rwUri,
      '--debug',
      '--name',
      'vi-efi',
      '--memory',
      '128',
      '--vcpus',
      '1',
      '--virt-type',
      'qemu',
      '--boot',
      'uefi',
      '--os-variant',
      'generic',
      '--disk',
      `path=${disk},format=raw`,
      '--network',
      'none',
      '--graphics',
      'none',
      '--console',
      'none',
      '--sound',
      'none',
      '--noautoconsole',
      '--import',
      '--check',
      'path_in_use=off',
    ]);
    // QVIRT_VIRT_INSTALL_LOG=FILE keeps virt-install's --debug log (which libvirt calls it made)
    if (process.env.QVIRT_VIRT_INSTALL_LOG) writeFileSync(process.env.QVIRT_VIRT_INSTALL_LOG, r.stderr);
    if (r.code !== 0) {
      // virt-install's --debug log says which call it stopped at
      throw new Error(`virt-install failed (${r.code}):\n${r.stderr.split('\n').slice(-40).join('\n')}`);
    }
    const xml = await virsh(t.rwUri, 'dumpxml', 'vi-efi');
    expect(xml.stdout).toMatch(
      /<loader readonly='yes'( secure='no')? type='pflash'>[^<]*OVMF[^<]*<\/loader>/,
    );
    expect(xml.stdout).toMatch(/<nvram[^>]*>[^<]*vi-efi_VARS\.fd<\/nvram>/);
    expect((await virsh(t.rwUri, 'domstate', 'vi-efi')).stdout).toBe('running\n\n');
    expect((await virsh(t.rwUri, 'destroy', 'vi-efi')).code).toBe(0);
    expect((await virsh(t.rwUri, 'undefine', 'vi-efi', '--nvram')).code).toBe(0);
  });
});
