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

  it('a line without -accel is a TCG domain (found by pnpm fuzz: the XML printer met no type)', () => {
    const { def, xml } = domxmlFromNativeWords(['LC_ALL=C', '/usr/bin/qemu-system-x86_64', '-blockdev', 'x']);
    expect(def.type).toBe('qemu');
    expect(xml).toMatch(/^<domain type='qemu'/);
  });

  it('keeps unknown environment variables as <qemu:env>', () => {
    const { def, warnings } = domxmlFromNative(`FOO=bar ${HEAD} -display none`);
    expect(def.qemuCommandline?.env).toEqual([{ name: 'FOO', value: 'bar' }]);
    expect(warnings).toEqual(["unknown environment variable 'FOO', adding to the qemu namespace"]);
  });

  it('keeps -device properties no importer reads as <qemu:override>, and they come back on export', () => {
    const disk =
      `-blockdev '{"driver":"file","filename":"/var/lib/x.img","node-name":"libvirt-1-storage"}' ` +
      `-blockdev '{"node-name":"libvirt-1-format","read-only":false,"driver":"raw","file":"libvirt-1-storage"}' ` +
      `-device '{"driver":"ide-hd","bus":"ide.0","unit":0,"drive":"libvirt-1-format","id":"ua-disk","p1":"v","p2":-3,"p3":7,"p4":true}'`;
    const { def, warnings } = domxmlFromNative(`${HEAD} ${disk} -display none`);
    expect(def.qemuOverride?.device).toEqual([
      {
        alias: 'ua-disk',
        frontend: {
          property: [
            { name: 'p1', type: 'string', value: 'v' },
            { name: 'p2', type: 'signed', value: '-3' },
            { name: 'p3', type: 'unsigned', value: '7' },
            { name: 'p4', type: 'bool', value: 'true' },
          ],
        },
      },
    ]);
    expect(warnings).toEqual(["device 'ua-disk': properties 'p1', 'p2', 'p3', 'p4' kept as <qemu:override>"]);
    const words = commandLineWords(domxmlToCommandLine(formatDomainXML(def), referenceContext()));
    expect(words.find((w) => w.includes('"ua-disk"'))).toContain('"p1":"v","p2":-3,"p3":7,"p4":true');
  });

  it('does not keep properties libvirt derives (an alias, a SCSI device_id, xhci p3, a vhost fd)', () => {
    const { def, warnings } = domxmlFromNative(
      `${HEAD} -device '{"driver":"qemu-xhci","p2":15,"p3":15,"id":"usb","bus":"pci.0","addr":"0x2"}' ` +
        `-device '{"driver":"vhost-vsock-pci","id":"vsock0","guest-cid":4,"vhostfd":"-1","bus":"pci.0","addr":"0x3"}' -display none`,
    );
    expect(def.qemuOverride).toBeUndefined();
    expect(warnings).toEqual([]);
  });

  it('refuses a NIC with a malformed MAC address, naming it', () => {
    expect(
      errorOf(() =>
        domxmlFromNative(
          `${HEAD} -netdev user,id=hostnet0 -device '{"driver":"e1000","netdev":"hostnet0","id":"net0","mac":"@MAC@"}'`,
        ),
      ),
    ).toContain("unable to parse mac address '@MAC@'");
  });

  it('refuses bad JSON in -device, naming the word', () => {
    const msg = errorOf(() => domxmlFromNative(`${HEAD} -device '{"driver":"e1000",'`));
    expect(msg).toContain(`invalid JSON in '-device {"driver":"e1000",'`);
  });

  it('keeps the message one line when the word at fault holds a line break (found by pnpm fuzz)', () => {
    const msg = errorOf(() =>
      domxmlFromNativeWords(['LC_ALL=C', '/usr/bin/qemu-system-x86_64', '-device', '{"driver":\r\n"e1000",']),
    );
    expect(msg).toContain(`invalid JSON in '-device {"driver":\\r\\n"e1000",'`);
    expect(msg).not.toMatch(/[\r\n]/);
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

describe('modern syntax: what the line carries (round-trip rules)', () => {
  const imp = (tail: string) => domxmlFromNative(`${HEAD} ${tail}`);

  it('reads a mediated device from its sysfsdev, vfio-pci-nohotplug as a ramfb', () => {
    const { def, warnings } = imp(
      `-device '{"driver":"vfio-pci-nohotplug","id":"hostdev0","sysfsdev":"/sys/bus/mdev/devices/53764d0e-85a0-42b4-af5c-2046b460b1dc","display":"on","ramfb":true,"bus":"pci.0","addr":"0x3"}'`,
    );
    expect(warnings).toEqual([]);
    expect(def.devices?.hostdev?.[0]).toMatchObject({
      type: 'mdev',
      model: 'vfio-pci',
      display: 'on',
      ramfb: 'on',
      source: { address: { uuid: '53764d0e-85a0-42b4-af5c-2046b460b1dc' } },
    });
  });

  it('takes an HTTP cookie secret as the disk’s, not as a stray backend', () => {
    const { warnings } = imp(
      `-object '{"qom-type":"secret","id":"libvirt-1-storage-httpcookie-secret0","data":"x","keyid":"masterKey0","iv":"y","format":"base64"}' ` +
        `-blockdev '{"driver":"http","url":"http://example.org:1234/test3.img","cookie-secret":"libvirt-1-storage-httpcookie-secret0","node-name":"libvirt-1-storage","auto-read-only":true,"discard":"unmap"}' ` +
        `-blockdev '{"node-name":"libvirt-1-format","read-only":false,"driver":"raw","file":"libvirt-1-storage"}' ` +
        `-device '{"driver":"virtio-blk-pci","bus":"pci.0","addr":"0x4","drive":"libvirt-1-format","id":"virtio-disk0"}'`,
    );
    expect(warnings).toEqual([]);
  });

  it('reads virtio-blk scsi=on as a LUN and an empty drive’s write-cache as writeback', () => {
    const { def } = imp(
      `-blockdev '{"driver":"host_device","filename":"/dev/sdfake","node-name":"libvirt-1-storage","auto-read-only":true,"discard":"unmap"}' ` +
        `-blockdev '{"node-name":"libvirt-1-format","read-only":false,"driver":"raw","file":"libvirt-1-storage"}' ` +
        `-device '{"driver":"virtio-blk-pci","scsi":true,"bus":"pci.0","addr":"0x4","drive":"libvirt-1-format","id":"virtio-disk0"}' ` +
        `-device '{"driver":"ide-cd","bus":"ide.1","unit":0,"id":"ide0-1-0","write-cache":"on"}'`,
    );
    expect(def.devices?.disk?.[0]?.device).toBe('lun');
    expect(def.devices?.disk?.[1]?.driver?.cache).toBe('writeback');
  });

  it('reads D-Bus audio, the i440FX root hotplug, virtiofs queues and an unknown NIC model', () => {
    const { def, warnings } = imp(
      `-audiodev '{"id":"audio1","driver":"dbus"}' -display dbus,p2p=on,audiodev=audio1 ` +
        '-global PIIX4_PM.acpi-root-pci-hotplug=off ' +
        `-chardev socket,id=chr-vu-fs0,path=/tmp/sock ` +
        `-device '{"driver":"vhost-user-fs-pci","id":"fs0","chardev":"chr-vu-fs0","queue-size":1024,"tag":"tag","bus":"pci.0","addr":"0x2"}' ` +
        `-netdev '{"type":"tap","fd":"@FD@","id":"hostnet0"}' ` +
        `-device '{"driver":"idontexist","netdev":"hostnet0","id":"net0","mac":"00:11:22:33:44:55","bus":"pci.0","addr":"0x3"}'`,
    );
    expect(warnings).toEqual([]);
    expect(def.devices?.graphics?.[0]).toMatchObject({ type: 'dbus', audio: { id: 1 } });
    expect(def.devices?.controller?.find((c) => c.type === 'pci')?.target?.hotplug).toBe('off');
    expect(def.devices?.filesystem?.[0]).toMatchObject({ driver: { type: 'virtiofs', queue: '1024' } });
    expect(def.devices?.filesystem?.[0]?.accessmode).toBeUndefined();
    expect(def.devices?.interface?.[0]?.model?.type).toBe('idontexist');
    // graphics without any video device: the video was `none`
    expect(def.devices?.video?.[0]?.model?.type).toBe('none');
  });

  it('reads pflash read-write, stateless firmware, qemu32 named, and a boot device with no trace', () => {
    const fw = (ro: boolean) =>
      `-blockdev '{"driver":"file","filename":"/fw/CODE.fd","node-name":"libvirt-pflash0-storage","auto-read-only":true,"discard":"unmap"}' ` +
      `-blockdev '{"node-name":"libvirt-pflash0-format","read-only":${ro},"driver":"raw","file":"libvirt-pflash0-storage"}' `;
    const line = (ro: boolean, tail: string) =>
      `${HEAD.replace('memory-backend=pc.ram', 'memory-backend=pc.ram,pflash0=libvirt-pflash0-format')} ${fw(ro)}${tail}`;
    expect(domxmlFromNative(line(false, '')).def.os?.loader).toMatchObject({
      readonly: 'no',
      type: 'pflash',
    });
    expect(domxmlFromNative(line(true, '')).def.os?.loader).toMatchObject({
      readonly: 'yes',
      stateless: 'yes',
    });
    const cpu = domxmlFromNative(`${HEAD.replace('-cpu qemu64', '-cpu qemu32,kvm-pv-eoi=off')}`).def;
    expect(cpu.cpu?.model?.value).toBe('qemu32');
    const boot = imp(
      `-blockdev '{"driver":"file","filename":"/a.img","node-name":"libvirt-1-storage","auto-read-only":true,"discard":"unmap"}' ` +
        `-blockdev '{"node-name":"libvirt-1-format","read-only":false,"driver":"raw","file":"libvirt-1-storage"}' ` +
        `-device '{"driver":"ide-hd","bus":"ide.0","unit":0,"drive":"libvirt-1-format","id":"ide0-0-0"}'`,
    ).def;
    expect(boot.os?.boot).toEqual([{ dev: 'network' }]);
  });

  it('resolves USB buses named by user aliases to their controller', () => {
    const { def } = imp(
      `-device '{"driver":"ich9-usb-ehci1","id":"ua-myUSB1","bus":"pci.0","addr":"0x4.0x7"}' ` +
        `-device '{"driver":"ich9-usb-uhci1","masterbus":"ua-myUSB1.0","firstport":0,"bus":"pci.0","multifunction":true,"addr":"0x4"}' ` +
        `-device '{"driver":"ich9-usb-ehci1","id":"ua-myUSB5","bus":"pci.0","addr":"0x5.0x7"}' ` +
        `-device '{"driver":"ich9-usb-uhci1","masterbus":"ua-myUSB5.0","firstport":0,"bus":"pci.0","multifunction":true,"addr":"0x5"}' ` +
        `-device '{"driver":"usb-host","hostdevice":"/dev/bus/usb/015/006","id":"hostdev1","bus":"ua-myUSB5.0","port":"3"}'`,
    );
    const usb = (def.devices?.controller ?? []).filter((c) => c.type === 'usb');
    expect(usb.map((c) => c.index)).toEqual([0, 0, 1, 1]);
    expect(def.devices?.hostdev?.[0]?.address).toEqual({ type: 'usb', bus: 1, port: '3' });
  });
});

describe('nativeRoundtripView: settings the line cannot carry', () => {
  const view = (xml: string) =>
    nativeRoundtripView(canonicalizeDomain(parseDomainXML(xml), referenceContext())) as Record<string, any>;
  const dom = (body: string, devices = '') =>
    `<domain type='kvm'><name>v</name><memory>131072</memory>${body}<os><type arch='x86_64' machine='pc'>hvm</type></os>` +
    `<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>${devices}</devices></domain>`;

  it('drops host-side and QMP-time settings', () => {
    const v = view(
      dom(
        "<vcpu placement='auto' current='1'>2</vcpu><vcpus><vcpu id='0' enabled='yes' hotpluggable='no'/><vcpu id='1' enabled='yes' hotpluggable='yes'/></vcpus>",
        "<disk type='block' device='lun' rawio='yes' snapshot='no'><source dev='/dev/sda'/><target dev='sda' bus='scsi'/>" +
          '<iotune><total_bytes_sec>5</total_bytes_sec></iotune></disk>' +
          "<watchdog model='ib700' action='dump'/><memballoon model='virtio'><stats period='10'/></memballoon>",
      ),
    );
    expect(v.vcpu).toEqual({ value: 2, current: 1 });
    expect(v.vcpus).toBeUndefined();
    expect(v.devices.disk[0].rawio).toBeUndefined();
    expect(v.devices.disk[0].snapshot).toBeUndefined();
    expect(v.devices.disk[0].iotune).toBeUndefined();
    expect(v.devices.watchdog[0].action).toBe('pause');
    expect(v.devices.memballoon.stats).toBeUndefined();
  });

  it('reduces <qemu:override> to the properties the JSON ends up with and drops serial consoles', () => {
    const v = view(
      `<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'><name>v</name><memory>131072</memory>` +
        `<os><type arch='x86_64' machine='pc'>hvm</type></os><devices><emulator>/usr/bin/qemu-system-x86_64</emulator>` +
        `<serial type='pty'><target type='pci-serial'/></serial><console type='pty'><target type='serial'/></console></devices>` +
        `<qemu:override><qemu:device alias='ua-x'><qemu:frontend>` +
        `<qemu:property name='a' type='string' value='1'/><qemu:property name='b' type='bool' value='true'/>` +
        `<qemu:property name='a' type='string' value='2'/><qemu:property name='b' type='remove'/>` +
        `</qemu:frontend></qemu:device></qemu:override></domain>`,
    );
    expect(v.qemuOverride.device[0].frontend.property).toEqual([{ name: 'a', type: 'string', value: '2' }]);
    expect(v.devices.console).toBeUndefined();
    expect(v.devices.serial).toHaveLength(1);
  });

  it('drops firmware autoselection once a loader was chosen (the line carries the loader)', () => {
    // as prepareDomain leaves it: the feature list kept, the chosen loader filled in
    const prepared = parseDomainXML(
      dom('').replace(
        "<os><type arch='x86_64' machine='pc'>hvm</type></os>",
        "<os><type arch='x86_64' machine='pc'>hvm</type><firmware><feature enabled='no' name='secure-boot'/></firmware>" +
          "<loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader></os>",
      ),
    );
    const v = nativeRoundtripView(prepared) as Record<string, any>;
    expect(v.os.firmwareFeatures).toBeUndefined();
    expect(v.os.loader.value).toBe('/usr/share/OVMF/OVMF_CODE_4M.fd');
  });

  it('keeps a shared access mode domain-wide and aligns memory modules as QEMU gets them', () => {
    const v = view(
      dom(
        "<memoryBacking><source type='file'/></memoryBacking><vcpu>2</vcpu>" +
          "<cpu><numa><cell id='0' cpus='0-1' memory='131072' memAccess='shared'/></numa></cpu>",
      ),
    );
    expect(v.memoryBacking).toEqual({ access: { mode: 'shared' } });
    const m = view(
      dom(
        "<maxMemory slots='16'>1099511627776</maxMemory><vcpu>2</vcpu><cpu><numa><cell id='0' cpus='0-1' memory='131072'/></numa></cpu>",
        "<memory model='dimm'><target><size unit='KiB'>523264</size><node>0</node></target></memory>",
      ).replace('<memory>131072</memory>', "<memory unit='KiB'>654336</memory>"),
    );
    expect(m.devices.memory[0].target.size).toEqual({ unit: 'KiB', value: 524288 });
    expect(m.memory.value).toBe(131072 + 524288);
  });
});
