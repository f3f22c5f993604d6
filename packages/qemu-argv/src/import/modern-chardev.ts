/**
 * `-chardev` backends back to a device's chardev source (`type`, `<source>`, `<protocol>`,
 * `<log>`), and the character devices that use them: serials, parallels, virtio channels and
 * consoles, guestfwd channels. The reverse of ../argv/sections/io-chardev.ts and io.ts.
 */
import {
  backend,
  bad,
  type ModernState,
  type Obj,
  type Opt,
  placeDevice,
  propsOf,
  push,
} from './modern-util.js';

/** A `<source>` path, mode, … of a chardev id (marked used); undefined when there is none. */
export function chardevSpec(s: ModernState, id: unknown): Obj | undefined {
  const opt = backend(s, s.chardevs, id);
  if (!opt) return undefined;
  const p = propsOf(opt, 'backend');
  const kind = p.backend;
  const spec: Obj = {};
  const src: Obj = {};
  const reconnect = (): void => {
    if (p.reconnect !== undefined) {
      src.reconnect =
        p.reconnect === '0' ? { enabled: 'no' } : { enabled: 'yes', timeout: Number(p.reconnect) };
    }
  };
  switch (kind) {
    case 'null':
    case 'vc':
    case 'pty':
    case 'stdio':
      spec.type = kind;
      break;
    case 'serial':
    case 'parallel':
      spec.type = 'dev';
      spec.source = [{ path: p.path }];
      break;
    case 'file':
      spec.type = 'file';
      spec.source = [{ path: p.path, ...(p.append !== undefined ? { append: p.append } : {}) }];
      break;
    case 'pipe':
      spec.type = 'pipe';
      spec.source = [{ path: p.path }];
      break;
    case 'udp': {
      spec.type = 'udp';
      const bind: Obj = { mode: 'bind' };
      if (p.localaddr) bind.host = p.localaddr;
      if (p.localport !== undefined && p.localport !== '0') bind.service = p.localport;
      const connect: Obj = { mode: 'connect' };
      if (p.host) connect.host = p.host;
      if (p.port) connect.service = p.port;
      spec.source = [...(bind.host || bind.service ? [bind] : []), connect];
      break;
    }
    case 'socket':
      if (p.path !== undefined) {
        spec.type = 'unix';
        src.mode = p.server === 'on' ? 'bind' : 'connect';
        src.path = p.path;
      } else {
        spec.type = 'tcp';
        src.mode = p.server === 'on' ? 'bind' : 'connect';
        src.host = p.host;
        src.service = p.port;
        if (p['tls-creds']) {
          src.tls = 'yes';
          backend(s, s.objects, p['tls-creds']);
        }
        spec.protocol = { type: p.telnet === 'on' ? 'telnet' : 'raw' };
      }
      reconnect();
      spec.source = [src];
      break;
    case 'spicevmc':
      spec.type = 'spicevmc';
      spec.spicevmcName = p.name;
      break;
    case 'spiceport':
      spec.type = 'spiceport';
      spec.source = [{ channel: p.name }];
      break;
    case 'dbus':
      spec.type = 'dbus';
      spec.source = [{ channel: p.name }];
      break;
    case 'qemu-vdagent': {
      spec.type = 'qemu-vdagent';
      const s0: Obj = {};
      if (p.clipboard !== undefined) s0.clipboard = { copypaste: p.clipboard === 'on' ? 'yes' : 'no' };
      if (p.mouse !== undefined) s0.mouse = { mode: p.mouse === 'on' ? 'client' : 'server' };
      if (Object.keys(s0).length) spec.source = [s0];
      break;
    }
    default:
      bad(`unknown chardev backend '${kind}' in '-chardev ${opt.value}'`);
  }
  if (p.logfile !== undefined)
    spec.log = { file: p.logfile, ...(p.logappend ? { append: p.logappend } : {}) };
  return spec;
}

/** A device's chardev as its model fields (the `spicevmcName` hint removed). */
function withChardev(dev: Obj, spec: Obj | undefined): Obj {
  if (!spec) return dev;
  const { spicevmcName: _n, ...rest } = spec;
  return { ...rest, ...dev };
}

const SERIAL_MODELS: Record<string, string> = {
  'isa-serial': 'isa-serial',
  'usb-serial': 'usb-serial',
  'pci-serial': 'pci-serial',
  'isa-debugcon': 'isa-debugcon',
  'spapr-vty': 'spapr-vty',
};

export function importChrDevice(s: ModernState, opt: Opt): boolean {
  const p = propsOf(opt);
  const driver = String(p.driver);
  if (SERIAL_MODELS[driver]) {
    const spec = chardevSpec(s, p.chardev);
    const list: Obj[] = s.devices.serial ?? [];
    const target: Obj = {
      type:
        driver === 'isa-serial'
          ? 'isa-serial'
          : driver === 'usb-serial'
            ? 'usb-serial'
            : driver === 'pci-serial'
              ? 'pci-serial'
              : driver === 'isa-debugcon'
                ? 'isa-debug'
                : 'spapr-vio-serial',
      port: p.index !== undefined ? Number(p.index) : list.length,
      model: { name: driver },
    };
    const dev = placeDevice(withChardev({}, spec), p);
    dev.target = target;
    push(s, 'serial', dev);
    return true;
  }
  if (driver === 'isa-parallel') {
    const dev = placeDevice(withChardev({}, chardevSpec(s, p.chardev)), p);
    dev.target = { port: (s.devices.parallel ?? []).length };
    push(s, 'parallel', dev);
    return true;
  }
  if (driver === 'virtserialport' || driver === 'virtconsole') {
    const spec = chardevSpec(s, p.chardev);
    const dev = placeDevice(withChardev({}, spec), p);
    if (driver === 'virtconsole') {
      // Port numbers count the console libvirt adds for the first serial port.
      const serialConsole = (s.devices.serial ?? []).length > 0 ? 1 : 0;
      dev.target = { type: 'virtio', port: (s.devices.console ?? []).length + serialConsole };
      push(s, 'console', dev);
    } else {
      dev.target = { type: 'virtio', ...(p.name !== undefined ? { name: p.name } : {}) };
      if (spec?.type === 'spicevmc' && p.name === 'com.redhat.spice.0') delete dev.target.name;
      // A unix channel in the domain's channel directory had no path of its own.
      if (
        dev.type === 'unix' &&
        /\/channel\/target\/domain-[^/]+\/[^/]+$/.test(dev.source?.[0]?.path ?? '')
      ) {
        dev.source = [{ mode: 'bind' }];
      }
      push(s, 'channel', dev);
    }
    return true;
  }
  if (driver === 'sclpconsole' || driver === 'sclplmconsole') {
    const dev = placeDevice(withChardev({}, chardevSpec(s, p.chardev)), p);
    dev.target = {
      type: driver === 'sclpconsole' ? 'sclp' : 'sclplm',
      port: (s.devices.console ?? []).length,
    };
    push(s, 'console', dev);
    return true;
  }
  return false;
}

/** `-serial chardev:ID` (platform serials). */
export function importSerialOption(s: ModernState, value: string): boolean {
  if (!value.startsWith('chardev:')) return false;
  const spec = chardevSpec(s, value.slice(8));
  if (!spec) return false;
  const dev = withChardev({}, spec);
  dev.target = { port: (s.devices.serial ?? []).length };
  push(s, 'serial', dev);
  return true;
}

/** A guestfwd channel is a `-netdev user,guestfwd=…` with the channel's alias as id. */
export function importGuestfwd(s: ModernState, p: Obj): boolean {
  const fwd = Array.isArray(p.guestfwd) ? p.guestfwd[0]?.str : undefined;
  const m = typeof fwd === 'string' ? /^tcp:(.*):(\d+)-chardev:(.*)$/.exec(fwd) : null;
  if (!m) return false;
  const spec = chardevSpec(s, m[3]);
  const dev = withChardev({}, spec);
  dev.target = { type: 'guestfwd', address: m[1], port: Number(m[2]) };
  push(s, 'channel', dev);
  return true;
}
