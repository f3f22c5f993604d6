/**
 * libvirt 9.0's validation and normalisation rules found by tools/differential, each with an
 * input of our own: what libvirt refuses (with its message) and what it rewrites at define.
 */
import { parseDomainXML } from '@qvirt/core';
import { describe, expect, it } from 'vitest';
import { buildCommandLine } from '../../argv/index.js';
import { referenceContext } from '../../context.js';
import { formatDefinition } from '../../definition-xml.js';
import { canonicalizeDomain } from '../index.js';
import { validSmbiosDate } from './general-ids.js';
import { usbVersion } from './validate-device-rules.js';

const UUID = 'c7a5fdbd-edaf-9455-926a-d65c16db1809';
interface Parts {
  top?: string;
  os?: string;
  devices?: string;
  after?: string;
  machine?: string;
  uuid?: string | null;
}
const domain = (p: Parts) =>
  `<domain type='kvm'><name>v</name>${p.uuid === null ? '' : `<uuid>${p.uuid ?? UUID}</uuid>`}` +
  `<memory>219136</memory><vcpu>2</vcpu>${p.top ?? ''}` +
  `<os><type arch='x86_64' machine='${p.machine ?? 'pc'}'>hvm</type>${p.os ?? ''}</os>${p.after ?? ''}<devices>` +
  `<emulator>/usr/bin/qemu-system-x86_64</emulator>${p.devices ?? ''}</devices></domain>`;

const define = (xml: string) => canonicalizeDomain(parseDomainXML(xml), referenceContext());
const dumpxml = (xml: string) => formatDefinition(define(xml));
const argv = (xml: string) => buildCommandLine(define(xml), referenceContext()).args.join(' ');
const refusal = (xml: string): string | undefined => {
  try {
    define(xml);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
};

describe('lifecycle actions (qemuValidateLifecycleAction, virDomainDefLifecycleActionAllowed)', () => {
  it('refuses what the QEMU driver cannot do', () => {
    expect(refusal(domain({ after: '<on_reboot>rename-restart</on_reboot>' }))).toBe(
      "unsupported configuration: qemu driver doesn't support the 'rename-restart' action for 'on_reboot'/'on_poweroff'/'on_crash'",
    );
    expect(refusal(domain({ after: '<on_poweroff>preserve</on_poweroff>' }))).toMatch(/'preserve' action/);
    expect(
      refusal(domain({ after: '<on_poweroff>restart</on_poweroff><on_reboot>destroy</on_reboot>' })),
    ).toMatch(/'onReboot' set to 'destroy/);
    expect(refusal(domain({ after: '<on_crash>preserve</on_crash>' }))).toBeUndefined();
  });
  it('keeps the coredump actions to on_crash', () => {
    expect(refusal(domain({ after: '<on_reboot>coredump-restart</on_reboot>' }))).toBe(
      "unsupported configuration: Lifecycle event 'reboot' doesn't support 'coredump-restart' action",
    );
    expect(refusal(domain({ after: '<on_crash>coredump-destroy</on_crash>' }))).toBeUndefined();
  });
});

describe('<features>', () => {
  it('refuses a feature libvirt 9.0 does not know, and drops an empty <features>', () => {
    expect(refusal(domain({ after: '<features><acpi/><frob/></features>' }))).toBe(
      "unsupported configuration: unexpected feature 'frob'",
    );
    expect(dumpxml(domain({ after: '<features>\n</features>' }))).not.toContain('<features');
  });
});

describe('clock timers (qemuValidateDomainDefClockTimers)', () => {
  it('refuses the ARM timer on x86 and the platform timer', () => {
    expect(refusal(domain({ after: "<clock offset='utc'><timer name='armvtimer'/></clock>" }))).toBe(
      "unsupported configuration: Configuring the 'armvtimer' timer is not supported for virtType=kvm arch=x86_64 machine=pc-i440fx-7.2 guests",
    );
    expect(
      refusal(domain({ after: "<clock offset='utc'><timer name='rtc' tickpolicy='merge'/></clock>" })),
    ).toBe("unsupported configuration: unsupported rtc timer tickpolicy 'merge'");
  });
});

describe('identifiers and <sysinfo> (virDomainDefParseIDs, virSysinfoParseXML)', () => {
  it('fills an empty <uuid> and a <genid/> and puts both on the command line', () => {
    const def = define(domain({ uuid: '', top: '<genid/>' }));
    expect(def.uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-/);
    expect(def.genid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-/);
    const words = buildCommandLine(def, referenceContext()).args.join(' ');
    expect(words).toContain(`-uuid ${def.uuid}`);
    expect(words).toContain(`"guid":"${def.genid}"`);
  });
  it('writes SMBIOS entries in libvirt order, without empty blocks or unknown entries', () => {
    const xml = domain({
      os: "<smbios mode='sysinfo'/>",
      after:
        "<sysinfo type='smbios'><bios><entry name='date'>1/2/2020</entry><entry name='vendor'>V</entry>" +
        "<entry name='junk'>x</entry></bios><system/><chassis><entry name='serial'></entry></chassis></sysinfo>",
    });
    const out = dumpxml(xml);
    expect(out).toMatch(
      /<bios>\s*<entry name='vendor'>V<\/entry>\s*<entry name='date'>1\/2\/2020<\/entry>\s*<\/bios>/,
    );
    expect(out).not.toMatch(/<system|<chassis|junk/);
    expect(argv(xml).match(/-smbios \S+/g)).toEqual(['-smbios type=0,vendor=V,date=1/2/2020']);
  });
  it('checks the BIOS date and the system UUID', () => {
    expect(validSmbiosDate('12/31/99')).toBe(true);
    expect(validSmbiosDate('01/01/2011')).toBe(true);
    expect(validSmbiosDate('2011-01-01')).toBe(false);
    expect(validSmbiosDate('13/01/2011')).toBe(false);
    expect(validSmbiosDate('1/1/150')).toBe(false);
    const sys = (uuid: string) =>
      `<sysinfo type='smbios'><system><entry name='uuid'>${uuid}</entry></system></sysinfo>`;
    expect(refusal(domain({ after: sys('11111111-2222-3333-4444-555555555555') }))).toBe(
      'UUID mismatch between <uuid> and <sysinfo>',
    );
    // without a <uuid>, the system UUID becomes the domain's
    expect(define(domain({ uuid: null, after: sys('11111111-2222-3333-4444-555555555555') })).uuid).toBe(
      '11111111-2222-3333-4444-555555555555',
    );
    expect(refusal(domain({ after: "<sysinfo type='fwcfg'><entry name='name'>x</entry></sysinfo>" }))).toBe(
      'unsupported configuration: Invalid firmware name',
    );
  });
});

describe('empty elements and metadata', () => {
  it('drops empty text elements libvirt reads as absent', () => {
    const out = dumpxml(domain({ top: '<title/><description></description>', os: '<kernel/><cmdline/>' }));
    expect(out).not.toMatch(/<title|<description|<kernel|<cmdline/);
  });
  it('keeps <metadata/> when nothing with a namespace is left in it', () => {
    expect(dumpxml(domain({ top: '<metadata><plain>x</plain></metadata>' }))).toContain('<metadata/>');
  });
});

describe('devices', () => {
  it('knows libvirt 9.0 watchdogs and says what a watchdog does', () => {
    expect(refusal(domain({ devices: "<watchdog model='itco'/>" }))).toBe(
      "unsupported configuration: unknown watchdog model 'itco'",
    );
    expect(refusal(domain({ devices: "<watchdog model='ib700' action='explode'/>" }))).toBe(
      "unsupported configuration: unknown watchdog action 'explode'",
    );
    expect(refusal(domain({ devices: "<watchdog model='diag288'/>" }))).toBe(
      'unsupported configuration: diag288 model of watchdog is allowed for s390 and s390x only',
    );
    expect(dumpxml(domain({ devices: "<watchdog model='ib700'/>" }))).toContain(
      "<watchdog model='ib700' action='reset'/>",
    );
  });
  it('checks panic models and TPM counts', () => {
    expect(refusal(domain({ devices: "<panic model='pvpanic'/>" }))).toBe(
      "unsupported configuration: unknown panic model 'pvpanic'",
    );
    expect(refusal(domain({ devices: "<panic model='s390'/>" }))).toBe(
      "unsupported configuration: only S390 guests support panic device of model 's390'",
    );
    const tpm = "<tpm model='tpm-tis'><backend type='passthrough'><device path='/dev/tpm0'/></backend></tpm>";
    expect(refusal(domain({ devices: tpm + tpm }))).toBe(
      'unsupported configuration: only a single TPM non-proxy device is supported',
    );
  });
  it('puts IOThreads only on virtio disks, and only threads that exist', () => {
    const disk = (bus: string, dev: string, iothread: number) =>
      `<disk type='file' device='disk'><driver name='qemu' type='raw' iothread='${iothread}'/>` +
      `<source file='/d.img'/><target dev='${dev}' bus='${bus}'/></disk>`;
    expect(refusal(domain({ top: '<iothreads>1</iothreads>', devices: disk('sata', 'sda', 1) }))).toBe(
      'unsupported configuration: IOThreads not available for bus sata target sda',
    );
    expect(refusal(domain({ top: '<iothreads>1</iothreads>', devices: disk('virtio', 'vda', 2) }))).toBe(
      "unsupported configuration: Disk iothread '2' not defined in iothreadid",
    );
    expect(
      refusal(domain({ top: '<iothreads>2</iothreads>', devices: disk('virtio', 'vda', 2) })),
    ).toBeUndefined();
  });
  it('applies virDomainDiskDefValidate bus rules', () => {
    const disk = (device: string, bus: string, dev: string, extra = '') =>
      `<disk type='file' device='${device}'><driver name='qemu' type='raw'${extra}/>` +
      `<source file='/d.img'/><target dev='${dev}' bus='${bus}'/></disk>`;
    expect(refusal(domain({ devices: disk('disk', 'sata', 'sda', " queues='2'") }))).toBe(
      'unsupported configuration: queues attribute in disk driver element is only supported by virtio-blk',
    );
    expect(refusal(domain({ devices: disk('floppy', 'usb', 'sda') }))).toBe(
      "internal error: Invalid bus type 'usb' for floppy disk",
    );
    expect(refusal(domain({ devices: disk('disk', 'fdc', 'fda') }))).toBe(
      "internal error: Invalid bus type 'fdc' for disk",
    );
    const usbWithPci =
      "<disk type='file' device='disk'><source file='/d.img'/><target dev='sda' bus='usb'/>" +
      "<address type='pci' domain='0x0000' bus='0x00' slot='0x09' function='0x0'/></disk>";
    expect(refusal(domain({ devices: usbWithPci }))).toBe(
      'internal error: unexpected address type for usb disk',
    );
  });
  it('refuses a <cipher> on a LUKS disk', () => {
    const xml = domain({
      devices:
        "<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='/d.img'>" +
        "<encryption format='luks'><secret type='passphrase' uuid='0a81f5b2-8403-7b23-c8d6-21ccc2f80d6f'/>" +
        "<cipher name='aes' size='256' mode='xts' hash='sha256'/></encryption></source><target dev='vda' bus='virtio'/></disk>",
    });
    expect(refusal(xml)).toBe(
      'unsupported configuration: supplying <cipher> for domain disk definition is unnecessary',
    );
  });
  it('asks virtiofs for shared memory, write access and passthrough', () => {
    const fs = (extra = '') =>
      `<filesystem type='mount'><driver type='virtiofs'/><source dir='/srv'/><target dir='t'/>${extra}</filesystem>`;
    const shared = "<memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>";
    expect(refusal(domain({ devices: fs() }))).toBe(
      "unsupported configuration: 'virtiofs' requires shared memory",
    );
    expect(refusal(domain({ top: shared, devices: fs('<readonly/>') }))).toBe(
      'unsupported configuration: virtiofs does not yet support read-only mode',
    );
    expect(refusal(domain({ top: shared, devices: fs() }))).toBeUndefined();
    const handle =
      "<filesystem type='mount' accessmode='mapped'><driver type='handle'/><source dir='/s'/><target dir='t'/></filesystem>";
    expect(refusal(domain({ devices: handle }))).toBe(
      'unsupported configuration: only supports passthrough accessmode',
    );
    // the queue size belongs to virtiofs only
    const path =
      "<filesystem type='mount'><driver type='path' queue='1024'/><source dir='/s'/><target dir='t'/></filesystem>";
    expect(dumpxml(domain({ devices: path }))).toContain("<driver type='path'/>");
  });
  it('checks graphics as the QEMU driver does', () => {
    expect(refusal(domain({ devices: "<graphics type='vnc' passwd='123456789'/>" }))).toBe(
      'unsupported configuration: VNC password is 9 characters long, only 8 permitted',
    );
    expect(refusal(domain({ devices: "<graphics type='rdp'/>" }))).toBe(
      'unsupported configuration: rdp graphics are not supported with this QEMU',
    );
    expect(refusal(domain({ devices: "<graphics type='egl-headless'/><graphics type='sdl'/>" }))).toBe(
      "unsupported configuration: graphics type 'egl-headless' is only supported with one of: 'vnc', 'spice' graphics types",
    );
    expect(() => argv(domain({ devices: "<graphics type='vnc'/><graphics type='vnc'/>" }))).toThrow(
      'only 1 graphics device of each type (sdl, vnc, spice, headless, dbus) is supported',
    );
  });
  it('checks inputs and vsock CIDs', () => {
    expect(refusal(domain({ devices: "<input type='mouse' bus='xen'/>" }))).toBe(
      'internal error: unsupported input bus xen',
    );
    expect(refusal(domain({ devices: "<vsock model='virtio'><cid auto='no' address='2'/></vsock>" }))).toBe(
      'unsupported configuration: guest CIDs must be >= 3',
    );
  });
  it('writes a USB filter version as libvirt does and refuses what it cannot parse', () => {
    expect(usbVersion('1.1')).toBe('1.10');
    expect(usbVersion('2.0')).toBe('2.00');
    expect(usbVersion('3.05')).toBe('3.05');
    expect(() => usbVersion('2')).toThrow('XML error: Cannot parse USB device version 2');
    expect(() => usbVersion('0x0200')).toThrow('Cannot parse USB device version 0x0200');
  });
  it('generates an Open vSwitch interfaceid and drops an empty <bandwidth>', () => {
    const out = dumpxml(
      domain({
        devices:
          "<interface type='bridge'><mac address='52:54:00:11:22:33'/><source bridge='br0'/>" +
          "<virtualport type='openvswitch'/><bandwidth/><model type='virtio'/></interface>",
      }),
    );
    expect(out).toMatch(/<virtualport type='openvswitch'>\s*<parameters interfaceid='[0-9a-f-]{36}'\/>/);
    expect(out).not.toContain('<bandwidth');
  });
  it('stores memory device sizes in KiB', () => {
    const out = dumpxml(
      domain({
        machine: 'q35',
        top: "<maxMemory slots='4' unit='KiB'>4194304</maxMemory>",
        after: "<cpu><numa><cell id='0' cpus='0-1' memory='219136' unit='KiB'/></numa></cpu>",
        devices: "<memory model='dimm'><target><size unit='MiB'>128</size><node>0</node></target></memory>",
      }),
    );
    expect(out).toContain("<size unit='KiB'>131072</size>");
  });
  it('forgets an auto-generated channel path, also without a target name', () => {
    const chan = (name: string) =>
      "<channel type='unix'><source mode='bind' path='/var/lib/libvirt/qemu/channel/target/domain-1-d/org.qemu.guest_agent.0'/>" +
      `<target type='virtio'${name}/></channel>`;
    expect(dumpxml(domain({ devices: chan('') }))).not.toContain('domain-1-d');
    expect(dumpxml(domain({ devices: chan(" name='other'") }))).toContain('domain-1-d');
  });
  it('needs the right front end for vhost-user and vDPA, and SPICE for spicevmc', () => {
    expect(
      refusal(
        domain({
          devices:
            "<interface type='vdpa'><source dev='/dev/vhost-vdpa-0'/><model type='e1000'/></interface>",
        }),
      ),
    ).toBe("unsupported configuration: invalid model for interface of type 'vdpa': 'e1000'");
    const shared = "<memoryBacking><access mode='shared'/></memoryBacking>";
    expect(
      refusal(
        domain({
          top: shared,
          devices:
            "<interface type='vhostuser'><source type='unix' path='/s' mode='server'/><model type='e1000'/></interface>",
        }),
      ),
    ).toMatch(/^internal error: Wrong or no <model> 'type' attribute/);
    expect(refusal(domain({ devices: "<channel type='spicevmc'><target type='virtio'/></channel>" }))).toBe(
      "unsupported configuration: chardev 'spicevmc' not supported without spice graphics",
    );
  });
  it('keeps IDE to the board that has it', () => {
    const ide =
      "<disk type='file' device='cdrom'><source file='/c.iso'/><target dev='hda' bus='ide'/></disk>";
    expect(refusal(domain({ machine: 'q35', devices: ide }))).toBe(
      'unsupported configuration: IDE controllers are unsupported for this QEMU binary or machine type',
    );
    expect(refusal(domain({ devices: ide }))).toBeUndefined();
  });
  it('checks encryption engines and formats', () => {
    const enc = (attrs: string, inner = '') =>
      domain({
        devices:
          `<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='/d.img'><encryption ${attrs}>` +
          `<secret type='passphrase' uuid='0a81f5b2-8403-7b23-c8d6-21ccc2f80d6f'/>${inner}</encryption></source>` +
          "<target dev='vda' bus='virtio'/></disk>",
      });
    expect(refusal(enc("format='luks2'"))).toBe(
      'unsupported configuration: luks2 is currently not supported by the qemu encryption engine',
    );
    expect(refusal(enc("format='luks' engine='librbd'"))).toBe(
      'unsupported configuration: librbd encryption is supported only with RBD backed disks',
    );
    expect(refusal(enc("format='luks'", "<ivgen name='plain64' hash='sha256'/>"))).toBe(
      'XML error: ivgen element found, but cipher is missing',
    );
  });
  it('writes what libvirt writes for defaults and expiries', () => {
    const disk =
      "<disk type='file' device='disk'><driver name='qemu' type='raw' cache='default' detect_zeroes='off'/>" +
      "<source file='/d.img'/><target dev='vda' bus='virtio'/></disk>";
    expect(dumpxml(domain({ devices: disk }))).toContain(
      "<driver name='qemu' type='raw' detect_zeroes='off'/>",
    );
    expect(argv(domain({ devices: disk }))).toContain('"detect-zeroes":"off"');
    expect(
      dumpxml(domain({ devices: "<graphics type='vnc' passwdValidTo='2030-01-01T00:00:00'/>" })),
    ).not.toContain('passwdValidTo');
  });
  it('reads attributes as virXMLProp* does, in its words', () => {
    const disk = (driver: string, enc = '') =>
      domain({
        devices:
          `<disk type='file' device='disk'><driver name='qemu' type='raw'${driver}/><source file='/d.img'>${enc}</source>` +
          "<target dev='vda' bus='virtio'/></disk>",
      });
    expect(refusal(disk(" iothread='0'"))).toBe(
      "XML error: Invalid value for attribute 'iothread' in element 'driver': Zero is not permitted",
    );
    expect(refusal(disk('', "<encryption format='luks' engine='bogus'/>"))).toBe(
      "XML error: Invalid value for attribute 'engine' in element 'encryption': 'bogus'.",
    );
  });
  it('forgets generated tap names and a controller IOThread of 0', () => {
    const out = dumpxml(
      domain({
        devices:
          "<interface type='ethernet'><mac address='52:54:00:11:22:33'/><target dev='vnet7'/><model type='virtio'/></interface>" +
          "<controller type='scsi' index='0' model='virtio-scsi'><driver iothread='0'/></controller>",
      }),
    );
    expect(out).not.toContain('vnet7');
    expect(out).not.toContain("iothread='0'");
    expect(
      refusal(
        domain({
          devices:
            "<interface type='vdpa'><source dev='/dev/vhost-vdpa-0'/><model type='ne2k_pci'/></interface>",
        }),
      ),
    ).toBe("unsupported configuration: invalid model for interface of type 'vdpa': 'unknown'");
  });
  it('reads the boot menu timeout only for an enabled menu', () => {
    expect(refusal(domain({ os: "<bootmenu enable='yes' timeout=''/>" }))).toBe(
      "XML error: Invalid value for attribute 'timeout' in element 'bootmenu': ''. Expected non-negative integer value",
    );
    expect(dumpxml(domain({ os: "<bootmenu enable='no' timeout='x'/>" }))).toContain(
      "<bootmenu enable='no'/>",
    );
  });
  it('refuses unknown encryption formats and USB class codes as libvirt does', () => {
    const enc = (format: string) =>
      domain({
        devices:
          `<disk type='file' device='disk'><source file='/d.img'><encryption format='${format}'/></source>` +
          "<target dev='vda' bus='virtio'/></disk>",
      });
    expect(refusal(enc('bogus'))).toBe(
      'unsupported configuration: unknown volume encryption format type bogus',
    );
    const filter = (cls: string) =>
      domain({
        devices: `<redirfilter><usbdev class='${cls}' allow='yes'/></redirfilter>`,
      });
    expect(refusal(filter('0x100'))).toBe('internal error: Invalid USB Class code 0x100');
    expect(refusal(filter('0x08'))).toBeUndefined();
  });
  it('keeps several heads and secondary cards to QXL and virtio, and forgets a zero balloon period', () => {
    expect(refusal(domain({ devices: "<video><model type='vga' heads='2'/></video>" }))).toBe(
      "unsupported configuration: video type 'vga' doesn't support multiple 'heads'",
    );
    expect(
      refusal(
        domain({ devices: "<video><model type='virtio'/></video><video><model type='cirrus'/></video>" }),
      ),
    ).toBe("unsupported configuration: video type 'cirrus' is only valid as primary video device");
    expect(refusal(domain({ devices: "<video><model type='qxl' vgamem='3000'/></video>" }))).toBe(
      "unsupported configuration: value for 'vgamem' must be power of two",
    );
    expect(
      dumpxml(domain({ devices: "<memballoon model='virtio'><stats period='0'/></memballoon>" })),
    ).not.toContain('<stats');
  });
  it('checks disk geometry, I/O tuning groups, transient disks and io=native', () => {
    const disk = (bus: string, dev: string, inner: string, driver = '') =>
      domain({
        devices:
          `<disk type='file' device='disk'><driver name='qemu' type='raw'${driver}/><source file='/d.img'/>` +
          `<target dev='${dev}' bus='${bus}'/>${inner}</disk>`,
      });
    expect(refusal(disk('usb', 'sda', "<geometry cyls='100' heads='16' secs='63'/>"))).toBe(
      "unsupported configuration: CHS geometry can not be set for 'usb' bus",
    );
    expect(refusal(disk('sata', 'sda', "<geometry cyls='100' heads='16' secs='63' trans='lba'/>"))).toBe(
      "unsupported configuration: CHS translation mode can only be set for 'ide' bus not 'sata'",
    );
    expect(refusal(disk('virtio', 'vda', '<iotune><group_name>g</group_name></iotune>'))).toBe(
      'unsupported configuration: group_name can be configured only together with settings',
    );
    expect(refusal(disk('virtio', 'vda', '<transient/><readonly/>'))).toBe(
      "unsupported configuration: transient disk 'vda' must not be read-only",
    );
    expect(refusal(disk('virtio', 'vda', '', " io='native'"))).toBe(
      "unsupported configuration: io='native' needs either no disk cache or directsync cache mode",
    );
    expect(refusal(disk('virtio', 'vda', '', " io='native' cache='none'"))).toBeUndefined();
  });
  it('keeps guest IPs, MTU and coalescing to the interface types QEMU can apply them to', () => {
    const net = (type: string, inner: string) =>
      domain({
        devices: `<interface type='${type}'><mac address='52:54:00:11:22:33'/><model type='virtio'/>${inner}</interface>`,
      });
    expect(refusal(net('ethernet', "<ip address='10.0.0.2' family='ipv4' prefix='24'/>"))).toMatch(
      /guest-side IP route and\/or address info/,
    );
    expect(refusal(net('user', "<mtu size='9000'/>"))).toBe(
      'unsupported configuration: setting MTU on interface type user is not supported yet',
    );
    expect(refusal(net('ethernet', "<coalesce><rx><frames max='7'/></rx></coalesce>"))).toBe(
      'unsupported configuration: coalesce settings on interface type ethernet are not supported',
    );
  });
});

describe('TPM devices (qemuValidateDomainDeviceDefTPM, qemuDomainTPMDefPostParse)', () => {
  const tpm = (model: string, backend: string) =>
    domain({ devices: `<tpm model='${model}'>${backend}</tpm>` });
  const emulator = (version?: string) =>
    `<backend type='emulator'${version ? ` version='${version}'` : ''}/>`;
  const refusedWith = (xml: string, swtpm: { versions: Array<'1.2' | '2.0'> } | null) => {
    try {
      canonicalizeDomain(parseDomainXML(xml), referenceContext({ swtpm }));
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  };

  it('refuses an emulator TPM whose version the host swtpm lacks, or with no swtpm at all', () => {
    expect(refusedWith(tpm('tpm-crb', emulator()), null)).toBe(
      "unsupported configuration: TPM version '2.0' is not supported",
    );
    expect(refusedWith(tpm('tpm-tis', emulator('2.0')), { versions: ['1.2'] })).toBe(
      "unsupported configuration: TPM version '2.0' is not supported",
    );
    expect(refusedWith(tpm('tpm-tis', emulator('2.0')), { versions: ['2.0'] })).toBeUndefined();
    // without an swtpm the backend itself is missing, whatever the version
    expect(
      refusedWith(
        tpm(
          'tpm-tis',
          "<backend type='external'><source type='unix' mode='connect' path='/tmp/s'/></backend>",
        ),
        null,
      ),
    ).toBe(
      'unsupported configuration: The QEMU executable /usr/bin/qemu-system-x86_64 does not support TPM backend type external',
    );
  });

  it('refuses the combinations TPM 1.2 cannot do', () => {
    expect(refusal(tpm('tpm-crb', emulator('1.2')))).toBe(
      "unsupported configuration: Unsupported interface 'tpm-crb' for TPM 1.2",
    );
    expect(refusal(tpm('tpm-tis', emulator('1.2')))).toBeUndefined();
  });

  it('chooses TPM 2.0 for CRB and ARM virt machines, 1.2 for TIS', () => {
    expect(dumpxml(tpm('tpm-crb', emulator()))).toContain("<backend type='emulator' version='2.0'/>");
    expect(dumpxml(tpm('tpm-tis', emulator()))).toContain("<backend type='emulator' version='1.2'/>");
  });
});

describe("empty sources (virDomainStorageSourceParse's bogus '' path, virDomainNetDefFormat)", () => {
  it('reads an empty disk path as no path, keeping the disk type and what else the source says', () => {
    const cdrom = (src: string) =>
      dumpxml(
        domain({ devices: `<disk type='file' device='cdrom'>${src}<target dev='hdc' bus='ide'/></disk>` }),
      );
    // CloudStack and oVirt write an empty CD-ROM this way
    expect(cdrom("<source file=''/>")).not.toContain('<source');
    expect(cdrom("<source file='' startupPolicy='optional'/>")).toContain(
      "<source startupPolicy='optional'/>",
    );
    const block = dumpxml(
      domain({
        devices: "<disk type='block' device='cdrom'><source dev=''/><target dev='hdc' bus='ide'/></disk>",
      }),
    );
    expect(block).toContain("<disk type='block' device='cdrom'>");
    expect(block).not.toContain('<source');
  });

  it('drops an ethernet interface <source> with no host-side addresses (KubeVirt writes one)', () => {
    const xml = dumpxml(
      domain({
        devices: "<interface type='ethernet'><source></source><target dev='tap0' managed='no'/></interface>",
      }),
    );
    expect(xml).not.toContain('<source');
    expect(xml).toContain("<target dev='tap0' managed='no'/>");
  });
});
