import { describe, expect, it } from 'vitest';
import { formatDomainXML, parseDomainXML, unknownParts } from './domain-xml.js';

const OS = `  <os>
    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>
    <boot dev='hd'/>
  </os>
`;

/** A minimal domain around `body` (which must already be in libvirt's order). */
function doc(body: string, head = "<domain type='qemu'>"): string {
  return `${head}\n  <name>t</name>\n${body}</domain>\n`;
}

/** Parses, checks nothing was left in $extra, and formats back. */
function roundTrip(xml: string) {
  const def = parseDomainXML(xml);
  expect(unknownParts(def).filter((p) => !p.startsWith('domain/devices'))).toEqual([]);
  return { def, out: formatDomainXML(def) };
}

describe('os', () => {
  it('models firmware, loader, nvram with a network source, kernel, ACPI table and boot options', () => {
    const xml = doc(`  <os firmware='efi'>
    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>
    <firmware>
      <feature enabled='yes' name='enrolled-keys'/>
      <feature enabled='no' name='secure-boot'/>
    </firmware>
    <loader readonly='yes' secure='no' type='pflash' stateless='no'>/usr/share/OVMF/OVMF_CODE.fd</loader>
    <nvram template='/usr/share/OVMF/OVMF_VARS.fd' type='network'>
      <source protocol='iscsi' name='iqn.2013-07.com.example:iscsi-nopool'>
        <host name='example.com' port='6000'/>
        <auth username='myname'>
          <secret type='iscsi' usage='mycluster_myname'/>
        </auth>
      </source>
    </nvram>
    <kernel>/boot/vmlinuz</kernel>
    <initrd>/boot/initrd</initrd>
    <cmdline>console=ttyS0</cmdline>
    <dtb>/boot/dtb</dtb>
    <acpi>
      <table type='slic'>/var/lib/libvirt/acpi/slic.dat</table>
    </acpi>
    <boot dev='cdrom'/>
    <boot dev='hd'/>
    <bootmenu enable='yes' timeout='3000'/>
    <bios useserial='yes' rebootTimeout='-1'/>
    <smbios mode='sysinfo'/>
  </os>
`);
    const { def, out } = roundTrip(xml);
    expect(out).toBe(xml);
    expect(def.os?.firmware).toBe('efi');
    expect(def.os?.firmwareFeatures?.feature).toEqual([
      { enabled: 'yes', name: 'enrolled-keys' },
      { enabled: 'no', name: 'secure-boot' },
    ]);
    expect(def.os?.loader).toMatchObject({
      readonly: 'yes',
      type: 'pflash',
      value: '/usr/share/OVMF/OVMF_CODE.fd',
    });
    expect(def.os?.nvram?.source?.host).toEqual([{ name: 'example.com', port: '6000' }]);
    expect(def.os?.boot?.map((b) => b.dev)).toEqual(['cdrom', 'hd']);
    expect(def.os?.bootmenu).toEqual({ enable: 'yes', timeout: 3000 });
    expect(def.os?.bios).toEqual({ useserial: 'yes', rebootTimeout: -1 });
  });

  it('writes os children in libvirt order and keeps an empty loader and old-style nvram path', () => {
    const def = parseDomainXML(
      doc(`  <os>
    <boot dev='network'/>
    <nvram>/var/lib/libvirt/nvram/t_VARS.fd</nvram>
    <loader type='rom'/>
    <type>hvm</type>
  </os>
`),
    );
    expect(formatDomainXML(def)).toBe(
      doc(`  <os>
    <type>hvm</type>
    <loader type='rom'/>
    <nvram>/var/lib/libvirt/nvram/t_VARS.fd</nvram>
    <boot dev='network'/>
  </os>
`),
    );
  });

  it('models container init options', () => {
    const xml = doc(
      `  <os>
    <type arch='x86_64'>exe</type>
    <init>/sbin/init</init>
    <initarg>--unit</initarg>
    <initarg>emergency.service</initarg>
    <initenv name='MYENV'>some value</initenv>
    <initdir>/root</initdir>
    <inituser>nobody</inituser>
    <initgroup>nobody</initgroup>
  </os>
  <idmap>
    <uid start='0' target='1000' count='10'/>
    <gid start='0' target='1000' count='10'/>
  </idmap>
`,
      "<domain type='lxc'>",
    );
    const { def, out } = roundTrip(xml);
    expect(out).toBe(xml);
    expect(def.os?.initarg).toEqual(['--unit', 'emergency.service']);
    expect(def.os?.initenv).toEqual([{ name: 'MYENV', value: 'some value' }]);
    expect(def.idmap?.uid).toEqual([{ start: 0, target: 1000, count: 10 }]);
  });

  it('rejects a boot device libvirt does not know, naming the path', () => {
    expect(() =>
      parseDomainXML(doc(`  <os>\n    <type>hvm</type>\n    <boot dev='usb'/>\n  </os>\n`)),
    ).toThrow(/domain\/os\/boot\[1\]/);
  });
});

describe('memory and CPU tuning', () => {
  it('models memtune, memoryBacking, blkiotune, vcpus, iothreads, cputune, numatune and resource', () => {
    const xml = doc(`  <memory dumpCore='off' unit='KiB'>1048576</memory>
  <currentMemory unit='KiB'>1048576</currentMemory>
  <blkiotune>
    <weight>800</weight>
    <device>
      <path>/dev/sda</path>
      <weight>400</weight>
      <read_iops_sec>10000</read_iops_sec>
      <write_iops_sec>10000</write_iops_sec>
      <read_bytes_sec>10000</read_bytes_sec>
      <write_bytes_sec>10000</write_bytes_sec>
    </device>
  </blkiotune>
  <memtune>
    <hard_limit unit='KiB'>9007199254740991</hard_limit>
    <soft_limit unit='KiB'>131071</soft_limit>
    <min_guarantee unit='KiB'>65536</min_guarantee>
    <swap_hard_limit unit='KiB'>9007199254740991</swap_hard_limit>
  </memtune>
  <memoryBacking>
    <hugepages>
      <page size='1048576' unit='KiB' nodeset='1'/>
      <page size='2048' unit='KiB' nodeset='0'/>
    </hugepages>
    <nosharepages/>
    <locked/>
    <source type='memfd'/>
    <access mode='shared'/>
    <allocation mode='immediate' threads='8'/>
    <discard/>
  </memoryBacking>
  <vcpu placement='static' cpuset='0-3' current='2'>4</vcpu>
  <vcpus>
    <vcpu id='0' enabled='yes' hotpluggable='no' order='1'/>
    <vcpu id='1' enabled='no' hotpluggable='yes'/>
  </vcpus>
  <iothreads>2</iothreads>
  <iothreadids>
    <iothread id='1' thread_pool_min='2' thread_pool_max='32'/>
    <iothread id='2'/>
  </iothreadids>
  <cputune>
    <shares>2048</shares>
    <period>1000000</period>
    <quota>-1</quota>
    <global_period>1000000</global_period>
    <global_quota>-1</global_quota>
    <emulator_period>5000</emulator_period>
    <emulator_quota>6000</emulator_quota>
    <iothread_period>1000000</iothread_period>
    <iothread_quota>-1</iothread_quota>
    <vcpupin vcpu='0' cpuset='0'/>
    <emulatorpin cpuset='1'/>
    <iothreadpin iothread='1' cpuset='2'/>
    <emulatorsched scheduler='idle'/>
    <vcpusched vcpus='0' scheduler='fifo' priority='1'/>
    <iothreadsched iothreads='1' scheduler='batch'/>
    <cachetune vcpus='0-1'>
      <cache id='0' level='3' type='both' size='3' unit='MiB'/>
      <monitor level='3' vcpus='1'/>
    </cachetune>
    <memorytune vcpus='0-1'>
      <node id='0' bandwidth='20'/>
      <monitor vcpus='0-1'/>
    </memorytune>
  </cputune>
  <numatune>
    <memory mode='strict' nodeset='0-1'/>
    <memnode cellid='0' mode='preferred' nodeset='0'/>
  </numatune>
  <resource>
    <partition>/machine</partition>
    <fibrechannel appid='someapp'/>
  </resource>
${OS}`);
    const { def, out } = roundTrip(xml);
    expect(out).toBe(xml);
    expect(def.memory).toEqual({ dumpCore: 'off', unit: 'KiB', value: 1048576 });
    expect(def.memtune?.hard_limit).toEqual({ unit: 'KiB', value: 9007199254740991 });
    expect(def.memoryBacking?.hugepages?.page?.[0]).toEqual({ size: 1048576, unit: 'KiB', nodeset: '1' });
    expect(def.memoryBacking?.locked).toBe(true);
    expect(def.vcpu).toEqual({ placement: 'static', cpuset: '0-3', current: 2, value: 4 });
    expect(def.cputune?.quota).toBe(-1);
    expect(def.cputune?.vcpusched).toEqual([{ vcpus: '0', scheduler: 'fifo', priority: 1 }]);
    expect(def.numatune?.memory).toEqual({ mode: 'strict', nodeset: '0-1' });
  });

  it('writes emulatorsched before vcpusched, as virDomainCputuneDefFormat does', () => {
    const def = parseDomainXML(
      doc(`  <cputune>
    <vcpusched vcpus='0' scheduler='rr' priority='5'/>
    <emulatorsched scheduler='batch'/>
    <shares>10</shares>
  </cputune>
${OS}`),
    );
    expect(formatDomainXML(def)).toBe(
      doc(`  <cputune>
    <shares>10</shares>
    <emulatorsched scheduler='batch'/>
    <vcpusched vcpus='0' scheduler='rr' priority='5'/>
  </cputune>
${OS}`),
    );
  });
});

describe('sysinfo', () => {
  it('models SMBIOS groups and fw_cfg entries (xml2xml/smbios-type-fwcfg)', () => {
    const xml = doc(`  <sysinfo type='smbios'>
    <bios>
      <entry name='vendor'>LENOVO</entry>
      <entry name='version'>6FET82WW (3.12 )</entry>
    </bios>
    <system>
      <entry name='manufacturer'>Fedora</entry>
      <entry name='uuid'>c7a5fdbd-edaf-9455-926a-d65c16db1809</entry>
    </system>
    <baseBoard>
      <entry name='manufacturer'>Lenovo</entry>
      <entry name='location'>Not Available</entry>
    </baseBoard>
    <chassis>
      <entry name='manufacturer'>Dell Inc.</entry>
      <entry name='sku'>Type3Sku1</entry>
    </chassis>
    <oemStrings>
      <entry>Hello</entry>
      <entry>This is, more tricky value=escaped</entry>
    </oemStrings>
  </sysinfo>
  <sysinfo type='fwcfg'>
    <entry name='opt/com.example/name'>example value</entry>
    <entry name='opt/com.coreos/config' file='/tmp/provision.ign'/>
  </sysinfo>
  <os>
    <type arch='i686' machine='pc-i440fx-7.2'>hvm</type>
    <boot dev='hd'/>
    <smbios mode='sysinfo'/>
  </os>
`);
    const { def, out } = roundTrip(xml);
    expect(out).toBe(xml);
    expect(def.sysinfo?.[0]?.bios?.entry?.[0]).toEqual({ name: 'vendor', value: 'LENOVO' });
    expect(def.sysinfo?.[0]?.oemStrings?.entry?.map((e) => e.value)).toEqual([
      'Hello',
      'This is, more tricky value=escaped',
    ]);
    expect(def.sysinfo?.[1]?.entry?.[1]).toEqual({
      name: 'opt/com.coreos/config',
      file: '/tmp/provision.ign',
    });
  });
});

describe('features', () => {
  it('models the x86 and Hyper-V/KVM features in virDomainFeature order', () => {
    const xml = doc(`${OS}  <features>
    <acpi/>
    <apic eoi='on'/>
    <pae/>
    <hap state='off'/>
    <viridian/>
    <privnet/>
    <hyperv mode='custom'>
      <relaxed state='on'/>
      <vapic state='on'/>
      <spinlocks state='on' retries='4096'/>
      <vpindex state='on'/>
      <runtime state='on'/>
      <synic state='on'/>
      <stimer state='on'>
        <direct state='on'/>
      </stimer>
      <reset state='on'/>
      <vendor_id state='on' value='KVM Hv'/>
      <frequencies state='on'/>
      <reenlightenment state='on'/>
      <tlbflush state='on'/>
      <ipi state='on'/>
      <evmcs state='on'/>
      <avic state='on'/>
    </hyperv>
    <kvm>
      <hidden state='on'/>
      <hint-dedicated state='on'/>
      <poll-control state='on'/>
      <pv-ipi state='off'/>
      <dirty-ring state='on' size='4096'/>
    </kvm>
    <pvspinlock state='on'/>
    <capabilities policy='deny'>
      <chown state='on'/>
      <sys_admin state='off'/>
    </capabilities>
    <pmu state='off'/>
    <vmport state='off'/>
    <gic version='3'/>
    <smm state='on'>
      <tseg unit='MiB'>48</tseg>
    </smm>
    <ioapic driver='qemu'/>
    <hpt resizing='required'>
      <maxpagesize unit='KiB'>1048576</maxpagesize>
    </hpt>
    <vmcoreinfo state='on'/>
    <htm state='on'/>
    <nested-hv state='off'/>
    <msrs unknown='ignore'/>
    <ccf-assist state='on'/>
    <cfpc value='workaround'/>
    <sbbc value='fixed'/>
    <ibs value='fixed-ccd'/>
    <tcg>
      <tb-cache unit='KiB'>131072</tb-cache>
    </tcg>
  </features>
`);
    const { def, out } = roundTrip(xml);
    expect(out).toBe(xml);
    const f = def.features!;
    expect(f.acpi).toBe(true);
    expect(f.hyperv?.spinlocks).toEqual({ state: 'on', retries: 4096 });
    expect(f.hyperv?.stimer).toEqual({ state: 'on', direct: { state: 'on' } });
    expect(f.kvm?.['dirty-ring']).toEqual({ state: 'on', size: 4096 });
    expect(f.capabilities?.chown).toEqual({ state: 'on' });
    expect(f.smm?.tseg).toEqual({ unit: 'MiB', value: 48 });
    expect(f.tcg?.['tb-cache']).toEqual({ unit: 'KiB', value: 131072 });
  });

  it('reorders features and Hyper-V enlightenments', () => {
    const def = parseDomainXML(
      doc(`${OS}  <features>
    <hyperv>
      <synic state='on'/>
      <vpindex state='on'/>
    </hyperv>
    <pae/>
    <acpi/>
  </features>
`),
    );
    expect(formatDomainXML(def)).toBe(
      doc(`${OS}  <features>
    <acpi/>
    <pae/>
    <hyperv>
      <vpindex state='on'/>
      <synic state='on'/>
    </hyperv>
  </features>
`),
    );
  });
});

describe('cpu', () => {
  it('models model, topology, cache, features and NUMA cells with caches and interconnects (xml2xml/numatune-hmat)', () => {
    const xml = doc(`${OS}  <cpu mode='custom' match='exact' check='partial'>
    <model fallback='forbid' vendor_id='GenuineIntel'>Haswell</model>
    <vendor>Intel</vendor>
    <topology sockets='2' dies='1' cores='3' threads='2'/>
    <cache level='3' mode='emulate'/>
    <maxphysaddr mode='emulate' bits='42'/>
    <feature policy='require' name='vmx'/>
    <feature policy='disable' name='rtm'/>
    <numa>
      <cell id='0' cpus='0-3' memory='2097152' unit='KiB' memAccess='shared' discard='yes'>
        <distances>
          <sibling id='0' value='10'/>
          <sibling id='1' value='21'/>
        </distances>
        <cache level='1' associativity='direct' policy='writeback'>
          <size value='10' unit='KiB'/>
          <line value='8' unit='B'/>
        </cache>
      </cell>
      <cell id='1' cpus='4-11' memory='2097152' unit='KiB'/>
      <interconnects>
        <latency initiator='0' target='0' type='access' value='5'/>
        <latency initiator='0' target='0' cache='1' type='access' value='10'/>
        <bandwidth initiator='0' target='0' type='access' value='204800' unit='KiB'/>
      </interconnects>
    </numa>
  </cpu>
`);
    const { def, out } = roundTrip(xml);
    expect(out).toBe(xml);
    const cpu = def.cpu!;
    expect(cpu.model).toEqual({ fallback: 'forbid', vendor_id: 'GenuineIntel', value: 'Haswell' });
    expect(cpu.topology).toEqual({ sockets: 2, dies: 1, cores: 3, threads: 2 });
    expect(cpu.feature?.map((f) => f.name)).toEqual(['vmx', 'rtm']);
    expect(cpu.numa?.cell?.[0]?.distances?.sibling?.[1]).toEqual({ id: 1, value: 21 });
    expect(cpu.numa?.interconnects?.bandwidth?.[0]).toMatchObject({ value: 204800, unit: 'KiB' });
  });

  it('formats a host-passthrough CPU and an empty model element as empty elements', () => {
    const xml = doc(`${OS}  <cpu mode='host-model' check='none'>
    <model fallback='allow'/>
  </cpu>
`);
    const { def, out } = roundTrip(xml);
    expect(out).toBe(xml);
    expect(def.cpu?.model).toEqual({ fallback: 'allow' });
  });
});

describe('clock, pm and perf', () => {
  it('models clock offsets, timers with catchup, power management and perf events', () => {
    const xml = doc(`${OS}  <clock offset='variable' adjustment='123456' basis='localtime'>
    <timer name='rtc' tickpolicy='catchup' track='guest'>
      <catchup threshold='123' slew='120' limit='10000'/>
    </timer>
    <timer name='tsc' present='yes' frequency='3504000000' mode='native'/>
    <timer name='hpet' present='no'/>
  </clock>
  <pm>
    <suspend-to-mem enabled='no'/>
    <suspend-to-disk enabled='yes'/>
  </pm>
  <perf>
    <event name='cmt' enabled='yes'/>
    <event name='cpu_cycles' enabled='no'/>
  </perf>
`);
    const { def, out } = roundTrip(xml);
    expect(out).toBe(xml);
    expect(def.clock).toMatchObject({ offset: 'variable', adjustment: '123456', basis: 'localtime' });
    expect(def.clock?.timer?.[0]?.catchup).toEqual({ threshold: 123, slew: 120, limit: 10000 });
    expect(def.clock?.timer?.[1]?.frequency).toBe(3504000000);
    expect(def.pm?.['suspend-to-mem']).toEqual({ enabled: 'no' });
    expect(def.perf?.event?.[0]).toEqual({ name: 'cmt', enabled: 'yes' });
  });

  it('keeps absolute and timezone offsets', () => {
    for (const clock of [
      "<clock offset='absolute' start='1234567890'/>",
      "<clock offset='timezone' timezone='Europe/Paris'/>",
    ]) {
      const xml = doc(`${OS}  ${clock}\n`);
      expect(roundTrip(xml).out).toBe(xml);
    }
  });
});

describe('security', () => {
  it('models seclabels, keywrap and SEV launch security', () => {
    const xml = doc(`${OS}  <seclabel type='dynamic' model='selinux' relabel='yes'>
    <label>system_u:system_r:svirt_t:s0:c1,c2</label>
    <imagelabel>system_u:object_r:svirt_image_t:s0:c1,c2</imagelabel>
    <baselabel>system_u:system_r:svirt_custom_t:s0</baselabel>
  </seclabel>
  <seclabel type='none' model='dac'/>
  <keywrap>
    <cipher name='aes' state='off'/>
    <cipher name='dea' state='on'/>
  </keywrap>
  <launchSecurity type='sev' kernelHashes='yes'>
    <cbitpos>47</cbitpos>
    <reducedPhysBits>1</reducedPhysBits>
    <policy>0x0001</policy>
    <dhCert>AQAAAAAOAAAQAAAADAAAA</dhCert>
    <session>IHAVENOIDEABUTJUSTPROVIDINGIT</session>
  </launchSecurity>
`);
    const { def, out } = roundTrip(xml);
    expect(out).toBe(xml);
    expect(def.seclabel?.[0]).toMatchObject({
      type: 'dynamic',
      relabel: 'yes',
      baselabel: 'system_u:system_r:svirt_custom_t:s0',
    });
    expect(def.keywrap?.cipher).toEqual([
      { name: 'aes', state: 'off' },
      { name: 'dea', state: 'on' },
    ]);
    expect(def.launchSecurity).toMatchObject({ type: 'sev', kernelHashes: 'yes', cbitpos: 47, policy: 1 });
  });

  it('reads the SEV policy in base 16 with or without 0x and prints 0x%04x', () => {
    for (const written of ['0x33', '33', '0x0033']) {
      const def = parseDomainXML(
        doc(`${OS}  <launchSecurity type='sev'>\n    <policy>${written}</policy>\n  </launchSecurity>\n`),
      );
      expect(def.launchSecurity?.policy).toBe(0x33);
      expect(formatDomainXML(def)).toContain('<policy>0x0033</policy>');
    }
    expect(() =>
      parseDomainXML(
        doc(`${OS}  <launchSecurity type='sev'>\n    <policy>xyz</policy>\n  </launchSecurity>\n`),
      ),
    ).toThrow(/launchSecurity\/policy/);
  });
});

describe('QEMU namespace', () => {
  it('models commandline, capabilities, override and deprecation (xml2xml/qemu-ns)', () => {
    const xml = doc(
      `${OS}  <qemu:commandline>
    <qemu:arg value='-unknown'/>
    <qemu:arg value='parameter'/>
    <qemu:env name='NS' value='ns'/>
    <qemu:env name='BAR'/>
  </qemu:commandline>
  <qemu:capabilities>
    <qemu:add capability='vnc-colon'/>
    <qemu:del capability='name'/>
  </qemu:capabilities>
  <qemu:override>
    <qemu:device alias='ua-disk'>
      <qemu:frontend>
        <qemu:property name='prop1' type='string' value='propval1'/>
        <qemu:property name='prop2' type='signed' value='-321'/>
        <qemu:property name='prop6' type='remove'/>
      </qemu:frontend>
    </qemu:device>
  </qemu:override>
  <qemu:deprecation behavior='crash'/>
`,
      "<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>",
    );
    const { def, out } = roundTrip(xml);
    expect(out).toBe(xml);
    expect(def.qemuCommandline?.arg?.map((a) => a.value)).toEqual(['-unknown', 'parameter']);
    expect(def.qemuCommandline?.env).toEqual([{ name: 'NS', value: 'ns' }, { name: 'BAR' }]);
    expect(def.qemuCapabilities).toEqual({
      add: [{ capability: 'vnc-colon' }],
      del: [{ capability: 'name' }],
    });
    expect(def.qemuOverride?.device?.[0]?.frontend?.property?.[2]).toEqual({ name: 'prop6', type: 'remove' });
    expect(def.qemuDeprecation).toEqual({ behavior: 'crash' });
  });

  it('normalises another prefix bound on the root to qemu:', () => {
    const def = parseDomainXML(
      doc(
        `${OS}  <q:commandline>\n    <q:arg value='-S'/>\n  </q:commandline>\n`,
        "<domain type='qemu' xmlns:q='http://libvirt.org/schemas/domain/qemu/1.0'>",
      ),
    );
    expect(def.qemuCommandline?.arg).toEqual([{ value: '-S' }]);
  });
});
