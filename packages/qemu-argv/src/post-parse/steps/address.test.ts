import { formatDomainXML, parseDomainXML } from '@qvirt/core';
import { describe, expect, it } from 'vitest';
import { referenceContext } from '../../context.js';
import { canonicalizeDomain } from '../index.js';

function canon(devices: string, machine = 'pc', extra = ''): string {
  const xml = `<domain type='qemu'><name>t</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>
  <memory>219100</memory>${extra}<os><type arch='x86_64' machine='${machine}'>hvm</type></os>
  <devices>${devices}</devices></domain>`;
  return formatDomainXML(canonicalizeDomain(parseDomainXML(xml), referenceContext()));
}

/** Each device's opening tag followed by its `<address>` (and PCI controllers' model/target). */
function addresses(text: string): string[] {
  const out: string[] = [];
  let device = '';
  for (const raw of text.split('\n')) {
    const l = raw.trim();
    if (/^ {4}<[a-z]/.test(raw)) device = l.replace(/>$/, '').replace(/\/$/, '');
    if (/^<address /.test(l) && /^ {6}<address/.test(raw)) out.push(`${device} @ ${l}`);
    if (/^<(model name|target chassis)/.test(l) && device.startsWith("<controller type='pci'"))
      out.push(`${device} ${l}`);
  }
  return out;
}

const pci = (bus: number, slot: number, fn = 0, multi = false) =>
  `<address type='pci' domain='0x0000' bus='0x${bus.toString(16).padStart(2, '0')}' slot='0x${slot
    .toString(16)
    .padStart(2, '0')}' function='0x${fn}'${multi ? " multifunction='on'" : ''}/>`;

// libvirt puts floppies, and only floppies, on the fdc bus (virDomainDiskDefValidate)
const disk = (dev: string, bus: string) =>
  `<disk type='file' device='${bus === 'fdc' ? 'floppy' : 'disk'}'><source file='/${dev}'/><target dev='${dev}' bus='${bus}'/></disk>`;

describe('PCI addresses on i440fx', () => {
  it('puts the PIIX3 functions on slot 1, the primary video on 2, then devices in libvirt order', () => {
    const out = addresses(
      canon(`${disk('hda', 'ide')}${disk('vda', 'virtio')}
        <interface type='user'><mac address='52:54:00:00:00:01'/><model type='virtio'/></interface>
        <video><model type='vga'/></video>`),
    );
    expect(out.filter((l) => l.includes("type='pci'"))).toEqual([
      `<disk type='file' device='disk' @ ${pci(0, 4)}`,
      `<controller type='usb' index='0' model='piix3-uhci' @ ${pci(0, 1, 2)}`,
      `<controller type='ide' index='0' @ ${pci(0, 1, 1)}`,
      `<interface type='user' @ ${pci(0, 3)}`,
      `<video @ ${pci(0, 2)}`,
      `<memballoon model='virtio' @ ${pci(0, 5)}`,
    ]);
  });

  it('adds a pci-bridge for a device placed on bus 1, with its chassisNr', () => {
    const out = addresses(
      canon(`<interface type='user'><mac address='52:54:00:00:00:01'/><model type='e1000'/>
        <address type='pci' bus='1' slot='3'/></interface>`),
    );
    expect(out).toContain("<controller type='pci' index='1' model='pci-bridge' <model name='pci-bridge'/>");
    expect(out).toContain("<controller type='pci' index='1' model='pci-bridge' <target chassisNr='1'/>");
    expect(out).toContain(`<interface type='user' @ ${pci(1, 3)}`);
  });

  it('refuses two devices on one PCI address', () => {
    expect(() =>
      canon(`<controller type='ide' index='0'/>
        <interface type='user'><mac address='52:54:00:00:00:01'/><address type='pci' slot='1' function='1'/></interface>`),
    ).toThrow('XML error: Attempted double use of PCI Address 0000:00:01.1');
  });
});

describe('PCI addresses on q35', () => {
  it('adds pcie-root-ports for PCIe devices plus one spare, multifunction on slot 1', () => {
    const out = addresses(canon('', 'q35'));
    expect(out).toEqual([
      `<controller type='usb' index='0' model='qemu-xhci' @ ${pci(1, 0)}`,
      `<controller type='sata' index='0' @ ${pci(0, 0x1f, 2)}`,
      "<controller type='pci' index='1' model='pcie-root-port' <model name='pcie-root-port'/>",
      "<controller type='pci' index='1' model='pcie-root-port' <target chassis='1' port='0x8'/>",
      `<controller type='pci' index='1' model='pcie-root-port' @ ${pci(0, 1, 0, true)}`,
      "<controller type='pci' index='2' model='pcie-root-port' <model name='pcie-root-port'/>",
      "<controller type='pci' index='2' model='pcie-root-port' <target chassis='2' port='0x9'/>",
      `<controller type='pci' index='2' model='pcie-root-port' @ ${pci(0, 1, 1)}`,
      "<controller type='pci' index='3' model='pcie-root-port' <model name='pcie-root-port'/>",
      "<controller type='pci' index='3' model='pcie-root-port' <target chassis='3' port='0xa'/>",
      `<controller type='pci' index='3' model='pcie-root-port' @ ${pci(0, 1, 2)}`,
      `<memballoon model='virtio' @ ${pci(2, 0)}`,
    ]);
  });

  it('plugs a conventional PCI device into a pcie-to-pci-bridge behind its own root port', () => {
    const out = addresses(
      canon(
        `<interface type='user'><mac address='52:54:00:00:00:01'/><model type='rtl8139'/></interface>
        <memballoon model='none'/><controller type='usb' model='none'/>`,
        'q35',
      ),
    );
    expect(out).toContain(`<interface type='user' @ ${pci(2, 1)}`);
    expect(out).toContain(
      "<controller type='pci' index='2' model='pcie-to-pci-bridge' <model name='pcie-pci-bridge'/>",
    );
    expect(out).toContain(`<controller type='pci' index='2' model='pcie-to-pci-bridge' @ ${pci(1, 0)}`);
  });

  it('keeps ICH9 USB2 companions on one slot, 0x1d first', () => {
    const out = addresses(
      canon(
        `<controller type='usb' index='0' model='ich9-ehci1'/><controller type='usb' index='0' model='ich9-uhci1'/>
        <controller type='usb' index='0' model='ich9-uhci2'/><controller type='usb' index='0' model='ich9-uhci3'/>`,
        'q35',
      ),
    ).filter((l) => l.startsWith("<controller type='usb'"));
    expect(out.map((l) => l.replace(/^.* @ /, ''))).toEqual([
      pci(0, 0x1d, 7),
      pci(0, 0x1d, 0, true),
      pci(0, 0x1d, 1),
      pci(0, 0x1d, 2),
    ]);
  });
});

describe('drive addresses', () => {
  it('maps target names to controller/bus/unit per bus type', () => {
    const out = addresses(
      canon(disk('hdc', 'ide') + disk('sdh', 'sata') + disk('sdi', 'scsi') + disk('fdb', 'fdc')),
    );
    const drives = out.filter((l) => l.includes("type='drive'")).map((l) => l.replace(/^.* @ /, ''));
    expect(drives).toContain("<address type='drive' controller='0' bus='1' target='0' unit='0'/>");
    expect(drives).toContain("<address type='drive' controller='1' bus='0' target='0' unit='1'/>");
    expect(drives).toContain("<address type='drive' controller='1' bus='0' target='0' unit='1'/>");
    expect(drives).toContain("<address type='drive' controller='0' bus='0' target='0' unit='1'/>");
  });

  it('completes a partial drive address', () => {
    const out = canon(`<disk type='file' device='disk'><source file='/a'/><target dev='hda' bus='ide'/>
      <address type='drive' controller='0' bus='1' unit='1'/></disk>`);
    expect(out).toContain("<address type='drive' controller='0' bus='1' target='0' unit='1'/>");
  });
});

describe('USB, virtio-serial, DIMM', () => {
  it('gives USB devices free ports and adds a hub when the controller runs out', () => {
    const out = addresses(
      canon(
        `<input type='tablet' bus='usb'/><input type='mouse' bus='usb'/><input type='keyboard' bus='usb'/>`,
      ),
    ).filter((l) => l.includes("type='usb' bus"));
    // The hub is addressed first, then the devices take the free ports, root ports first.
    expect(out).toEqual([
      "<input type='tablet' bus='usb' @ <address type='usb' bus='0' port='2'/>",
      "<input type='mouse' bus='usb' @ <address type='usb' bus='0' port='1.1'/>",
      "<input type='keyboard' bus='usb' @ <address type='usb' bus='0' port='1.2'/>",
      "<hub type='usb' @ <address type='usb' bus='0' port='1'/>",
    ]);
  });

  it('refuses a USB port path deeper than four', () => {
    expect(() =>
      canon(`<input type='tablet' bus='usb'><address type='usb' bus='0' port='1.1.1.1.1'/></input>`),
    ).toThrow("internal error: Cannot parse <address> 'port' attribute");
  });

  it('numbers virtio channels from port 1 and leaves virtio consoles without an address', () => {
    const out = addresses(
      canon(`<console type='pty'><target type='virtio'/></console>
        <channel type='pty'><target type='virtio' name='a'/></channel>
        <channel type='pty'><target type='virtio' name='b'/></channel>`),
    ).filter((l) => l.includes("address type='virtio-serial'"));
    expect(out.map((l) => l.replace(/^.* @ /, ''))).toEqual([
      "<address type='virtio-serial' controller='0' bus='0' port='1'/>",
      "<address type='virtio-serial' controller='0' bus='0' port='2'/>",
    ]);
  });

  it('gives DIMMs the free memory slots', () => {
    const mem = (slot = '') =>
      `<memory model='dimm'><target><size unit='KiB'>65536</size><node>0</node></target>${slot}</memory>`;
    const out = canon(
      mem() + mem("<address type='dimm' slot='0'/>"),
      'pc',
      "<maxMemory slots='4' unit='KiB'>4194304</maxMemory><cpu><numa><cell id='0' cpus='0' memory='219100'/></numa></cpu>",
    );
    expect(addresses(out).filter((l) => l.includes('dimm'))).toEqual([
      "<memory model='dimm' @ <address type='dimm' slot='1'/>",
      "<memory model='dimm' @ <address type='dimm' slot='0'/>",
    ]);
  });
});
