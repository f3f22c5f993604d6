import { formatDomainXML, parseDomainXML } from '@qvirt/core';
import { describe, expect, it } from 'vitest';
import { commandLineWords } from '../argv/command-line.js';
import { referenceContext } from '../context.js';
import { domxmlToCommandLine } from '../native.js';
import { canonicalizeDomain } from '../post-parse/index.js';
import { domxmlFromNative, domxmlFromNativeWords, isModernArgv, nativeRoundtripView } from './index.js';

const HEAD =
  'LC_ALL=C PATH=/usr/bin:/bin HOME=/var/lib/libvirt/qemu/domain--1-demo /usr/bin/qemu-system-x86_64 ' +
  '-name guest=demo,debug-threads=on -S ' +
  '-machine pc-i440fx-7.2,usb=off,dump-guest-core=off,memory-backend=pc.ram -accel kvm -cpu qemu64 -m 128 ' +
  `-object '{"qom-type":"memory-backend-ram","id":"pc.ram","size":134217728}' ` +
  '-overcommit mem-lock=off -smp 2,sockets=2,cores=1,threads=1 -uuid 4dea24b3-1d52-d8f3-2516-782e98a23fa0 ' +
  '-no-user-config -nodefaults -rtc base=utc -no-shutdown -boot strict=on';

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected an error');
}

describe('modern syntax: detection', () => {
  it('tells libvirt 9.0 lines from legacy ones', () => {
    expect(isModernArgv(['-machine', 'pc,memory-backend=pc.ram'])).toBe(true);
    expect(isModernArgv(['-blockdev', '{"driver":"file"}'])).toBe(true);
    expect(isModernArgv(['-device', '{"driver":"e1000"}'])).toBe(true);
    expect(isModernArgv(['-M', 'pc', '-hda', '/dev/sda', '-net', 'nic'])).toBe(false);
    expect(domxmlFromNative(`${HEAD} -display none`).syntax).toBe('modern');
    expect(domxmlFromNative('/usr/bin/qemu -M pc -m 64 -hda /dev/sda -nographic').syntax).toBe('legacy');
  });
});

describe('modern syntax: the domain', () => {
  it('reads identity, machine, accelerator, memory and vCPUs', () => {
    const { def, warnings } = domxmlFromNative(`${HEAD} -display none`);
    expect(warnings).toEqual([]);
    expect(def.name).toBe('demo');
    expect(def.uuid).toBe('4dea24b3-1d52-d8f3-2516-782e98a23fa0');
    expect(def.type).toBe('kvm');
    expect(def.os?.type?.machine).toBe('pc-i440fx-7.2');
    expect(def.memory?.value).toBe(131072);
    expect(def.vcpu?.value).toBe(2);
    expect(def.cpu?.topology).toBeUndefined();
    expect(def.features?.acpi).toBe(true);
  });

  it('reads a disk from its -blockdev chain and a NIC from its -netdev', () => {
    const text =
      `${HEAD} ` +
      `-blockdev '{"driver":"file","filename":"/img/a.qcow2","node-name":"libvirt-2-storage","auto-read-only":true,"discard":"unmap"}' ` +
      `-blockdev '{"node-name":"libvirt-2-format","read-only":false,"driver":"qcow2","file":"libvirt-2-storage","backing":"libvirt-1-format"}' ` +
      `-blockdev '{"driver":"file","filename":"/img/base.raw","node-name":"libvirt-1-storage","auto-read-only":true,"discard":"unmap"}' ` +
      `-blockdev '{"node-name":"libvirt-1-format","read-only":true,"driver":"raw","file":"libvirt-1-storage"}' ` +
      `-device '{"driver":"virtio-blk-pci","bus":"pci.0","addr":"0x4","drive":"libvirt-2-format","id":"virtio-disk1","bootindex":1}' ` +
      `-netdev '{"type":"tap","fd":"@FD@","id":"hostnet0"}' ` +
      `-device '{"driver":"e1000","netdev":"hostnet0","id":"net0","mac":"52:54:00:aa:bb:cc","bus":"pci.0","addr":"0x3"}' ` +
      '-display none';
    const { def, warnings } = domxmlFromNative(text);
    expect(warnings).toEqual([]);
    const disk = def.devices?.disk?.[0];
    expect(disk?.source?.file).toBe('/img/a.qcow2');
    expect(disk?.driver?.type).toBe('qcow2');
    expect(disk?.target).toEqual({ dev: 'vdb', bus: 'virtio' });
    expect(disk?.address).toMatchObject({ type: 'pci', bus: 0, slot: 4, function: 0 });
    expect(disk?.backingStore?.source?.file).toBe('/img/base.raw');
    expect(def.os?.boot).toEqual([{ dev: 'hd' }]);
    const net = def.devices?.interface?.[0];
    expect(net?.type).toBe('ethernet');
    expect(net?.mac?.address).toBe('52:54:00:aa:bb:cc');
    expect(net?.model?.type).toBe('e1000');
  });

  it('round-trips a domain through domxml-to-native', () => {
    const xml =
      "<domain type='kvm'><name>rt</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>" +
      "<memory unit='KiB'>262144</memory><vcpu>2</vcpu><os><type arch='x86_64' machine='pc'>hvm</type></os>" +
      '<features><acpi/></features><devices><emulator>/usr/bin/qemu-system-x86_64</emulator>' +
      "<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='/var/lib/rt.img'/>" +
      "<target dev='vda' bus='virtio'/></disk>" +
      "<interface type='network'><source network='default'/><mac address='52:54:00:11:22:33'/><model type='virtio'/></interface>" +
      "<serial type='pty'/><graphics type='vnc' port='5901'/><video><model type='qxl'/></video></devices></domain>";
    const ctx = referenceContext();
    const words = commandLineWords(domxmlToCommandLine(xml, ctx));
    const imported = domxmlFromNativeWords(words);
    expect(imported.warnings).toEqual([]);
    const view = (d: Parameters<typeof nativeRoundtripView>[0]) => formatDomainXML(nativeRoundtripView(d));
    const expected = canonicalizeDomain(parseDomainXML(xml), ctx);
    expect(view(canonicalizeDomain(imported.def, ctx))).toBe(view(expected));
  });
});

describe('modern syntax: nothing lost, malformed input named', () => {
  it('keeps a -device of an unknown driver as <qemu:arg>s with a warning', () => {
    const { def, warnings, xml } = domxmlFromNative(`${HEAD} -device '{"driver":"idontexist","id":"x0"}'`);
    expect(warnings).toEqual([
      `unknown QEMU device '-device {"driver":"idontexist","id":"x0"}', adding to the qemu namespace`,
    ]);
    expect(def.qemuCommandline?.arg).toEqual([
      { value: '-device' },
      { value: '{"driver":"idontexist","id":"x0"}' },
    ]);
    expect(xml).toContain("<qemu:arg value='-device'/>");
  });

  it('keeps an unknown option and an unused backend, in command-line order', () => {
    const { def, warnings } = domxmlFromNative(
      `${HEAD} -unknown parameter -chardev socket,id=other,path=/tmp/x.sock -display none`,
    );
    expect(def.qemuCommandline?.arg?.map((a) => a.value)).toEqual([
      '-unknown',
      'parameter',
      '-chardev',
      'socket,id=other,path=/tmp/x.sock',
    ]);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toContain("'-unknown parameter'");
    expect(warnings[1]).toContain('unused QEMU backend');
  });

  it('keeps unknown environment variables as <qemu:env>', () => {
    const { def, warnings } = domxmlFromNative(`FOO=bar ${HEAD} -display none`);
    expect(def.qemuCommandline?.env).toEqual([{ name: 'FOO', value: 'bar' }]);
    expect(warnings).toEqual(["unknown environment variable 'FOO', adding to the qemu namespace"]);
  });

  it('refuses bad JSON in -device, naming the word', () => {
    const msg = errorOf(() => domxmlFromNative(`${HEAD} -device '{"driver":"e1000",'`));
    expect(msg).toContain(`invalid JSON in '-device {"driver":"e1000",'`);
  });

  it('keeps a JSON -device without a driver as <qemu:arg>s', () => {
    const { def, warnings } = domxmlFromNative(`${HEAD} -device '{"id":"x"}' -display none`);
    expect(def.qemuCommandline?.arg?.map((a) => a.value)).toEqual(['-device', '{"id":"x"}']);
    expect(warnings[0]).toContain('unknown QEMU device');
  });

  it('refuses a disk whose -blockdev is missing, a bad size and a bad CPU count', () => {
    expect(
      errorOf(() =>
        domxmlFromNative(
          `${HEAD} -device '{"driver":"ide-hd","bus":"ide.0","unit":0,"drive":"nowhere","id":"ide0-0-0"}'`,
        ),
      ),
    ).toContain("no -blockdev with node-name 'nowhere'");
    expect(errorOf(() => domxmlFromNative(HEAD.replace('-m 128', '-m 12x8')))).toContain("'12x8'");
    expect(errorOf(() => domxmlFromNative(HEAD.replace('-smp 2,', '-smp two,')))).toContain("'two'");
  });
});
