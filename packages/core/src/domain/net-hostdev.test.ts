import { describe, expect, it } from 'vitest';
import { formatDomainXML, parseDomainXML, unknownParts } from './domain-xml.js';

const wrap = (devices: string) =>
  `<domain type='qemu'><name>t</name><os><type>hvm</type></os><devices>${devices}</devices></domain>`;

/** The formatted `<devices>` content, de-indented to column 0. */
function devicesOut(xml: string): string {
  const out = formatDomainXML(parseDomainXML(wrap(xml)));
  const lines = out.split('\n');
  const start = lines.indexOf('  <devices>');
  const end = lines.indexOf('  </devices>');
  return lines
    .slice(start + 1, end)
    .map((l) => l.slice(4))
    .join('\n');
}

const dedent = (s: string) =>
  s
    .replace(/^\n/, '')
    .replace(/\n\s*$/, '')
    .split('\n')
    .map((l) => l.replace(/^ {6}/, ''))
    .join('\n');

describe('<interface>', () => {
  it('network with vlan and virtualport (xml2xml net-openvswitch)', () => {
    const xml = dedent(`
      <interface type='network'>
        <mac address='00:11:22:33:44:55'/>
        <source network='ovs-net'/>
        <vlan trunk='yes'>
          <tag id='42'/>
          <tag id='48' nativeMode='untagged'/>
        </vlan>
        <virtualport type='openvswitch'>
          <parameters interfaceid='09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f' profileid='bob'/>
        </virtualport>
        <model type='rtl8139'/>
        <address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0'/>
      </interface>`);
    const def = parseDomainXML(wrap(xml));
    expect(def.devices!.interface![0]).toEqual({
      type: 'network',
      mac: { address: '00:11:22:33:44:55' },
      source: { network: 'ovs-net' },
      vlan: { trunk: 'yes', tag: [{ id: 42 }, { id: 48, nativeMode: 'untagged' }] },
      virtualport: {
        type: 'openvswitch',
        parameters: { interfaceid: '09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f', profileid: 'bob' },
      },
      model: { type: 'rtl8139' },
      address: { type: 'pci', domain: 0, bus: 0, slot: 2, function: 0 },
    });
    expect(unknownParts(def)).toEqual([]);
    expect(devicesOut(xml)).toBe(xml);
  });

  it('puts every child in virDomainNetDefFormat order', () => {
    const scrambled = `<interface type='ethernet' trustGuestRxFilters='no'>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0'/>
      <acpi index='4'/><rom bar='off'/><alias name='ua-net0'/><boot order='2'/>
      <coalesce><rx><frames max='7'/></rx></coalesce><mtu size='9000'/><link state='down'/>
      <teaming type='persistent'/><tune><sndbuf>1600</sndbuf></tune>
      <filterref filter='clean-traffic'><parameter name='IP' value='10.0.0.1'/></filterref>
      <backend tap='/dev/net/tun' vhost='/dev/vhost-net'/>
      <driver queues='4' name='vhost' iommu='on' txmode='iothread' rx_queue_size='512'>
        <guest tso4='off' csum='off'/><host mrg_rxbuf='off' csum='off'/>
      </driver>
      <model type='virtio'/><guest dev='eth0'/><target managed='no' dev='tap0'/>
      <downscript path='/etc/qemu-ifdown'/><script path='/etc/qemu-ifup'/>
      <portForward proto='tcp' address='192.168.0.1'><range start='22' to='2022'/></portForward>
      <route gateway='192.168.122.1' address='0.0.0.0' family='ipv4' prefix='0'/>
      <ip prefix='24' address='192.168.122.5'/>
      <bandwidth><outbound average='128'/><inbound burst='1024' average='1000'/></bandwidth>
      <source><route address='1.2.3.0' gateway='1.2.3.1' prefix='24'/><ip address='1.2.3.4' prefix='24'/></source>
      <mac check='no' address='52:54:00:00:00:01' type='static'/>
    </interface>`;
    const def = parseDomainXML(wrap(scrambled));
    expect(unknownParts(def)).toEqual([]);
    expect(def.devices!.interface![0]!.driver).toEqual({
      name: 'vhost',
      txmode: 'iothread',
      queues: 4,
      rx_queue_size: 512,
      iommu: 'on',
      host: { csum: 'off', mrg_rxbuf: 'off' },
      guest: { csum: 'off', tso4: 'off' },
    });
    expect(def.devices!.interface![0]!.tune).toEqual({ sndbuf: '1600' });
    expect(devicesOut(scrambled)).toBe(
      dedent(`
      <interface type='ethernet' trustGuestRxFilters='no'>
        <mac address='52:54:00:00:00:01' type='static' check='no'/>
        <source>
          <ip address='1.2.3.4' prefix='24'/>
          <route address='1.2.3.0' prefix='24' gateway='1.2.3.1'/>
        </source>
        <bandwidth>
          <inbound average='1000' burst='1024'/>
          <outbound average='128'/>
        </bandwidth>
        <ip address='192.168.122.5' prefix='24'/>
        <route family='ipv4' address='0.0.0.0' prefix='0' gateway='192.168.122.1'/>
        <portForward proto='tcp' address='192.168.0.1'>
          <range start='22' to='2022'/>
        </portForward>
        <script path='/etc/qemu-ifup'/>
        <downscript path='/etc/qemu-ifdown'/>
        <target dev='tap0' managed='no'/>
        <guest dev='eth0'/>
        <model type='virtio'/>
        <driver name='vhost' txmode='iothread' queues='4' rx_queue_size='512' iommu='on'>
          <host csum='off' mrg_rxbuf='off'/>
          <guest csum='off' tso4='off'/>
        </driver>
        <backend tap='/dev/net/tun' vhost='/dev/vhost-net'/>
        <filterref filter='clean-traffic'>
          <parameter name='IP' value='10.0.0.1'/>
        </filterref>
        <tune>
          <sndbuf>1600</sndbuf>
        </tune>
        <teaming type='persistent'/>
        <link state='down'/>
        <mtu size='9000'/>
        <coalesce>
          <rx>
            <frames max='7'/>
          </rx>
        </coalesce>
        <boot order='2'/>
        <alias name='ua-net0'/>
        <rom bar='off'/>
        <acpi index='4'/>
        <address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0'/>
      </interface>`),
    );
  });

  it('udp, vhostuser and server sources (xml2xml net-udp, net-vhostuser)', () => {
    const xml = dedent(`
      <interface type='udp'>
        <mac address='52:54:00:8c:b9:05'/>
        <source address='192.168.10.1' port='5555'>
          <local address='192.168.10.1' port='5556'/>
        </source>
        <model type='rtl8139'/>
      </interface>
      <interface type='vhostuser'>
        <mac address='52:54:00:ee:96:6b'/>
        <source type='unix' path='/tmp/vhost0.sock' mode='server'>
          <reconnect enabled='yes' timeout='10'/>
        </source>
        <model type='virtio'/>
      </interface>
      <interface type='server'>
        <mac address='52:54:00:95:db:c0'/>
        <source port='2015'/>
        <model type='rtl8139'/>
      </interface>`);
    const def = parseDomainXML(wrap(xml));
    const [udp, vhost] = def.devices!.interface!;
    expect(udp!.source).toEqual({
      address: '192.168.10.1',
      port: 5555,
      local: { address: '192.168.10.1', port: 5556 },
    });
    expect(vhost!.source).toEqual({
      type: 'unix',
      path: '/tmp/vhost0.sock',
      mode: 'server',
      reconnect: { enabled: 'yes', timeout: 10 },
    });
    expect(devicesOut(xml)).toBe(xml);
  });

  it("type='hostdev' prints <driver> before <source>; type='vds' its own source order", () => {
    const xml = dedent(`
      <interface type='hostdev' managed='yes'>
        <mac address='00:11:22:33:44:55'/>
        <driver name='vfio'/>
        <source>
          <address type='pci' domain='0x0000' bus='0x00' slot='0x07' function='0x0'/>
        </source>
        <virtualport type='802.1Qbh'>
          <parameters profileid='myprofileid'/>
        </virtualport>
        <boot order='1'/>
      </interface>
      <interface type='hostdev'>
        <mac address='00:11:22:33:44:56'/>
        <source>
          <address type='usb' bus='1' device='3'/>
        </source>
      </interface>
      <interface type='vds'>
        <mac address='00:11:22:33:44:57'/>
        <source switchid='12345678-1234-1234-1234-123456789abc' portid='6' portgroupid='pg' connectionid='17'/>
      </interface>`);
    const def = parseDomainXML(wrap(xml));
    const [pci, usb] = def.devices!.interface!;
    expect(pci!.source).toEqual({ hostdevAddress: { type: 'pci', domain: 0, bus: 0, slot: 7, function: 0 } });
    expect(usb!.source).toEqual({ hostdevAddress: { type: 'usb', bus: 1, device: 3 } });
    expect(unknownParts(def)).toEqual([]);
    expect(devicesOut(xml)).toBe(xml);
    const scrambled = `<interface type='hostdev' managed='yes'><boot order='1'/>
      <source><address type='pci' domain='0x0000' bus='0x00' slot='0x07' function='0x0'/></source>
      <virtualport type='802.1Qbh'><parameters profileid='myprofileid'/></virtualport>
      <driver name='vfio'/><mac address='00:11:22:33:44:55'/></interface>`;
    expect(devicesOut(scrambled)).toBe(xml.split('\n').slice(0, 11).join('\n'));
  });
});

describe('<hostdev>', () => {
  it('pci with teaming, and usb: host bus hex for pci, decimal for usb (xml2xml net-virtio-teaming-hostdev)', () => {
    const xml = dedent(`
      <hostdev mode='subsystem' type='pci' managed='yes'>
        <driver name='vfio'/>
        <source writeFiltering='no'>
          <address domain='0x0000' bus='0x03' slot='0x07' function='0x1'/>
        </source>
        <teaming type='transient' persistent='ua-backup0'/>
        <alias name='hostdev0'/>
        <rom bar='on' file='/etc/fake/boot.bin'/>
        <address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x0'/>
      </hostdev>
      <hostdev mode='subsystem' type='usb' managed='no'>
        <source startupPolicy='optional' guestReset='off'>
          <vendor id='0x1234'/>
          <product id='0xbeef'/>
          <address bus='14' device='6'/>
        </source>
        <boot order='2'/>
      </hostdev>`);
    const def = parseDomainXML(wrap(xml));
    const [pci, usb] = def.devices!.hostdev!;
    expect(pci).toMatchObject({
      mode: 'subsystem',
      type: 'pci',
      managed: 'yes',
      driver: { name: 'vfio' },
      source: { writeFiltering: 'no', address: { domain: 0, bus: 3, slot: 7, function: 1 } },
      teaming: { type: 'transient', persistent: 'ua-backup0' },
    });
    expect(usb!.source).toEqual({
      startupPolicy: 'optional',
      guestReset: 'off',
      vendor: { id: 0x1234 },
      product: { id: 0xbeef },
      address: { bus: 14, device: 6 },
    });
    expect(unknownParts(def)).toEqual([]);
    expect(devicesOut(xml)).toBe(xml);
    // USB bus and device are read with base 0 and printed in decimal.
    expect(devicesOut(xml.replace("bus='14' device='6'", "device='0x6' bus='0xe'"))).toBe(xml);
  });

  it('scsi adapter and iscsi, scsi_host, mdev, capabilities (xml2xml hostdev-scsi-lsi, hostdev-mdev-display-ramfb)', () => {
    const xml = dedent(`
      <hostdev mode='subsystem' type='scsi' managed='yes' sgio='unfiltered' rawio='yes'>
        <source>
          <adapter name='scsi_host0'/>
          <address bus='0' target='0' unit='1099511627775'/>
        </source>
        <readonly/>
        <shareable/>
      </hostdev>
      <hostdev mode='subsystem' type='scsi' managed='yes'>
        <source protocol='iscsi' name='iqn.1992-01.com.example:storage/1'>
          <host name='example.org' port='3260'/>
          <auth username='myname'>
            <secret type='iscsi' usage='mycluster_myname'/>
          </auth>
          <initiator>
            <iqn name='iqn.2020-07.com.example:test'/>
          </initiator>
        </source>
      </hostdev>
      <hostdev mode='subsystem' type='scsi_host' managed='no' model='virtio'>
        <source protocol='vhost' wwpn='naa.5123456789abcde0'/>
      </hostdev>
      <hostdev mode='subsystem' type='mdev' managed='no' model='vfio-pci' display='on' ramfb='on'>
        <source>
          <address uuid='53764d0e-85a0-42b4-af5c-2046b460b1dc'/>
        </source>
        <address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0'/>
      </hostdev>
      <hostdev mode='capabilities' type='net'>
        <source>
          <interface>eth0</interface>
        </source>
        <ip address='192.168.122.2' family='ipv4' prefix='24'/>
        <route family='ipv4' address='0.0.0.0' gateway='192.168.122.1'/>
      </hostdev>
      <hostdev mode='capabilities' type='storage'>
        <source>
          <block>/dev/sdf1</block>
        </source>
      </hostdev>`);
    const def = parseDomainXML(wrap(xml));
    const [adapter, iscsi, , mdev, net] = def.devices!.hostdev!;
    expect(adapter!.source).toEqual({
      adapter: { name: 'scsi_host0' },
      address: { bus: 0, target: 0, unit: '1099511627775' },
    });
    expect(iscsi!.source).toMatchObject({ protocol: 'iscsi', host: { name: 'example.org', port: 3260 } });
    expect(mdev!.source).toEqual({ address: { uuid: '53764d0e-85a0-42b4-af5c-2046b460b1dc' } });
    expect(net!.source).toEqual({ interface: 'eth0' });
    expect(unknownParts(def)).toEqual([]);
    expect(devicesOut(xml)).toBe(xml);
  });
});

describe('<redirdev>, <redirfilter>, <smartcard>, <hub>', () => {
  it('round-trips in libvirt order (xml2xml chardev-reconnect, usb-redir-filter, smartcard-*)', () => {
    const xml = dedent(`
      <smartcard mode='host-certificates'>
        <certificate>cert1</certificate>
        <certificate>cert2</certificate>
        <certificate>cert3</certificate>
        <database>/tmp/foo</database>
      </smartcard>
      <smartcard mode='passthrough' type='unix'>
        <source mode='connect' path='/tmp/channel/asdf'>
          <reconnect enabled='yes' timeout='20'/>
        </source>
        <address type='ccid' controller='0' slot='0'/>
      </smartcard>
      <redirdev bus='usb' type='tcp'>
        <source mode='connect' host='localhost' service='3456'>
          <reconnect enabled='yes' timeout='15'/>
        </source>
        <protocol type='raw'/>
        <boot order='1'/>
        <address type='usb' bus='0' port='2'/>
      </redirdev>
      <redirfilter>
        <usbdev class='0x08' vendor='0x15E1' product='0x2007' version='1.10' allow='yes'/>
        <usbdev allow='no'/>
      </redirfilter>
      <hub type='usb'>
        <address type='usb' bus='0' port='1'/>
      </hub>`);
    const def = parseDomainXML(wrap(xml));
    expect(def.devices!.smartcard![0]!.certificate).toEqual(['cert1', 'cert2', 'cert3']);
    expect(def.devices!.smartcard![1]!.source).toEqual([
      { mode: 'connect', path: '/tmp/channel/asdf', reconnect: { enabled: 'yes', timeout: 20 } },
    ]);
    expect(def.devices!.redirdev![0]).toMatchObject({
      bus: 'usb',
      type: 'tcp',
      protocol: { type: 'raw' },
      boot: { order: 1 },
    });
    expect(def.devices!.redirfilter!.usbdev![0]).toEqual({
      class: 8,
      vendor: 0x15e1,
      product: 0x2007,
      version: '1.10',
      allow: 'yes',
    });
    expect(def.devices!.hub![0]).toEqual({ type: 'usb', address: { type: 'usb', bus: 0, port: '1' } });
    expect(unknownParts(def)).toEqual([]);
    expect(devicesOut(xml)).toBe(xml);
    // class/vendor/product are read with base 0 and printed as upper-case hex.
    expect(
      devicesOut("<redirfilter><usbdev allow='yes' product='8199' vendor='0x15e1' class='8'/></redirfilter>"),
    ).toBe(
      dedent(`
      <redirfilter>
        <usbdev class='0x08' vendor='0x15E1' product='0x2007' allow='yes'/>
      </redirfilter>`),
    );
  });
});
