import { parseDomainXML } from '@qvirt/core';
import { describe, expect, it } from 'vitest';
import { commandLineWords } from '../argv/command-line.js';
import { buildCommandLine } from '../argv/index.js';
import { referenceContext } from '../context.js';
import { canonicalizeDomain } from '../post-parse/index.js';
import { fillFirmware, firmwareSanityWarning } from './firmware.js';
import type { FirmwareDescriptor, FirmwareFeature } from './firmware-descriptor.js';
import { globMatch } from './firmware-descriptor.js';

// Shaped like Debian 12's ovmf descriptors (40-…-secure-enrolled, 50-…-secure, 60-…).
const fw = (
  name: string,
  code: string,
  features: FirmwareFeature[],
  machines = ['pc-q35-*'],
): FirmwareDescriptor => ({
  path: `/fw/${name}.json`,
  interfaces: ['uefi'],
  mapping: {
    device: 'flash',
    mode: 'split',
    executable: { filename: `/ovmf/${code}`, format: 'raw' },
    nvramTemplate: { filename: `/ovmf/VARS-${code}`, format: 'raw' },
  },
  targets: [{ architecture: 'x86_64', machines }],
  features,
});
const ENROLLED = fw('40-enrolled', 'ms.fd', [
  'acpi-s3',
  'amd-sev',
  'enrolled-keys',
  'requires-smm',
  'secure-boot',
]);
const SECURE = fw('50-secure', 'secboot.fd', ['acpi-s3', 'amd-sev', 'requires-smm', 'secure-boot']);
const PLAIN = fw('60-plain', 'plain.fd', ['acpi-s3', 'amd-sev'], ['pc-i440fx-*', 'pc-q35-*']);
const ALL = [ENROLLED, SECURE, PLAIN];

function domain(os: string, extra = '', machine = 'pc-q35-7.2'): string {
  return `<domain type='kvm'><name>guest</name><uuid>63840878-0deb-4095-97e6-fc444d9bc9fa</uuid>
  <memory unit='KiB'>8192</memory><vcpu>1</vcpu>
  <os${os}><type arch='x86_64' machine='${machine}'>hvm</type>${extra}</os>
  <features><acpi/></features>
  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices></domain>`;
}

function prepare(xml: string, firmwares: FirmwareDescriptor[] = ALL, fileExists = (_: string) => false) {
  const ctx = referenceContext({ firmwares });
  const def = canonicalizeDomain(parseDomainXML(xml), ctx);
  const chosen = fillFirmware(def, ctx, { fileExists });
  return { def, chosen, ctx };
}

describe('firmware autoselection (qemuFirmwareFillDomain)', () => {
  it('takes the first descriptor that fits, turning on SMM and the secure loader it requires', () => {
    const { def, chosen, ctx } = prepare(domain(" firmware='efi'"));
    expect(chosen).toBe(ENROLLED);
    expect(def.os?.firmware).toBeUndefined();
    expect(def.os?.loader).toEqual({ readonly: 'yes', secure: 'yes', type: 'pflash', value: '/ovmf/ms.fd' });
    expect(def.os?.nvram).toEqual({
      template: '/ovmf/VARS-ms.fd',
      value: '/var/lib/libvirt/qemu/nvram/guest_VARS.fd',
    });
    expect(def.features?.smm?.state).toBe('on');
    const words = commandLineWords(buildCommandLine(def, ctx));
    expect(words).toContain('driver=cfi.pflash01,property=secure,value=on');
    expect(words.find((w) => w.startsWith('pc-q35-7.2,'))).toContain(
      'smm=on,dump-guest-core=off,memory-backend=pc.ram,pflash0=libvirt-pflash0-format,pflash1=libvirt-pflash1-format',
    );
  });

  it('follows <firmware><feature> wishes', () => {
    const feature = (name: string, enabled: string) =>
      `<firmware><feature enabled='${enabled}' name='${name}'/></firmware>`;
    expect(prepare(domain(" firmware='efi'", feature('enrolled-keys', 'no'))).chosen).toBe(SECURE);
    expect(prepare(domain(" firmware='efi'", feature('secure-boot', 'no'))).chosen).toBe(PLAIN);
    expect(prepare(domain(" firmware='efi'", feature('secure-boot', 'yes')), [PLAIN, SECURE]).chosen).toBe(
      SECURE,
    );
    const noSmm = prepare(domain(" firmware='efi'", feature('secure-boot', 'no')));
    expect(noSmm.def.features?.smm).toBeUndefined();
    expect(noSmm.def.os?.loader?.secure).toBeUndefined();
  });

  it('matches machine type globs and the architecture', () => {
    expect(prepare(domain(" firmware='efi'", '', 'pc-i440fx-7.2')).chosen).toBe(PLAIN);
    expect(() => prepare(domain(" firmware='efi'", '', 'pc-i440fx-7.2'), [ENROLLED, SECURE])).toThrow(
      "operation failed: Unable to find any firmware to satisfy 'efi'",
    );
    expect(globMatch('pc-q35-?.2', 'pc-q35-7.2')).toBe(true);
    expect(globMatch('pc-q35-*', 'pc-i440fx-7.2')).toBe(false);
    expect(globMatch('pc.q35', 'pcxq35')).toBe(false);
  });

  it("refuses what no descriptor satisfies with libvirt's message", () => {
    expect(() => prepare(domain(" firmware='bios'"))).toThrow(
      "operation failed: Unable to find any firmware to satisfy 'bios'",
    );
    // stateless wants stateless flash, which none of these is
    expect(() => prepare(domain(" firmware='efi'", "<loader stateless='yes'/>"))).toThrow(
      "operation failed: Unable to find any firmware to satisfy 'efi'",
    );
    expect(() => prepare(domain(" firmware='efi'"), [])).toThrow('Unable to find any firmware');
  });

  it('needs ACPI S3 support when the domain enables suspend-to-mem, and SMM for a secure loader', () => {
    const noS3 = { ...PLAIN, features: [] };
    expect(() =>
      prepare(
        domain(" firmware='efi'", '').replace(
          '</features>',
          '</features><pm><suspend-to-mem enabled="yes"/></pm>',
        ),
        [noS3],
      ),
    ).toThrow('Unable to find any firmware');
    expect(prepare(domain(" firmware='efi'", "<loader secure='yes'/>"), [PLAIN, SECURE]).chosen).toBe(SECURE);
  });

  it('keeps a variable store the domain names, adding the template', () => {
    const { def } = prepare(domain(" firmware='efi'", '<nvram>/path/to/guest_VARS.fd</nvram>'));
    expect(def.os?.nvram).toEqual({ template: '/ovmf/VARS-ms.fd', value: '/path/to/guest_VARS.fd' });
  });

  it('refuses a firmware needing SMM when the domain turns SMM off', () => {
    const xml = domain(" firmware='efi'").replace('<acpi/>', "<acpi/><smm state='off'/>");
    expect(() => prepare(xml, [SECURE])).toThrow(
      'Requested operation is not valid: domain has SMM turned off but chosen firmware requires it',
    );
  });

  it('gives an old-style loader without a store its template from the descriptor of its executable', () => {
    const xml = domain('', "<loader readonly='yes' type='pflash'>/ovmf/plain.fd</loader>");
    const { def, chosen } = prepare(xml);
    expect(chosen).toBe(PLAIN);
    expect(def.os?.nvram?.template).toBe('/ovmf/VARS-plain.fd');
    // an existing store, or no matching descriptor, leaves it alone (and is no error)
    expect(prepare(xml, ALL, () => true).chosen).toBeUndefined();
    const other = domain('', "<loader readonly='yes' type='pflash'>/elsewhere/CODE.fd</loader>");
    const untouched = prepare(other);
    expect(untouched.chosen).toBeUndefined();
    expect(untouched.def.os?.nvram?.template).toBeUndefined();
  });

  it('does nothing for a domain without firmware wishes, and reads descriptors lazily', () => {
    let reads = 0;
    const ctx = referenceContext({
      firmwares: () => {
        reads++;
        return ALL;
      },
    });
    const def = canonicalizeDomain(parseDomainXML(domain('')), ctx);
    expect(fillFirmware(def, ctx)).toBeUndefined();
    expect(reads).toBe(0);
    const efi = canonicalizeDomain(parseDomainXML(domain(" firmware='efi'")), ctx);
    expect(fillFirmware(efi, ctx)).toBe(ENROLLED);
    expect(reads).toBe(1);
  });

  it('warns about descriptors whose features contradict each other (qemuFirmwareSanityCheck)', () => {
    expect(firmwareSanityWarning(ENROLLED)).toBeUndefined();
    expect(firmwareSanityWarning({ ...PLAIN, features: ['secure-boot'] })).toBe(
      "Firmware description '/fw/60-plain.json' has invalid set of features: requires-smm = 0, secure-boot = 1, enrolled-keys = 0",
    );
  });
});
