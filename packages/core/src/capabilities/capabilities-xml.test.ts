import { describe, expect, it } from 'vitest';
import {
  hostDescriptionFromXml,
  readCapabilitiesXml,
  readDomainCapabilitiesXml,
} from './capabilities-xml.js';
import { hostModelFor, hostNumaNodeExists } from './host-description.js';

const CAPS = `<capabilities>
  <host>
    <uuid>ec7ce4ec-728b-4173-bb62-ca4361699eef</uuid>
    <cpu>
      <arch>x86_64</arch>
      <model>kvm64</model>
      <vendor>AMD</vendor>
      <feature name='vme'/>
      <feature name='ssse3'/>
      <pages unit='KiB' size='4'/>
    </cpu>
    <topology>
      <cells num='2'>
        <cell id='0'>
          <memory unit='KiB'>5203744</memory>
          <cpus num='2'><cpu id='0' socket_id='0'/><cpu id='1' socket_id='0'/></cpus>
        </cell>
        <cell id='2'>
          <memory unit='MiB'>1024</memory>
          <cpus num='1'><cpu id='4'/></cpus>
        </cell>
      </cells>
    </topology>
  </host>
</capabilities>`;

function domcaps(arch: string, type: string, path: string, hostModel: string): string {
  return `<domainCapabilities><path>${path}</path><domain>${type}</domain><arch>${arch}</arch>
  <cpu>
    <mode name='host-passthrough' supported='yes'/>
    ${hostModel}
  </cpu></domainCapabilities>`;
}

const HOST_MODEL = `<mode name='host-model' supported='yes'>
      <model fallback='forbid'>EPYC-Milan</model>
      <vendor>AMD</vendor>
      <feature policy='require' name='x2apic'/>
      <feature policy='disable' name='pni'/>
    </mode>`;

describe('readCapabilitiesXml', () => {
  it('reads the host CPU and the NUMA cells with their memory and CPUs', () => {
    const host = readCapabilitiesXml(CAPS, 'caps.xml');
    expect(host.cpu).toEqual({
      arch: 'x86_64',
      model: 'kvm64',
      vendor: 'AMD',
      features: [{ name: 'vme' }, { name: 'ssse3' }],
    });
    expect(host.numa?.nodes).toEqual([
      { id: 0, memoryKiB: 5203744, cpus: [0, 1] },
      { id: 2, memoryKiB: 1048576, cpus: [4] },
    ]);
  });

  it('leaves NUMA unknown without a <topology>', () => {
    const host = readCapabilitiesXml(
      '<capabilities><host><cpu><arch>x86_64</arch></cpu></host></capabilities>',
    );
    expect(host.numa).toBeUndefined();
    expect(host.cpu).toEqual({ arch: 'x86_64', features: [] });
  });

  it('refuses another document and bad values, naming the file', () => {
    expect(() => readCapabilitiesXml('<domain/>', 'x.xml')).toThrow(
      'XML error: x.xml: expected <capabilities>, found <domain>',
    );
    expect(() =>
      readCapabilitiesXml(
        "<capabilities><host><topology><cells><cell id='a'/></cells></topology></host></capabilities>",
        'x.xml',
      ),
    ).toThrow("XML error: x.xml: invalid NUMA cell id 'a'");
  });
});

describe('readDomainCapabilitiesXml', () => {
  it('reads the host-model CPU with its emulator, arch and virt type', () => {
    const m = readDomainCapabilitiesXml(domcaps('x86_64', 'kvm', '/usr/bin/qemu-system-x86_64', HOST_MODEL));
    expect(m).toEqual({
      arch: 'x86_64',
      virtType: 'kvm',
      emulator: '/usr/bin/qemu-system-x86_64',
      model: 'EPYC-Milan',
      fallback: 'forbid',
      vendor: 'AMD',
      features: [
        { name: 'x2apic', policy: 'require' },
        { name: 'pni', policy: 'disable' },
      ],
    });
  });

  it('gives nothing for an unsupported host-model mode', () => {
    const xml = domcaps('x86_64', 'qemu', '/q', "<mode name='host-model' supported='no'/>");
    expect(readDomainCapabilitiesXml(xml)).toBeUndefined();
  });

  it('refuses an unknown feature policy', () => {
    const xml = domcaps(
      'x86_64',
      'kvm',
      '/q',
      "<mode name='host-model' supported='yes'><model>X</model><feature policy='maybe' name='a'/></mode>",
    );
    expect(() => readDomainCapabilitiesXml(xml, 'd.xml')).toThrow(
      "XML error: d.xml: invalid CPU feature policy 'maybe' of feature 'a' in <mode name='host-model'>",
    );
  });
});

describe('hostDescriptionFromXml', () => {
  const host = hostDescriptionFromXml({
    capabilities: { xml: CAPS },
    domainCapabilities: [
      { xml: domcaps('x86_64', 'kvm', '/usr/bin/qemu-system-x86_64', HOST_MODEL) },
      {
        xml: domcaps(
          'i686',
          'kvm',
          '/usr/bin/qemu-system-i386',
          HOST_MODEL.replace("name='pni'", "name='lm'"),
        ),
      },
    ],
    nonMigratableFeatures: ['invtsc'],
  });

  it('finds the host-model CPU by emulator first, then by guest arch', () => {
    expect(
      hostModelFor(host, { arch: 'i686', virtType: 'kvm', emulator: '/usr/bin/qemu-system-x86_64' })?.arch,
    ).toBe('x86_64');
    expect(hostModelFor(host, { arch: 'i686', virtType: 'kvm', emulator: '/other' })?.arch).toBe('i686');
    expect(hostModelFor(host, { arch: 'x86_64', virtType: 'qemu' })).toBeUndefined();
    expect(host.nonMigratableFeatures).toEqual(['invtsc']);
  });

  it('knows which NUMA nodes exist; unknown NUMA means every node is assumed present', () => {
    expect(hostNumaNodeExists(host, 2)).toBe(true);
    expect(hostNumaNodeExists(host, 1)).toBe(false);
    expect(hostNumaNodeExists({}, 7)).toBe(true);
  });

  it('leaves host-model CPUs unknown when no domcapabilities are given', () => {
    expect(hostDescriptionFromXml({ capabilities: { xml: CAPS } }).hostModels).toBeUndefined();
    expect(hostDescriptionFromXml({ domainCapabilities: [] }).hostModels).toEqual([]);
  });
});
