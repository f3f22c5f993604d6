import { parseDomainXML } from '@qvirt/core';
import { describe, expect, it } from 'vitest';
import { validateForCommandLine } from '../../argv/validate-argv.js';
import { referenceContext } from '../../context.js';
import { canonicalizeDomain } from '../index.js';
import { checkChrSources } from './validate-devices.js';

const domain = (body: { top?: string; os?: string; devices?: string; type?: string }) =>
  `<domain type='${body.type ?? 'qemu'}'><name>v</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>` +
  `<memory>219136</memory><vcpu>2</vcpu>${body.top ?? ''}` +
  `<os><type arch='x86_64' machine='pc'>hvm</type>${body.os ?? ''}</os><devices>` +
  `<emulator>/usr/bin/qemu-system-x86_64</emulator>${body.devices ?? ''}</devices></domain>`;

const define = (xml: string) => canonicalizeDomain(parseDomainXML(xml), referenceContext());
const refusal = (xml: string): string | undefined => {
  try {
    define(xml);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
};

describe('define-time validation', () => {
  it('accepts a plain domain', () => {
    expect(refusal(domain({}))).toBeUndefined();
  });

  it('refuses a name that would make a path outside its directory (found by the injection tests)', () => {
    const named = (name: string) => domain({}).replace('<name>v</name>', `<name>${name}</name>`);
    expect(refusal(named('../../../../etc/shadow'))).toBe(
      "XML error: name ../../../../etc/shadow cannot contain '/'",
    );
    expect(refusal(named('..'))).toBe('XML error: name .. is not a valid domain name');
    expect(refusal(named('a,b..c'))).toBeUndefined();
  });

  it('refuses per-device boot order together with <os><boot>', () => {
    const xml = domain({
      os: "<boot dev='hd'/>",
      devices:
        "<disk type='file' device='disk'><source file='/a.img'/><target dev='hda'/><boot order='1'/></disk>",
    });
    expect(refusal(xml)).toBe(
      'unsupported configuration: per-device boot elements cannot be used together with os/boot elements',
    );
  });

  it('checks the CPU topology against the vCPU count', () => {
    const xml = domain({ top: "<cpu><topology sockets='1' dies='1' cores='1' threads='1'/></cpu>" });
    expect(refusal(xml)).toBe("unsupported configuration: CPU topology doesn't match maximum vcpu count");
  });

  it('refuses two master hugepages, counting a nodeset of node 0 without NUMA as master', () => {
    const xml = domain({
      top: "<memoryBacking><hugepages><page size='1' unit='G'/><page size='2048' unit='KiB' nodeset='0'/></hugepages></memoryBacking>",
    });
    expect(refusal(xml)).toBe('two master hugepages detected: 2048 and 1048576');
  });

  it('refuses image formats QEMU cannot open directly', () => {
    const xml = domain({
      devices:
        "<disk type='file' device='disk'><driver name='qemu' type='iso'/><source file='/a.iso'/><target dev='hda'/></disk>",
    });
    expect(refusal(xml)).toBe(
      "unsupported configuration: storage format 'iso' is not directly supported by QEMU, use 'raw' instead",
    );
  });

  it('refuses duplicate disk targets with both sources', () => {
    const disk = (f: string, bus: string) =>
      `<disk type='file' device='disk'><source file='${f}'/><target dev='sda' bus='${bus}'/></disk>`;
    expect(refusal(domain({ devices: disk('/a', 'scsi') + disk('/b', 'usb') }))).toBe(
      "XML error: target 'sda' duplicated for disk sources '/a' and '/b'",
    );
  });

  it('keeps reconnect out of listening chardevs, including generated virtio channel paths', () => {
    const xml = domain({
      devices:
        "<channel type='unix'><source mode='connect' path='/tmp/x/domain-v/org.a'><reconnect enabled='yes' timeout='10'/></source><target type='virtio' name='org.a'/></channel>",
    });
    // An early step: the device post-parse drops the generated path before the late steps run.
    expect(() => checkChrSources(parseDomainXML(xml), referenceContext())).toThrow(
      'internal error: chardev reconnect is possible only for connect mode',
    );
  });

  it('refuses firmware autoselection together with a loader path', () => {
    const xml = domain({ os: '<loader>/x.fd</loader>', top: '' })
      .replace('<os>', "<os firmware='efi'>")
      .replace('</os>', '</os><features><acpi/></features>');
    expect(refusal(xml)).toBe(
      "loader attribute 'type' cannot be specified when firmware autoselection is enabled",
    );
  });

  it('refuses the Intel IOMMU outside Q35', () => {
    expect(refusal(domain({ devices: "<iommu model='intel'/>" }))).toBe(
      "unsupported configuration: IOMMU device: 'intel' is only supported with Q35 machines",
    );
  });

  it('refuses a spice TLS port when qemu.conf disables spice TLS', () => {
    expect(refusal(domain({ devices: "<graphics type='spice' port='5903' tlsPort='5904'/>" }))).toBe(
      'unsupported configuration: spice TLS port set in XML configuration, but TLS is disabled in qemu.conf',
    );
  });
});

describe('command-line-time validation', () => {
  it('refuses host-passthrough CPUs for TCG domains', () => {
    const def = define(domain({ top: "<cpu mode='host-passthrough'/>" }));
    expect(() => validateForCommandLine(def, referenceContext())).toThrow(
      "unsupported configuration: CPU mode 'host-passthrough' for x86_64 qemu domain on x86_64 host is not supported by hypervisor",
    );
  });

  it('refuses several listens on one VNC display', () => {
    const def = define(
      domain({
        devices:
          "<graphics type='vnc'><listen type='address' address='1.2.3.4'/><listen type='address' address='5.6.7.8'/></graphics>",
      }),
    );
    expect(() => validateForCommandLine(def, referenceContext())).toThrow(
      'unsupported configuration: QEMU does not support multiple listens for one graphics device.',
    );
  });
});
