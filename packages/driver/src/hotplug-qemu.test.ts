// The pieces of hotplug that need no guest: QEMU arguments taken from a command line, and the
// addresses libvirt's hotplug assigns.
import { parseDomainXML } from '@qvirt/core';
import { describe, expect, it } from 'vitest';
import { parseDevice } from './hotplug-device.js';
import {
  blockdevChain,
  chardevAddArgs,
  deviceProps,
  freePciAddress,
  freeUsbAddress,
  freeVirtioSerialAddress,
} from './hotplug-qemu.js';
import { INJECTED_FAULT, runSteps, setHotplugFault } from './hotplug-steps.js';

const args = [
  '-chardev',
  'socket,id=charchannel0,path=/run/a,,b.sock,server=on,wait=off',
  '-chardev',
  'pty,id=charserial1',
  '-chardev',
  'file,id=charserial2,path=/log/s.log,append=on',
  '-blockdev',
  '{"driver":"file","filename":"/d.img","node-name":"libvirt-3-storage"}',
  '-blockdev',
  '{"node-name":"libvirt-3-format","driver":"qcow2","file":"libvirt-3-storage"}',
  '-device',
  '{"driver":"virtio-blk-pci","drive":"libvirt-3-format","id":"virtio-disk1","bus":"pci.5","addr":"0x0"}',
];

describe('hotplug QEMU arguments', () => {
  it('turns -chardev options into chardev-add arguments', () => {
    expect(chardevAddArgs(args, 'charchannel0')).toEqual({
      args: {
        id: 'charchannel0',
        backend: {
          type: 'socket',
          data: { addr: { type: 'unix', data: { path: '/run/a,b.sock' } }, server: true, wait: false },
        },
      },
      path: '/run/a,b.sock',
    });
    expect(chardevAddArgs(args, 'charserial1').args).toEqual({
      id: 'charserial1',
      backend: { type: 'pty', data: {} },
    });
    expect(chardevAddArgs(args, 'charserial2').args.backend).toEqual({
      type: 'file',
      data: { out: '/log/s.log', append: true },
    });
    expect(() => chardevAddArgs(args, 'nope')).toThrow("internal error: no chardev properties for 'nope'");
  });

  it('finds a device and the block nodes under it', () => {
    const dev = deviceProps(args, 'virtio-disk1');
    expect(dev.bus).toBe('pci.5');
    expect(blockdevChain(args, dev.drive as string).map((n) => n['node-name'])).toEqual([
      'libvirt-3-format',
      'libvirt-3-storage',
    ]);
  });
});

describe('hotplug addresses', () => {
  const def =
    parseDomainXML(`<domain type='qemu'><name>a</name><memory>1</memory><os><type machine='q35'>hvm</type></os><devices>
    <controller type='pci' index='0' model='pcie-root'/>
    <controller type='pci' index='1' model='pcie-root-port'/>
    <controller type='pci' index='2' model='pcie-root-port'/>
    <controller type='usb' index='0' model='qemu-xhci'/>
    <controller type='virtio-serial' index='0'/>
    <interface type='user'><address type='pci' domain='0' bus='1' slot='0' function='0'/></interface>
    <input type='tablet' bus='usb'><address type='usb' bus='0' port='1'/></input>
    <channel type='pty'><target type='virtio' name='a'/><address type='virtio-serial' controller='0' bus='0' port='1'/></channel>
  </devices></domain>`);

  it('takes the first free root port, USB port and virtio-serial port', () => {
    expect(freePciAddress(def)).toEqual({ type: 'pci', domain: 0, bus: 2, slot: 0, function: 0 });
    expect(freeUsbAddress(def)).toEqual({ type: 'usb', bus: 0, port: '2' });
    expect(freeVirtioSerialAddress(def, false)).toMatchObject({ controller: 0, bus: 0, port: 2 });
    expect(freeVirtioSerialAddress(def, true)).toMatchObject({ port: 0 });
    // a conventional PCI device needs a pcie-to-pci-bridge, which hotplug never adds
    expect(() => freePciAddress(def, true)).toThrow('internal error: No more available PCI slots');
  });

  it('parses the one device of a hotplug XML', () => {
    expect(
      parseDevice("<rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>"),
    ).toMatchObject({
      kind: 'rng',
      dev: { model: 'virtio' },
    });
  });
});

describe('hotplug steps', () => {
  it('undoes the steps done, newest first, when step N fails', async () => {
    const log: string[] = [];
    const steps = ['a', 'b', 'c'].map((name) => ({
      name,
      run: async () => {
        log.push(`+${name}`);
      },
      undo: async () => {
        log.push(`-${name}`);
      },
    }));
    setHotplugFault(3);
    try {
      await expect(runSteps(steps)).rejects.toThrow(`${INJECTED_FAULT} 3 (c)`);
    } finally {
      setHotplugFault(undefined);
    }
    expect(log).toEqual(['+a', '+b', '-b', '-a']);
  });
});
