import { describe, expect, it } from 'vitest';
import { parseDomainXML } from '../domain/domain-xml.js';
import { domainSecurityPaths, type SecurityPath } from './path-plan.js';
import { recordingHost } from './recording-host.js';

const DEVICES = `
  <disk type='file' device='disk'><source file='/img/top.qcow2'/><target dev='vda' bus='virtio'/></disk>
  <disk type='dir' device='disk'><source dir='/img/tree'/><target dev='hdb' bus='ide'/></disk>
  <hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x02' slot='0x00' function='0x0'/></source></hostdev>
  <hostdev mode='subsystem' type='usb'><source><address bus='1' device='7'/></source></hostdev>
  <hostdev mode='capabilities' type='storage'><source><block>/dev/sdz</block></source></hostdev>
  <hostdev mode='subsystem' type='mdev' model='vfio-pci'><source><address uuid='c2177883-f1bb-47f0-914d-32a22e3a8804'/></source></hostdev>
  <serial type='pipe'><source path='/run/p'/><target port='0'/></serial>
  <serial type='file'><source path='/log/s1'/><target port='1'/></serial>
  <serial type='dev'><source path='/dev/ttyS9'><seclabel model='dac' relabel='no'/></source><target port='2'/></serial>
  <channel type='unix'><source mode='bind' path='/run/ch.sock'/><target type='virtio' name='a'/></channel>
  <console type='pty'><target type='serial' port='0'/></console>
  <input type='passthrough' bus='virtio'><source evdev='/dev/input/event3'/></input>
  <tpm model='tpm-tis'><backend type='passthrough'><device path='/dev/tpm0'/></backend></tpm>
  <smartcard mode='host-certificates'><certificate>a</certificate><certificate>b</certificate><certificate>c</certificate></smartcard>
  <graphics type='spice'><gl enable='yes' rendernode='/dev/dri/renderD128'/></graphics>`;

const OS =
  "<loader readonly='yes' type='pflash'>/fw/CODE.fd</loader><nvram>/var/nv.fd</nvram><kernel>/boot/vmlinuz</kernel>";
const def = (devices = DEVICES, os = OS) =>
  parseDomainXML(
    `<domain type='kvm'><name>p</name><memory>1</memory><os><type>hvm</type>${os}</os><devices>${devices}</devices></domain>`,
  );

const host = () =>
  recordingHost({
    files: {
      '/run/p.in': { kind: 'fifo' },
      '/run/p.out': { kind: 'fifo' },
      '/sys/bus/pci/devices/0000:02:00.0': { kind: 'dir' },
      '/sys/bus/pci/devices/0000:02:00.0/iommu_group': {
        kind: 'symlink',
        target: '../../../kernel/iommu_groups/12',
      },
      '/sys/class/tpm/tpm0/device/cancel': {},
    },
  });

/** One line per entry: kind and path (images: their top path). */
function summary(plan: SecurityPath[]): string[] {
  return plan.map((e) => {
    if (e.kind === 'unresolved') return `unresolved ${e.of}: ${(e.error as Error).message.split(':')[0]}`;
    if (e.kind === 'disk' || e.kind === 'nvram')
      return `${e.kind} ${e.image.path}${'dir' in e && e.dir ? ' (dir)' : ''}`;
    return `${e.kind} ${e.path}${e.kind === 'hostdev' && !e.remember ? ' (not remembered)' : ''}`;
  });
}

describe('domainSecurityPaths', () => {
  it("lists what SetAllLabel walks, in libvirt's order", async () => {
    const plan = await domainSecurityPaths(def(), 'dac', host(), 'set', true);
    expect(summary(plan)).toEqual([
      'disk /img/top.qcow2',
      'disk /img/tree (dir)',
      'rendernode /dev/dri/renderD128',
      'hostdev /dev/vfio/12 (not remembered)',
      'hostdev /dev/bus/usb/001/007',
      'hostdev /dev/sdz',
      'unresolved hostdev: ENOENT',
      'input /dev/input/event3',
      'tpm /dev/tpm0',
      'tpm /sys/class/tpm/tpm0/device/cancel',
      // pipe: both halves; file: virtlogd opens it; dev: relabel='no' for dac; bind socket: absent
      'chardev /run/p.in',
      'chardev /run/p.out',
      'smartcard-db /etc/pki/nssdb',
      'nvram /var/nv.fd',
      'os /boot/vmlinuz',
    ]);
  });

  it('restores in the same order, pipes reversed, without render nodes, per model', async () => {
    const plan = await domainSecurityPaths(def(), 'selinux', host(), 'restore');
    expect(summary(plan).filter((l) => /chardev|render/.test(l))).toEqual([
      'chardev /run/p.out',
      'chardev /run/p.in',
      'chardev /log/s1',
      'chardev /dev/ttyS9',
    ]);
  });

  it('reports a TPM without a cancel file when setting only', async () => {
    const h = recordingHost();
    const tpm = def("<tpm model='tpm-tis'><backend type='passthrough'/></tpm>", '');
    expect(summary(await domainSecurityPaths(tpm, 'selinux', h, 'set'))).toEqual([
      'tpm /dev/tpm0',
      'unresolved tpm: internal error',
    ]);
    expect(summary(await domainSecurityPaths(tpm, 'selinux', h, 'restore'))).toEqual(['tpm /dev/tpm0']);
  });
});
