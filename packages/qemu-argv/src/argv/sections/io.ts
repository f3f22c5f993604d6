/**
 * Guest I/O devices in libvirt 9.0's qemuBuildCommandLine order: interfaces, smartcards, serials,
 * parallels, channels, consoles, TPMs, redirdevs, host devices and RNGs (qemu_command.c).
 */
import { existsSync } from 'node:fs';
import { type DomainDevices, VirError, virReportError, virReportSystemError } from '@qvirt/core';
import { hasFlag } from '../../caps/qemu-caps.js';
import { isX86 } from '../../domain-util.js';
import { shortName } from '../../layout.js';
import { add, type Build } from '../build.js';
import { controllerAlias, deviceAddressProps } from '../device-address.js';
import { jsonProps, type PropObject } from '../props.js';
import { virtioDevProps } from '../storage-virtio-props.js';
import { addChardev, type ChardevSpec } from './io-chardev.js';
import { hostdevs as buildHostdevs } from './io-hostdev.js';
import { nets as buildNets } from './io-net.js';

type Serial = NonNullable<DomainDevices['serial']>[number];
type Channel = NonNullable<DomainDevices['channel']>[number];
type Console = NonNullable<DomainDevices['console']>[number];
type Tpm = NonNullable<DomainDevices['tpm']>[number];
type Rng = NonNullable<DomainDevices['rng']>[number];
type UsbDev = NonNullable<NonNullable<DomainDevices['redirfilter']>['usbdev']>[number];

const unsupported = (msg: string) => virReportError('CONFIG_UNSUPPORTED', 'qemu', msg);
const internal = (msg: string) => virReportError('INTERNAL_ERROR', 'qemu', msg);

function aliasOf(dev: { alias?: { name?: string } }, what: string): string {
  const name = dev.alias?.name;
  if (!name) throw internal(`missing alias for ${what}`);
  return name;
}

/** `<interface>`: -netdev and -device (domxml-to-native: every interface as a tap ethernet one). */
export function nets(b: Build): void {
  buildNets(b);
}

/** The first `<smartcard>` on its CCID controller (qemuBuildSmartcardCommandLine). */
export function smartcards(b: Build): void {
  const card = b.def.devices?.smartcard?.[0];
  if (!card) return;
  const alias = aliasOf(card, 'smartcard');
  let props: PropObject;
  switch (card.mode) {
    case 'host':
      props = { driver: 'ccid-card-emulated', backend: 'nss-emulated' };
      break;
    case 'host-certificates': {
      const certs = card.certificate ?? [];
      props = {
        driver: 'ccid-card-emulated',
        backend: 'certificates',
        cert1: certs[0],
        cert2: certs[1],
        cert3: certs[2],
        db: card.database ?? '/etc/pki/nssdb',
      };
      break;
    }
    case 'passthrough': {
      const charAlias = `char${alias}`;
      addChardev(b, card as ChardevSpec, charAlias, { spicevmc: 'smartcard' });
      props = { driver: 'ccid-card-passthru', chardev: charAlias };
      break;
    }
    default:
      throw internal(`Unexpected enum value ${card.mode ?? ''} for virDomainSmartcardType`);
  }
  const a = card.address as { type?: string; controller?: number } | undefined;
  const controller = a?.type === 'ccid' ? (a.controller ?? 0) : 0;
  props.id = alias;
  props.bus = `${controllerAlias(b.def, 'ccid', controller)}.0`;
  add(b, '-device', jsonProps(props));
}

/** The QEMU capability each serial device model needs (qemuChrSerialTargetModelToCaps). */
const SERIAL_MODEL_CAPS: Record<string, string> = {
  'isa-serial': 'isa-serial',
  'usb-serial': 'usb-serial',
  'pci-serial': 'pci-serial',
  'spapr-vty': 'spapr-vty',
  sclpconsole: 'sclpconsole',
  sclplmconsole: 'sclplmconsole',
  pl011: 'pl011',
};

function checkSerialModel(b: Build, model: string): void {
  const cap = SERIAL_MODEL_CAPS[model];
  if (cap && !hasFlag(b.ctx.caps, cap)) throw unsupported(`'${model}' is not supported in this QEMU binary`);
}

/** A serial that QEMU gets as `-serial chardev:…` rather than a -device (qemuChrIsPlatformDevice). */
function isPlatformSerial(b: Build, serial: Serial): boolean {
  const arch = b.def.os?.type?.arch ?? '';
  const type = serial.target?.type ?? 'none';
  const model = serial.target?.model?.name;
  if (/^(armv6l|armv7l|aarch64)$/.test(arch) && type === 'system-serial' && model === 'pl011') return true;
  if (arch.startsWith('riscv') && type === 'system-serial' && model === '16550a') return true;
  return type === 'none';
}

export function serials(b: Build): void {
  const list = b.def.devices?.serial ?? [];
  const haveSpice = (b.def.devices?.graphics ?? []).some((g) => g.type === 'spice');
  for (const serial of list) {
    const alias = aliasOf(serial, 'serial');
    if (serial.type === 'spiceport' && !haveSpice) continue;
    addChardev(b, serial, `char${alias}`);
    const model = serial.target?.model?.name ?? 'none';
    if (isPlatformSerial(b, serial)) {
      checkSerialModel(b, model);
      add(b, '-serial', `chardev:char${alias}`);
      continue;
    }
    if (!SERIAL_MODEL_CAPS[model] && model !== 'isa-debugcon') {
      throw internal('Invalid target model for serial device');
    }
    checkSerialModel(b, model);
    const props: PropObject = { driver: model, chardev: `char${alias}`, id: alias };
    if (model === 'isa-serial') props.index = serial.target?.port ?? 0;
    Object.assign(props, deviceAddressProps(b.def, serial));
    add(b, '-device', jsonProps(props));
  }
}

export function parallels(b: Build): void {
  for (const parallel of b.def.devices?.parallel ?? []) {
    const alias = aliasOf(parallel, 'parallel');
    addChardev(b, parallel, `char${alias}`);
    add(b, '-device', jsonProps({ driver: 'isa-parallel', chardev: `char${alias}`, id: alias }));
  }
}

/** A `virtserialport` or `virtconsole` (qemuBuildVirtioSerialPortDevProps). */
function virtioSerialPortProps(b: Build, dev: Channel | Console, kind: 'channel' | 'console'): PropObject {
  const alias = aliasOf(dev, kind);
  const a = dev.address;
  if (a && a.type !== 'virtio-serial' && a.type !== 'ccw') {
    throw internal('virtio serial device has invalid address type');
  }
  const targetName = kind === 'channel' ? (dev as Channel).target?.name : undefined;
  if (kind === 'channel' && dev.type === 'spicevmc' && targetName && targetName !== 'com.redhat.spice.0') {
    throw unsupported(`Unsupported spicevmc target name '${targetName}'`);
  }
  const props: PropObject = {
    driver: kind === 'console' ? 'virtconsole' : 'virtserialport',
    ...deviceAddressProps(b.def, dev),
    chardev: `char${alias}`,
    id: alias,
  };
  if (kind === 'channel' && (dev.type === 'spicevmc' || targetName)) {
    props.name = targetName ?? 'com.redhat.spice.0';
  }
  return props;
}

/**
 * A virtio channel of type unix without a path gets one in the domain's channel directory
 * (qemuDomainPrepareChannel).
 */
function channelSource(b: Build, channel: Channel): ChardevSpec {
  if (channel.target?.type !== 'virtio' || channel.type !== 'unix' || channel.source?.[0]?.path)
    return channel;
  const dir = `${b.ctx.layout.channelTargetDir}/domain-${shortName(b.ctx.domainId, b.def.name ?? '')}`;
  let path: string;
  if (channel.target?.name) path = `${dir}/${channel.target.name}`;
  else {
    const a = channel.address as { controller?: number; bus?: number; port?: number } | undefined;
    const two = (n: number | undefined) => String(n ?? 0).padStart(2, '0');
    path = `${dir}/vioser-${two(a?.controller)}-${two(a?.bus)}-${two(a?.port)}.sock`;
  }
  const first = channel.source?.[0] ?? {};
  return { ...channel, source: [{ ...first, mode: first.mode ?? 'bind', path }] };
}

export function channels(b: Build): void {
  for (const channel of b.def.devices?.channel ?? []) {
    const alias = aliasOf(channel, 'channel');
    addChardev(b, channelSource(b, channel), `char${alias}`);
    switch (channel.target?.type) {
      case 'guestfwd':
        add(
          b,
          '-netdev',
          jsonProps({
            type: 'user',
            guestfwd: [
              { str: `tcp:${channel.target.address ?? ''}:${channel.target.port ?? 0}-chardev:char${alias}` },
            ],
            id: alias,
          }),
        );
        break;
      case 'virtio':
        add(b, '-device', jsonProps(virtioSerialPortProps(b, channel, 'channel')));
        break;
      default:
        throw unsupported(`unsupported channel target type ${channel.target?.type ?? 'none'}`);
    }
  }
}

export function consoles(b: Build): void {
  for (const console of b.def.devices?.console ?? []) {
    const type = console.target?.type ?? 'none';
    if (type === 'serial') continue;
    const alias = aliasOf(console, 'console');
    if (type === 'virtio') {
      addChardev(b, console, `char${alias}`);
      add(b, '-device', jsonProps(virtioSerialPortProps(b, console, 'console')));
    } else if (type === 'sclp' || type === 'sclplm') {
      addChardev(b, console, `char${alias}`);
      const driver = type === 'sclp' ? 'sclpconsole' : 'sclplmconsole';
      add(b, '-device', jsonProps({ driver, chardev: `char${alias}`, id: alias }));
    } else {
      throw unsupported(`unsupported console target type ${type}`);
    }
  }
}

/** The chardev a TPM emulator or external backend talks through. */
function tpmChardev(b: Build, tpm: Tpm): ChardevSpec {
  const backend = tpm.backend ?? {};
  if (backend.type === 'external') {
    const src = backend.source ?? {};
    return {
      type: src.type ?? 'unix',
      source: [{ mode: src.mode === 'bind' ? 'bind' : 'connect', path: src.path }],
    };
  }
  // swtpm is not started for domxml-to-native: the source stays a null chardev.
  if (b.ctx.purpose === 'native') return { type: 'null' };
  const dir = `${b.ctx.layout.runDir}/swtpm`;
  return {
    type: 'unix',
    source: [{ mode: 'connect', path: `${dir}/${shortName(b.ctx.domainId, b.def.name ?? '')}-swtpm.sock` }],
  };
}

export function tpms(b: Build): void {
  for (const tpm of b.def.devices?.tpm ?? []) {
    const alias = aliasOf(tpm, 'TPM');
    const backend = tpm.backend ?? {};
    if (tpm.model === 'spapr-tpm-proxy') {
      add(b, '-device', jsonProps({ driver: tpm.model, id: alias, 'host-path': backend.device?.path }));
      continue;
    }
    let tpmdev: string;
    switch (backend.type) {
      case 'passthrough': {
        // libvirt opens the host TPM and its cancel file and passes both as descriptors; a
        // command line that is only printed cannot carry them.
        const path = backend.device?.path ?? '/dev/tpm0';
        if (!existsSync(path))
          throw virReportSystemError('ENOENT', 'qemu', `Could not open TPM device ${path}`);
        throw new VirError(
          'SYSTEM_ERROR',
          'qemu',
          `Could not open TPM device ${path}: host TPM descriptors cannot be passed to a command line that is only printed`,
        );
      }
      case 'emulator':
      case 'external':
        addChardev(b, tpmChardev(b, tpm), 'chrtpm');
        tpmdev = `emulator,id=tpm-${alias},chardev=chrtpm`;
        break;
      default:
        throw internal(`Unexpected enum value ${backend.type ?? ''} for virDomainTPMBackendType`);
    }
    add(b, '-tpmdev', tpmdev);
    let model = tpm.model ?? 'tpm-tis';
    if (model === 'tpm-tis' && !isX86(b.def)) model = 'tpm-tis-device';
    add(
      b,
      '-device',
      jsonProps({ driver: model, tpmdev: `tpm-${alias}`, id: alias, ...deviceAddressProps(b.def, tpm) }),
    );
  }
}

/** A `<usbdev version>` as the BCD number libvirt keeps (virDomainRedirFilterUSBVersionHelper). */
function usbVersion(version: string | undefined): number {
  if (version === undefined || version === '-1') return -1;
  const m = /^(\d+)\.(\d+)$/.exec(version.trim());
  if (!m) throw virReportError('XML_ERROR', 'qemu', `Cannot parse USB device version ${version}`);
  const major = Number(m[1]);
  let minor = Number(m[2]);
  if (m[2]!.length === 1) minor *= 10;
  return (Math.floor(major / 10) << 12) | ((major % 10) << 8) | (Math.floor(minor / 10) << 4) | (minor % 10);
}

function filterField(v: number | undefined, width: number): string {
  return v === undefined || v < 0 ? '-1' : `0x${v.toString(16).toUpperCase().padStart(width, '0')}`;
}

/** The `filter` property of every usb-redir from `<redirfilter>`. */
function redirFilter(usbdevs: UsbDev[]): string {
  return usbdevs
    .map(
      (u) =>
        `${filterField(u.class, 2)}:${filterField(u.vendor, 4)}:${filterField(u.product, 4)}:` +
        `${filterField(usbVersion(u.version), 4)}:${u.allow === 'yes' ? 1 : 0}`,
    )
    .join('|');
}

/** A dbus redirdev without a channel uses `org.qemu.usbredir` (libvirt's parser default). */
function redirdevSource(redir: NonNullable<DomainDevices['redirdev']>[number]): ChardevSpec {
  if (redir.type !== 'dbus' || redir.source?.[0]?.channel) return redir;
  return { ...redir, source: [{ ...(redir.source?.[0] ?? {}), channel: 'org.qemu.usbredir' }] };
}

export function redirdevs(b: Build): void {
  const filter = b.def.devices?.redirfilter ? redirFilter(b.def.devices.redirfilter.usbdev ?? []) : undefined;
  for (const redir of b.def.devices?.redirdev ?? []) {
    const alias = aliasOf(redir, 'redirdev');
    addChardev(b, redirdevSource(redir), `char${alias}`, { spicevmc: 'usbredir' });
    add(
      b,
      '-device',
      jsonProps({
        driver: 'usb-redir',
        chardev: `char${alias}`,
        id: alias,
        filter,
        bootindex: redir.boot?.order,
        ...deviceAddressProps(b.def, redir),
      }),
    );
  }
}

export function hostdevs(b: Build): void {
  buildHostdevs(b);
}

/** The backend object of an RNG (qemuBuildRNGBackendProps). */
function rngBackendProps(rng: Rng, alias: string): PropObject {
  const backend = rng.backend;
  switch (backend?.model) {
    case 'random':
      return { 'qom-type': 'rng-random', id: `obj${alias}`, filename: (backend as { value?: string }).value };
    case 'egd':
      return { 'qom-type': 'rng-egd', id: `obj${alias}`, chardev: `char${alias}` };
    case 'builtin':
      return { 'qom-type': 'rng-builtin', id: `obj${alias}` };
    default:
      throw internal(`Unexpected enum value ${backend?.model ?? ''} for virDomainRNGBackend`);
  }
}

export function rngs(b: Build): void {
  for (const rng of b.def.devices?.rng ?? []) {
    if (!rng.alias?.name) throw internal('RNG device is missing alias');
    const alias = rng.alias.name;
    if (rng.backend?.model === 'egd') addChardev(b, rng.backend as ChardevSpec, `char${alias}`);
    add(b, '-object', jsonProps(rngBackendProps(rng, alias)));
    const bytes = rng.rate?.bytes ?? 0;
    const period = bytes > 0 ? rng.rate?.period || 1000 : 0;
    add(
      b,
      '-device',
      jsonProps({
        ...virtioDevProps(b.ctx, 'virtio-rng', rng),
        rng: `obj${alias}`,
        id: alias,
        'max-bytes': bytes || undefined,
        period: period || undefined,
        ...deviceAddressProps(b.def, rng),
      }),
    );
  }
}
