/** What a domain may open, decided like qemuSetupDevicesCgroup, against a fake host. */
import { defaultQemuConf, parseDomainXML, recordingHost } from '@qvirt/core';
import { describe, expect, it } from 'vitest';
import { formatRule } from './device-rule.js';
import { domainAclItems, resolveItems } from './domain-acl.js';

const makedev = (major: number, minor: number) => (major << 8) | minor;
const char = (major: number, minor: number) => ({ kind: 'char' as const, rdev: makedev(major, minor) });
const block = (major: number, minor: number) => ({ kind: 'block' as const, rdev: makedev(major, minor) });

/** A host with libvirt's default ACL nodes (no /dev/kvm) and the devices the XML names. */
function host() {
  return recordingHost({
    files: {
      '/dev/null': char(1, 3),
      '/dev/zero': char(1, 5),
      '/dev/full': char(1, 7),
      '/dev/random': char(1, 8),
      '/dev/urandom': char(1, 9),
      '/dev/ptmx': char(5, 2),
      '/dev/loop0': block(7, 0),
      '/dev/loop1': block(7, 1),
      '/dev/loop2': block(7, 2),
      '/dev/mapper/control': char(10, 236),
      '/dev/dm-0': block(253, 0),
      '/sys/dev/block/253:0/slaves/loop3': { kind: 'dir' },
      '/sys/class/block/loop3/dev': { content: '7:3\n' },
      '/var/lib/images/disk.qcow2': { content: 'QFI' },
      '/dev/ttyS0': char(4, 64),
      '/dev/tpm0': char(10, 224),
      '/sys/bus/pci/devices/0000:06:12.5/iommu_group': {
        kind: 'symlink',
        target: '../../../kernel/iommu_groups/42',
      },
      '/sys/kernel/iommu_groups/42': { kind: 'dir' },
      '/dev/vfio/42': char(243, 0),
      '/dev/vfio/vfio': char(10, 196),
      '/dev/bus/usb/001/005': char(189, 4),
      '/sys/bus/scsi/devices/0:0:0:0/scsi_generic/sg0': { kind: 'dir' },
      '/dev/sg0': char(21, 0),
      '/dev/vhost-scsi': char(10, 200),
      '/dev/dri/renderD128': char(226, 128),
      '/dev/input/event1': char(13, 65),
      '/dev/hwrng': char(10, 183),
      '/dev/sev': char(10, 124),
      '/usr/share/OVMF/OVMF_CODE.fd': { content: '' },
    },
  });
}

const XML = `<domain type='qemu' id='3'>
  <name>acl</name><memory>1024</memory>
  <os><type>hvm</type><loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE.fd</loader></os>
  <launchSecurity type='sev'><policy>0x0003</policy></launchSecurity>
  <devices>
    <disk type='block' device='disk'><source dev='/dev/loop0'><reservations managed='yes'/></source><target dev='vda'/>
      <backingStore type='block'><format type='raw'/><source dev='/dev/loop1'/><backingStore/></backingStore></disk>
    <disk type='block' device='cdrom'><source dev='/dev/loop2'/><target dev='hdc'/><readonly/></disk>
    <disk type='block' device='disk'><source dev='/dev/dm-0'/><target dev='vdc'/></disk>
    <disk type='file' device='disk'><source file='/var/lib/images/disk.qcow2'/><target dev='vdd'/></disk>
    <disk type='network' device='disk'><source protocol='nbd' name='x'><host name='h'/></source><target dev='vde'/></disk>
    <serial type='dev'><source path='/dev/ttyS0'/></serial>
    <console type='pty'/>
    <tpm model='tpm-tis'><backend type='passthrough'><device path='/dev/tpm0'/></backend></tpm>
    <hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x06' slot='0x12' function='0x5'/></source></hostdev>
    <hostdev mode='subsystem' type='usb'><source><address bus='1' device='5'/></source></hostdev>
    <hostdev mode='subsystem' type='scsi'><source><adapter name='scsi_host0'/><address bus='0' target='0' unit='0'/></source><readonly/></hostdev>
    <hostdev mode='subsystem' type='scsi_host'><source protocol='vhost' wwpn='naa.50014057667280d8'/></hostdev>
    <graphics type='egl-headless'><gl rendernode='/dev/dri/renderD128'/></graphics>
    <input type='passthrough' bus='virtio'><source evdev='/dev/input/event1'/></input>
    <rng model='virtio'><backend model='random'>/dev/hwrng</backend></rng>
    <sound model='ich6'/>
  </devices></domain>`;

describe('the domain device ACL', () => {
  it("allows libvirt 9.0's list for every kind of device in the XML", async () => {
    const h = host();
    const def = parseDomainXML(XML, { live: true });
    const rules = (
      await resolveItems(await domainAclItems(def, defaultQemuConf({ privileged: true }), h), h)
    ).map(formatRule);
    expect(rules).toEqual([
      // default ACL, those that exist (no /dev/kvm on this fake host)
      'c 1:3 rw',
      'c 1:7 rw',
      'c 1:5 rw',
      'c 1:8 rw',
      'c 1:9 rw',
      'c 5:2 rw',
      // the firmware is a regular file: nothing
      // disk 1: managed persistent reservations, the top rw, the backing layer r
      'c 10:236 rw',
      'b 7:0 rw',
      'b 7:1 r',
      // readonly cdrom
      'b 7:2 r',
      // a device-mapper disk and its target
      'b 253:0 rw',
      'b 7:3 rw',
      // the qcow2 file and the network disk: nothing
      'c 136:* rw',
      // no sound rule: graphics is not vnc/sdl and nographics audio is off
      'c 4:64 rw',
      'c 10:224 rw',
      'c 243:0 rw',
      'c 10:196 rw',
      'c 189:4 rw',
      'c 21:0 r',
      'c 10:200 rw',
      'c 226:128 rw',
      'c 13:65 rw',
      'c 10:183 rw',
      'c 10:124 rw',
    ]);
  });

  it('qemu.conf cgroup_device_acl replaces the default list', async () => {
    const h = host();
    const def = parseDomainXML(
      "<domain type='qemu'><name>x</name><memory>1</memory><os><type>hvm</type></os></domain>",
    );
    const conf = {
      ...defaultQemuConf({ privileged: true }),
      cgroupDeviceAcl: ['/dev/null', '/dev/zero', '/dev/urandom', '/dev/kvm'],
    };
    const rules = (await resolveItems(await domainAclItems(def, conf, h), h)).map(formatRule);
    expect(rules).toEqual(['c 1:3 rw', 'c 1:5 rw', 'c 1:9 rw', 'c 136:* rw']);
  });

  it('host sound (c 116:*) only where libvirt allows it', async () => {
    const h = host();
    const audio = (graphics: string) =>
      parseDomainXML(
        `<domain type='qemu'><name>x</name><memory>1</memory><os><type>hvm</type></os><devices>${graphics}<sound model='ich6'/></devices></domain>`,
      );
    const has116 = async (graphics: string, conf: Partial<ReturnType<typeof defaultQemuConf>>) =>
      (
        await resolveItems(
          await domainAclItems(audio(graphics), { ...defaultQemuConf({ privileged: true }), ...conf }, h),
          h,
        )
      )
        .map(formatRule)
        .includes('c 116:* rw');
    expect(await has116('', {})).toBe(false);
    expect(await has116('', { nographicsAllowHostAudio: true })).toBe(true);
    expect(await has116("<graphics type='vnc'/>", {})).toBe(false);
    expect(await has116("<graphics type='vnc'/>", { vncAllowHostAudio: true })).toBe(true);
    expect(await has116("<graphics type='sdl'/>", {})).toBe(true);
  });

  it("a missing disk path fails with libvirt's message", async () => {
    const h = host();
    const def = parseDomainXML(
      "<domain type='qemu'><name>x</name><memory>1</memory><os><type>hvm</type></os><devices><disk type='block'><source dev='/dev/nope'/><target dev='vda'/></disk></devices></domain>",
    );
    await expect(
      resolveItems(await domainAclItems(def, defaultQemuConf({ privileged: true }), h), h),
    ).rejects.toThrow("Path '/dev/nope' is not accessible: No such file or directory");
  });
});
