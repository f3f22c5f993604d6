import { parseDomainXML } from '@qvirt/core';
import { describe, expect, it } from 'vitest';
import { referenceContext } from '../../context.js';
import { buildCommandLine } from '../index.js';

/** A canonical-looking domain with `inner` spliced in after `<currentMemory>` and `tail` before `<devices>`. */
function domain(opts: {
  type?: string;
  arch?: string;
  machine?: string;
  top?: string;
  os?: string;
  after?: string;
  devices?: string;
  emulator?: string;
  ns?: string;
}): string {
  const arch = opts.arch ?? 'x86_64';
  return (
    `<domain type='${opts.type ?? 'qemu'}'${opts.ns ? " xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'" : ''}>` +
    `<name>g</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>` +
    (opts.top ?? `<memory unit='KiB'>219100</memory><currentMemory unit='KiB'>219100</currentMemory>`) +
    `<vcpu placement='static'>1</vcpu>` +
    `<os><type arch='${arch}' machine='${opts.machine ?? 'pc-i440fx-7.2'}'>hvm</type>${opts.os ?? ''}</os>` +
    (opts.after ?? '') +
    `<devices><emulator>${opts.emulator ?? '/usr/bin/qemu-system-x86_64'}</emulator>${opts.devices ?? ''}</devices>` +
    (opts.ns ?? '') +
    `</domain>`
  );
}

function args(xml: string): string[] {
  return buildCommandLine(parseDomainXML(xml), referenceContext()).args;
}

function after(words: string[], option: string): string[] {
  const out: string[] = [];
  words.forEach((w, i) => {
    if (w === option) out.push(words[i + 1] ?? '');
  });
  return out;
}

describe('-machine and -accel', () => {
  it('orders feature, memory and firmware properties as libvirt', () => {
    const a = args(
      domain({
        machine: 'pc-q35-7.2',
        top: `<memory dumpCore='on' unit='KiB'>219100</memory><memoryBacking><nosharepages/></memoryBacking>`,
        os: `<loader readonly='yes' type='pflash'>/c.fd</loader><nvram>/v.fd</nvram>`,
        after: `<features><acpi/><vmport state='off'/><smm state='on'/><ioapic driver='qemu'/></features>`,
      }),
    );
    expect(after(a, '-machine')).toEqual([
      'pc-q35-7.2,usb=off,vmport=off,smm=on,kernel_irqchip=split,dump-guest-core=on,mem-merge=off,' +
        'memory-backend=pc.ram,pflash0=libvirt-pflash0-format,pflash1=libvirt-pflash1-format',
    ]);
    expect(after(a, '-blockdev')[1]).toBe(
      '{"node-name":"libvirt-pflash0-format","read-only":true,"driver":"raw","file":"libvirt-pflash0-storage"}',
    );
    expect(after(a, '-m')).toEqual(['214']);
  });

  it('prints the TCG translation block size in MiB and the KVM dirty ring', () => {
    expect(
      after(
        args(domain({ after: `<features><tcg><tb-cache unit='KiB'>102400</tb-cache></tcg></features>` })),
        '-accel',
      ),
    ).toEqual(['tcg,tb-size=100']);
    expect(
      after(
        args(
          domain({
            type: 'kvm',
            after: `<features><kvm><dirty-ring state='on' size='4096'/></kvm></features>`,
          }),
        ),
        '-accel',
      ),
    ).toEqual(['kvm,dirty-ring-size=4096']);
  });
});

describe('-cpu', () => {
  it('translates feature names and appends enlightenments in libvirt order', () => {
    const a = args(
      domain({
        after:
          `<features><apic eoi='on'/><hyperv mode='custom'><relaxed state='on'/><spinlocks state='on' retries='4096'/>` +
          `<stimer state='on'><direct state='on'/></stimer></hyperv><pvspinlock state='off'/><pmu state='off'/></features>` +
          `<cpu mode='custom' match='exact' check='none'><model fallback='forbid'>Haswell</model>` +
          `<feature policy='require' name='pclmuldq'/><feature policy='disable' name='hle'/></cpu>` +
          `<clock offset='utc'><timer name='kvmclock' present='no'/></clock>`,
      }),
    );
    expect(after(a, '-cpu')).toEqual([
      'Haswell,pclmulqdq=on,hle=off,kvmclock=off,kvm-pv-eoi=on,kvm-pv-unhalt=off,hv-relaxed=on,' +
        'hv-spinlocks=0x1000,hv-stimer=on,hv-stimer-direct=on,pmu=off',
    ]);
  });

  it('prints migratable only where the binary knows it', () => {
    const cpu = `<cpu mode='host-passthrough' check='none' migratable='off'/>`;
    expect(after(args(domain({ type: 'kvm', after: cpu })), '-cpu')).toEqual(['host,migratable=off']);
    expect(
      after(
        args(domain({ type: 'kvm', arch: 'i686', emulator: '/usr/bin/qemu-system-i386', after: cpu })),
        '-cpu',
      ),
    ).toEqual(['host']);
  });

  it('refuses host-model, which needs the host CPU', () => {
    expect(() => args(domain({ type: 'kvm', after: `<cpu mode='host-model' check='partial'/>` }))).toThrow(
      "unsupported configuration: CPU mode 'host-model' needs the host CPU description (x86_64)",
    );
  });
});

describe('memory, -smp and NUMA', () => {
  it('counts cold-plugged vCPUs and prints dies when the topology is given', () => {
    const xml = domain({
      after: `<cpu mode='custom' match='exact' check='none'><model fallback='forbid'>qemu64</model><topology sockets='3' dies='1' cores='2' threads='1'/></cpu>`,
    }).replace(`<vcpu placement='static'>1</vcpu>`, `<vcpu placement='static' current='2'>6</vcpu>`);
    expect(after(args(xml), '-smp')).toEqual(['2,maxcpus=6,sockets=3,dies=1,cores=2,threads=1']);
  });

  it('uses one backend per NUMA cell instead of pc.ram, with file backing for shared memory', () => {
    const a = args(
      domain({
        after:
          `<cpu mode='custom' match='exact' check='none'><model fallback='forbid'>qemu64</model><numa>` +
          `<cell id='0' cpus='0,2-3' memory='109550' unit='KiB' memAccess='shared'/>` +
          `<cell id='1' cpus='1' memory='109550' unit='KiB'/></numa></cpu>`,
      }),
    );
    expect(after(a, '-machine')).toEqual(['pc-i440fx-7.2,usb=off,dump-guest-core=off']);
    expect(after(a, '-object').slice(1)).toEqual([
      '{"qom-type":"memory-backend-file","id":"ram-node0","mem-path":"/var/lib/libvirt/qemu/ram/-1-g/ram-node0","share":true,"size":112197632}',
      '{"qom-type":"memory-backend-ram","id":"ram-node1","size":112197632}',
    ]);
    expect(after(a, '-numa')).toEqual([
      'node,nodeid=0,cpus=0,cpus=2-3,memdev=ram-node0',
      'node,nodeid=1,cpus=1,memdev=ram-node1',
    ]);
  });

  it('binds pc.ram to host nodes and refuses numad placement', () => {
    const tune = (t: string) =>
      domain({
        top: `<memory unit='KiB'>219136</memory><currentMemory unit='KiB'>219136</currentMemory><numatune>${t}</numatune>`,
      });
    expect(after(args(tune(`<memory mode='strict' nodeset='0'/>`)), '-object')[1]).toBe(
      '{"qom-type":"memory-backend-ram","id":"pc.ram","size":224395264,"host-nodes":[0],"policy":"bind"}',
    );
    expect(() => args(tune(`<memory mode='interleave' placement='auto'/>`))).toThrow(/Advice from numad/);
  });

  it('prints memory hotplug sizes in KiB', () => {
    const a = args(
      domain({
        top: `<maxMemory slots='16' unit='KiB'>1099511627776</maxMemory><memory unit='KiB'>219100</memory><currentMemory unit='KiB'>219100</currentMemory>`,
      }),
    );
    expect(after(a, '-m')).toEqual(['size=219136k,slots=16,maxmem=1099511627776k']);
  });
});

describe('platform options', () => {
  it('prints the rtc, PIT policy, boot menu, power management and SMBIOS', () => {
    const a = args(
      domain({
        os: `<bootmenu enable='yes' timeout='3000'/><bios rebootTimeout='-1'/><smbios mode='sysinfo'/>`,
        top:
          `<memory unit='KiB'>219100</memory><sysinfo type='smbios'><system><entry name='manufacturer'>A, B</entry>` +
          `</system></sysinfo>`,
        after:
          `<clock offset='utc'><timer name='rtc' tickpolicy='catchup' track='guest'/><timer name='pit' tickpolicy='delay'/></clock>` +
          `<pm><suspend-to-mem enabled='no'/></pm>`,
      }),
    );
    expect(after(a, '-rtc')).toEqual(['base=utc,clock=vm,driftfix=slew']);
    expect(after(a, '-global')).toEqual(['kvm-pit.lost_tick_policy=delay', 'PIIX4_PM.disable_s3=1']);
    expect(after(a, '-boot')).toEqual(['menu=on,reboot-timeout=-1,splash-time=3000,strict=on']);
    expect(after(a, '-smbios')).toEqual(['type=1,manufacturer=A,, B']);
  });

  it('appends qemu:commandline arguments and environment', () => {
    const cl = buildCommandLine(
      parseDomainXML(
        domain({
          ns: `<qemu:commandline><qemu:arg value='-unknown'/><qemu:env name='NS' value='ns'/></qemu:commandline>`,
        }),
      ),
      referenceContext(),
    );
    expect(cl.env.at(-1)).toEqual(['NS', 'ns']);
    expect(cl.args.indexOf('-unknown')).toBeLessThan(cl.args.indexOf('-sandbox'));
  });

  it('adds -compat for a deprecation behaviour', () => {
    const a = args(domain({ ns: `<qemu:deprecation behavior='reject'/>` }));
    expect(after(a, '-compat')).toEqual(['{"deprecated-output":"hide","deprecated-input":"reject"}']);
  });
});
