import { parseDomainXML } from '@qvirt/core';
import { describe, expect, it } from 'vitest';
import { referenceContext } from '../../context.js';
import { domxmlToCommandLine } from '../../native.js';
import { rewriteInterfacesForNative } from './io-net.js';

const domain = (devices: string, machine = 'pc') =>
  `<domain type='qemu'><name>io</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>` +
  `<memory>65536</memory><os><type arch='x86_64' machine='${machine}'>hvm</type></os><devices>` +
  `<emulator>/usr/bin/qemu-system-x86_64</emulator>${devices}<memballoon model='none'/></devices></domain>`;

function args(devices: string, machine?: string): string[] {
  return domxmlToCommandLine(domain(devices, machine), referenceContext()).args;
}

/** The values following each occurrence of `option`. */
function values(words: string[], option: string): string[] {
  return words.flatMap((w, i) => (w === option ? [words[i + 1]!] : []));
}

const devices = (words: string[]) => values(words, '-device').map((v) => JSON.parse(v));

describe('interfaces (domxml-to-native)', () => {
  it('turns every interface into a tap netdev and drops driver options', () => {
    const words = args(
      `<interface type='network'><mac address='52:54:00:11:22:33'/><source network='default'/>` +
        `<model type='ViRtIo'/><driver queues='4' rx_queue_size='512'/><rom bar='off'/></interface>`,
    );
    const netdev = values(words, '-netdev');
    expect(netdev).toHaveLength(1);
    expect(JSON.parse(netdev[0]!)).toEqual({
      type: 'tap',
      fd: expect.stringMatching(/^\d+$/),
      id: 'hostnet0',
    });
    const nic = devices(words).find((d) => d.netdev);
    expect(nic).toMatchObject({
      driver: 'virtio-net-pci',
      netdev: 'hostnet0',
      id: 'net0',
      mac: '52:54:00:11:22:33',
    });
    expect(Object.keys(nic)).not.toContain('rx_queue_size');
    expect(Object.keys(nic)).not.toContain('rombar');
  });

  it('gives a rewritten interface no address, so it can be placed anew', () => {
    const def = parseDomainXML(
      domain(
        `<interface type='user' ><mac address='52:54:00:11:22:33'/><model type='e1000'/><boot order='2'/>` +
          `<alias name='ua-x'/><address type='pci' domain='0' bus='0' slot='9' function='0'/></interface>`,
      ),
    );
    rewriteInterfacesForNative(def);
    expect(def.devices?.interface?.[0]).toEqual({
      type: 'ethernet',
      mac: { address: '52:54:00:11:22:33' },
      model: { type: 'e1000' },
      boot: { order: 2 },
    });
  });
});

describe('character devices', () => {
  it('builds a serial chardev and its isa-serial device', () => {
    const words = args(
      `<serial type='file'><source path='/tmp/a,b.log' append='on'/><log file='/tmp/l.log' append='off'/>` +
        `<target type='isa-serial' port='0'><model name='isa-serial'/></target></serial>`,
    );
    expect(values(words, '-chardev')).toContain(
      'file,id=charserial0,path=/tmp/a,,b.log,append=on,logfile=/tmp/l.log,logappend=off',
    );
    expect(devices(words)).toContainEqual({
      driver: 'isa-serial',
      chardev: 'charserial0',
      id: 'serial0',
      index: 0,
    });
  });

  it('prints udp and tcp sources as libvirt does', () => {
    const words = args(
      `<serial type='udp'><source mode='connect' service='9999'/><target port='0'/></serial>` +
        `<serial type='tcp'><source mode='bind' host='127.0.0.1' service='9999'/><protocol type='telnet'/>` +
        `<target port='1'/></serial>`,
    );
    const chardevs = values(words, '-chardev');
    expect(chardevs).toContain('udp,id=charserial0,host=,port=9999,localaddr=,localport=0');
    expect(chardevs).toContain('socket,id=charserial1,host=127.0.0.1,port=9999,telnet=on,server=on,wait=off');
  });

  it('places a unix guest agent channel without a path in the domain channel directory', () => {
    const words = args(
      `<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>` +
        `<channel type='spicevmc'><target type='virtio'/></channel><graphics type='spice'/>`,
    );
    expect(values(words, '-chardev')).toContain(
      'socket,id=charchannel0,path=/var/lib/libvirt/qemu/channel/target/domain--1-io/org.qemu.guest_agent.0,server=on,wait=off',
    );
    expect(values(words, '-chardev')).toContain('spicevmc,id=charchannel1,name=vdagent');
    const ports = devices(words).filter((d) => d.driver === 'virtserialport');
    expect(ports.map((p) => p.name)).toEqual(['org.qemu.guest_agent.0', 'com.redhat.spice.0']);
    expect(ports[0]).toMatchObject({
      bus: 'virtio-serial0.0',
      nr: 1,
      chardev: 'charchannel0',
      id: 'channel0',
    });
  });
});

describe('chardev TLS and guestfwd', () => {
  it('adds the tls-creds-x509 object before a TLS tcp chardev', () => {
    const words = args(
      `<serial type='tcp'><source mode='connect' host='127.0.0.1' service='5555' tls='yes'/>` +
        `<target port='0'/></serial>`,
    );
    const i = words.indexOf('socket,id=charserial0,host=127.0.0.1,port=5555,tls-creds=objcharserial0_tls0');
    expect(i).toBeGreaterThan(0);
    expect(JSON.parse(words[i - 2]!)).toEqual({
      'qom-type': 'tls-creds-x509',
      id: 'objcharserial0_tls0',
      dir: '/etc/pki/qemu',
      endpoint: 'client',
      'verify-peer': true,
    });
  });

  it('forwards a guestfwd channel through a user netdev', () => {
    const words = args(
      `<channel type='pipe'><source path='/tmp/guestfwd'/>` +
        `<target type='guestfwd' address='10.0.2.1' port='4600'/></channel>`,
    );
    expect(values(words, '-chardev')).toContain('pipe,id=charchannel0,path=/tmp/guestfwd');
    expect(JSON.parse(values(words, '-netdev')[0]!)).toEqual({
      type: 'user',
      guestfwd: [{ str: 'tcp:10.0.2.1:4600-chardev:charchannel0' }],
      id: 'channel0',
    });
  });
});

describe('TPM, redirdev, RNG, host devices', () => {
  it('gives a TPM emulator a null chardev when only printing the command line', () => {
    const words = args(`<tpm model='tpm-tis'><backend type='emulator' version='2.0'/></tpm>`);
    expect(values(words, '-chardev')).toContain('null,id=chrtpm');
    expect(values(words, '-tpmdev')).toEqual(['emulator,id=tpm-tpm0,chardev=chrtpm']);
    expect(devices(words)).toContainEqual({ driver: 'tpm-tis', tpmdev: 'tpm-tpm0', id: 'tpm0' });
  });

  it('writes the redirfilter as usb-redir filter', () => {
    const words = args(
      `<controller type='usb' model='ich9-ehci1'/><redirdev bus='usb' type='spicevmc'/>` +
        `<redirfilter><usbdev class='0x08' vendor='0x15E1' product='0x2007' version='1.10' allow='yes'/>` +
        `<usbdev allow='no'/></redirfilter><graphics type='spice'/>`,
    );
    expect(values(words, '-chardev')).toContain('spicevmc,id=charredir0,name=usbredir');
    expect(devices(words).find((d) => d.driver === 'usb-redir')).toMatchObject({
      chardev: 'charredir0',
      id: 'redir0',
      filter: '0x08:0x15E1:0x2007:0x0110:1|-1:-1:-1:-1:0',
    });
  });

  it('gives an RNG rate a default period of 1000 ms', () => {
    const words = args(
      `<rng model='virtio'><rate bytes='123'/><backend model='random'>/dev/urandom</backend></rng>`,
    );
    expect(values(words, '-object').map((v) => JSON.parse(v))).toContainEqual({
      'qom-type': 'rng-random',
      id: 'objrng0',
      filename: '/dev/urandom',
    });
    expect(devices(words).find((d) => d.driver === 'virtio-rng-pci')).toMatchObject({
      rng: 'objrng0',
      id: 'rng0',
      'max-bytes': 123,
      period: 1000,
    });
  });

  it('refuses a PCI host device without the vfio backend', () => {
    expect(() =>
      args(
        `<hostdev mode='subsystem' type='pci' managed='yes'><source>` +
          `<address domain='0x0000' bus='0x06' slot='0x12' function='0x5'/></source></hostdev>`,
      ),
    ).toThrow("internal error: invalid PCI passthrough type 'default'");
  });

  it('attaches an iSCSI host device through an iscsi blockdev after the disks', () => {
    const words = args(
      `<disk type='file' device='disk'><source file='/tmp/a.img'/><target dev='hda' bus='ide'/></disk>` +
        `<controller type='scsi' index='0' model='virtio-scsi'/>` +
        `<hostdev mode='subsystem' type='scsi'><source protocol='iscsi' name='iqn.1992-01.com.example:storage/1'>` +
        `<host name='example.org' port='3260'/></source>` +
        `<address type='drive' controller='0' bus='0' target='0' unit='4'/></hostdev>`,
    );
    expect(values(words, '-blockdev').map((v) => JSON.parse(v))).toContainEqual({
      driver: 'iscsi',
      portal: 'example.org:3260',
      target: 'iqn.1992-01.com.example:storage',
      lun: 1,
      transport: 'tcp',
      'node-name': 'libvirt-2-backend',
      'read-only': false,
    });
    expect(devices(words).find((d) => d.driver === 'scsi-generic')).toEqual({
      driver: 'scsi-generic',
      drive: 'libvirt-2-backend',
      id: 'hostdev0',
      bus: 'scsi0.0',
      channel: 0,
      'scsi-id': 0,
      lun: 4,
    });
  });

  it('uses vfio-pci-nohotplug for a mediated device with ramfb', () => {
    const words = args(
      `<hostdev mode='subsystem' type='mdev' model='vfio-pci' display='on' ramfb='on'><source>` +
        `<address uuid='53764d0e-85a0-42b4-af5c-2046b460b1dc'/></source></hostdev><graphics type='vnc'/>`,
    );
    expect(devices(words).find((d) => d.sysfsdev)).toMatchObject({
      driver: 'vfio-pci-nohotplug',
      id: 'hostdev0',
      sysfsdev: '/sys/bus/mdev/devices/53764d0e-85a0-42b4-af5c-2046b460b1dc',
      display: 'on',
      ramfb: true,
    });
  });
});
