/**
 * Character devices: port numbers (parse time, virDomainChrIsaSerialDefPostParse,
 * virDomainChrDefPostParse), serial target types and models (qemuDomainChrDefPostParse), and the
 * console ↔ serial compatibility rules (virDomainDefAddConsoleCompat and the formatter's habit of
 * printing serial N for a serial-type console N).
 */
import type { DomainDef, DomainDevices } from '@qvirt/core';
import type { QemuContext } from '../../context.js';
import { isX86 } from '../../domain-util.js';
import { droppedDefaultPath } from './validate-parse.js';

type Serial = NonNullable<DomainDevices['serial']>[number];
type Console = NonNullable<DomainDevices['console']>[number];
type SerialTargetType = NonNullable<NonNullable<Serial['target']>['type']>;
type SerialModel = NonNullable<NonNullable<NonNullable<Serial['target']>['model']>['name']>;

const MAX_ISA_SERIAL_PORTS = 4;

const MODEL_BY_TARGET: Partial<Record<SerialTargetType, SerialModel>> = {
  'isa-serial': 'isa-serial',
  'usb-serial': 'usb-serial',
  'pci-serial': 'pci-serial',
  'spapr-vio-serial': 'spapr-vty',
  'sclp-serial': 'sclpconsole',
  'isa-debug': 'isa-debugcon',
};

/** At parse time: parallel ports count up from the highest so far; consoles are numbered in order. */
export function chrParsePorts(def: DomainDef): void {
  const devices = def.devices;
  if (!devices) return;
  let max = -1;
  for (const p of devices.parallel ?? []) {
    const t = (p.target ??= {});
    if (t.port === undefined || t.port === -1) t.port = max + 1;
    if (t.port > max) max = t.port;
  }
  (devices.console ?? []).forEach((c, i) => {
    c.target = { ...c.target, port: i };
  });
}

/** ISA serial ports without a number take the lowest free one of the four (before other defaults). */
export function isaSerialPorts(def: DomainDef): void {
  const serials = def.devices?.serial ?? [];
  const used = new Set<number>();
  for (const s of serials) {
    if (s.target?.type !== 'isa-serial') continue;
    const port = s.target.port ?? -1;
    if (port !== -1) used.add(port);
  }
  for (const s of serials) {
    if (s.target?.type !== 'isa-serial' || (s.target.port ?? -1) !== -1) continue;
    for (let j = 0; j < MAX_ISA_SERIAL_PORTS; j++) {
      if (!used.has(j)) {
        s.target.port = j;
        used.add(j);
        break;
      }
    }
  }
}

/** One serial's post-parse: its port, then QEMU's default target type and model. */
function serialPostParse(def: DomainDef, s: Serial, all: Serial[]): void {
  const t = (s.target ??= {});
  if (t.port === undefined || t.port === -1) {
    let max = -1;
    for (const o of all) if ((o.target?.port ?? -1) > max) max = o.target!.port!;
    t.port = max + 1;
  }
  if (t.type === 'isa-serial') delete t.type;
  if (t.type === undefined || t.type === 'none') {
    if (isX86(def)) t.type = 'isa-serial';
  }
  if (!t.model?.name && t.type) {
    const model = MODEL_BY_TARGET[t.type];
    if (model) t.model = { name: model };
  }
}

/** The per-device part for character devices (virDomainChrDefPostParse + qemuDomainChrDefPostParse). */
export function chrDefaults(def: DomainDef): void {
  const devices = def.devices;
  if (!devices) return;
  const serials = devices.serial ?? [];
  for (const s of serials) serialPostParse(def, s, serials);
  for (const c of devices.console ?? []) {
    const t = (c.target ??= {});
    if (t.type === undefined || t.type === 'none') t.type = 'serial';
  }
}

function sameSource(a: Serial | Console, b: Serial | Console): boolean {
  const pick = (x: Serial | Console) => JSON.stringify([x.type ?? 'pty', x.source ?? [], x.protocol, x.log]);
  return pick(a) === pick(b);
}

/** virDomainDefAddConsoleCompat: the first console of an HVM guest is serial 0. */
export function consoleCompat(def: DomainDef): void {
  const devices = (def.devices ??= {});
  const consoles = devices.console ?? [];
  const serials = (devices.serial ??= []);
  const first = consoles[0];
  if (first && (first.target?.type === 'serial' || first.target?.type === undefined)) {
    if (serials.length === 0) {
      const { target: _t, tty: _tty, ...rest } = first;
      const serial: Serial = { ...(rest as Serial), target: { port: 0 } };
      serials.push(serial);
      serialPostParse(def, serial, serials);
      consoles[0] = { target: { type: 'serial' } };
    } else if (!sameSource(serials[0]!, first)) {
      consoles[0] = { target: { type: 'serial' } };
    }
  } else if (serials.length > 0) {
    const type = serials[0]!.target?.type;
    if (
      type === 'isa-serial' ||
      type === 'spapr-vio-serial' ||
      type === 'system-serial' ||
      type === 'sclp-serial'
    ) {
      consoles.unshift({ target: { type: 'serial' } });
      devices.console = consoles;
    }
  }
  if (!serials.length) delete devices.serial;
}

/**
 * libvirt prints serial N in place of console N when that console is of type serial; so does the
 * stored definition here (with the console's target).
 */
export function consoleAliasesSerial(def: DomainDef): void {
  const devices = def.devices;
  const consoles = devices?.console;
  if (!devices || !consoles?.length) return;
  const serials = devices.serial ?? [];
  consoles.forEach((c, n) => {
    const type = c.target?.type;
    if ((type === 'serial' || type === undefined || type === 'none') && n < serials.length) {
      const s = serials[n]!;
      const { target, ...rest } = s;
      consoles[n] = {
        ...(structuredClone(rest) as Console),
        target: { type: 'serial', port: target?.port ?? 0 },
      };
    }
  });
}

type ChrLike = {
  type?: string;
  source?: Array<{ mode?: string; path?: string }>;
  protocol?: { type?: string };
  target?: { type?: string; name?: string; state?: string };
};

/** One chardev source as libvirt keeps it: unix paths with a mode, a protocol only for tcp. */
function chardevSourceDefaults(chr: ChrLike): void {
  if (chr.type === 'unix' && chr.source) {
    const src = chr.source[0];
    if (!src?.path) delete chr.source;
    else src.mode ??= 'connect';
  }
  if (chr.type === 'tcp') chr.protocol = { type: chr.protocol?.type ?? 'raw' };
  else delete chr.protocol;
}

/**
 * Character device sources of every chardev-backed device, and the channel rules of
 * qemuDomainChrDefPostParse: a virtio channel's socket in libvirt's own directory is forgotten.
 */
export function chardevSources(def: DomainDef, ctx: QemuContext): void {
  const devices = def.devices;
  if (!devices) return;
  for (const ch of devices.channel ?? []) {
    const c = ch as ChrLike;
    if (c.target?.type === 'virtio' && c.type === 'unix' && c.source?.[0]?.path) {
      if (droppedDefaultPath(c.source[0].path, c.target.name, ctx.layout.channelTargetDir))
        delete c.source[0].path;
    }
    if (c.target) delete c.target.state;
  }
  const all = [
    ...(devices.serial ?? []),
    ...(devices.parallel ?? []),
    ...(devices.console ?? []),
    ...(devices.channel ?? []),
    ...(devices.redirdev ?? []),
    ...(devices.smartcard ?? []).filter((s) => s.mode === 'passthrough'),
    ...(devices.rng ?? []).map((r) => r.backend).filter((b) => b?.model === 'egd'),
  ];
  for (const chr of all) chardevSourceDefaults(chr as ChrLike);
}
