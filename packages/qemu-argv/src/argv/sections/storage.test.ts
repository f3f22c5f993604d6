import { parseDomainXML } from '@qvirt/core';
import { describe, expect, it } from 'vitest';
import { referenceContext } from '../../context.js';
import { assignAliases, diskNameToIndex } from '../aliases.js';
import { buildCommandLine } from '../index.js';

/** A canonical-looking definition (addresses and controllers already assigned) around `devices`. */
const domain = (devices: string, machine = 'pc-i440fx-7.2', os = '') =>
  `<domain type='qemu'><name>t</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>` +
  `<memory>65536</memory><os><type arch='x86_64' machine='${machine}'>hvm</type>${os}</os><devices>` +
  `<emulator>/usr/bin/qemu-system-x86_64</emulator>${devices}` +
  `<controller type='pci' index='0' model='${machine.includes('q35') ? 'pcie-root' : 'pci-root'}'/>` +
  `<memballoon model='none'/></devices></domain>`;

/** `-option value` pairs of the command line whose option is one of `names`. */
function options(xml: string, ...names: string[]): string[] {
  const args = buildCommandLine(parseDomainXML(xml), referenceContext()).args;
  const out: string[] = [];
  for (let i = 0; i < args.length - 1; i++) {
    if (names.includes(args[i] as string)) out.push(`${args[i]} ${args[i + 1]}`);
  }
  return out;
}

const pci = (slot: number, fn = 0) =>
  `<address type='pci' domain='0x0000' bus='0x00' slot='${slot}' function='${fn}'/>`;

describe('device aliases', () => {
  it('numbers disks by bus and drive address', () => {
    const def = parseDomainXML(
      domain(
        `<disk type='file' device='disk'><source file='/a'/><target dev='hdc' bus='ide'/>` +
          `<address type='drive' controller='0' bus='1' target='0' unit='0'/></disk>` +
          `<disk type='file' device='disk'><source file='/b'/><target dev='sdb' bus='scsi'/>` +
          `<address type='drive' controller='0' bus='0' target='1' unit='0'/></disk>` +
          `<disk type='file' device='disk'><source file='/c'/><target dev='vdb' bus='virtio'/>${pci(3)}</disk>` +
          `<controller type='scsi' index='0' model='virtio-scsi'>${pci(2)}</controller>` +
          `<controller type='usb' index='0' model='piix3-uhci'/><controller type='ide' index='0'/>` +
          `<controller type='sata' index='1'/><interface type='ethernet'><alias name='ua-x'/></interface>` +
          `<interface type='ethernet'/>`,
      ),
    );
    assignAliases(def);
    const d = def.devices!;
    expect(d.disk!.map((x) => x.alias?.name)).toEqual(['ide0-1-0', 'scsi0-0-1-0', 'virtio-disk1']);
    expect(d.controller!.map((x) => x.alias?.name)).toEqual(['scsi0', 'usb', 'ide', 'sata1', 'pci.0']);
    expect(d.interface!.map((x) => x.alias?.name)).toEqual(['ua-x', 'net0']);
  });

  it('reads disk names like virDiskNameToIndex', () => {
    expect(diskNameToIndex('vda')).toBe(0);
    expect(diskNameToIndex('hdd')).toBe(3);
    expect(diskNameToIndex('sdaa')).toBe(26);
    expect(diskNameToIndex('xvdb1')).toBe(1);
    expect(diskNameToIndex('foo')).toBe(-1);
  });
});

describe('disks', () => {
  it('numbers storage nodes from the last disk, top image first, bottom image emitted first', () => {
    const out = options(
      domain(
        `<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/top.qcow2'/>` +
          `<backingStore type='file'><format type='raw'/><source file='/base.img'/></backingStore>` +
          `<target dev='vda' bus='virtio'/>${pci(2)}</disk>` +
          `<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><target dev='hdc' bus='ide'/><readonly/>` +
          `<address type='drive' controller='0' bus='1' target='0' unit='0'/></disk>`,
        'pc-i440fx-7.2',
        "<boot dev='hd'/>",
      ),
      '-blockdev',
      '-device',
    );
    expect(out).toEqual([
      '-blockdev {"driver":"file","filename":"/base.img","node-name":"libvirt-3-storage","auto-read-only":true,"discard":"unmap"}',
      '-blockdev {"node-name":"libvirt-3-format","read-only":true,"driver":"raw","file":"libvirt-3-storage"}',
      '-blockdev {"driver":"file","filename":"/top.qcow2","node-name":"libvirt-2-storage","auto-read-only":true,"discard":"unmap"}',
      '-blockdev {"node-name":"libvirt-2-format","read-only":false,"driver":"qcow2","file":"libvirt-2-storage","backing":"libvirt-3-format"}',
      '-device {"driver":"virtio-blk-pci","bus":"pci.0","addr":"0x2","drive":"libvirt-2-format","id":"virtio-disk0","bootindex":1}',
      '-device {"driver":"ide-cd","bus":"ide.1","unit":0,"id":"ide0-1-0"}',
    ]);
  });

  it('prints cache, serial, wwn and error policies on the device', () => {
    const out = options(
      domain(
        `<disk type='block' device='disk'><driver name='qemu' type='raw' cache='none' error_policy='enospace'/>` +
          `<source dev='/dev/sdz'/><target dev='sda' bus='scsi'/><serial>a b</serial><wwn>5000c50015ea71ad</wwn>` +
          `<address type='drive' controller='0' bus='0' target='0' unit='0'/></disk>` +
          `<controller type='scsi' index='0' model='lsilogic'>${pci(3)}</controller>`,
      ),
      '-device',
      '-blockdev',
    );
    expect(out).toEqual([
      '-device {"driver":"lsi","id":"scsi0","bus":"pci.0","addr":"0x3"}',
      '-blockdev {"driver":"host_device","filename":"/dev/sdz","node-name":"libvirt-1-storage","cache":{"direct":true,"no-flush":false},"auto-read-only":true,"discard":"unmap"}',
      '-blockdev {"node-name":"libvirt-1-format","read-only":false,"cache":{"direct":true,"no-flush":false},"driver":"raw","file":"libvirt-1-storage"}',
      '-device {"driver":"scsi-hd","bus":"scsi0.0","scsi-id":0,"device_id":"a b","drive":"libvirt-1-format","id":"scsi0-0-0","wwn":5764824127192592813,"write-cache":"on","serial":"a\\\\ b","werror":"enospc"}',
    ]);
  });

  it('refuses sources whose secret the host does not have', () => {
    const xml = domain(
      `<disk type='network' device='disk'><driver name='qemu' type='raw'/>` +
        `<source protocol='rbd' name='pool/image'><host name='mon' port='6789'/>` +
        `<auth username='admin'><secret type='ceph' usage='mysecret'/></auth></source>` +
        `<target dev='vda' bus='virtio'/>${pci(2)}</disk>`,
    );
    expect(() => buildCommandLine(parseDomainXML(xml), referenceContext())).toThrow(
      "Secret not found: no secret with matching usage 'mysecret'",
    );
  });

  it('puts the floppy boot index on the controller', () => {
    const disk =
      `<disk type='file' device='floppy'><driver name='qemu' type='raw'/><source file='/f.img'/>` +
      `<target dev='fda' bus='fdc'/><address type='drive' controller='0' bus='0' target='0' unit='0'/></disk>`;
    expect(options(domain(disk, 'pc-i440fx-7.2', "<boot dev='fd'/>"), '-global')).toEqual([
      '-global isa-fdc.bootindexA=1',
    ]);
    expect(options(domain(disk, 'pc-q35-7.2', "<boot dev='fd'/>"), '-device')[0]).toBe(
      '-device {"driver":"isa-fdc","bootindexA":1}',
    );
  });
});

describe('controllers', () => {
  it('builds USB companions with masterbus and PCI bridges', () => {
    const out = options(
      domain(
        `<controller type='usb' index='0' model='ich9-ehci1'>${pci(4, 7)}</controller>` +
          `<controller type='usb' index='0' model='ich9-uhci1'><master startport='0'/>` +
          `<address type='pci' domain='0x0000' bus='0x00' slot='0x04' function='0x0' multifunction='on'/></controller>` +
          `<controller type='pci' index='1' model='pci-bridge'><model name='pci-bridge'/>` +
          `<target chassisNr='1'/>${pci(5)}</controller>` +
          `<controller type='virtio-serial' index='0' ports='4'>${pci(6)}</controller>`,
      ),
      '-device',
    );
    expect(out).toEqual([
      '-device {"driver":"pci-bridge","chassis_nr":1,"id":"pci.1","bus":"pci.0","addr":"0x5"}',
      '-device {"driver":"ich9-usb-ehci1","id":"usb","bus":"pci.0","addr":"0x4.0x7"}',
      '-device {"driver":"ich9-usb-uhci1","masterbus":"usb.0","firstport":0,"bus":"pci.0","multifunction":true,"addr":"0x4"}',
      '-device {"driver":"virtio-serial-pci","id":"virtio-serial0","max_ports":4,"bus":"pci.0","addr":"0x6"}',
    ]);
  });
});

describe('filesystems', () => {
  it('builds -fsdev and virtio-9p', () => {
    const out = options(
      domain(
        `<filesystem type='mount' accessmode='mapped'><driver type='path' wrpolicy='immediate'/>` +
          `<source dir='/ex,port'/><target dir='tag'/><readonly/>${pci(2)}</filesystem>`,
      ),
      '-fsdev',
      '-device',
    );
    expect(out).toEqual([
      '-fsdev local,security_model=mapped,writeout=immediate,id=fsdev-fs0,path=/ex,,port,readonly',
      '-device {"driver":"virtio-9p-pci","id":"fs0","fsdev":"fsdev-fs0","mount_tag":"tag","bus":"pci.0","addr":"0x2"}',
    ]);
  });
});
