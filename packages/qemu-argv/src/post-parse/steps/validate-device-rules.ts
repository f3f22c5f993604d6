/**
 * More of libvirt's per-device rules, found by tools/differential, each run where libvirt has it:
 * the device parsers (domain_conf.c, storage_encryption_conf.c: watchdog and panic models, USB
 * filters, encryption formats; `checkDeviceParseRules`, a parse-time step), the generic device
 * validation (domain_validate.c: disk buses, LUKS ciphers, inputs, vsock, memory devices,
 * vhost-user) and the QEMU driver's (qemu_validate.c: disk frontends and IOThreads, controllers,
 * interfaces, virtiofs, graphics, video, watchdogs, spice chardevs; `checkDeviceRules`, run from
 * checkDevices). Messages are libvirt's.
 */
import { type DomainDef, VirError } from '@qvirt/core';
import { accelFor, findMachine, hasFlag } from '../../caps/qemu-caps.js';
import type { QemuContext } from '../../context.js';
import { isI440fx } from '../../domain-util.js';
import { NET_MODELS } from '../../libvirt-names.js';
import { internalError, unsupported, xmlError } from './validate-util.js';

type Devices = NonNullable<DomainDef['devices']>;
type Disk = NonNullable<Devices['disk']>[number];

const PANIC_MODELS = ['default', 'isa', 'pseries', 'hyperv', 's390'];
const WATCHDOG_MODELS = ['i6300esb', 'ib700', 'diag288'];
const WATCHDOG_ACTIONS = ['reset', 'shutdown', 'poweroff', 'pause', 'dump', 'none', 'inject-nmi'];

/** virDomainWatchdogDefParseXML: libvirt 9.0's models and actions (itco came in 9.1). */
export function checkWatchdogParse(def: DomainDef): void {
  for (const w of def.devices?.watchdog ?? []) {
    if (w.model === undefined) throw internalError('watchdog must contain model name');
    if (!WATCHDOG_MODELS.includes(w.model)) throw unsupported(`unknown watchdog model '${w.model}'`);
    if (w.action !== undefined && !WATCHDOG_ACTIONS.includes(w.action))
      throw unsupported(`unknown watchdog action '${w.action}'`);
  }
}

/** qemuValidateDomainWatchdogDef: which bus each model may sit on. */
function checkWatchdogs(def: DomainDef): void {
  const arch = def.os?.type?.arch ?? 'x86_64';
  for (const w of def.devices?.watchdog ?? []) {
    const addr = w.address?.type;
    if (w.model === 'i6300esb' && addr !== undefined && addr !== 'pci')
      throw unsupported('i6300esb model of watchdog can go only on PCI bus');
    if (w.model === 'ib700' && addr !== undefined)
      throw unsupported('ib700 model of watchdog does not support configuring the address');
    if (w.model === 'diag288') {
      if (addr !== undefined)
        throw unsupported('diag288 model of watchdog is virtual and cannot go on any bus.');
      if (!arch.startsWith('s390'))
        throw unsupported('diag288 model of watchdog is allowed for s390 and s390x only');
    }
  }
}

/** The IOThread IDs a domain has: `<iothreadids>`, else 1..`<iothreads>`. */
function iothreadIdSet(def: DomainDef): Set<number> {
  const ids = (def.iothreadids?.iothread ?? [])
    .map((t) => t.id)
    .filter((id): id is number => id !== undefined);
  if (ids.length) return new Set(ids);
  const n = def.iothreads ?? 0;
  return new Set(Array.from({ length: n }, (_, i) => i + 1));
}

/**
 * qemuValidateDomainDeviceDefDiskFrontend's rules qvirt's disk check did not have yet, with
 * qemuValidateDomainDeviceDefDiskIOThreads.
 */
function checkDiskFrontend(def: DomainDef, disk: Disk): void {
  const dst = disk.target?.dev ?? '';
  const bus = disk.target?.bus;
  const addr = disk.address?.type;
  const cow = disk.driver?.copy_on_read === 'on';
  if (cow && disk.readonly) throw unsupported(`copy_on_read is not compatible with read-only disk '${dst}'`);
  if (cow && (disk.device === 'cdrom' || disk.device === 'floppy'))
    throw unsupported(`copy_on_read is not supported with removable disk '${dst}'`);
  if (disk.device === 'lun') {
    if (bus !== 'virtio' && bus !== 'scsi')
      throw unsupported(`disk device='lun' is not supported for bus='${bus}'`);
    if (cow) throw unsupported(`copy_on_read is not compatible with 'lun' disk '${dst}'`);
  }
  if (bus === 'usb' && addr !== undefined && addr !== 'usb')
    throw internalError('unexpected address type for usb disk');
  if (disk.readonly && (disk.device ?? 'disk') === 'disk') {
    if (bus === 'ide') throw unsupported('readonly ide disks are not supported');
    if (bus === 'sata') throw unsupported('readonly sata disks are not supported');
  }
  const cache = disk.driver?.cache;
  // the default cache mode is not "no cache"
  if (disk.driver?.io === 'native' && cache !== 'directsync' && cache !== 'none')
    throw unsupported("io='native' needs either no disk cache or directsync cache mode");
  const iothread = disk.driver?.iothread;
  if (iothread !== undefined && iothread !== 0) {
    if (bus !== 'virtio') throw unsupported(`IOThreads not available for bus ${bus} target ${dst}`);
    if (!iothreadIdSet(def).has(iothread))
      throw unsupported(`Disk iothread '${iothread}' not defined in iothreadid`);
  }
}

/** The CHS rules that open qemuValidateDomainDeviceDefDiskFrontend (run before qvirt's other frontend checks). */
export function checkDiskGeometry(disk: Disk): void {
  const g = disk.geometry;
  const bus = disk.target?.bus;
  if (!g?.cyls || !g.heads || !g.secs) return;
  if (bus === 'usb' || bus === 'sd') throw unsupported(`CHS geometry can not be set for '${bus}' bus`);
  if (g.trans !== undefined && bus !== 'ide')
    throw unsupported(`CHS translation mode can only be set for 'ide' bus not '${bus}'`);
}

/** qemuValidateDomainDeviceDefDiskBlkdeviotune and qemuValidateDomainDeviceDefDiskTransient. */
function checkDiskTuneAndTransient(disk: Disk): void {
  const iotune = disk.iotune as Record<string, unknown> | undefined;
  if (
    iotune?.group_name !== undefined &&
    !Object.keys(iotune).some((k) => k !== 'group_name' && !k.startsWith('$'))
  )
    throw unsupported('group_name can be configured only together with settings');
  if (!disk.transient) return;
  const dst = disk.target?.dev ?? '';
  const src = disk.source as { file?: string; dev?: string; name?: string } | undefined;
  if (disk.type !== 'network' && !src?.file && !src?.dev && !src?.name)
    throw unsupported(`transient disk '${dst}' must not be empty`);
  if (disk.readonly) throw unsupported(`transient disk '${dst}' must not be read-only`);
  if ((disk.type ?? 'file') !== 'file')
    throw unsupported(`transient disk supported only with 'file' type (${dst})`);
  if ((disk.device ?? 'disk') !== 'disk')
    throw unsupported(`transient disk supported only with 'disk' device (${dst})`);
}

/** virDomainDiskDefValidate's bus rules (run after the QEMU driver's disk checks). */
export function checkDiskGeneric(disk: Disk): void {
  const bus = disk.target?.bus;
  if (bus !== 'virtio') {
    if (disk.driver?.queues !== undefined && disk.driver.queues !== 0)
      throw unsupported('queues attribute in disk driver element is only supported by virtio-blk');
    if (disk.driver?.event_idx !== undefined)
      throw unsupported('disk event_idx mode supported only for virtio bus');
    if (disk.driver?.ioeventfd !== undefined)
      throw unsupported('disk ioeventfd mode supported only for virtio bus');
  }
  if (disk.target?.tray !== undefined && disk.device !== 'floppy' && disk.device !== 'cdrom')
    throw unsupported('tray is only valid for cdrom and floppy');
  if (disk.device === 'floppy' && bus !== 'fdc')
    throw internalError(`Invalid bus type '${bus}' for floppy disk`);
  if (disk.device !== 'floppy' && bus === 'fdc') throw internalError(`Invalid bus type '${bus}' for disk`);
  if (disk.target?.removable !== undefined && bus !== 'usb')
    throw xmlError('removable is only valid for usb disks');
}

const VIRTIO_NET_MODELS = ['virtio', 'virtio-transitional', 'virtio-non-transitional'];
/** virDomainNetModel in libvirt 9.0: any other model string is kept, as model 'unknown'. */
const KNOWN_NET_MODELS: ReadonlySet<string> = new Set(NET_MODELS);

/** virDomainNetDefValidate and qemuValidateDomainDeviceDefNetwork: the models vhost-user and vDPA need. */
function checkInterfaces(def: DomainDef): void {
  for (const net of def.devices?.interface ?? []) {
    const model = (net as { model?: { type?: string } }).model?.type;
    if (net.type === 'vhostuser' && !VIRTIO_NET_MODELS.includes(model ?? ''))
      throw internalError(
        "Wrong or no <model> 'type' attribute specified with <interface type='vhostuser'/>. vhostuser requires the virtio-net* frontend",
      );
    const n = net as {
      type?: string;
      ip?: unknown[];
      route?: unknown[];
      mtu?: unknown;
      coalesce?: unknown;
      backend?: { type?: string };
    };
    // qemuValidateDomainDeviceDefNetwork: guest-side IPs only for user networking; MTU and
    // coalescing only where QEMU's backend can set them (qemuDomainNetSupportsMTU,
    // qemuValidateNetSupportsCoalesce)
    if (n.type !== 'user' && (n.ip?.length || n.route?.length))
      throw unsupported(
        'Invalid attempt to set network interface guest-side IP route and/or address info, not supported by QEMU',
      );
    if (n.type === 'user' && n.route?.length)
      throw unsupported(
        'Invalid attempt to set network interface guest-side IP route, not supported by QEMU',
      );
    const mtuOk =
      ['network', 'bridge', 'ethernet', 'vhostuser'].includes(n.type ?? '') ||
      (n.type === 'user' && n.backend?.type === 'passt');
    if (n.mtu !== undefined && !mtuOk)
      throw unsupported(`setting MTU on interface type ${n.type} is not supported yet`);
    if (n.coalesce !== undefined && n.type !== 'network' && n.type !== 'bridge')
      throw unsupported(`coalesce settings on interface type ${n.type} are not supported`);
    if (net.type === 'vdpa' && model !== 'virtio') {
      const name = model !== undefined && KNOWN_NET_MODELS.has(model) ? model : 'unknown';
      throw unsupported(`invalid model for interface of type 'vdpa': '${name}'`);
    }
  }
}

/** virDomainMemoryDefValidate: virtio-pmem has no NUMA node; virtio-mem grows in whole blocks. */
function checkMemoryDevices(def: DomainDef): void {
  for (const mem of def.devices?.memory ?? []) {
    const t = mem.target as
      | { node?: number; block?: { value?: number }; requested?: { value?: number } }
      | undefined;
    if (mem.model === 'virtio-pmem' && t?.node !== undefined && t.node !== -1)
      throw unsupported('virtio-pmem does not support NUMA nodes');
    const block = t?.block?.value;
    const requested = t?.requested?.value ?? 0;
    if (mem.model === 'virtio-mem' && block && requested % block !== 0)
      throw new VirError('XML_DETAIL', 'domain', 'requested size must be an integer multiple of block size');
  }
}

/** virDomainInputDefValidate for HVM guests. */
function checkInputs(def: DomainDef): void {
  for (const input of def.devices?.input ?? []) {
    if (input.bus === 'ps2' && input.type !== 'mouse' && input.type !== 'keyboard')
      throw internalError(`ps2 bus does not support ${input.type} input device`);
    if (input.bus === 'xen') throw internalError('unsupported input bus xen');
  }
}

/** virDomainVsockDefValidate (the vsock is validated last of the devices). */
export function checkVsock(def: DomainDef): void {
  const cid = def.devices?.vsock?.cid?.address;
  if (cid !== undefined && cid > 0 && cid <= 2) throw unsupported('guest CIDs must be >= 3');
}

/** qemuValidateDomainDeviceDefControllerIDE: only the board's own IDE controller exists. */
function checkIdeControllers(def: DomainDef): void {
  const machine = def.os?.type?.machine ?? '';
  // qemuDomainHasBuiltinIDE
  const builtin = isI440fx(def) || machine === 'malta' || machine === 'sun4u' || machine === 'g3beige';
  for (const c of def.devices?.controller ?? []) {
    if (c.type !== 'ide' || (c.index === 0 && builtin)) continue;
    throw unsupported(
      builtin
        ? 'Only a single IDE controller is supported for this machine type'
        : 'IDE controllers are unsupported for this QEMU binary or machine type',
    );
  }
}

/** qemuValidateCheckSCSIControllerIOThreads: a virtio-scsi controller's IOThread. */
function checkControllerIothreads(def: DomainDef): void {
  for (const c of def.devices?.controller ?? []) {
    const iothread = (c.driver as { iothread?: number } | undefined)?.iothread;
    if (c.type !== 'scsi' || iothread === undefined || iothread === 0) continue;
    const addr = c.address?.type;
    if (addr !== undefined && addr !== 'pci' && addr !== 'ccw')
      throw unsupported('virtio-scsi IOThreads only available for virtio pci and virtio ccw controllers');
    if (!iothreadIdSet(def).has(iothread))
      throw unsupported(`controller iothread '${iothread}' not defined in iothreadid`);
  }
}

/**
 * virDomainDiskDefValidateSourceChainOne: a LUKS disk's cipher is the image's own business, so a
 * `<cipher>` in the domain is refused (on every image of the chain).
 */
export function checkEncryption(disk: Disk): void {
  const chain = [disk.encryption ?? disk.source?.encryption];
  for (let b = disk.backingStore; b && b.type !== undefined; b = b.backingStore)
    chain.push(b.source?.encryption);
  for (const enc of chain) {
    if (enc?.format === 'luks' && (enc as { cipher?: { name?: string } }).cipher?.name !== undefined)
      throw unsupported('supplying <cipher> for domain disk definition is unnecessary');
  }
}

/**
 * qemuValidateDomainDefVhostUserRequireSharedMemory: vhost-user back ends map the guest's RAM, so
 * it must be shared: the whole memory (on a machine with a default RAM id) without NUMA, or every
 * NUMA cell, by its own memAccess or the domain's.
 */
export function requireSharedMemory(def: DomainDef, name: string, ctx: QemuContext): void {
  const fail = () => unsupported(`'${name}' requires shared memory`);
  const access = (def.memoryBacking as { access?: { mode?: string } } | undefined)?.access?.mode;
  const cells = def.cpu?.numa?.cell ?? [];
  if (cells.length === 0) {
    const machine = findMachine(ctx.caps, accelFor(def.type ?? 'kvm'), def.os?.type?.machine ?? '');
    if (!(machine?.defaultRAMid && access === 'shared')) throw fail();
  }
  for (const cell of cells) {
    const mode = (cell as { memAccess?: string }).memAccess;
    if (mode === 'private' || (mode === undefined && access !== 'shared')) throw fail();
  }
}

/** qemuValidateDomainDeviceDefFS's driver rules (for virtiofs, a socket means an external virtiofsd). */
function checkFilesystems(def: DomainDef, ctx: QemuContext): void {
  for (const fs of def.devices?.filesystem ?? []) {
    if (fs.driver?.type === 'handle' && (fs.accessmode ?? 'passthrough') !== 'passthrough')
      throw unsupported('only supports passthrough accessmode');
    if (fs.driver?.type !== 'virtiofs') continue;
    const socket = (fs.source as { socket?: string } | undefined)?.socket;
    if (!socket) {
      if (fs.readonly) throw unsupported('virtiofs does not yet support read-only mode');
      if ((fs.accessmode ?? 'passthrough') !== 'passthrough')
        throw unsupported('virtiofs only supports passthrough accessmode');
      if ((fs.driver as { wrpolicy?: string }).wrpolicy !== undefined)
        throw unsupported('virtiofs does not support wrpolicy');
    }
    if ((fs as { model?: unknown }).model !== undefined) throw unsupported('virtiofs does not support model');
    if ((fs.driver as { format?: string }).format !== undefined)
      throw unsupported('virtiofs does not support format');
    if ((fs as { multidevs?: string }).multidevs !== undefined)
      throw unsupported('virtiofs does not support multidevs');
    if ((fs as { fmode?: string }).fmode !== undefined || (fs as { dmode?: string }).dmode !== undefined)
      throw unsupported('virtiofs does not support fmode and dmode');
    requireSharedMemory(def, 'virtiofs', ctx);
  }
}

/** The QEMU capability behind each graphics type (virQEMUCapsFillDomainDeviceGraphicsCaps). */
const GRAPHICS_CAPS: Record<string, string> = {
  sdl: 'sdl',
  vnc: 'vnc',
  spice: 'spice',
  'egl-headless': 'egl-headless',
  dbus: 'display-dbus',
};

/**
 * qemuValidateDomainDeviceDefGraphics: types this QEMU has, what pairs with egl-headless, and
 * qemuValidateDomainDeviceDefVNCGraphics: VNC's password length.
 */
function checkGraphicsRules(def: DomainDef, ctx: QemuContext): void {
  const graphics = def.devices?.graphics ?? [];
  const eglHeadless = graphics.some((g) => g.type === 'egl-headless');
  for (const g of graphics) {
    const cap = GRAPHICS_CAPS[g.type ?? ''];
    if (!cap || !hasFlag(ctx.caps, cap))
      throw unsupported(`${g.type} graphics are not supported with this QEMU`);
    if (eglHeadless) {
      if (g.type !== 'egl-headless' && g.type !== 'vnc' && g.type !== 'spice')
        throw unsupported(
          "graphics type 'egl-headless' is only supported with one of: 'vnc', 'spice' graphics types",
        );
      if (g.type === 'spice' && (g as { gl?: { enable?: string } }).gl?.enable === 'yes')
        throw unsupported('multiple OpenGL displays are not supported by QEMU');
    }
    const passwd = (g as { passwd?: string }).passwd;
    // strlen: bytes, not characters
    if (g.type === 'vnc' && passwd !== undefined && Buffer.byteLength(passwd) > 8)
      throw unsupported(`VNC password is ${Buffer.byteLength(passwd)} characters long, only 8 permitted`);
  }
}

/**
 * virDomainRedirFilterUSBVersionHelper: MAJOR.MINOR, each below 100, "JJ.M" meaning JJ.M0; libvirt
 * keeps it as BCD and writes it back as `%d.%02d`.
 */
export function usbVersion(text: string): string {
  // virStrToLong_ui: blanks and a sign before the digits; the minor part runs to the end
  const m = /^\s*\+?(\d+)\.(\s*\+?(\d+))$/.exec(text);
  if (!m || Number(m[1]) >= 100 || Number(m[3]) >= 100)
    throw xmlError(`Cannot parse USB device version ${text}`);
  const minor = m[2]!.length === 1 ? Number(m[3]) * 10 : Number(m[3]);
  return `${Number(m[1])}.${String(minor).padStart(2, '0')}`;
}

const ENCRYPTION_FORMATS = ['default', 'qcow', 'luks', 'luks2'];

/** virStorageEncryptionParseNode: a known format, and for LUKS an `<ivgen>` only with a `<cipher>`. */
function checkEncryptionParse(disk: Disk): void {
  const chain = [disk.encryption ?? disk.source?.encryption];
  for (let b = disk.backingStore; b && b.type !== undefined; b = b.backingStore)
    chain.push(b.source?.encryption);
  for (const e of chain) {
    const enc = e as { format?: string; cipher?: unknown; ivgen?: unknown } | undefined;
    if (!enc) continue;
    if (enc.format === undefined || enc.format === '') throw xmlError('unknown volume encryption format');
    if (!ENCRYPTION_FORMATS.includes(enc.format))
      throw unsupported(`unknown volume encryption format type ${enc.format}`);
    // virXMLPropEnum with VIR_XML_PROP_NONZERO: 'default' is the enum's zero
    const engine = (enc as { engine?: string }).engine;
    if (engine === 'default')
      throw xmlError("Invalid value for attribute 'engine' in element 'encryption': Zero is not permitted");
    if (engine !== undefined && engine !== 'qemu' && engine !== 'librbd')
      throw xmlError(`Invalid value for attribute 'engine' in element 'encryption': '${engine}'.`);
    if (enc.format === 'luks' && enc.ivgen !== undefined && enc.cipher === undefined)
      throw xmlError('ivgen element found, but cipher is missing');
  }
}

/** Parse-time device checks of domain_conf.c that qvirt's schema leaves open. */
export function checkDeviceParseRules(def: DomainDef): void {
  for (const disk of def.devices?.disk ?? []) checkEncryptionParse(disk);
  checkWatchdogParse(def);
  for (const p of def.devices?.panic ?? []) {
    // virDomainPanicDefParseXML
    if (p.model !== undefined && !PANIC_MODELS.includes(p.model))
      throw unsupported(`unknown panic model '${p.model}'`);
  }
  for (const u of def.devices?.redirfilter?.usbdev ?? []) {
    // virDomainRedirFilterUSBDevDefParseXML
    const cls = (u as { class?: number }).class;
    if (cls !== undefined && cls !== -1 && (cls < 0 || cls > 0xff))
      throw internalError(`Invalid USB Class code 0x${(cls >>> 0).toString(16)}`);
    const dev = u as { version?: string };
    if (dev.version !== undefined && dev.version !== '-1') dev.version = usbVersion(dev.version);
  }
}

/**
 * qemuValidateDomainChrSourceDef: a spicevmc or spiceport chardev (of a serial, channel, console,
 * smartcard, RNG or USB redirection) needs SPICE graphics.
 */
function checkSpiceChardevs(def: DomainDef): void {
  const d = def.devices ?? {};
  if ((d.graphics ?? []).some((g) => g.type === 'spice')) return;
  const types: (string | undefined)[] = [];
  for (const list of [d.serial, d.parallel, d.channel, d.console, d.redirdev])
    for (const chr of (list ?? []) as { type?: string }[]) types.push(chr.type);
  for (const sc of (d.smartcard ?? []) as { mode?: string; type?: string }[])
    if (sc.mode === 'passthrough') types.push(sc.type);
  for (const rng of d.rng ?? []) {
    const backend = rng.backend as { model?: string; type?: string } | undefined;
    if (backend?.model === 'egd') types.push(backend.type);
  }
  const spice = types.find((t) => t === 'spicevmc' || t === 'spiceport');
  if (spice) throw unsupported(`chardev '${spice}' not supported without spice graphics`);
}

/**
 * qemuValidateDomainDeviceDefVideo: what only QXL and virtio do (secondary cards, several heads),
 * QXL's memory sizes, 3D acceleration. The first card is the primary one after post-parse.
 */
function checkVideoRules(def: DomainDef): void {
  for (const [i, video] of (def.devices?.video ?? []).entries()) {
    const m = video.model as
      | {
          type?: string;
          heads?: number;
          primary?: string;
          vram?: number;
          vgamem?: number;
          resolution?: unknown;
          acceleration?: { accel2d?: string; accel3d?: string };
        }
      | undefined;
    const type = m?.type;
    if (!m || type === undefined || type === 'none') continue;
    if (type !== 'qxl' && type !== 'virtio') {
      if (i !== 0 && m.primary !== 'yes')
        throw unsupported(`video type '${type}' is only valid as primary video device`);
      if (m.heads !== undefined && m.heads !== 1)
        throw unsupported(`video type '${type}' doesn't support multiple 'heads'`);
    }
    if (m.acceleration?.accel2d === 'yes') throw unsupported('qemu does not support the accel2d setting');
    if (type === 'qxl' && m.vgamem) {
      if (m.vgamem < 1024) throw unsupported("value for 'vgamem' must be at least 1 MiB (1024 KiB)");
      if (m.vgamem & (m.vgamem - 1)) throw unsupported("value for 'vgamem' must be power of two");
    }
    if (!['vga', 'qxl', 'virtio', 'bochs'].includes(type) && m.resolution !== undefined)
      throw xmlError('model resolution is not supported');
    if ((type === 'vga' || type === 'vmvga') && m.vram && m.vram < 1024)
      throw unsupported("value for 'vram' must be at least 1 MiB (1024 KiB)");
    if (m.acceleration?.accel3d === 'yes' && type !== 'virtio')
      throw unsupported("3d acceleration is supported only with 'virtio' video device");
  }
}

/** The per-device validation rules above, in virDomainDeviceDefValidate's device order. */
export function checkDeviceRules(def: DomainDef, ctx: QemuContext): void {
  for (const disk of def.devices?.disk ?? []) {
    checkDiskFrontend(def, disk);
    checkDiskTuneAndTransient(disk);
  }
  checkInterfaces(def);
  checkMemoryDevices(def);
  checkInputs(def);
  checkSpiceChardevs(def);
  checkIdeControllers(def);
  checkControllerIothreads(def);
  checkFilesystems(def, ctx);
  checkGraphicsRules(def, ctx);
  checkVideoRules(def);
  checkWatchdogs(def);
}
