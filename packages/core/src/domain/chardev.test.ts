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

describe('serial / console (xml2xml serial-file-log, serial-udp-chardev)', () => {
  const canonical = dedent(`
      <serial type='file'>
        <source path='/tmp/serial.log'/>
        <log file='/var/lib/libvirt/qemu/demo-serial.log' append='off'/>
        <target type='isa-serial' port='0'>
          <model name='isa-serial'/>
        </target>
      </serial>
      <serial type='udp'>
        <source mode='bind' host='127.0.0.1' service='9999'/>
        <source mode='connect' host='127.0.0.1' service='9998'/>
        <target type='isa-serial' port='1'>
          <model name='isa-serial'/>
        </target>
        <alias name='serial1'/>
      </serial>
      <console type='file'>
        <source path='/tmp/serial.log'/>
        <log file='/var/lib/libvirt/qemu/demo-serial.log' append='off'/>
        <target type='serial' port='0'/>
      </console>`);

  it('parses into the model', () => {
    const def = parseDomainXML(wrap(canonical));
    const [file, udp] = def.devices!.serial!;
    expect(file).toEqual({
      type: 'file',
      source: [{ path: '/tmp/serial.log' }],
      log: { file: '/var/lib/libvirt/qemu/demo-serial.log', append: 'off' },
      target: { type: 'isa-serial', port: 0, model: { name: 'isa-serial' } },
    });
    expect(udp!.source).toEqual([
      { mode: 'bind', host: '127.0.0.1', service: '9999' },
      { mode: 'connect', host: '127.0.0.1', service: '9998' },
    ]);
    expect(udp!.alias).toEqual({ name: 'serial1' });
    expect(def.devices!.console![0]!.target).toEqual({ type: 'serial', port: 0 });
    expect(unknownParts(def)).toEqual([]);
  });

  it('formats back in libvirt order', () => {
    expect(devicesOut(canonical)).toBe(canonical);
  });

  it('reorders children and attributes into libvirt order', () => {
    const scrambled = `<serial type='file'><target port='0' type='isa-serial'><model name='isa-serial'/></target>
      <log append='off' file='/var/lib/libvirt/qemu/demo-serial.log'/><source path='/tmp/serial.log'/></serial>`;
    expect(devicesOut(scrambled)).toBe(canonical.split('\n').slice(0, 7).join('\n'));
  });

  it("keeps libvirt's -1 'unset' port and the legacy console tty attribute", () => {
    const xml = dedent(`
      <console type='pty' tty='/dev/pts/3'>
        <source path='/dev/pts/3'/>
        <target type='virtio' port='-1'/>
      </console>`);
    const def = parseDomainXML(wrap(xml));
    expect(def.devices!.console![0]).toMatchObject({
      tty: '/dev/pts/3',
      target: { type: 'virtio', port: -1 },
    });
    expect(devicesOut(xml)).toBe(xml);
  });

  it('refuses a target type libvirt does not know', () => {
    expect(() => parseDomainXML(wrap("<serial type='pty'><target type='bogus'/></serial>"))).toThrow(
      /invalid value 'bogus' for attribute 'type'/,
    );
  });
});

describe('channel / parallel (xml2xml chardev-reconnect, channel-qemu-vdagent-features)', () => {
  it('round-trips parallel, and channels: tcp with reconnect and protocol, unix, qemu-vdagent and guestfwd', () => {
    const xml = dedent(`
      <parallel type='tcp'>
        <source mode='bind' host='127.0.0.1' service='9999'/>
        <protocol type='telnet'/>
        <target port='0'/>
      </parallel>
      <channel type='tcp'>
        <source mode='connect' host='localhost' service='1234' tls='yes'>
          <reconnect enabled='yes' timeout='10'/>
        </source>
        <protocol type='raw'/>
        <target type='virtio' name='asdf'/>
        <address type='virtio-serial' controller='0' bus='0' port='1'/>
      </channel>
      <channel type='unix'>
        <source mode='bind' path='/tmp/channel/fdsa'>
          <seclabel model='dac' relabel='no'/>
          <reconnect enabled='no'/>
        </source>
        <target type='virtio' name='fdsa' state='connected'/>
      </channel>
      <channel type='qemu-vdagent'>
        <source>
          <clipboard copypaste='yes'/>
          <mouse mode='client'/>
        </source>
        <target type='virtio' name='com.redhat.spice.0'/>
      </channel>
      <channel type='pty'>
        <target type='guestfwd' address='10.0.2.1' port='4600'/>
      </channel>`);
    const def = parseDomainXML(wrap(xml));
    const [tcp, unix, vdagent, fwd] = def.devices!.channel!;
    expect(tcp).toEqual({
      type: 'tcp',
      source: [
        {
          mode: 'connect',
          host: 'localhost',
          service: '1234',
          tls: 'yes',
          reconnect: { enabled: 'yes', timeout: 10 },
        },
      ],
      protocol: { type: 'raw' },
      target: { type: 'virtio', name: 'asdf' },
      address: { type: 'virtio-serial', controller: 0, bus: 0, port: 1 },
    });
    expect(unix!.source![0]!.seclabel).toEqual([{ model: 'dac', relabel: 'no' }]);
    expect(vdagent!.source![0]).toEqual({ clipboard: { copypaste: 'yes' }, mouse: { mode: 'client' } });
    expect(fwd!.target).toEqual({ type: 'guestfwd', address: '10.0.2.1', port: 4600 });
    expect(def.devices!.parallel![0]!.protocol).toEqual({ type: 'telnet' });
    expect(unknownParts(def)).toEqual([]);
    expect(devicesOut(xml)).toBe(xml);
  });
});
