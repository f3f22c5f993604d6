/**
 * Domain XMLs shaped by libvirt's schema (domaincommon.rng), one fast-check arbitrary per family
 * of the issue. Each case is a small valid-looking domain plus one family's fragment, with values
 * drawn both from what the schema allows and from just outside it (what the define-time rules are
 * about). Every case names its family, so differences are counted per family.
 */
import fc from 'fast-check';

export interface Case {
  id: number;
  family: string;
  xml: string;
}

/** The parts of a domain a family may set; the rest is a minimal x86 KVM guest. */
interface Parts {
  head?: string;
  os?: string;
  features?: string;
  cpu?: string;
  lifecycle?: string;
  memoryBacking?: string;
  devices?: string;
  afterDevices?: string;
  uuid?: string | null;
  machine?: string;
  arch?: string;
}

function domain(name: string, p: Parts): string {
  const uuid = p.uuid === null ? '' : `  <uuid>${p.uuid ?? '5e6b7e5a-1c4f-4a3e-9a8e-0d2a3c4b5d6e'}</uuid>\n`;
  const machine = p.machine ?? 'pc';
  return [
    `<domain type='kvm'>`,
    `  <name>${name}</name>`,
    `${uuid}${p.head ?? ''}  <memory unit='KiB'>1048576</memory>`,
    p.memoryBacking ?? '',
    `  <vcpu>2</vcpu>`,
    `  <os>`,
    `    <type arch='${p.arch ?? 'x86_64'}' machine='${machine}'>hvm</type>`,
    p.os ?? '',
    `  </os>`,
    p.features ?? '',
    p.cpu ?? '',
    p.lifecycle ?? '',
    `  <devices>`,
    `    <emulator>/usr/bin/qemu-system-x86_64</emulator>`,
    p.devices ?? '',
    `  </devices>`,
    p.afterDevices ?? '',
    `</domain>`,
  ]
    .filter((l) => l !== '')
    .join('\n');
}

const pick = <T>(...xs: T[]) => fc.constantFrom(...xs);
const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
const attr = (name: string, v: string | undefined) => (v === undefined ? '' : ` ${name}='${v}'`);
const hex = (n: number) =>
  fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: n, maxLength: n });
const uuidArb = fc.tuple(hex(8), hex(4), hex(4), hex(4), hex(12)).map((p) => p.join('-'));
const diskImg = (n: number) => `/var/lib/libvirt/images/d${n}.qcow2`;

const lifecycle: fc.Arbitrary<Parts> = fc
  .record({
    poweroff: maybe(pick('destroy', 'restart', 'preserve', 'rename-restart', 'coredump-destroy')),
    reboot: maybe(pick('destroy', 'restart', 'preserve', 'rename-restart', 'coredump-restart')),
    crash: maybe(
      pick('destroy', 'restart', 'preserve', 'rename-restart', 'coredump-destroy', 'coredump-restart'),
    ),
    lockfailure: maybe(pick('poweroff', 'restart', 'pause', 'ignore')),
    pm: maybe(fc.record({ disk: fc.boolean(), mem: fc.boolean() })),
  })
  .map((r) => ({
    lifecycle: [
      r.poweroff && `  <on_poweroff>${r.poweroff}</on_poweroff>`,
      r.reboot && `  <on_reboot>${r.reboot}</on_reboot>`,
      r.crash && `  <on_crash>${r.crash}</on_crash>`,
      r.lockfailure && `  <on_lockfailure>${r.lockfailure}</on_lockfailure>`,
      r.pm &&
        `  <pm>\n    <suspend-to-mem enabled='${r.pm.mem ? 'yes' : 'no'}'/>\n    <suspend-to-disk enabled='${r.pm.disk ? 'yes' : 'no'}'/>\n  </pm>`,
    ]
      .filter(Boolean)
      .join('\n'),
  }));

const FEATURE_CHILDREN = [
  '<acpi/>',
  '<apic/>',
  "<apic eoi='on'/>",
  '<pae/>',
  '<hap/>',
  "<hap state='off'/>",
  '<viridian/>',
  '<privnet/>',
  '<pvspinlock/>',
  "<pvspinlock state='off'/>",
  "<vmport state='off'/>",
  "<vmcoreinfo state='on'/>",
  "<smm state='on'/>",
  "<kvm><hidden state='on'/></kvm>",
  "<kvm><hint-dedicated state='on'/></kvm>",
  "<kvm><poll-control state='on'/></kvm>",
  "<ioapic driver='qemu'/>",
  "<ioapic driver='kvm'/>",
  "<hyperv><relaxed state='on'/><vapic state='on'/><spinlocks state='on' retries='8191'/></hyperv>",
  "<hyperv mode='passthrough'/>",
  "<hyperv><spinlocks state='on' retries='4000'/></hyperv>",
  "<hyperv><spinlocks state='on'/></hyperv>",
  "<hyperv><vendor_id state='on' value='KVM Hv'/></hyperv>",
  "<hyperv><stimer state='on'><direct state='on'/></stimer></hyperv>",
  "<gic version='2'/>",
  "<htm state='on'/>",
  '<msrs unknown="ignore"/>',
  "<msrs unknown='fault'/>",
  "<pmu state='off'/>",
  "<async-teardown enabled='yes'/>",
  '<sgx/>',
  '<bogus/>',
  "<frobnicate state='on'/>",
  "<tcg><tb-cache unit='MiB'>128</tb-cache></tcg>",
  "<cfpc value='broken'/>",
  "<ps2 state='off'/>",
  "<ras state='on'/>",
];
const features: fc.Arbitrary<Parts> = fc
  .subarray(FEATURE_CHILDREN, { minLength: 0, maxLength: 5 })
  .map((kids) => ({ features: `  <features>\n${kids.map((k) => `    ${k}`).join('\n')}\n  </features>` }));

const iothreads: fc.Arbitrary<Parts> = fc
  .record({
    count: fc.nat({ max: 3 }),
    ids: fc.boolean(),
    bus: pick('virtio', 'scsi', 'sata', 'usb', 'ide'),
    iothread: maybe(fc.integer({ min: 0, max: 4 })),
    scsiCtrlIothread: maybe(fc.integer({ min: 0, max: 4 })),
    queues: maybe(fc.integer({ min: 1, max: 4 })),
  })
  .map((r) => ({
    head:
      r.count > 0
        ? `  <iothreads>${r.count}</iothreads>\n${
            r.ids
              ? `  <iothreadids>\n${Array.from({ length: r.count }, (_, i) => `    <iothread id='${i + 1}'/>`).join('\n')}\n  </iothreadids>\n`
              : ''
          }`
        : '',
    devices: [
      `    <disk type='file' device='disk'>`,
      `      <driver name='qemu' type='qcow2'${attr('iothread', r.iothread?.toString())}${attr('queues', r.queues?.toString())}/>`,
      `      <source file='${diskImg(1)}'/>`,
      `      <target dev='${r.bus === 'virtio' ? 'vda' : r.bus === 'ide' ? 'hda' : 'sda'}' bus='${r.bus}'/>`,
      `    </disk>`,
      r.scsiCtrlIothread !== undefined
        ? `    <controller type='scsi' index='0' model='virtio-scsi'>\n      <driver iothread='${r.scsiCtrlIothread}'/>\n    </controller>`
        : '',
    ]
      .filter(Boolean)
      .join('\n'),
  }));

const filesystem: fc.Arbitrary<Parts> = fc
  .record({
    driver: pick('virtiofs', 'path', 'handle', undefined),
    shared: pick('memfd', 'file', 'hugepages', 'none', 'numa'),
    accessmode: maybe(pick('passthrough', 'mapped', 'squash')),
    readonly: fc.boolean(),
    queue: maybe(pick('1024', '512', '0')),
    binary: fc.boolean(),
  })
  .map((r) => {
    const mb =
      r.shared === 'memfd'
        ? `  <memoryBacking>\n    <source type='memfd'/>\n    <access mode='shared'/>\n  </memoryBacking>`
        : r.shared === 'file'
          ? `  <memoryBacking>\n    <source type='file'/>\n    <access mode='shared'/>\n  </memoryBacking>`
          : r.shared === 'hugepages'
            ? `  <memoryBacking>\n    <hugepages/>\n  </memoryBacking>`
            : '';
    const cpu =
      r.shared === 'numa'
        ? `  <cpu>\n    <numa>\n      <cell id='0' cpus='0-1' memory='1048576' unit='KiB' memAccess='shared'/>\n    </numa>\n  </cpu>`
        : '';
    return {
      memoryBacking: mb,
      cpu,
      devices: [
        `    <filesystem type='mount'${attr('accessmode', r.accessmode)}>`,
        r.driver ? `      <driver type='${r.driver}'${attr('queue', r.queue)}/>` : '',
        r.binary && r.driver === 'virtiofs' ? `      <binary path='/usr/libexec/virtiofsd' xattr='on'/>` : '',
        `      <source dir='/srv/share'/>`,
        `      <target dir='share'/>`,
        r.readonly ? '      <readonly/>' : '',
        `    </filesystem>`,
      ]
        .filter(Boolean)
        .join('\n'),
    };
  });

const watchdog: fc.Arbitrary<Parts> = fc
  .record({
    model: pick('i6300esb', 'ib700', 'diag288', 'itco', 'bogus'),
    action: maybe(pick('reset', 'shutdown', 'poweroff', 'pause', 'none', 'dump', 'inject-nmi', 'explode')),
    machine: pick('pc', 'q35'),
  })
  .map((r) => ({
    machine: r.machine,
    devices: `    <watchdog model='${r.model}'${attr('action', r.action)}/>`,
  }));

const graphicsOne = fc.oneof(
  fc
    .record({
      passwd: maybe(fc.string({ unit: pick(...'abcXYZ0129'), minLength: 0, maxLength: 12 })),
      port: maybe(pick('-1', '5900', '5901', '0', '65536')),
      listen: maybe(pick('127.0.0.1', '0.0.0.0', '::')),
      keymap: maybe(pick('en-us', 'de')),
      websocket: maybe(pick('-1', '5700')),
      validto: fc.boolean(),
      autoport: maybe(pick('yes', 'no')),
    })
    .map(
      (r) =>
        `    <graphics type='vnc'${attr('port', r.port)}${attr('autoport', r.autoport)}${attr('websocket', r.websocket)}${attr('listen', r.listen)}${attr('keymap', r.keymap)}${attr('passwd', r.passwd)}${r.validto ? " passwdValidTo='2030-01-01T00:00:00'" : ''}/>`,
    ),
  fc
    .record({
      gl: fc.boolean(),
      rendernode: fc.boolean(),
      passwd: maybe(pick('secret', 'averyveryverylongpassword')),
    })
    .map(
      (r) =>
        `    <graphics type='spice' autoport='yes'${attr('passwd', r.passwd)}>${r.gl ? `\n      <gl enable='yes'${r.rendernode ? " rendernode='/dev/dri/renderD128'" : ''}/>` : ''}\n    </graphics>`,
    ),
  fc
    .boolean()
    .map((gl) => `    <graphics type='sdl'${gl ? '>\n      <gl enable="yes"/>\n    </graphics>' : '/>'}`),
  fc
    .boolean()
    .map(
      (r) =>
        `    <graphics type='egl-headless'${r ? ">\n      <gl rendernode='/dev/dri/renderD128'/>\n    </graphics>" : '/>'}`,
    ),
  pick(
    "    <graphics type='dbus'/>",
    "    <graphics type='dbus' p2p='yes'/>",
    "    <graphics type='rdp'/>",
    "    <graphics type='desktop'/>",
  ),
);
const graphics: fc.Arbitrary<Parts> = fc
  .record({
    list: fc.array(graphicsOne, { minLength: 1, maxLength: 3 }),
    video: maybe(pick('vga', 'cirrus', 'qxl', 'virtio', 'bochs', 'ramfb', 'none')),
    accel3d: fc.boolean(),
  })
  .map((r) => ({
    devices: [
      ...r.list,
      r.video
        ? `    <video>\n      <model type='${r.video}'${r.accel3d && r.video === 'virtio' ? ">\n        <acceleration accel3d='yes'/>\n      </model>" : '/>'}\n    </video>`
        : '',
    ]
      .filter(Boolean)
      .join('\n'),
  }));

const encryption: fc.Arbitrary<Parts> = fc
  .record({
    format: pick('luks', 'luks2', 'qcow', 'bogus'),
    engine: maybe(pick('qemu', 'librbd', 'bogus')),
    cipher: fc.boolean(),
    ivgen: fc.boolean(),
    secret: fc.boolean(),
    diskFormat: pick('raw', 'qcow2'),
  })
  .map((r) => ({
    devices: [
      `    <disk type='file' device='disk'>`,
      `      <driver name='qemu' type='${r.diskFormat}'/>`,
      `      <source file='${diskImg(2)}'>`,
      `        <encryption format='${r.format}'${attr('engine', r.engine)}>`,
      r.secret ? `          <secret type='passphrase' uuid='0a81f5b2-8403-7b23-c8d6-21ccc2f80d6f'/>` : '',
      r.cipher ? `          <cipher name='aes' size='256' mode='xts' hash='sha256'/>` : '',
      r.ivgen ? `          <ivgen name='plain64' hash='sha256'/>` : '',
      `        </encryption>`,
      `      </source>`,
      `      <target dev='vda' bus='virtio'/>`,
      `    </disk>`,
    ]
      .filter(Boolean)
      .join('\n'),
  }));

const iface: fc.Arbitrary<Parts> = fc
  .record({
    type: pick(
      'network',
      'bridge',
      'user',
      'ethernet',
      'direct',
      'vdpa',
      'null',
      'vds',
      'mcast',
      'udp',
      'server',
      'vhostuser',
      'hostdev',
    ),
    model: maybe(pick('virtio', 'e1000', 'e1000e', 'rtl8139', 'ne2k_pci', 'bogus')),
    mac: fc.boolean(),
    ovs: fc.boolean(),
    ifaceid: fc.boolean(),
    bandwidth: pick('none', 'empty', 'inbound', 'both'),
    target: maybe(pick('vnet0', 'mytap', '')),
  })
  .map((r) => {
    const source: Record<string, string> = {
      network: "<source network='default'/>",
      bridge: "<source bridge='br0'/>",
      user: '',
      ethernet: '',
      direct: "<source dev='eth0' mode='bridge'/>",
      vdpa: "<source dev='/dev/vhost-vdpa-0'/>",
      null: '',
      vds: "<source switchid='12345678-1234-1234-1234-123456789abc' portgroupid='pg1' portid='1' connectionid='2'/>",
      mcast: "<source address='230.0.0.1' port='5558'/>",
      udp: "<source address='127.0.0.1' port='11111'>\n        <local address='127.0.0.1' port='22222'/>\n      </source>",
      server: "<source address='192.168.0.1' port='5558'/>",
      vhostuser: "<source type='unix' path='/tmp/vhost.sock' mode='server'/>",
      hostdev:
        "<source>\n        <address type='pci' domain='0x0000' bus='0x03' slot='0x00' function='0x1'/>\n      </source>",
    };
    const bw =
      r.bandwidth === 'empty'
        ? '      <bandwidth/>'
        : r.bandwidth === 'inbound'
          ? "      <bandwidth>\n        <inbound average='1000'/>\n      </bandwidth>"
          : r.bandwidth === 'both'
            ? "      <bandwidth>\n        <inbound average='1000' peak='5000' burst='1024'/>\n        <outbound average='128'/>\n      </bandwidth>"
            : '';
    return {
      memoryBacking:
        r.type === 'vhostuser'
          ? `  <memoryBacking>\n    <source type='memfd'/>\n    <access mode='shared'/>\n  </memoryBacking>`
          : '',
      devices: [
        `    <interface type='${r.type}'>`,
        r.mac ? `      <mac address='52:54:00:12:34:56'/>` : '',
        source[r.type] ? `      ${source[r.type]}` : '',
        r.ovs && (r.type === 'bridge' || r.type === 'network')
          ? `      <virtualport type='openvswitch'${r.ifaceid ? `>\n        <parameters interfaceid='09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f'/>\n      </virtualport>` : '/>'}`
          : '',
        r.target !== undefined && r.type === 'ethernet' ? `      <target dev='${r.target}'/>` : '',
        r.model ? `      <model type='${r.model}'/>` : '',
        bw,
        `    </interface>`,
      ]
        .filter(Boolean)
        .join('\n'),
    };
  });

const SMBIOS_DATES = [
  '01/01/2011',
  '1/1/2011',
  '12/31/99',
  '2011-01-01',
  '13/01/2011',
  '01/32/2011',
  'garbage',
  '',
];
const sysinfo: fc.Arbitrary<Parts> = fc
  .record({
    mode: maybe(pick('sysinfo', 'host', 'emulate')),
    date: maybe(pick(...SMBIOS_DATES)),
    biosOrder: fc.shuffledSubarray(['vendor', 'version', 'date', 'release'], { minLength: 0, maxLength: 4 }),
    sysOrder: fc.shuffledSubarray(['manufacturer', 'product', 'version', 'serial', 'uuid', 'sku', 'family'], {
      minLength: 0,
      maxLength: 7,
    }),
    sysUuidMatch: fc.boolean(),
    baseBoard: pick('none', 'empty', 'some'),
    chassis: pick('none', 'empty', 'some'),
    oemStrings: fc.boolean(),
    type: pick('smbios', 'fwcfg'),
  })
  .map((r) => {
    const val = (k: string) =>
      k === 'date'
        ? (r.date ?? '01/01/2011')
        : k === 'uuid'
          ? r.sysUuidMatch
            ? '5e6b7e5a-1c4f-4a3e-9a8e-0d2a3c4b5d6e'
            : '11111111-2222-3333-4444-555555555555'
          : `${k}-v`;
    const block = (name: string, keys: string[]) =>
      keys.length
        ? `    <${name}>\n${keys.map((k) => `      <entry name='${k}'>${val(k)}</entry>`).join('\n')}\n    </${name}>`
        : '';
    const lines =
      r.type === 'fwcfg'
        ? [
            `  <sysinfo type='fwcfg'>`,
            `    <entry name='opt/com.example/name'>example value</entry>`,
            `  </sysinfo>`,
          ]
        : [
            `  <sysinfo type='smbios'>`,
            r.biosOrder.length ? block('bios', r.biosOrder) : '    <bios/>',
            r.sysOrder.length ? block('system', r.sysOrder) : '    <system/>',
            r.baseBoard === 'empty'
              ? '    <baseBoard/>'
              : r.baseBoard === 'some'
                ? block('baseBoard', ['product', 'manufacturer'])
                : '',
            r.chassis === 'empty'
              ? '    <chassis/>'
              : r.chassis === 'some'
                ? block('chassis', ['serial', 'manufacturer'])
                : '',
            r.oemStrings
              ? '    <oemStrings>\n      <entry>myappname:some arbitrary data</entry>\n    </oemStrings>'
              : '',
            `  </sysinfo>`,
          ];
    return {
      os: r.mode ? `    <smbios mode='${r.mode}'/>` : '',
      afterDevices: lines.filter(Boolean).join('\n'),
    };
  });

const diskBus: fc.Arbitrary<Parts> = fc
  .record({
    bus: pick('usb', 'virtio', 'sata', 'scsi', 'ide', 'fdc'),
    device: pick('disk', 'cdrom', 'floppy', 'lun'),
    address: pick('none', 'pci', 'drive', 'usb'),
    machine: pick('pc', 'q35'),
    cache: maybe(pick('default', 'none', 'writeback', 'writethrough', 'directsync', 'unsafe')),
    detect: maybe(pick('on', 'off', 'unmap')),
    discard: maybe(pick('unmap', 'ignore')),
    removable: maybe(pick('on', 'off')),
  })
  .map((r) => {
    const dev = r.bus === 'virtio' ? 'vdb' : r.bus === 'ide' ? 'hdb' : r.bus === 'fdc' ? 'fda' : 'sdb';
    const address =
      r.address === 'pci'
        ? "<address type='pci' domain='0x0000' bus='0x00' slot='0x09' function='0x0'/>"
        : r.address === 'drive'
          ? "<address type='drive' controller='0' bus='0' target='0' unit='1'/>"
          : r.address === 'usb'
            ? "<address type='usb' bus='0' port='3'/>"
            : '';
    return {
      machine: r.machine,
      devices: [
        `    <disk type='file' device='${r.device}'>`,
        `      <driver name='qemu' type='raw'${attr('cache', r.cache)}${attr('detect_zeroes', r.detect)}${attr('discard', r.discard)}/>`,
        `      <source file='/var/lib/libvirt/images/b.img'/>`,
        `      <target dev='${dev}' bus='${r.bus}'${attr('removable', r.bus === 'usb' ? r.removable : undefined)}/>`,
        address ? `      ${address}` : '',
        `    </disk>`,
      ]
        .filter(Boolean)
        .join('\n'),
    };
  });

const emptyElements: fc.Arbitrary<Parts> = fc
  .record({
    title: pick('none', 'empty', 'text'),
    description: pick('none', 'empty', 'text'),
    kernel: pick('none', 'empty', 'path'),
    initrd: pick('none', 'empty', 'path'),
    cmdline: pick('none', 'empty', 'text'),
    bios: pick('none', 'empty', 'useserial'),
    bootmenu: maybe(pick('yes', 'no')),
    emptyAttr: fc.boolean(),
  })
  .map((r) => ({
    head: [
      r.title === 'empty' ? '  <title/>\n' : r.title === 'text' ? '  <title>A title</title>\n' : '',
      r.description === 'empty'
        ? '  <description></description>\n'
        : r.description === 'text'
          ? '  <description>Some words</description>\n'
          : '',
    ].join(''),
    os: [
      r.kernel === 'empty'
        ? '    <kernel/>'
        : r.kernel === 'path'
          ? '    <kernel>/boot/vmlinuz</kernel>'
          : '',
      r.initrd === 'empty'
        ? '    <initrd/>'
        : r.initrd === 'path'
          ? '    <initrd>/boot/initrd.img</initrd>'
          : '',
      r.cmdline === 'empty'
        ? '    <cmdline/>'
        : r.cmdline === 'text'
          ? '    <cmdline>console=ttyS0</cmdline>'
          : '',
      r.bios === 'empty' ? '    <bios/>' : r.bios === 'useserial' ? "    <bios useserial='yes'/>" : '',
      r.bootmenu ? `    <bootmenu enable='${r.bootmenu}'${r.emptyAttr ? " timeout=''" : ''}/>` : '',
    ]
      .filter(Boolean)
      .join('\n'),
  }));

const metadata: fc.Arbitrary<Parts> = fc
  .record({
    kind: pick('ns-prefix', 'default-ns', 'cdata', 'nested', 'two', 'empty', 'no-ns'),
  })
  .map((r) => {
    const body: Record<string, string> = {
      'ns-prefix': "<app1:foo xmlns:app1='http://app1.org/app1/'>fooish</app1:foo>",
      'default-ns': "<instance xmlns='http://openstack.org/xmlns/libvirt/nova/1.1'><name>x</name></instance>",
      cdata: "<app2:bar xmlns:app2='http://app2.org/'><![CDATA[<raw & data>]]></app2:bar>",
      nested:
        "<nova:instance xmlns:nova='http://openstack.org/xmlns/libvirt/nova/1.1'><nova:package version='27'/><nova:flavor name='m1'><nova:memory>512</nova:memory></nova:flavor></nova:instance>",
      two: "<a:x xmlns:a='http://a/'/><b:y xmlns:b='http://b/'>t</b:y>",
      empty: '',
      'no-ns': '<plain>text</plain>',
    };
    return { head: `  <metadata>${body[r.kind]}</metadata>\n` };
  });

const identity: fc.Arbitrary<Parts> = fc
  .record({
    uuid: pick('given', 'absent', 'empty', 'upper', 'nodash'),
    genid: pick('none', 'empty', 'given'),
    machine: pick('pc', 'q35'),
  })
  .chain((r) =>
    uuidArb.map((u) => ({
      machine: r.machine,
      uuid:
        r.uuid === 'absent'
          ? null
          : r.uuid === 'empty'
            ? ''
            : r.uuid === 'upper'
              ? u.toUpperCase()
              : r.uuid === 'nodash'
                ? u.replaceAll('-', '')
                : u,
      head:
        r.genid === 'empty'
          ? '  <genid/>\n'
          : r.genid === 'given'
            ? '  <genid>43dc0cf8-809b-4adb-9bea-a9abb5f3d90d</genid>\n'
            : '',
    })),
  );

const channel: fc.Arbitrary<Parts> = fc
  .record({
    kind: pick('unix-nopath', 'unix-autopath', 'unix-path', 'spicevmc', 'pty', 'qemu-vdagent'),
    target: pick('org.qemu.guest_agent.0', 'org.libguestfs.channel.0', 'com.redhat.spice.0', undefined),
    guestfwd: fc.boolean(),
  })
  .map((r) => {
    const src =
      r.kind === 'unix-path'
        ? "<source mode='bind' path='/var/lib/libvirt/qemu/channel/target/x.sock'/>"
        : r.kind === 'unix-autopath'
          ? "<source mode='bind' path='/var/lib/libvirt/qemu/channel/target/domain-1-d/org.qemu.guest_agent.0'/>"
          : r.kind === 'unix-nopath'
            ? "<source mode='bind'/>"
            : '';
    const type = r.kind.startsWith('unix') ? 'unix' : r.kind;
    return {
      devices: r.guestfwd
        ? `    <channel type='pty'>\n      <target type='guestfwd' address='10.0.2.1' port='4600'/>\n    </channel>`
        : `    <channel type='${type}'>\n${src ? `      ${src}\n` : ''}      <target type='virtio'${attr('name', r.target)}/>\n    </channel>`,
    };
  });

const memoryDevices: fc.Arbitrary<Parts> = fc
  .record({
    model: pick('dimm', 'nvdimm', 'virtio-mem', 'virtio-pmem'),
    unit: pick('KiB', 'MiB', 'GiB', 'b', 'bytes', 'M'),
    size: pick(128, 256, 1, 1000, 524288),
    maxMemory: fc.boolean(),
    numa: fc.boolean(),
  })
  .map((r) => ({
    machine: 'q35',
    head: r.maxMemory ? "  <maxMemory slots='16' unit='KiB'>16777216</maxMemory>\n" : '',
    cpu: r.numa
      ? "  <cpu>\n    <numa>\n      <cell id='0' cpus='0-1' memory='1048576' unit='KiB'/>\n    </numa>\n  </cpu>"
      : '',
    devices: [
      `    <memory model='${r.model}'>`,
      r.model === 'nvdimm' || r.model === 'virtio-pmem'
        ? `      <source>\n        <path>/tmp/nvdimm</path>\n      </source>`
        : '',
      `      <target>`,
      `        <size unit='${r.unit}'>${r.size}</size>`,
      r.numa ? '        <node>0</node>' : '',
      r.model === 'virtio-mem'
        ? `        <block unit='MiB'>2</block>\n        <requested unit='${r.unit}'>${r.size}</requested>`
        : '',
      `      </target>`,
      `    </memory>`,
    ]
      .filter(Boolean)
      .join('\n'),
  }));

const usbRedir: fc.Arbitrary<Parts> = fc
  .record({
    version: pick('1.10', '2.0', '0x0200', '2', '1.1', '3.00', 'bogus', '-1'),
    cls: pick('0x08', '-1', '8', '0x100'),
    allow: pick('yes', 'no'),
    vendor: pick('0x1234', '-1', '0x12345'),
  })
  .map((r) => ({
    devices: [
      `    <controller type='usb' model='qemu-xhci'/>`,
      `    <redirdev bus='usb' type='spicevmc'/>`,
      `    <redirfilter>`,
      `      <usbdev class='${r.cls}' vendor='${r.vendor}' product='0x5678' version='${r.version}' allow='${r.allow}'/>`,
      `      <usbdev allow='no'/>`,
      `    </redirfilter>`,
      `    <graphics type='spice' autoport='yes'/>`,
    ].join('\n'),
  }));

const timers: fc.Arbitrary<Parts> = fc
  .record({
    offset: pick('utc', 'localtime', 'variable', 'timezone'),
    list: fc.subarray(
      [
        "<timer name='rtc' tickpolicy='catchup'/>",
        "<timer name='pit' tickpolicy='delay'/>",
        "<timer name='hpet' present='no'/>",
        "<timer name='kvmclock' present='yes'/>",
        "<timer name='hypervclock' present='yes'/>",
        "<timer name='tsc' frequency='3000000000' mode='native'/>",
        "<timer name='rtc' tickpolicy='catchup'><catchup threshold='123' slew='120' limit='10000'/></timer>",
        "<timer name='pit' tickpolicy='discard'/>",
        "<timer name='rtc' track='guest'/>",
        "<timer name='armvtimer' tickpolicy='delay'/>",
      ],
      { maxLength: 3 },
    ),
  })
  .map((r) => ({
    lifecycle: `  <clock offset='${r.offset}'${r.offset === 'variable' ? " adjustment='3600' basis='utc'" : r.offset === 'timezone' ? " timezone='Europe/Paris'" : ''}>\n${r.list.map((t) => `    ${t}`).join('\n')}\n  </clock>`,
  }));

const misc: fc.Arbitrary<Parts> = fc
  .record({
    rng: maybe(pick('/dev/urandom', '/dev/random', '/dev/hwrng', '/tmp/x')),
    panic: maybe(pick('isa', 'hyperv', 'pseries', 's390', 'pvpanic')),
    vsock: maybe(pick('auto', '3', '2', '4294967295')),
    tpm: maybe(pick('tpm-tis', 'tpm-crb', 'tpm-spapr')),
    sound: maybe(pick('ich6', 'ich9', 'ac97', 'es1370', 'sb16', 'usb', 'pcspk')),
    input: maybe(pick('tablet-usb', 'keyboard-virtio', 'mouse-xen', 'evdev')),
    serialNoTarget: fc.boolean(),
  })
  .map((r) => ({
    devices: [
      r.rng ? `    <rng model='virtio'>\n      <backend model='random'>${r.rng}</backend>\n    </rng>` : '',
      r.panic ? `    <panic model='${r.panic}'/>` : '',
      r.vsock
        ? r.vsock === 'auto'
          ? "    <vsock model='virtio'>\n      <cid auto='yes'/>\n    </vsock>"
          : `    <vsock model='virtio'>\n      <cid auto='no' address='${r.vsock}'/>\n    </vsock>`
        : '',
      r.tpm ? `    <tpm model='${r.tpm}'>\n      <backend type='emulator' version='2.0'/>\n    </tpm>` : '',
      r.sound ? `    <sound model='${r.sound}'/>` : '',
      r.input === 'tablet-usb'
        ? "    <input type='tablet' bus='usb'/>"
        : r.input === 'keyboard-virtio'
          ? "    <input type='keyboard' bus='virtio'/>"
          : r.input === 'mouse-xen'
            ? "    <input type='mouse' bus='xen'/>"
            : r.input === 'evdev'
              ? "    <input type='evdev'>\n      <source dev='/dev/input/event1'/>\n    </input>"
              : '',
      r.serialNoTarget ? "    <serial type='pty'/>\n    <console type='pty'/>" : '',
    ]
      .filter(Boolean)
      .join('\n'),
  }));

/**
 * Definitions in the style of the management tools that write them (OpenStack Nova, oVirt,
 * vagrant-libvirt, GNOME Boxes, virt-manager): their metadata, sysinfo, tuning, disks, channels
 * and consoles, with the options each tool varies.
 */
const deployments: fc.Arbitrary<Parts> = fc
  .record({
    style: pick('nova', 'ovirt', 'vagrant', 'boxes', 'virt-manager'),
    machine: pick('pc', 'q35', 'pc-i440fx-7.2', 'pc-q35-7.2'),
    diskBus: pick('virtio', 'scsi', 'sata'),
    cache: pick('none', 'writeback', undefined),
    netModel: pick('virtio', 'e1000', 'rtl8139'),
    video: pick('virtio', 'qxl', 'cirrus', 'vga', 'bochs'),
    serialLog: fc.boolean(),
    mtu: maybe(pick('1450', '9000')),
    vcpuPin: fc.boolean(),
  })
  .map((r) => {
    const scsiCtrl =
      r.diskBus === 'scsi' ? "    <controller type='scsi' index='0' model='virtio-scsi'/>" : '';
    const dev = r.diskBus === 'virtio' ? 'vda' : 'sda';
    const disk = [
      `    <disk type='file' device='disk'>`,
      `      <driver name='qemu' type='qcow2'${attr('cache', r.cache)} discard='unmap'/>`,
      `      <source file='${diskImg(7)}'/>`,
      `      <target dev='${dev}' bus='${r.diskBus}'/>`,
      r.style === 'nova' ? '      <serial>8d1b5cb9-5a04-4d5b-a3c8-1f1c3b7b1c11</serial>' : '',
      `    </disk>`,
    ]
      .filter(Boolean)
      .join('\n');
    const iface = [
      `    <interface type='bridge'>`,
      `      <mac address='fa:16:3e:2b:6c:11'/>`,
      `      <source bridge='br-int'/>`,
      r.style === 'nova'
        ? `      <virtualport type='openvswitch'>\n        <parameters interfaceid='3c9d2e1f-6a1b-4f3e-9b2a-7c1d2e3f4a5b'/>\n      </virtualport>`
        : '',
      `      <target dev='tap3c9d2e1f-6a'/>`,
      `      <model type='${r.netModel}'/>`,
      r.mtu ? `      <mtu size='${r.mtu}'/>` : '',
      `    </interface>`,
    ]
      .filter(Boolean)
      .join('\n');
    const serial = r.serialLog
      ? "    <serial type='pty'>\n      <log file='/var/lib/nova/instances/x/console.log' append='off'/>\n      <target port='0'/>\n    </serial>\n    <console type='pty'>\n      <target type='serial' port='0'/>\n    </console>"
      : "    <serial type='pty'/>\n    <console type='pty'/>";
    const byStyle: Record<string, Parts> = {
      nova: {
        head:
          "  <metadata>\n    <nova:instance xmlns:nova='http://openstack.org/xmlns/libvirt/nova/1.1'>\n      <nova:package version='27.1.0'/>\n      <nova:name>vm-1</nova:name>\n      <nova:flavor name='m1.small'>\n        <nova:memory>1024</nova:memory>\n        <nova:vcpus>2</nova:vcpus>\n      </nova:flavor>\n    </nova:instance>\n  </metadata>\n" +
          `  <cputune>\n    <shares>2048</shares>\n${r.vcpuPin ? "    <vcpupin vcpu='0' cpuset='0'/>\n    <vcpupin vcpu='1' cpuset='1'/>\n" : ''}  </cputune>\n`,
        os: "    <boot dev='hd'/>\n    <smbios mode='sysinfo'/>",
        features: '  <features>\n    <acpi/>\n    <apic/>\n    <vmcoreinfo/>\n  </features>',
        cpu: "  <cpu mode='host-model' match='exact'>\n    <topology sockets='2' cores='1' threads='1'/>\n  </cpu>",
        lifecycle:
          "  <clock offset='utc'>\n    <timer name='pit' tickpolicy='delay'/>\n    <timer name='rtc' tickpolicy='catchup'/>\n    <timer name='hpet' present='no'/>\n  </clock>",
        devices: [
          disk,
          scsiCtrl,
          iface,
          serial,
          `    <video>\n      <model type='${r.video}'/>\n    </video>`,
          "    <memballoon model='virtio'>\n      <stats period='10'/>\n    </memballoon>",
          "    <rng model='virtio'>\n      <backend model='random'>/dev/urandom</backend>\n    </rng>",
        ]
          .filter(Boolean)
          .join('\n'),
        afterDevices:
          "  <sysinfo type='smbios'>\n    <system>\n      <entry name='manufacturer'>OpenStack Foundation</entry>\n      <entry name='product'>OpenStack Nova</entry>\n      <entry name='version'>27.1.0</entry>\n      <entry name='serial'>5e6b7e5a-1c4f-4a3e-9a8e-0d2a3c4b5d6e</entry>\n      <entry name='uuid'>5e6b7e5a-1c4f-4a3e-9a8e-0d2a3c4b5d6e</entry>\n      <entry name='family'>Virtual Machine</entry>\n    </system>\n  </sysinfo>",
      },
      ovirt: {
        head: "  <metadata xmlns:ns1='http://ovirt.org/vm/tune/1.0' xmlns:ovirt-vm='http://ovirt.org/vm/1.0'>\n    <ns1:qos/>\n    <ovirt-vm:vm xmlns:ovirt-vm='http://ovirt.org/vm/1.0'>\n      <ovirt-vm:clusterVersion>4.7</ovirt-vm:clusterVersion>\n      <ovirt-vm:launchPaused>false</ovirt-vm:launchPaused>\n    </ovirt-vm:vm>\n  </metadata>\n  <maxMemory slots='16' unit='KiB'>4194304</maxMemory>\n",
        os: "    <smbios mode='sysinfo'/>\n    <bios useserial='yes'/>",
        cpu: "  <cpu match='exact'>\n    <model>Skylake-Client</model>\n    <topology sockets='16' cores='1' threads='1'/>\n    <numa>\n      <cell id='0' cpus='0-1' memory='1048576'/>\n    </numa>\n  </cpu>",
        features: '  <features>\n    <acpi/>\n  </features>',
        lifecycle:
          "  <clock offset='variable' adjustment='0'>\n    <timer name='rtc' tickpolicy='catchup'/>\n    <timer name='pit' tickpolicy='delay'/>\n    <timer name='hpet' present='no'/>\n  </clock>\n  <on_reboot>destroy</on_reboot>",
        devices: [
          disk,
          scsiCtrl,
          iface,
          "    <controller type='virtio-serial' index='0' ports='16'/>",
          "    <channel type='unix'>\n      <source mode='bind' path='/var/lib/libvirt/qemu/channels/5e6b7e5a-1c4f-4a3e-9a8e-0d2a3c4b5d6e.org.qemu.guest_agent.0'/>\n      <target type='virtio' name='org.qemu.guest_agent.0'/>\n    </channel>",
          "    <channel type='spicevmc'>\n      <target type='virtio' name='com.redhat.spice.0'/>\n    </channel>",
          "    <graphics type='spice' port='-1' autoport='yes' passwd='*****' passwdValidTo='1970-01-01T00:00:01' tlsPort='-1'>\n      <listen type='network' network='vdsm-ovirtmgmt'/>\n      <channel name='main' mode='secure'/>\n    </graphics>",
          serial,
          `    <video>\n      <model type='${r.video === 'virtio' ? 'qxl' : r.video}'/>\n    </video>`,
        ]
          .filter(Boolean)
          .join('\n'),
        afterDevices:
          "  <sysinfo type='smbios'>\n    <system>\n      <entry name='manufacturer'>oVirt</entry>\n      <entry name='product'>RHEL</entry>\n      <entry name='version'>9-2.0</entry>\n      <entry name='family'>oVirt</entry>\n    </system>\n  </sysinfo>",
      },
      vagrant: {
        os: "    <boot dev='hd'/>",
        features: '  <features>\n    <acpi/>\n    <apic/>\n    <pae/>\n  </features>',
        cpu: "  <cpu mode='host-passthrough'/>",
        lifecycle: "  <clock offset='utc'/>",
        devices: [
          disk,
          "    <interface type='network'>\n      <source network='vagrant-libvirt'/>\n      <model type='virtio'/>\n    </interface>",
          serial,
          "    <input type='mouse' bus='ps2'/>",
          "    <graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1' keymap='en-us'/>",
          "    <video>\n      <model type='cirrus' vram='16384' heads='1'/>\n    </video>",
        ].join('\n'),
      },
      boxes: {
        head: "  <title>Fedora 38</title>\n  <metadata>\n    <boxes:gnome-boxes xmlns:boxes='https://wiki.gnome.org/Apps/Boxes'>\n      <os-state>installed</os-state>\n    </boxes:gnome-boxes>\n    <libosinfo:libosinfo xmlns:libosinfo='http://libosinfo.org/xmlns/libvirt/domain/1.0'>\n      <libosinfo:os id='http://fedoraproject.org/fedora/38'/>\n    </libosinfo:libosinfo>\n  </metadata>\n",
        os: "    <boot dev='cdrom'/>\n    <boot dev='hd'/>",
        features: '  <features>\n    <acpi/>\n    <apic/>\n  </features>',
        cpu: "  <cpu mode='host-passthrough'>\n    <topology sockets='1' cores='2' threads='1'/>\n  </cpu>",
        lifecycle:
          "  <clock offset='utc'>\n    <timer name='rtc' tickpolicy='catchup'/>\n    <timer name='pit' tickpolicy='delay'/>\n    <timer name='hpet' present='no'/>\n  </clock>\n  <pm>\n    <suspend-to-mem enabled='no'/>\n    <suspend-to-disk enabled='no'/>\n  </pm>",
        devices: [
          disk,
          "    <controller type='usb' model='qemu-xhci' ports='15'/>",
          "    <interface type='user'>\n      <model type='virtio'/>\n    </interface>",
          "    <graphics type='spice'>\n      <image compression='off'/>\n      <gl enable='no'/>\n    </graphics>",
          "    <channel type='spicevmc'>\n      <target type='virtio' name='com.redhat.spice.0'/>\n    </channel>",
          "    <channel type='unix'>\n      <source mode='bind'/>\n      <target type='virtio' name='org.qemu.guest_agent.0'/>\n    </channel>",
          "    <redirdev bus='usb' type='spicevmc'/>\n    <redirdev bus='usb' type='spicevmc'/>",
          "    <sound model='ich9'/>",
          `    <video>\n      <model type='${r.video}'/>\n    </video>`,
          "    <filesystem type='mount' accessmode='passthrough'>\n      <driver type='virtiofs'/>\n      <source dir='/home/user/Public'/>\n      <target dir='public'/>\n    </filesystem>",
        ].join('\n'),
        memoryBacking:
          "  <memoryBacking>\n    <source type='memfd'/>\n    <access mode='shared'/>\n  </memoryBacking>",
      },
      'virt-manager': {
        head: "  <metadata>\n    <libosinfo:libosinfo xmlns:libosinfo='http://libosinfo.org/xmlns/libvirt/domain/1.0'>\n      <libosinfo:os id='http://debian.org/debian/12'/>\n    </libosinfo:libosinfo>\n  </metadata>\n",
        features: "  <features>\n    <acpi/>\n    <apic/>\n    <vmport state='off'/>\n  </features>",
        cpu: "  <cpu mode='host-passthrough' check='none' migratable='on'/>",
        lifecycle:
          "  <clock offset='utc'>\n    <timer name='rtc' tickpolicy='catchup'/>\n    <timer name='pit' tickpolicy='delay'/>\n    <timer name='hpet' present='no'/>\n  </clock>\n  <on_poweroff>destroy</on_poweroff>\n  <on_reboot>restart</on_reboot>\n  <on_crash>destroy</on_crash>",
        devices: [
          disk,
          scsiCtrl,
          "    <disk type='file' device='cdrom'>\n      <driver name='qemu' type='raw'/>\n      <target dev='sdb' bus='sata'/>\n      <readonly/>\n    </disk>",
          "    <interface type='network'>\n      <source network='default'/>\n      <model type='virtio'/>\n    </interface>",
          "    <channel type='unix'>\n      <target type='virtio' name='org.qemu.guest_agent.0'/>\n    </channel>",
          "    <input type='tablet' bus='usb'/>",
          "    <graphics type='spice' autoport='yes'>\n      <listen type='address'/>\n      <image compression='off'/>\n    </graphics>",
          "    <audio id='1' type='spice'/>",
          `    <video>\n      <model type='${r.video}'/>\n    </video>`,
          "    <redirdev bus='usb' type='spicevmc'/>",
          "    <rng model='virtio'>\n      <backend model='random'>/dev/urandom</backend>\n    </rng>",
        ]
          .filter(Boolean)
          .join('\n'),
      },
    };
    return { machine: r.machine, ...byStyle[r.style]! };
  });

/** Other devices: video models and heads, sound, serial/console targets, smartcards, controllers, hostdevs. */
const devicesMore: fc.Arbitrary<Parts> = fc
  .record({
    video: maybe(
      pick(
        "<model type='qxl' ram='65536' vram='65536' vgamem='16384' heads='1' primary='yes'/>",
        "<model type='vga' vram='16384' heads='2'/>",
        "<model type='virtio' heads='1'><acceleration accel3d='no'/></model>",
        "<model type='cirrus' vram='9216' heads='1'/>",
        "<model type='bochs' vram='16384'/>",
        "<model type='none'/>",
        "<model type='ramfb'/>",
      ),
    ),
    sound: maybe(
      pick(
        "<sound model='ich9'><codec type='micro'/></sound>",
        "<sound model='ac97'/>",
        "<sound model='usb'/>",
        "<sound model='ich6'><audio id='1'/></sound>",
      ),
    ),
    serial: maybe(
      pick(
        "<serial type='pty'><target type='isa-serial' port='0'><model name='isa-serial'/></target></serial>",
        "<serial type='pty'><target type='usb-serial' port='0'/></serial>",
        "<serial type='pty'><target type='pci-serial'/></serial>",
        "<serial type='file'><source path='/tmp/ser.log'/></serial>",
        "<serial type='tcp'><source mode='bind' host='127.0.0.1' service='4555'/><protocol type='telnet'/></serial>",
        "<serial type='pty'><target type='system-serial'/></serial>",
        "<console type='pty'><target type='virtio' port='0'/></console>",
      ),
    ),
    smartcard: maybe(
      pick(
        "<smartcard mode='passthrough' type='tcp'><source mode='connect' host='127.0.0.1' service='2001'/><protocol type='raw'/></smartcard>",
        "<smartcard mode='host'/>",
      ),
    ),
    controller: maybe(
      pick(
        "<controller type='usb' model='ich9-ehci1'/>",
        "<controller type='usb' model='nec-xhci' ports='8'/>",
        "<controller type='scsi' model='lsilogic'/>",
        "<controller type='scsi' model='virtio-scsi'><driver queues='4'/></controller>",
        "<controller type='sata' index='0'/>",
        "<controller type='virtio-serial' ports='32' vectors='4'/>",
        "<controller type='pci' model='pci-bridge'/>",
        "<controller type='pci' model='pcie-root-port'/>",
        "<controller type='ccid' index='0'/>",
      ),
    ),
    hostdev: maybe(
      pick(
        "<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x03' slot='0x00' function='0x0'/></source></hostdev>",
        "<hostdev mode='subsystem' type='usb'><source><vendor id='0x1234'/><product id='0xbeef'/></source></hostdev>",
        "<hostdev mode='subsystem' type='usb' startupPolicy='optional'><source><address bus='1' device='2'/></source></hostdev>",
      ),
    ),
    memballoon: maybe(
      pick(
        "<memballoon model='none'/>",
        "<memballoon model='virtio' autodeflate='on' freePageReporting='on'/>",
        "<memballoon model='virtio'><stats period='0'/></memballoon>",
      ),
    ),
    machine: pick('pc', 'q35'),
  })
  .map((r) => ({
    machine: r.machine,
    devices: [
      r.video && `<video>${r.video}</video>`,
      r.sound,
      r.serial,
      r.smartcard,
      r.controller,
      r.hostdev,
      r.memballoon,
    ]
      .filter(Boolean)
      .map((x) => `    ${x}`)
      .join('\n'),
  }));

/** Tuning and guest layout: cputune, numatune, memtune, blkiotune, memoryBacking, pm, perf, seclabels, loaders. */
const tuning: fc.Arbitrary<Parts> = fc
  .record({
    cputune: maybe(
      pick(
        '<cputune><shares>1024</shares><period>100000</period><quota>-1</quota></cputune>',
        "<cputune><vcpupin vcpu='0' cpuset='0-1'/><emulatorpin cpuset='1'/></cputune>",
        "<cputune><vcpupin vcpu='5' cpuset='0'/></cputune>",
      ),
    ),
    memtune: maybe(
      pick(
        "<memtune><hard_limit unit='MiB'>2048</hard_limit><soft_limit unit='G'>1</soft_limit></memtune>",
        '<memtune><min_guarantee>65536</min_guarantee></memtune>',
        "<memtune><swap_hard_limit unit='KiB'>100</swap_hard_limit><hard_limit unit='KiB'>200</hard_limit></memtune>",
      ),
    ),
    blkio: maybe(
      pick(
        '<blkiotune><weight>500</weight></blkiotune>',
        '<blkiotune><weight>5</weight></blkiotune>',
        '<blkiotune><device><path>/dev/sda</path><weight>100</weight><read_bytes_sec>1000</read_bytes_sec></device></blkiotune>',
      ),
    ),
    numatune: maybe(
      pick(
        "<numatune><memory mode='strict' nodeset='0'/></numatune>",
        "<numatune><memory mode='interleave' placement='auto'/></numatune>",
        "<numatune><memory mode='preferred' nodeset='0-1'/></numatune>",
      ),
    ),
    mb: maybe(
      pick(
        "<memoryBacking><hugepages><page size='2' unit='M'/></hugepages></memoryBacking>",
        '<memoryBacking><nosharepages/><locked/></memoryBacking>',
        '<memoryBacking><discard/></memoryBacking>',
        "<memoryBacking><source type='anonymous'/><allocation mode='immediate' threads='4'/></memoryBacking>",
      ),
    ),
    perf: maybe(
      pick(
        "<perf><event name='cmt' enabled='yes'/></perf>",
        "<perf><event name='cpu_cycles' enabled='no'/></perf>",
      ),
    ),
    seclabel: maybe(
      pick(
        "<seclabel type='none'/>",
        "<seclabel type='dynamic' model='dac' relabel='yes'/>",
        "<seclabel type='static' model='dac' relabel='no'><label>+0:+0</label></seclabel>",
      ),
    ),
    loader: maybe(
      pick(
        "<loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE.fd</loader>",
        "<loader readonly='yes' secure='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.secboot.fd</loader><nvram>/var/lib/libvirt/qemu/nvram/x_VARS.fd</nvram>",
      ),
    ),
    firmware: maybe(pick('efi', 'bios')),
    machine: pick('pc', 'q35'),
  })
  .map((r) => ({
    machine: r.machine,
    head: [r.memtune, r.blkio, r.cputune, r.numatune]
      .filter(Boolean)
      .map((x) => `  ${x}\n`)
      .join(''),
    memoryBacking: r.mb ? `  ${r.mb}` : '',
    os: r.loader ? `    ${r.loader}` : '',
    features:
      r.loader || r.firmware === 'efi'
        ? r.machine === 'q35'
          ? "  <features>\n    <acpi/>\n    <smm state='on'/>\n  </features>"
          : '  <features>\n    <acpi/>\n  </features>'
        : '',
    afterDevices: [r.perf, r.seclabel]
      .filter(Boolean)
      .map((x) => `  ${x}`)
      .join('\n'),
  }));

/** Disk details: network sources, I/O tuning, identity strings, geometry, startup policy, transient disks. */
const storageMore: fc.Arbitrary<Parts> = fc
  .record({
    source: pick(
      "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/var/lib/libvirt/images/s.qcow2'/>",
      "<disk type='network' device='disk'><driver name='qemu' type='raw'/><source protocol='rbd' name='pool/image'><host name='mon1' port='6789'/></source>",
      "<disk type='network' device='disk'><driver name='qemu' type='raw'/><source protocol='iscsi' name='iqn.2013-07.com.example:iscsi-pool/1'><host name='example.com' port='3260'/></source>",
      "<disk type='network' device='cdrom'><driver name='qemu' type='raw'/><source protocol='https' name='/images/x.iso'><host name='example.com' port='443'/></source>",
      "<disk type='network' device='disk'><driver name='qemu' type='raw'/><source protocol='nbd' name='export'><host name='127.0.0.1' port='10809'/></source>",
      "<disk type='block' device='disk'><driver name='qemu' type='raw' io='native' cache='none'/><source dev='/dev/sdz'/>",
      "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='/tmp/a.iso' startupPolicy='optional'/>",
      "<disk type='file' device='disk'><driver name='qemu' type='raw' io='native'/><source file='/tmp/b.img'/>",
    ),
    bus: pick('virtio', 'scsi', 'sata', 'ide', 'usb'),
    extra: fc.subarray(
      [
        '<serial>WD-1234</serial>',
        '<wwn>5000c50015ea71ac</wwn>',
        '<vendor>ACME</vendor><product>Disk</product>',
        "<blockio logical_block_size='512' physical_block_size='4096'/>",
        "<geometry cyls='16383' heads='16' secs='63' trans='lba'/>",
        '<iotune><total_bytes_sec>10000000</total_bytes_sec><read_iops_sec>400</read_iops_sec></iotune>',
        '<iotune><group_name>g</group_name></iotune>',
        '<transient/>',
        '<shareable/>',
        '<readonly/>',
        "<boot order='1'/>",
      ],
      { maxLength: 3 },
    ),
    machine: pick('pc', 'q35'),
  })
  .map((r) => {
    const dev = r.bus === 'virtio' ? 'vdc' : r.bus === 'ide' ? 'hdc' : 'sdc';
    return {
      machine: r.machine,
      devices: `    ${r.source}<target dev='${dev}' bus='${r.bus}'/>${r.extra.join('')}</disk>`,
    };
  });

/** Interface details: driver queues, MTU, link state, ROM, boot order, coalescing, user-mode IPs, filters. */
const interfaceMore: fc.Arbitrary<Parts> = fc
  .record({
    type: pick('network', 'bridge', 'user', 'ethernet'),
    model: pick('virtio', 'e1000e', 'rtl8139'),
    extra: fc.subarray(
      [
        "<driver name='vhost' queues='4' rx_queue_size='256' tx_queue_size='256'/>",
        "<driver name='qemu' txmode='iothread' ioeventfd='on' event_idx='off'/>",
        "<mtu size='9000'/>",
        "<link state='down'/>",
        "<rom bar='off'/>",
        "<rom enabled='no'/>",
        "<boot order='2'/>",
        "<coalesce><rx><frames max='7'/></rx></coalesce>",
        "<ip address='192.168.122.5' family='ipv4' prefix='24'/>",
        "<filterref filter='clean-traffic'><parameter name='IP' value='10.0.0.1'/></filterref>",
        '<tune><sndbuf>1600</sndbuf></tune>',
        "<backend tap='/dev/net/tun' vhost='/dev/vhost-net'/>",
        "<acpi index='3'/>",
      ],
      { maxLength: 3 },
    ),
  })
  .map((r) => {
    const src: Record<string, string> = {
      network: "<source network='default'/>",
      bridge: "<source bridge='br0'/>",
      user: '',
      ethernet: '',
    };
    return {
      devices: `    <interface type='${r.type}'><mac address='52:54:00:aa:bb:cc'/>${src[r.type]}<model type='${r.model}'/>${r.extra.join('')}</interface>`,
    };
  });

/** The families, each with its arbitrary; the weights keep every family well represented. */
export const FAMILIES: Record<string, fc.Arbitrary<Parts>> = {
  lifecycle,
  features,
  iothreads,
  filesystem,
  watchdog,
  graphics,
  encryption,
  interface: iface,
  sysinfo,
  'disk-bus': diskBus,
  'empty-elements': emptyElements,
  metadata,
  identity,
  channel,
  'memory-devices': memoryDevices,
  'usb-redirfilter': usbRedir,
  timers,
  misc,
  deployments,
  'devices-more': devicesMore,
  tuning,
  'storage-more': storageMore,
  'interface-more': interfaceMore,
};

/** `count` cases, round-robin over the families (or only `only`), reproducible from `seed`. */
export function generateCases(count: number, seed: number, only?: readonly string[]): Case[] {
  const names = Object.keys(FAMILIES).filter((f) => !only?.length || only.includes(f));
  if (!names.length) throw new Error(`no family named ${only?.join(', ')}`);
  const out: Case[] = [];
  const perFamily = Math.ceil(count / names.length);
  for (const [fi, family] of names.entries()) {
    const samples = fc.sample(FAMILIES[family]!, { seed: seed + fi * 7919, numRuns: perFamily });
    for (const [i, parts] of samples.entries()) {
      out.push({ id: out.length, family, xml: domain(`d${fi}x${i}`, parts) });
    }
  }
  // interleave so that a partial run still covers every family
  out.sort((a, b) => (a.id % perFamily) - (b.id % perFamily) || a.id - b.id);
  return out.slice(0, count).map((c, i) => ({ ...c, id: i }));
}
