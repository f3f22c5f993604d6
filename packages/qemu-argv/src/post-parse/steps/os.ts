import type { DomainDef } from '@qvirt/core';
import { VirError, virReportError } from '@qvirt/core';
import { accelFor, defaultMachine, findMachine } from '../../caps/qemu-caps.js';
import type { QemuContext } from '../../context.js';

const xmlError = (msg: string): VirError => virReportError('XML_ERROR', 'domain', msg);
const unsupported = (msg: string): VirError => virReportError('CONFIG_UNSUPPORTED', 'domain', msg);

/** The machine type: the QEMU's default when absent, an alias expanded to its canonical name. */
export function machineType(def: DomainDef, ctx: QemuContext): void {
  def.os ??= {};
  const type = (def.os.type ??= {});
  const accel = accelFor(def.type ?? '');
  const name = type.machine;
  if (name === undefined) {
    const m = defaultMachine(ctx.caps, accel);
    if (!m) {
      throw virReportError(
        'INVALID_ARG',
        'qemu',
        `could not get preferred machine for ${def.devices?.emulator ?? ''} type=${def.type}`,
      );
    }
    type.machine = m.name;
    return;
  }
  const m = findMachine(ctx.caps, accel, name);
  if (m) type.machine = m.name;
}

/**
 * `<os>` as the parser keeps it (virDomainDefParseBootXML and friends): a boot menu timeout only
 * when the menu is enabled, `<bios>` attributes, the firmware feature list only with automatic
 * firmware selection or at define, the loader type defaulting to rom, an empty `<nvram>` dropped.
 */
export function osCanonical(def: DomainDef): void {
  const os = def.os;
  if (!os) return;
  if (def.bootloader !== undefined || def.bootloader_args !== undefined)
    throw unsupported('bootloader is not supported by QEMU');
  if (os.boot) {
    for (const b of os.boot)
      if (b.dev === undefined) throw xmlError("Missing required attribute 'dev' in element 'boot'");
    os.boot = os.boot.slice(0, 4);
  }
  if (os.bootmenu) {
    const enable = os.bootmenu.enable;
    const timeout = os.bootmenu.timeout;
    // virDomainDefParseBootOptions reads the timeout only for an enabled menu
    if (enable === 'yes' && typeof timeout === 'string')
      throw xmlError(
        `Invalid value for attribute 'timeout' in element 'bootmenu': '${timeout}'. Expected non-negative integer value`,
      );
    if (enable === undefined) delete os.bootmenu;
    else
      os.bootmenu = {
        enable,
        ...(enable === 'yes' && os.bootmenu.timeout !== undefined ? { timeout: os.bootmenu.timeout } : {}),
      };
  }
  if (os.bios && os.bios.useserial === undefined && os.bios.rebootTimeout === undefined) delete os.bios;
  if (os.acpi?.table) {
    if (os.acpi.table.length > 1) throw xmlError('Only one acpi table is supported');
    const t = os.acpi.table[0];
    if (t) {
      if (t.type === undefined) throw xmlError('Missing acpi table type');
      if (t.type !== 'slic') throw xmlError(`Unknown acpi table type: ${t.type}`);
      if (t.value !== undefined) t.value = t.value.replace(/\/+/g, '/').replace(/(.)\/$/, '$1');
    } else {
      delete os.acpi;
    }
  }
  const features = os.firmwareFeatures?.feature;
  if (features) {
    const byName = new Map<string, 'yes' | 'no'>();
    for (const f of features) {
      if (f.name === undefined) throw xmlError("Missing required attribute 'name' in element 'feature'");
      if (f.enabled === undefined)
        throw xmlError("Missing required attribute 'enabled' in element 'feature'");
      byName.set(f.name, f.enabled);
    }
    if (byName.get('enrolled-keys') === 'yes') {
      if (byName.get('secure-boot') === 'no') {
        throw new VirError(
          'XML_DETAIL',
          'domain',
          "firmware feature 'enrolled-keys' cannot be enabled when firmware feature 'secure-boot' is disabled",
        );
      }
      byName.set('secure-boot', 'yes');
    }
    // Written in virDomainOsDefFirmwareFeature order.
    const order = ['enrolled-keys', 'secure-boot'] as const;
    os.firmwareFeatures = {
      feature: order.filter((n) => byName.has(n)).map((name) => ({ enabled: byName.get(name)!, name })),
    };
  }
  if (os.loader) {
    const value = os.loader.value === '' ? undefined : os.loader.value;
    os.loader = { ...os.loader };
    if (value === undefined) delete os.loader.value;
    if (value !== undefined && os.loader.type === undefined) os.loader.type = 'rom';
  }
  if (os.nvram && os.nvram.type === undefined && !os.nvram.value) {
    // An empty old-style <nvram/> keeps only its template.
    if (os.nvram.template === undefined) delete os.nvram;
    else os.nvram = { template: os.nvram.template };
  }
}

/**
 * A read-only pflash loader without a variable store gets one under the NVRAM directory named
 * after the domain (qemuDomainDefPostParse, qemuDomainNVRAMPathFormat).
 */
export function nvramDefault(def: DomainDef, ctx: QemuContext): void {
  const loader = def.os?.loader;
  if (loader?.type !== 'pflash' || loader.readonly !== 'yes') return;
  if (loader.stateless === 'yes') return;
  const nvram = def.os!.nvram;
  if (nvram && (nvram.value || nvram.type !== undefined)) return;
  def.os!.nvram = { ...nvram, value: `${ctx.layout.nvramDir}/${def.name}_VARS.fd` };
}

/** The boot orders given on devices (`<boot order=…>` anywhere under `<devices>`). */
function deviceBootOrders(devices: unknown): number[] {
  const orders: number[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v !== null && typeof v === 'object') {
      for (const [k, child] of Object.entries(v)) {
        if (k === 'boot' && child && typeof child === 'object' && !Array.isArray(child)) {
          const order = (child as { order?: number }).order;
          if (order) orders.push(order);
        } else {
          walk(child);
        }
      }
    }
  };
  walk(devices);
  return orders;
}

/**
 * virDomainDefBootOrderPostParse: device boot orders are unique and exclude `<os><boot>`;
 * without either, the guest boots from the first hard disk.
 */
export function defaultBootDevice(def: DomainDef): void {
  const os = (def.os ??= {});
  const orders = deviceBootOrders(def.devices);
  const seen = new Set<number>();
  for (const o of orders) {
    if (seen.has(o)) throw unsupported(`boot order '${o}' used for more than one device`);
    seen.add(o);
  }
  if (os.boot?.length && orders.length)
    throw unsupported('per-device boot elements cannot be used together with os/boot elements');
  if (!os.boot?.length && !orders.length) os.boot = [{ dev: 'hd' }];
}

/** The lifecycle actions libvirt writes out when they are not given. */
export function lifecycleDefaults(def: DomainDef): void {
  def.on_poweroff ??= 'destroy';
  def.on_reboot ??= 'restart';
  def.on_crash ??= 'destroy';
}

/**
 * `<clock>` (virDomainDefClockParse): offset defaults to utc; a numeric adjustment on a utc or
 * localtime clock makes it a variable clock with that basis; a variable clock always shows its
 * adjustment and basis.
 */
export function clockDefault(def: DomainDef): void {
  const clock = { ...def.clock, offset: def.clock?.offset ?? 'utc' };
  switch (clock.offset) {
    case 'utc':
    case 'localtime': {
      const adj = clock.adjustment;
      if (adj !== undefined && adj !== 'reset') {
        if (!/^\s*[+-]?\d+$/.test(adj)) throw xmlError(`unknown clock adjustment '${adj}'`);
        clock.basis = clock.offset;
        clock.offset = 'variable';
        clock.adjustment = `${BigInt(adj.trim())}`;
      } else {
        delete clock.basis;
      }
      delete clock.timezone;
      delete clock.start;
      break;
    }
    case 'variable': {
      const adj = clock.adjustment;
      clock.adjustment = adj !== undefined && /^\s*[+-]?\d+$/.test(adj) ? `${BigInt(adj.trim())}` : '0';
      clock.basis ??= 'utc';
      delete clock.timezone;
      delete clock.start;
      break;
    }
    case 'timezone':
      if (clock.timezone === undefined) {
        throw virReportError(
          'INTERNAL_ERROR',
          'domain',
          "missing 'timezone' attribute for clock with offset='timezone'",
        );
      }
      delete clock.adjustment;
      delete clock.basis;
      delete clock.start;
      break;
    case 'absolute':
      if (clock.start === undefined) {
        throw virReportError(
          'INTERNAL_ERROR',
          'domain',
          "missing 'start' attribute for clock with offset='absolute'",
        );
      }
      delete clock.adjustment;
      delete clock.basis;
      delete clock.timezone;
      break;
  }
  delete clock.adjustment0;
  if (clock.timer) clock.timer = clock.timer.map(timerCanonical);
  def.clock = clock;
}

type Timer = NonNullable<NonNullable<DomainDef['clock']>['timer']>[number];

/**
 * A `<timer>` (virDomainTimerDefParseXML, virDomainDefPostParseTimer, virDomainTimerDefFormat):
 * settings that only some timers support are refused elsewhere, zero catchup values dropped.
 */
function timerCanonical(t: Timer): Timer {
  const name = t.name;
  if (name === undefined) throw xmlError("Missing required attribute 'name' in element 'timer'");
  if ((name === 'kvmclock' || name === 'hypervclock') && t.tickpolicy !== undefined)
    throw unsupported(`timer ${name} doesn't support setting of timer tickpolicy`);
  const c = t.catchup;
  if (t.tickpolicy !== 'catchup' && (c?.threshold || c?.limit || c?.slew)) {
    throw xmlError("setting of timer catchup policies is only supported with tickpolicy='catchup'");
  }
  if (name !== 'tsc') {
    if (t.frequency) throw unsupported(`timer ${name} doesn't support setting of timer frequency`);
    if (t.mode !== undefined) throw unsupported(`timer ${name} doesn't support setting of timer mode`);
  }
  if (name !== 'platform' && name !== 'rtc' && t.track !== undefined)
    throw unsupported(`timer ${name} doesn't support setting of timer track`);
  const out: Timer = { name };
  if (t.present !== undefined) out.present = t.present;
  if (t.tickpolicy !== undefined) out.tickpolicy = t.tickpolicy;
  if (t.track !== undefined) out.track = t.track;
  if (name === 'tsc' && t.frequency) out.frequency = t.frequency;
  if (name === 'tsc' && t.mode !== undefined) out.mode = t.mode;
  if (c && (c.threshold || c.slew || c.limit)) {
    out.catchup = {
      ...(c.threshold ? { threshold: c.threshold } : {}),
      ...(c.slew ? { slew: c.slew } : {}),
      ...(c.limit ? { limit: c.limit } : {}),
    };
  }
  return out;
}
