/**
 * Shared pieces of the modern-syntax importer: reading option values (JSON or `key=value,…`),
 * errors, the import state every option family writes into, and device addresses.
 */
import { VirError, virReportError } from '@qvirt/core';
import { parseKeywords } from './split.js';

/** The model is built loosely, then checked by the schema (formatted and parsed once). */
export type Obj = Record<string, any>;

export function bad(message: string): never {
  throw virReportError('INTERNAL_ERROR', 'qemu', message);
}

/** One option of the command line: `-name` and its value (undefined for a flag). */
export interface Opt {
  name: string;
  value?: string;
  /** Position among the options, to keep the fallback `<qemu:arg>`s in command-line order. */
  pos: number;
  /** Parsed value, for options that carry JSON or keywords; filled on first read. */
  props?: Obj;
}

/** Options whose value is a JSON object when it starts with `{`. */
const JSON_OPTIONS = new Set(['-device', '-blockdev', '-object', '-netdev', '-audiodev', '-compat']);

/**
 * The properties of an option value: JSON for `{…}` (an error naming the word when it is not
 * valid JSON), otherwise `first,key=value,…` with the first bare word under `firstKey`.
 */
const FIRST_KEY: Record<string, string> = {
  '-object': 'qom-type',
  '-netdev': 'type',
  '-chardev': 'backend',
  '-fsdev': 'fsdriver',
  '-tpmdev': 'type',
};

export function propsOf(opt: Opt, firstKey = FIRST_KEY[opt.name] ?? 'driver'): Obj {
  if (opt.props) return opt.props;
  const v = opt.value ?? '';
  let props: Obj;
  if (JSON_OPTIONS.has(opt.name) && v.startsWith('{')) {
    try {
      props = JSON.parse(v) as Obj;
    } catch (err) {
      throw new VirError(
        'INVALID_ARG',
        'qemu',
        `invalid JSON in '${opt.name} ${v}': ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    if (props === null || typeof props !== 'object' || Array.isArray(props)) {
      throw new VirError('INVALID_ARG', 'qemu', `'${opt.name} ${v}' is not a JSON object`);
    }
  } else {
    props = {};
    parseKeywords(v).forEach(([k, val], i) => {
      if (val === undefined && i === 0) props[firstKey] = k;
      else props[k] = val ?? 'on';
    });
  }
  opt.props = props;
  return props;
}

/** An integer in decimal or `0x` hex; an error naming the word otherwise. */
export function num(value: unknown, what: string): number {
  if (typeof value === 'number') return value;
  const s = String(value);
  if (/^-?\d+$/.test(s)) return Number.parseInt(s, 10);
  if (/^0x[0-9a-f]+$/i.test(s)) return Number.parseInt(s.slice(2), 16);
  return bad(`cannot parse ${what} '${s}'`);
}

/** A keyword or JSON boolean. */
export function bool(value: unknown): boolean | undefined {
  if (value === undefined) return undefined;
  if (value === true || value === 'on' || value === 'yes' || value === 'true') return true;
  if (value === false || value === 'off' || value === 'no' || value === 'false') return false;
  return undefined;
}

export function onOff(value: unknown): 'on' | 'off' | undefined {
  const b = bool(value);
  return b === undefined ? undefined : b ? 'on' : 'off';
}

export function yesNo(value: unknown): 'yes' | 'no' | undefined {
  const b = bool(value);
  return b === undefined ? undefined : b ? 'yes' : 'no';
}

/** Everything the option families write: the model under construction and the backends by id. */
export interface ModernState {
  def: Obj;
  devices: Obj;
  warnings: string[];
  /** Options kept as `<qemu:arg>`s, by position. */
  fallback: Array<{ pos: number; words: string[] }>;
  blockdevs: Map<string, Opt>;
  netdevs: Map<string, Opt>;
  chardevs: Map<string, Opt>;
  objects: Map<string, Opt>;
  audiodevs: Map<string, Opt>;
  fsdevs: Map<string, Opt>;
  tpmdevs: Map<string, Opt>;
  /** Ids of backends a device or another backend used. */
  used: Set<string>;
  /** Boot indexes seen on devices: the device model and its bootindex. */
  bootIndexes: Array<{ dev: Obj; kind: 'hd' | 'cdrom' | 'fd' | 'network' | 'other'; index: number }>;
  env: Map<string, string>;
}

export function push(s: ModernState, key: string, dev: Obj): void {
  (s.devices[key] ??= []).push(dev);
}

/** Keeps an option as `<qemu:arg>` words, with a warning naming it. */
export function fallback(s: ModernState, opt: Opt, why = 'unknown QEMU argument'): void {
  const shown = opt.value === undefined ? opt.name : `${opt.name} ${opt.value}`;
  s.warnings.push(`${why} '${shown}', adding to the qemu namespace`);
  s.fallback.push({ pos: opt.pos, words: opt.value === undefined ? [opt.name] : [opt.name, opt.value] });
}

/** A backend by id, marked used; undefined when the command line has none. */
export function backend(s: ModernState, map: Map<string, Opt>, id: unknown): Opt | undefined {
  if (typeof id !== 'string') return undefined;
  const o = map.get(id);
  if (o) s.used.add(`${o.name} ${id}`);
  return o;
}

/** `pci.N` / `pcie.0` / `pci.0` → the bus index (the controller alias is `pci.INDEX`). */
function pciBusIndex(bus: string): number | undefined {
  const m = /^pcie?\.(\d+)$/.exec(bus);
  return m ? Number(m[1]) : undefined;
}

/** `0xS` / `0xS.0xF`. */
function pciAddr(addr: string): { slot: number; function: number } | undefined {
  const m = /^(?:0x)?([0-9a-f]+)(?:\.(?:0x)?([0-9a-f]+))?$/i.exec(addr);
  if (!m) return undefined;
  return { slot: Number.parseInt(m[1]!, 16), function: m[2] ? Number.parseInt(m[2], 16) : 0 };
}

/**
 * The `<address>` and `<alias>` of a device from its `bus`/`addr`/`port`/… props (the reverse of
 * qemuBuildDeviceAddressProps) and its id, for the generic address kinds: PCI, USB, ISA, CCW,
 * virtio-serial and DIMM. Drive addresses depend on the controller and are read by their users.
 */
export function deviceAddress(p: Obj): Obj | undefined {
  const bus = typeof p.bus === 'string' ? p.bus : undefined;
  if (p.addr !== undefined && bus && pciBusIndex(bus) !== undefined) {
    const a = pciAddr(String(p.addr));
    if (!a) bad(`cannot parse PCI address '${p.addr}'`);
    const out: Obj = { type: 'pci', domain: 0, bus: pciBusIndex(bus), slot: a.slot, function: a.function };
    if (p.multifunction !== undefined) out.multifunction = onOff(p.multifunction);
    return out;
  }
  if (bus && /^(usb|usb\d+|ua-.*)\.0$/.test(bus) && (p.port !== undefined || /^usb/.test(bus))) {
    const m = /^usb(\d*)\.0$/.exec(bus);
    const out: Obj = { type: 'usb', bus: m?.[1] ? Number(m[1]) : 0 };
    // A bus named by a user alias: resolved to its controller's index once all are read.
    if (bus.startsWith('ua-')) out.busAlias = bus.slice(0, -2);
    if (p.port !== undefined) out.port = String(p.port);
    return out;
  }
  if (bus && /^virtio-serial(\d+)\.(\d+)$/.test(bus)) {
    const m = /^virtio-serial(\d+)\.(\d+)$/.exec(bus)!;
    return {
      type: 'virtio-serial',
      controller: Number(m[1]),
      bus: Number(m[2]),
      port: num(p.nr ?? 0, 'virtio-serial port'),
    };
  }
  if (p.devno !== undefined) {
    const m = /^([0-9a-f]+)\.([0-9a-f]+)\.([0-9a-f]+)$/i.exec(String(p.devno));
    if (m) {
      return {
        type: 'ccw',
        cssid: Number.parseInt(m[1]!, 16),
        ssid: Number.parseInt(m[2]!, 16),
        devno: Number.parseInt(m[3]!, 16),
      };
    }
  }
  if (p.iobase !== undefined) {
    const out: Obj = { type: 'isa', iobase: num(p.iobase, 'ISA iobase') };
    if (p.irq !== undefined) out.irq = num(p.irq, 'ISA irq');
    return out;
  }
  return undefined;
}

/** A user alias (`ua-…`) is kept; libvirt's own aliases are assigned again. */
export function userAlias(id: unknown): Obj | undefined {
  return typeof id === 'string' && id.startsWith('ua-') ? { name: id } : undefined;
}

/** Address, alias and ACPI index of a device, set on `dev` in the schema's shape. */
export function placeDevice(dev: Obj, p: Obj): Obj {
  const alias = userAlias(p.id);
  if (alias) dev.alias = alias;
  const a = deviceAddress(p);
  if (a) dev.address = a;
  if (p['acpi-index'] !== undefined) dev.acpi = { index: num(p['acpi-index'], 'acpi-index') };
  return dev;
}

/** Records a device's boot index for the `<os><boot>` / `<boot order>` decision. */
export function bootIndex(
  s: ModernState,
  dev: Obj,
  p: Obj,
  kind: 'hd' | 'cdrom' | 'fd' | 'network' | 'other',
): void {
  if (p.bootindex === undefined) return;
  s.bootIndexes.push({ dev, kind, index: num(p.bootindex, 'bootindex') });
}

/** Bytes → KiB. */
export function kib(bytes: unknown, what: string): number {
  return Math.floor(num(bytes, what) / 1024);
}

/** USB addresses on a controller with a user alias (`ua-NAME.0`) get that controller's index. */
export function resolveUsbBusAliases(s: ModernState): void {
  const index = new Map<string, number>();
  for (const c of (s.devices.controller ?? []) as Obj[]) {
    if (c.type === 'usb' && !c.master && typeof c.alias?.name === 'string')
      index.set(c.alias.name, c.index ?? 0);
  }
  for (const list of Object.values(s.devices)) {
    if (!Array.isArray(list)) continue;
    for (const d of list as Obj[]) {
      const a = d?.address;
      if (a?.type !== 'usb' || a.busAlias === undefined) continue;
      a.bus = index.get(a.busAlias) ?? a.bus;
      delete a.busAlias;
    }
  }
}
