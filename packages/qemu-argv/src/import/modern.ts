/**
 * domxml-from-native for the modern QEMU syntax libvirt 9.0 itself emits (`-machine … ,
 * memory-backend=…`, `-accel`, `-blockdev`/`-device` JSON, `-netdev`, `-chardev`, `-object`,
 * `-audiodev`, …): the reverse of `../argv/`. The result says what the command line says; libvirt's
 * post-parse fills in the rest (as it does for XML).
 *
 * Backends (`-blockdev`, `-netdev`, `-chardev`, `-object`, `-audiodev`, `-fsdev`, `-tpmdev`) are
 * collected first and read when a device refers to them. An option we do not understand, a
 * `-device` of an unknown driver and a backend nothing refers to (other than libvirt's own:
 * the master key, the monitor) become `<qemu:arg>`s with a warning, so nothing is lost.
 */
import type { DomainDef } from '@qvirt/core';
import {
  finishSound,
  importAudiodev,
  importDisplay,
  importEvdev,
  importSpice,
  importVnc,
} from './modern-av.js';
import { importGuestfwd, importSerialOption } from './modern-chardev.js';
import { importDevice } from './modern-devices.js';
import { finishHead, headOption } from './modern-head.js';
import { keepUnreadProps, watchProps } from './modern-overrides.js';
import { importSdDrive } from './modern-storage.js';
import {
  fallback,
  type ModernState,
  type Obj,
  type Opt,
  propsOf,
  resolveUsbBusAliases,
} from './modern-util.js';
import type { SplitArgv } from './split.js';

export interface ModernImportResult {
  def: DomainDef;
  warnings: string[];
}

/** Options that take no value (libvirt emits these; QEMU knows more, they fall back). */
const FLAGS = new Set([
  '-S',
  '-no-user-config',
  '-nodefaults',
  '-no-shutdown',
  '-no-acpi',
  '-no-hpet',
  '-enable-kvm',
  '-no-reboot',
  '-nographic',
  '-full-screen',
  '-mem-prealloc',
  '-enable-fips',
  '-no-fd-bootchk',
  '-usb',
  '-snapshot',
  '-daemonize',
]);

/** True when a command line uses the syntax libvirt 4.x and later emit. */
export function isModernArgv(args: string[]): boolean {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const v = args[i + 1] ?? '';
    if (a === '-blockdev' || a === '-accel' || a === '-audiodev') return true;
    if ((a === '-device' || a === '-object' || a === '-netdev') && v.startsWith('{')) return true;
    if ((a === '-machine' || a === '-M') && /(^|,)memory-backend=/.test(v)) return true;
    if (a === '-name' && v.startsWith('guest=')) return true;
  }
  return false;
}

/** Splits arguments into options and their values. */
function options(args: string[]): Opt[] {
  const out: Opt[] = [];
  for (let i = 0; i < args.length; i++) {
    const raw = args[i]!;
    const name = raw.startsWith('--') ? raw.slice(1) : raw;
    if (!name.startsWith('-') || FLAGS.has(name) || i + 1 >= args.length) {
      out.push({ name: raw, pos: out.length });
      continue;
    }
    const next = args[i + 1]!;
    // An unknown option followed by another option is taken as a flag.
    if (next.startsWith('-') && !/^-\d/.test(next) && !KNOWN_WITH_VALUE.has(name)) {
      out.push({ name, pos: out.length });
      continue;
    }
    out.push({ name, value: next, pos: out.length });
    i++;
  }
  return out;
}

const KNOWN_WITH_VALUE = new Set([
  '-name',
  '-machine',
  '-M',
  '-accel',
  '-cpu',
  '-m',
  '-smp',
  '-uuid',
  '-device',
  '-blockdev',
  '-object',
  '-netdev',
  '-chardev',
  '-audiodev',
  '-mon',
  '-append',
  '-kernel',
  '-initrd',
  '-global',
]);

const BACKENDS: Record<string, keyof ModernState> = {
  '-blockdev': 'blockdevs',
  '-netdev': 'netdevs',
  '-chardev': 'chardevs',
  '-object': 'objects',
  '-audiodev': 'audiodevs',
  '-fsdev': 'fsdevs',
  '-tpmdev': 'tpmdevs',
};

function backendId(opt: Opt): string | undefined {
  const p = propsOf(opt);
  const id = opt.name === '-blockdev' ? (p['node-name'] ?? p.id) : p.id;
  return typeof id === 'string' ? id : undefined;
}

/** Backends libvirt adds for itself: never the domain's. */
function internalBackend(opt: Opt, id: string): boolean {
  if (opt.name === '-object' && id === 'masterKey0') return true;
  if (opt.name === '-chardev' && id === 'charmonitor') return true;
  return false;
}

export function importModernArgv(argv: SplitArgv): ModernImportResult {
  const s: ModernState = {
    def: {},
    devices: { emulator: argv.binary },
    warnings: [],
    fallback: [],
    blockdevs: new Map(),
    netdevs: new Map(),
    chardevs: new Map(),
    objects: new Map(),
    audiodevs: new Map(),
    fsdevs: new Map(),
    tpmdevs: new Map(),
    used: new Set(),
    bootIndexes: [],
    env: new Map(argv.env),
  };
  const opts = options(argv.args);
  // Backends first: devices refer to them by id.
  for (const opt of opts) {
    const key = BACKENDS[opt.name];
    if (!key || opt.value === undefined) continue;
    const id = backendId(opt);
    if (id === undefined) continue;
    (s[key] as Map<string, Opt>).set(id, opt);
    if (internalBackend(opt, id)) s.used.add(`${opt.name} ${id}`);
  }
  for (const opt of opts) {
    if (opt.name === '-device' && opt.value !== undefined) {
      const read = watchProps(opt);
      if (importDevice(s, opt)) keepUnreadProps(s, opt, read);
      else fallback(s, opt, 'unknown QEMU device');
      continue;
    }
    if (BACKENDS[opt.name]) {
      if (opt.value !== undefined) backendInOrder(s, opt);
      continue;
    }
    if (!headOption(s, opt) && !ioOption(s, opt)) fallback(s, opt);
  }
  finishSound(s);
  resolveUsbBusAliases(s);
  // Graphics without a video device: libvirt would have added one unless it was `none`.
  if ((s.devices.graphics ?? []).length && !(s.devices.video ?? []).length)
    s.devices.video = [{ model: { type: 'none' } }];
  finishHead(s, argv);
  // Backends nothing used: kept as they are.
  for (const opt of opts) {
    const key = BACKENDS[opt.name];
    if (!key) continue;
    const id = opt.value === undefined ? undefined : backendId(opt);
    if (id === undefined || !s.used.has(`${opt.name} ${id}`)) fallback(s, opt, 'unused QEMU backend');
  }
  return { def: assemble(s), warnings: s.warnings };
}

/** Backends that are devices of their own, imported where they stand. */
function backendInOrder(s: ModernState, opt: Opt): void {
  const p = propsOf(opt);
  if (opt.name === '-audiodev') importAudiodev(s, opt);
  else if (opt.name === '-netdev' && p.type === 'user' && p.guestfwd !== undefined) {
    if (importGuestfwd(s, p)) s.used.add(`-netdev ${p.id}`);
  } else if (opt.name === '-object' && p['qom-type'] === 'input-linux') {
    importEvdev(s, opt);
    s.used.add(`-object ${p.id}`);
  } else if (opt.name === '-object' && p['qom-type'] === 'iothread') {
    const m = /^iothread(\d+)$/.exec(String(p.id));
    if (!m) return;
    const t: Obj = { id: Number(m[1]) };
    if (p['thread-pool-min'] !== undefined) t.thread_pool_min = p['thread-pool-min'];
    if (p['thread-pool-max'] !== undefined) t.thread_pool_max = p['thread-pool-max'];
    ((s.def.iothreadids ??= { iothread: [] }).iothread as Obj[]).push(t);
    s.def.iothreads = s.def.iothreadids.iothread.length;
    s.used.add(`-object ${p.id}`);
  } else if (opt.name === '-object' && p['qom-type'] === 'main-loop') {
    const t: Obj = {};
    if (p['thread-pool-min'] !== undefined) t.thread_pool_min = p['thread-pool-min'];
    if (p['thread-pool-max'] !== undefined) t.thread_pool_max = p['thread-pool-max'];
    s.def.defaultiothread = t;
    s.used.add(`-object ${p.id}`);
  }
}

/** Graphics and other device-like options that are not `-device`. */
function ioOption(s: ModernState, opt: Opt): boolean {
  const v = opt.value ?? '';
  switch (opt.name) {
    case '-vnc':
      return importVnc(s, v);
    case '-spice':
      return importSpice(s, v);
    case '-display':
      return importDisplay(s, v);
    case '-full-screen':
      s.def.fullScreen = true;
      for (const g of s.devices.graphics ?? []) if (g.type === 'sdl') g.fullscreen = 'yes';
      return true;
    case '-k': {
      const g = [...(s.devices.graphics ?? [])]
        .reverse()
        .find((x: Obj) => x.type === 'vnc' || x.type === 'spice');
      if (!g) return false;
      g.keymap = v;
      return true;
    }
    case '-serial':
      return importSerialOption(s, v);
    case '-drive':
      return importSdDrive(s, v);
    case '-soundhw':
      if (v !== 'pcspk') return false;
      (s.devices.sound ??= []).push({ model: 'pcspk' });
      return true;
    case '-watchdog-action': {
      const w = s.devices.watchdog?.[s.devices.watchdog.length - 1];
      if (!w) return false;
      w.action = v;
      return true;
    }
    default:
      return false;
  }
}

/** The model in the schema's shape, the `<qemu:commandline>` last. */
function assemble(s: ModernState): DomainDef {
  const def: Obj = { ...s.def };
  def.devices = s.devices;
  const args = s.fallback.sort((a, b) => a.pos - b.pos).flatMap((f) => f.words.map((value) => ({ value })));
  const env: Obj[] = s.def.qemuEnv ?? [];
  delete def.qemuEnv;
  if (args.length || env.length) {
    def.qemuCommandline = { ...(args.length ? { arg: args } : {}), ...(env.length ? { env } : {}) };
  }
  return def as DomainDef;
}
