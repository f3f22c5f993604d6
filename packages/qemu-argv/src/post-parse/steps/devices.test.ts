import { formatDomainXML, parseDomainXML } from '@qvirt/core';
import { describe, expect, it } from 'vitest';
import { referenceContext } from '../../context.js';
import { canonicalizeDomain } from '../index.js';

function canon(devices: string, machine = 'pc'): string {
  const xml = `<domain type='qemu'><name>t</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>
  <memory>219100</memory><os><type arch='x86_64' machine='${machine}'>hvm</type></os>
  <devices>${devices}</devices></domain>`;
  return formatDomainXML(canonicalizeDomain(parseDomainXML(xml), referenceContext()));
}

const lines = (text: string, re: RegExp): string[] =>
  text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => re.test(l));

describe('implicit controllers', () => {
  it('gives an i440fx guest piix3-uhci, its disk controller and pci-root, in libvirt order', () => {
    const out = canon(`<disk type='file' device='disk'><source file='/a'/><target dev='hda'/></disk>`);
    expect(lines(out, /^<controller/)).toEqual([
      "<controller type='usb' index='0' model='piix3-uhci'>",
      "<controller type='pci' index='0' model='pci-root'/>",
      "<controller type='ide' index='0'>",
    ]);
  });

  it('gives a q35 guest qemu-xhci, sata and pcie-root', () => {
    const out = canon('', 'q35');
    expect(lines(out, /^<controller type='(usb|sata|pci)' index='0'/)).toEqual([
      "<controller type='usb' index='0' model='qemu-xhci'>",
      "<controller type='sata' index='0'>",
      "<controller type='pci' index='0' model='pcie-root'/>",
    ]);
  });

  it('numbers controllers without index and sorts parsed ones by index', () => {
    const out = canon(`<controller type='usb' model='none'/><controller type='scsi' index='1'/>
      <controller type='scsi' index='0' model='virtio-scsi'/>`);
    expect(lines(out, /^<controller type='(usb|scsi)'/)).toEqual([
      "<controller type='usb' index='0' model='none'/>",
      "<controller type='scsi' index='0' model='virtio-scsi'>",
      "<controller type='scsi' index='1' model='lsilogic'>",
    ]);
  });

  it('adds virtio-serial for virtio channels and ccid for smartcards', () => {
    const out = canon(`<channel type='pty'><target type='virtio' name='x'/></channel>
      <smartcard mode='host'/>`);
    expect(out).toContain("<controller type='virtio-serial' index='0'");
    expect(out).toContain("<controller type='ccid' index='0'");
    expect(out).toContain("<address type='ccid' controller='0' slot='0'/>");
  });
});

describe('character devices', () => {
  it('turns a lone console into serial 0 and prints serial 0 for it', () => {
    const out = canon(`<console type='pty'><target port='0'/></console>`);
    expect(out).toContain("<target type='isa-serial' port='0'>");
    expect(out).toContain("<model name='isa-serial'/>");
    expect(out).toContain("<target type='serial' port='0'/>");
  });

  it("forgets a virtio channel's socket in libvirt's channel directory", () => {
    const out = canon(`<channel type='unix'><source mode='bind' path='/x/domain-1-t/org.qemu.guest_agent.0'/>
      <target type='virtio' name='org.qemu.guest_agent.0'/></channel>`);
    expect(out).not.toContain('<source');
  });
});

describe('display and other defaults', () => {
  it('adds a primary cirrus card, vnc autoport and a none audio backend for VNC', () => {
    const out = canon(`<graphics type='vnc'/>`);
    expect(out).toContain("<graphics type='vnc' port='-1' autoport='yes'>");
    expect(out).toContain("<listen type='address'/>");
    expect(out).toContain("<model type='cirrus' vram='16384' heads='1' primary='yes'/>");
    expect(out).toContain("<audio id='1' type='none'/>");
  });

  it('gives spice a spice audio backend and qxl its memory sizes', () => {
    const out = canon(`<graphics type='spice' autoport='yes'/><video><model type='qxl'/></video>`);
    expect(out).toContain("<audio id='1' type='spice'/>");
    expect(out).toContain(
      "<model type='qxl' ram='65536' vram='65536' vgamem='16384' heads='1' primary='yes'/>",
    );
  });

  it('defaults the NIC model to rtl8139 and generates a 52:54:00 MAC', () => {
    const out = canon(`<interface type='user'/>`);
    expect(out).toMatch(/<mac address='52:54:00:[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}'\/>/);
    expect(out).toContain("<model type='rtl8139'/>");
  });

  it('makes cdroms read-only and fills network host ports', () => {
    const out = canon(`<disk type='network' device='cdrom'><source protocol='http' name='/x.iso'>
      <host name='example.org'/></source><target dev='hdc' tray='closed'/></disk>`);
    expect(out).toContain("<host name='example.org' port='80'/>");
    expect(out).toContain('<readonly/>');
    expect(out).toContain("<target dev='hdc' bus='ide'/>");
  });
});
