import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { defaultQemuConf, parseDomainXML, parseQemuConf } from '@qvirt/core';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { QemuDriver } from './driver.js';
import { prepareNvram } from './nvram.js';
import { cleanupRoots, makeRoot, pidsMentioning, QEMU, sweepRun } from './test-support/guests.js';

const drivers: QemuDriver[] = [];
afterEach(async () => {
  for (const d of drivers.splice(0)) await d.close();
  cleanupRoots();
});
afterAll(sweepRun);

const loaderXml = (loader: string, nvram: string) =>
  parseDomainXML(`<domain type='qemu'><name>g</name><memory>1024</memory>
  <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type>${loader}${nvram}</os></domain>`);

describe('qemuPrepareNVRAM', () => {
  it('writes a missing store from its template (0600), leaves an existing one unless reset', async () => {
    const root = makeRoot();
    const template = path.join(root, 'VARS.fd');
    writeFileSync(template, 'template-bytes');
    const store = path.join(root, 'lib/nvram/g_VARS.fd');
    const def = loaderXml(
      "<loader readonly='yes' type='pflash'>/fw/CODE.fd</loader>",
      `<nvram template='${template}'>${store}</nvram>`,
    );
    const opts = { conf: defaultQemuConf({ privileged: true }), hasDescriptors: true };
    expect(await prepareNvram(def, opts)).toBe(store);
    expect(readFileSync(store, 'utf8')).toBe('template-bytes');
    expect(statSync(store).mode & 0o777).toBe(0o600);
    writeFileSync(store, 'guest-state');
    expect(await prepareNvram(def, opts)).toBeUndefined();
    expect(readFileSync(store, 'utf8')).toBe('guest-state');
    await prepareNvram(def, { ...opts, resetNvram: true });
    expect(readFileSync(store, 'utf8')).toBe('template-bytes');
  });

  it("finds an old-style loader's template in qemu.conf nvram only without descriptors", async () => {
    const root = makeRoot();
    const template = path.join(root, 'LEGACY_VARS.fd');
    writeFileSync(template, 'legacy');
    const store = path.join(root, 'g_VARS.fd');
    const def = loaderXml(
      "<loader readonly='yes' type='pflash'>/fw/CODE.fd</loader>",
      `<nvram>${store}</nvram>`,
    );
    const conf = parseQemuConf(`nvram = [ "/fw/CODE.fd:${template}" ]\n`, { privileged: true });
    await expect(prepareNvram(def, { conf, hasDescriptors: true })).rejects.toThrow(
      'operation failed: unable to find any master var store for loader: /fw/CODE.fd',
    );
    expect(await prepareNvram(def, { conf, hasDescriptors: false })).toBe(store);
    expect(readFileSync(store, 'utf8')).toBe('legacy');
  });

  it('names the template it cannot read', async () => {
    const root = makeRoot();
    const def = loaderXml(
      "<loader readonly='yes' type='pflash'>/fw/CODE.fd</loader>",
      `<nvram template='${root}/missing.fd'>${root}/s.fd</nvram>`,
    );
    await expect(
      prepareNvram(def, { conf: defaultQemuConf({ privileged: true }), hasDescriptors: true }),
    ).rejects.toThrow(`Failed to open file '${root}/missing.fd': No such file or directory`);
  });
});

const OVMF_DESCRIPTORS = '/usr/share/qemu/firmware';
describe.runIf(existsSync(OVMF_DESCRIPTORS) && existsSync(QEMU))(
  "<os firmware='efi'> on this host's OVMF",
  () => {
    it('starts QEMU with the selected pflash pair and a store made from the template', async () => {
      const root = makeRoot();
      const d = await QemuDriver.open(`qemu:///embed?root=${root}`);
      drivers.push(d);
      await d.defineXML(`<domain type='qemu'>
  <name>efi</name>
  <memory unit='KiB'>131072</memory>
  <vcpu>1</vcpu>
  <os firmware='efi'>
    <type arch='x86_64' machine='q35'>hvm</type>
    <firmware><feature enabled='no' name='secure-boot'/></firmware>
  </os>
  <features><acpi/></features>
  <devices><emulator>${QEMU}</emulator></devices>
</domain>`);
      await d.start('efi', { paused: true });
      const proc = d.getProcess('efi')!;
      const live = d.getXMLDesc('efi');
      const code = /<loader readonly='yes' type='pflash'>([^<]+)<\/loader>/.exec(live)?.[1];
      const template = /<nvram template='([^']+)'>/.exec(live)?.[1];
      const store = path.join(root, 'lib/qemu/nvram/efi_VARS.fd');
      expect(code).toBeDefined();
      expect(live).toContain(`>${store}</nvram>`);
      expect(live).not.toContain("firmware='efi'");
      expect(d.getXMLDesc('efi', { inactive: true })).toContain("<os firmware='efi'>");
      const args = proc.commandLine?.args ?? [];
      expect(args.some((a) => a.includes(`"filename":"${code}","node-name":"libvirt-pflash0-storage"`))).toBe(
        true,
      );
      expect(
        args.some((a) => a.includes(`"filename":"${store}","node-name":"libvirt-pflash1-storage"`)),
      ).toBe(true);
      expect(args.find((a) => a.startsWith('pc-q35-'))).toContain(
        'pflash0=libvirt-pflash0-format,pflash1=libvirt-pflash1-format',
      );
      expect(readFileSync(store).equals(readFileSync(template!))).toBe(true);
      expect(d.getState('efi').state).toBe('paused');
      await d.destroy('efi');
      expect(pidsMentioning(root)).toEqual([]);
      // the store outlives the run, as libvirt's does
      expect(existsSync(store)).toBe(true);
    }, 60_000);

    it("refuses firmware='bios' (no descriptor offers BIOS) before anything runs", async () => {
      const root = makeRoot();
      mkdirSync(root, { recursive: true });
      const d = await QemuDriver.open(`qemu:///embed?root=${root}`);
      drivers.push(d);
      await d.defineXML(`<domain type='qemu'><name>b</name><memory unit='KiB'>65536</memory>
  <os firmware='bios'><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices><emulator>${QEMU}</emulator></devices></domain>`);
      await expect(d.start('b')).rejects.toThrow(
        "operation failed: Unable to find any firmware to satisfy 'bios'",
      );
      expect(pidsMentioning(root)).toEqual([]);
    });
  },
);
