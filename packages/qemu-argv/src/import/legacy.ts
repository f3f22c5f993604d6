/**
 * domxml-from-native for QEMU command lines in the legacy syntax (QEMU 0.x–2.x: `-hda`,
 * `-drive if=…`, `-net nic`/`-net user|tap`, `-usbdevice`, `-vnc`, `-soundhw`, …), producing the
 * domain libvirt's former argv parser produced, before libvirt's post-parse defaults.
 *
 * Nothing is dropped silently: an option we do not understand becomes a `<qemu:arg>` and an
 * environment variable a `<qemu:env>`, each with a warning.
 */

import type { DomainDef } from '@qvirt/core';
import { virReportError } from '@qvirt/core';
import { legacyVgaHoldsSlot2, pinPciLayout } from './legacy-pci.js';
import { parseKeywords, type SplitArgv } from './split.js';

type Obj = Record<string, any>;

export interface ImportResult {
  def: DomainDef;
  warnings: string[];
}

/** Environment libvirt itself sets for QEMU, or that the import reads; never passed through. */
const KNOWN_ENV = new Set([
  'LC_ALL',
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'QEMU_AUDIO_DRV',
  'SDL_AUDIODRIVER',
  'DISPLAY',
  'XAUTHORITY',
  'CEPH_ARGS',
  'TMPDIR',
  'XDG_DATA_HOME',
  'XDG_CACHE_HOME',
  'XDG_CONFIG_HOME',
  'SASL_CONF_PATH',
]);

function bad(message: string): never {
  throw virReportError('INTERNAL_ERROR', 'qemu', message);
}

/** A size in MiB unless suffixed (k, M, G, T), as QEMU's `-m` reads it; returned in KiB. */
function memoryKiB(value: string): number {
  const m = /^(\d+)([kKmMgGtT]?)[bB]?$/.exec(value);
  if (!m) bad(`cannot parse memory level '${value}'`);
  const scale: Record<string, number> = { '': 1024, k: 1, m: 1024, g: 1024 ** 2, t: 1024 ** 3 };
  return Number(m[1]) * scale[m[2]!.toLowerCase()]!;
}

function int(value: string | undefined, what: string, base = 10): number {
  const ok = base === 16 ? /^[0-9a-fA-F]+$/ : /^-?\d+$/;
  if (value === undefined || !ok.test(value)) bad(`cannot parse ${what} '${value}'`);
  return Number.parseInt(value, base);
}

function chardevSource(val: string): Obj {
  if (val === 'null' || val === 'vc' || val === 'pty' || val === 'stdio') return { type: val };
  if (val.startsWith('file:')) return { type: 'file', source: [{ path: val.slice(5) }] };
  if (val.startsWith('pipe:')) return { type: 'pipe', source: [{ path: val.slice(5) }] };
  if (val.startsWith('/dev')) return { type: 'dev', source: [{ path: val }] };
  if (val.startsWith('unix:')) {
    const [path, ...opts] = val.slice(5).split(',');
    return { type: 'unix', source: [{ mode: opts.includes('server') ? 'bind' : 'connect', path }] };
  }
  if (val.startsWith('udp:')) {
    const rest = val.slice(4);
    const at = rest.indexOf('@');
    const [connect, bind] = at < 0 ? [rest, undefined] : [rest.slice(0, at), rest.slice(at + 1)];
    const colon = connect.lastIndexOf(':');
    const source: Obj[] = [];
    if (bind !== undefined) {
      const bcolon = bind.lastIndexOf(':');
      const host = bind.slice(0, bcolon);
      const service = bind.slice(bcolon + 1);
      const b: Obj = { mode: 'bind' };
      if (host) b.host = host;
      if (service && service !== '0') b.service = service;
      if (b.host || b.service) source.push(b);
    }
    const c: Obj = { mode: 'connect' };
    if (colon > 0) c.host = connect.slice(0, colon);
    if (colon >= 0) c.service = connect.slice(colon + 1);
    source.push(c);
    return { type: 'udp', source };
  }
  if (val.startsWith('tcp:') || val.startsWith('telnet:')) {
    const telnet = val.startsWith('telnet:');
    const rest = val.slice(telnet ? 7 : 4);
    const colon = rest.indexOf(':');
    if (colon < 0) bad(`cannot find port number in character device ${rest}`);
    const comma = rest.indexOf(',', colon);
    const opts = comma < 0 ? '' : rest.slice(comma);
    return {
      type: 'tcp',
      source: [
        {
          mode: opts.includes('server') ? 'bind' : 'connect',
          host: rest.slice(0, colon),
          service: rest.slice(colon + 1, comma < 0 ? undefined : comma),
        },
      ],
      protocol: { type: telnet ? 'telnet' : 'raw' },
    };
  }
  return bad(`unknown character device syntax ${val}`);
}

function networkDisk(disk: Obj, path: string): void {
  const uri =
    /^(nbd|gluster|iscsi)(?:\+([a-z]+))?:\/\/(?:([^@/]*)@)?(\[[^\]]+\]|[^/:?]*)(?::(\d+))?(\/[^?]*)?(?:\?(.*))?$/.exec(
      path,
    );
  if (uri) {
    const [, protocol, transport, user, host, port, name, query] = uri;
    const h: Obj = {};
    if (transport === 'unix') {
      if (query?.startsWith('socket=')) h.socket = query.slice(7);
      h.transport = 'unix';
    } else {
      if (host) h.name = host.replace(/^\[|\]$/g, '');
      if (port) h.port = port;
      if (transport) h.transport = transport;
    }
    disk.type = 'network';
    const volume = name && name !== '/' ? name.slice(1).replace(/\/$/, '') : undefined;
    disk.source = { protocol, ...(volume ? { name: volume } : {}), host: [h] };
    if (user) disk.source.auth = { username: user.split(':')[0] };
    return;
  }
  if (path.startsWith('nbd:')) {
    const rest = path.slice(4);
    const h: Obj = {};
    let exportPart: string | undefined;
    if (rest.startsWith('unix:/')) {
      const c = rest.indexOf(':', 5);
      h.transport = 'unix';
      h.socket = c < 0 ? rest.slice(5) : rest.slice(5, c);
      exportPart = c < 0 ? undefined : rest.slice(c + 1);
    } else {
      const hostEnd = rest.startsWith('[') ? rest.indexOf(']') + 1 : rest.indexOf(':');
      if (hostEnd <= 0) bad(`cannot parse nbd filename '${path}'`);
      h.name = rest.slice(0, hostEnd).replace(/^\[|\]$/g, '');
      const after = rest.slice(hostEnd + 1);
      const c = after.indexOf(':');
      h.port = c < 0 ? after : after.slice(0, c);
      exportPart = c < 0 ? undefined : after.slice(c + 1);
    }
    disk.type = 'network';
    disk.source = {
      protocol: 'nbd',
      ...(exportPart?.startsWith('exportname=') ? { name: exportPart.slice(11) } : {}),
      host: [h],
    };
    return;
  }
  if (path.startsWith('rbd:')) applyRbd(disk, path.slice(4));
}

/** Splits on `sep` where it is not escaped with a backslash, and unescapes the pieces. */
function splitEscaped(text: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\\' && i + 1 < text.length) cur += text[++i];
    else if (text[i] === sep) {
      out.push(cur);
      cur = '';
    } else cur += text[i];
  }
  out.push(cur);
  return out;
}

/** `pool/image[:opt=value…]`, with `mon_host=h1\\:port\\;h2` and `id=user`, as QEMU's rbd driver reads it. */
function applyRbd(disk: Obj, spec: string): void {
  // Options are split on unescaped colons; values keep their own escapes until read.
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < spec.length; i++) {
    if (spec[i] === '\\' && i + 1 < spec.length) {
      cur += spec[i]! + spec[i + 1]!;
      i++;
    } else if (spec[i] === ':') {
      parts.push(cur);
      cur = '';
    } else cur += spec[i];
  }
  parts.push(cur);
  const [image, snapshot] = splitEscaped(parts[0]!, '@');
  const source: Obj = { protocol: 'rbd', name: image };
  let hasKey = false;
  for (const opt of parts.slice(1)) {
    const eq = opt.indexOf('=');
    const k = opt.slice(0, eq);
    const v = opt.slice(eq + 1);
    if (k === 'mon_host' && v) source.host = hostList(v.split(/\\;|;/).map((h) => h));
    else if (k === 'id' && v) source.auth = { username: splitEscaped(v, '\u0000')[0] };
    else if (k === 'key' && v) hasKey = true;
    else if (k === 'conf' && v) source.config = { file: splitEscaped(v, '\u0000')[0] };
  }
  if (snapshot) source.snapshot = { name: snapshot };
  // The key itself cannot go into domain XML: it belongs in a libvirt secret, referred to by usage.
  if (hasKey && source.auth) source.auth.secret = { type: 'ceph', usage: `rbd/${source.name}` };
  disk.type = 'network';
  disk.source = source;
}

/** `host[:port]` items (escapes removed first), the host possibly an IPv6 address in brackets. */
function hostList(items: string[]): Obj[] {
  return items.map((item) => {
    const plain = item.replace(/\\(.)/g, '$1');
    const m = /^\[([^\]]*)\](?::(\d+))?$/.exec(plain) ?? /^([^:]*)(?::(\d+))?$/.exec(plain);
    if (!m) bad(`cannot parse host '${plain}'`);
    return { name: m[1], ...(m[2] ? { port: m[2] } : {}) };
  });
}

function driveDisk(val: string, virtioCount: number): Obj {
  const disk: Obj = { type: 'file', device: 'disk' };
  let bus = 'ide';
  let index: number | undefined;
  let busId: number | undefined;
  let unitId: number | undefined;
  let file: string | undefined;
  const driver: Obj = {};
  for (const [k, v] of parseKeywords(val)) {
    if (k === 'file') file = v;
    else if (k === 'if') {
      if (v === 'floppy') {
        bus = 'fdc';
        disk.device = 'floppy';
      } else if (v && ['ide', 'scsi', 'virtio', 'xen', 'sd'].includes(v)) bus = v;
    } else if (k === 'media') {
      if (v === 'cdrom') {
        disk.device = 'cdrom';
        disk.readonly = true;
      } else if (v === 'floppy') disk.device = 'floppy';
    } else if (k === 'format') {
      driver.name = 'qemu';
      driver.type = v;
    } else if (k === 'cache') {
      const c = {
        off: 'none',
        none: 'none',
        writeback: 'writeback',
        on: 'writeback',
        writethrough: 'writethrough',
        directsync: 'directsync',
        unsafe: 'unsafe',
      }[v ?? ''];
      if (c) driver.cache = c;
    } else if (k === 'werror') {
      const p = { stop: 'stop', report: 'report', ignore: 'ignore', enospc: 'enospace' }[v ?? ''];
      if (p) driver.error_policy = p;
    } else if (k === 'rerror') {
      const p = { stop: 'stop', report: 'report', ignore: 'ignore' }[v ?? ''];
      if (p) driver.rerror_policy = p;
    } else if (k === 'index') index = int(v, 'drive index');
    else if (k === 'bus') busId = int(v, 'drive bus');
    else if (k === 'unit') unitId = int(v, 'drive unit');
    else if (k === 'readonly' && (v === undefined || v === 'on')) disk.readonly = true;
    else if (k === 'aio') driver.io = v;
  }
  if (driver.rerror_policy !== undefined && driver.rerror_policy === driver.error_policy)
    delete driver.rerror_policy;
  if (file) {
    if (file.startsWith('/dev/')) {
      disk.type = 'block';
      disk.source = { dev: file };
    } else if (/^(nbd|rbd|gluster|iscsi)[:+]/.test(file)) networkDisk(disk, file);
    else disk.source = { file };
  } else if (disk.device === 'disk') bad(`missing file parameter in drive '${val}'`);
  if (index === undefined && bus === 'virtio') index = virtioCount;
  if (index === undefined && unitId === undefined && busId === undefined) {
    bad(`missing index/unit/bus parameter in drive '${val}'`);
  }
  if (index === undefined) {
    const u = unitId ?? 0;
    const b = busId ?? 0;
    index = bus === 'ide' ? b * 2 + u : bus === 'scsi' ? b * 7 + u : u;
  }
  const prefix = { ide: 'hd', scsi: 'sd', sd: 'sd', virtio: 'vd', xen: 'xvd', fdc: 'fd' }[bus] ?? 'hd';
  if (Object.keys(driver).length > 0) disk.driver = driver;
  disk.target = { dev: `${prefix}${String.fromCharCode(97 + index)}`, bus };
  return disk;
}

export function importLegacyArgv(argv: SplitArgv): ImportResult {
  const warnings: string[] = [];
  const env = new Map(argv.env);
  const base = argv.binary.split('/').pop() ?? '';
  const kvm = base.includes('kvm');
  const def: Obj = { type: kvm ? 'kvm' : 'qemu' };
  const arch = kvm ? 'x86_64' : base.startsWith('qemu-system-') ? base.slice('qemu-system-'.length) : 'i686';
  const x86 = arch === 'i686' || arch === 'x86_64';
  const features: Obj = {};
  if (kvm) features.pae = true;
  if (x86) features.acpi = true;
  let memory = 64 * 1024;
  let vcpus = 1;
  const os: Obj = { type: { arch, value: 'hvm' } };
  const devices: Obj = { emulator: argv.binary };
  const disks: Obj[] = [];
  const nets: Obj[] = [];
  const serials: Obj[] = [];
  const parallels: Obj[] = [];
  const graphics: Obj[] = [];
  const inputs: Obj[] = [];
  const hostdevs: Obj[] = [];
  const sounds: Obj[] = [];
  const qemuArgs: Obj[] = [];
  let controllers: Obj[] | undefined;
  let memballoon: Obj | undefined;
  let watchdog: Obj | undefined;
  let nographics = false;
  let fullscreen = false;
  let haveSdl = false;
  let video: string | undefined = 'cirrus';
  let virtioDisks = 0;
  const nics = argv.args.flatMap((a, i) =>
    (a === '-net' || a === '--net') && argv.args[i + 1]?.startsWith('nic') ? [argv.args[i + 1]!] : [],
  );
  const args = argv.args;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!.startsWith('--') ? args[i]!.slice(1) : args[i]!;
    const value = (): string => {
      const v = args[++i];
      if (v === undefined) bad(`missing value for ${arg} argument`);
      return v;
    };
    if (arg === '-vnc') {
      const v = value();
      const g: Obj = { type: 'vnc' };
      if (v.startsWith('unix:')) g.listens = [{ type: 'socket', socket: v.slice(5) }];
      else {
        const sep = v.startsWith('[') ? ']:' : ':';
        const at = v.indexOf(sep);
        if (at < 0) bad(`missing VNC port number in '${v}'`);
        const [display, ...opts] = v.slice(at + sep.length).split(',');
        const port = int(display, 'VNC port');
        const addr = v.slice(v.startsWith('[') ? 1 : 0, at);
        g.port = port + 5900;
        g.autoport = 'no';
        if (addr) {
          g.listen = addr;
          g.listens = [{ type: 'address', address: addr }];
        }
        for (const o of opts) {
          if (o.startsWith('websocket'))
            g.websocket =
              o.startsWith('websocket=') && o.length > 10
                ? int(o.slice(10), 'VNC WebSocket port')
                : port + 5700;
          else if (o.startsWith('share=')) g.sharePolicy = o.slice(6);
        }
      }
      graphics.push(g);
    } else if (arg === '-sdl') haveSdl = true;
    else if (arg === '-m') memory = memoryKiB(value());
    else if (arg === '-smp') {
      const kw = parseKeywords(value());
      let n: number | undefined;
      const topo: Obj = {};
      let maxcpus: number | undefined;
      kw.forEach(([k, v], idx) => {
        if (v === undefined && idx === 0) n = int(k, 'CPU topology');
        else if (k === 'sockets' || k === 'cores' || k === 'threads') topo[k] = int(v, 'CPU topology');
        else if (k === 'maxcpus') maxcpus = int(v, 'CPU topology');
        else if (k === 'cpus') n = int(v, 'CPU topology');
        else bad(`cannot parse CPU topology '${args[i]}'`);
      });
      if (topo.sockets && topo.cores && topo.threads) def.cpu = { ...def.cpu, topology: topo };
      const max = maxcpus ?? (topo.sockets ? topo.sockets * topo.cores * topo.threads : n);
      if (!max) bad(`cannot parse CPU topology '${args[i]}'`);
      vcpus = max;
      if (n !== undefined && n !== max) def.vcpuCurrent = n;
    } else if (arg === '-uuid') def.uuid = value();
    else if (/^-(hd[a-d]|sd[a-z]|fd[ab])$/.test(arg) || arg === '-cdrom') {
      const v = value();
      const cdrom = arg === '-cdrom';
      const disk: Obj = { type: 'file', device: cdrom ? 'cdrom' : arg.startsWith('-fd') ? 'floppy' : 'disk' };
      if (v.startsWith('/dev/')) {
        disk.type = 'block';
        disk.source = { dev: v };
      } else if (/^(nbd|rbd|gluster|iscsi)[:+]/.test(v)) networkDisk(disk, v);
      else disk.source = { file: v };
      const bus = cdrom || arg.startsWith('-hd') ? 'ide' : arg.startsWith('-fd') ? 'fdc' : 'scsi';
      disk.target = { dev: cdrom ? 'hdc' : arg.slice(1), bus };
      if (cdrom) disk.readonly = true;
      disks.push(disk);
    } else if (arg === '-drive') {
      const disk = driveDisk(value(), virtioDisks);
      if (disk.target.bus === 'virtio') virtioDisks++;
      disks.push(disk);
    } else if (arg === '-no-acpi') delete features.acpi;
    else if (arg === '-no-reboot') def.on_reboot = 'destroy';
    else if (arg === '-no-kvm') def.type = 'qemu';
    else if (arg === '-enable-kvm') def.type = 'kvm';
    else if (arg === '-nographic') nographics = true;
    else if (arg === '-display') {
      if (value() === 'none') nographics = true;
    } else if (arg === '-full-screen') fullscreen = true;
    else if (arg === '-localtime') def.clockOffset = 'localtime';
    else if (arg === '-kernel') os.kernel = value();
    else if (arg === '-initrd') os.initrd = value();
    else if (arg === '-append') os.cmdline = value();
    else if (arg === '-dtb') os.dtb = value();
    else if (arg === '-bios') os.loader = { value: value() };
    else if (arg === '-boot') {
      const v = value();
      const order = v.includes(',')
        ? (v
            .split(',')
            .find((t) => t.startsWith('order='))
            ?.slice(6) ?? '')
        : v;
      const devs = { a: 'fd', c: 'hd', d: 'cdrom', n: 'network' } as Record<string, string>;
      const boot = [...order].flatMap((c) => (devs[c] ? [{ dev: devs[c] }] : []));
      if (boot.length) os.boot = boot;
      for (const t of v.split(',')) {
        if (t === 'menu=on') os.bootmenu = { enable: 'yes' };
        else if (t.startsWith('reboot-timeout=')) {
          const n = Math.min(65535, Math.max(-1, int(t.slice(15), 'reboot-timeout value')));
          os.bios = { rebootTimeout: n };
        }
      }
    } else if (arg === '-name') {
      const v = value();
      const p = v.indexOf(',process=');
      const name = p < 0 ? v : v.slice(0, p);
      if (name) def.name = name;
    } else if (arg === '-M' || arg === '-machine') {
      const [first, ...rest] = value().split(',');
      const type = first!.startsWith('type=') ? first!.slice(5) : first!;
      const params = type.includes('=') ? [first!, ...rest] : rest;
      if (!type.includes('=')) os.type.machine = type;
      for (const p of params) {
        if (p.startsWith('dump-guest-core='))
          def.dumpCore = p.slice(16) === 'on' ? 'on' : p.slice(16) === 'off' ? 'off' : undefined;
        else if (p === 'mem-merge=off') def.nosharepages = true;
        else if (p === 'accel=kvm') {
          def.type = 'kvm';
          features.pae = true;
        }
      }
    } else if (arg === '-serial' || arg === '-parallel') {
      const v = value();
      if (v !== 'none') {
        const list = arg === '-serial' ? serials : parallels;
        list.push({ ...chardevSource(v), target: { port: list.length } });
      }
    } else if (arg === '-usbdevice') {
      const v = value();
      if (v === 'tablet' || v === 'mouse' || v === 'keyboard') inputs.push({ type: v, bus: 'usb' });
      else if (v.startsWith('disk:')) {
        const path = v.slice(5);
        disks.push({
          type: path.startsWith('/dev/') ? 'block' : 'file',
          device: 'disk',
          source: path.startsWith('/dev/') ? { dev: path } : { file: path },
          target: { dev: 'sda', bus: 'usb' },
        });
      } else {
        const m = /^host:(?:([0-9a-fA-F]+):([0-9a-fA-F]+)|(\d+)\.(\d+))$/.exec(v);
        if (!m) bad(`unknown USB device syntax '${v}'`);
        const source = m[1]
          ? { vendor: { id: `0x${m[1].padStart(4, '0')}` }, product: { id: `0x${m[2]!.padStart(4, '0')}` } }
          : { address: { bus: Number(m[3]), device: Number(m[4]) } };
        hostdevs.push({ mode: 'subsystem', type: 'usb', managed: 'no', source });
      }
    } else if (arg === '-net') {
      const v = value();
      if (!v.startsWith('nic') && v !== 'none') nets.push(importNet(v, nics));
    } else if (arg === '-pcidevice') {
      const v = value();
      const m = /^host=([0-9a-fA-F]+):([0-9a-fA-F]+)\.([0-9a-fA-F]+)$/.exec(v);
      if (!m) bad(`unknown PCI device syntax '${v}'`);
      hostdevs.push({
        mode: 'subsystem',
        type: 'pci',
        managed: 'yes',
        source: {
          address: {
            domain: 0,
            bus: int(m[1], 'PCI device bus', 16),
            slot: int(m[2], 'PCI device slot', 16),
            function: int(m[3], 'PCI device function', 16),
          },
        },
      });
    } else if (arg === '-soundhw') {
      for (const s of value().split(',')) {
        const model = s.startsWith('hda')
          ? 'ich6'
          : ['pcspk', 'sb16', 'es1370', 'ac97'].find((m) => s.startsWith(m));
        if (model) sounds.push({ model });
      }
    } else if (arg === '-watchdog') {
      const v = value();
      if (['i6300esb', 'ib700', 'diag288'].includes(v)) watchdog = { model: v, action: 'reset' };
    } else if (arg === '-watchdog-action' && watchdog) watchdog.action = value();
    else if (arg === '-bootloader') def.bootloader = value();
    else if (arg === '-vmwarevga') video = 'vmvga';
    else if (arg === '-std-vga') video = 'vga';
    else if (arg === '-vga') {
      const v = value();
      const map: Record<string, string> = {
        std: 'vga',
        cirrus: 'cirrus',
        vmware: 'vmvga',
        xenfb: 'xen',
        qxl: 'qxl',
        virtio: 'virtio',
      };
      if (v === 'none') video = undefined;
      else if (map[v]) video = map[v];
      else bad(`unknown video adapter type '${v}'`);
    } else if (arg === '-cpu') importCpu(def, features, value(), os.type);
    else if (arg === '-usb') controllers = [{ type: 'usb', index: 0 }];
    else if (arg === '-global' && /^PIIX4_PM\.disable_s[34]=/.test(args[i + 1] ?? '')) {
      const v = value();
      const which = v[18] === '3' ? 'suspend-to-mem' : 'suspend-to-disk';
      const flag = v.slice(v.indexOf('=') + 1);
      if (flag !== '0' && flag !== '1') {
        throw virReportError(
          'CONFIG_UNSUPPORTED',
          'qemu',
          `invalid value for disable_s${v[18]} parameter: '${flag}'`,
        );
      }
      def.pm = { ...def.pm, [which]: { enabled: flag === '0' ? 'yes' : 'no' } };
    } else if (['-S', '-nodefaults', '-nodefconfig', '-no-user-config'].includes(arg)) {
      // always added by libvirt
    } else if (['-monitor', '-pidfile', '-incoming', '-domid'].includes(arg)) value();
    else if (arg === '-device' && args[i + 1]?.startsWith('virtio-balloon')) {
      value();
      memballoon = { model: 'virtio' };
    } else {
      warnings.push(`unknown QEMU argument '${args[i]}', adding to the qemu namespace`);
      qemuArgs.push({ value: args[i] });
    }
  }
  if (!nographics && (graphics.length === 0 || haveSdl)) {
    const sdl: Obj = { type: 'sdl' };
    if (env.has('DISPLAY')) sdl.display = env.get('DISPLAY');
    if (env.has('XAUTHORITY')) sdl.xauth = env.get('XAUTHORITY');
    if (fullscreen) sdl.fullscreen = 'yes';
    graphics.push(sdl);
  }
  const qemuEnv: Obj[] = [];
  for (const [name, value] of argv.env) {
    if (KNOWN_ENV.has(name)) continue;
    warnings.push(`unknown environment variable '${name}', adding to the qemu namespace`);
    qemuEnv.push({ name, value });
  }
  // Old-style monitor list for rbd disks: CEPH_ARGS=-m host1[:port1][,host2…] applies to the first.
  const ceph = env.get('CEPH_ARGS');
  if (ceph !== undefined) {
    const rbd = disks.find((d) => d.source?.protocol === 'rbd');
    if (!rbd) bad('CEPH_ARGS was set without an rbd disk');
    if (!ceph.startsWith('-m ')) bad(`could not parse CEPH_ARGS '${ceph}'`);
    rbd.source.host = hostList(ceph.slice(3).split(','));
  }
  for (const d of disks) {
    const secret = d.source?.auth?.secret;
    if (secret?.type === 'ceph') {
      warnings.push(
        `the rbd key of '${d.source.name}' is not kept: store it in a libvirt secret with usage '${secret.usage}'`,
      );
    }
  }
  // Assemble in the schema's shape.
  const out: Obj = { type: def.type };
  if (def.name) out.name = def.name;
  if (def.uuid) out.uuid = def.uuid;
  out.memory = { ...(def.dumpCore ? { dumpCore: def.dumpCore } : {}), value: memory };
  out.currentMemory = { value: memory };
  if (def.nosharepages) out.memoryBacking = { nosharepages: true };
  out.vcpu = { ...(def.vcpuCurrent !== undefined ? { current: def.vcpuCurrent } : {}), value: vcpus };
  if (def.bootloader) out.bootloader = def.bootloader;
  if (!os.boot && !os.kernel) os.boot = [{ dev: 'hd' }];
  out.os = os;
  if (Object.keys(features).length) out.features = features;
  if (def.cpu) out.cpu = def.cpu;
  out.clock = { offset: def.clockOffset ?? 'utc', ...(def.timers ? { timer: def.timers } : {}) };
  out.on_poweroff = 'destroy';
  out.on_reboot = def.on_reboot ?? 'restart';
  out.on_crash = 'destroy';
  if (def.pm) out.pm = def.pm;
  if (disks.length) devices.disk = disks;
  if (controllers) devices.controller = controllers;
  if (nets.length) devices.interface = nets;
  if (serials.length) devices.serial = serials;
  if (parallels.length) devices.parallel = parallels;
  if (inputs.length) devices.input = inputs;
  if (graphics.length) devices.graphics = graphics;
  if (sounds.length) devices.sound = sounds;
  if (graphics.length && video) devices.video = [{ model: { type: video } }];
  if (hostdevs.length) devices.hostdev = hostdevs;
  if (watchdog) devices.watchdog = [watchdog];
  if (def.panicHyperv) devices.panic = [{ model: 'hyperv' }];
  // libvirt's import: no -device virtio-balloon means the guest has none.
  devices.memballoon = memballoon ?? { model: 'none' };
  out.devices = devices;
  if (qemuArgs.length || qemuEnv.length) {
    out.qemuCommandline = {
      ...(qemuArgs.length ? { arg: qemuArgs } : {}),
      ...(qemuEnv.length ? { env: qemuEnv } : {}),
    };
  }
  if (legacyVgaHoldsSlot2(out as DomainDef, argv.args)) pinPciLayout(out as DomainDef);
  return { def: out as DomainDef, warnings };
}

function importNet(val: string, nics: string[]): Obj {
  const comma = val.indexOf(',');
  const kw = comma < 0 ? [] : parseKeywords(val.slice(comma + 1));
  const net: Obj = {
    type: val.startsWith('socket') ? 'client' : val.startsWith('user') ? 'user' : 'ethernet',
  };
  let vlan = 0;
  for (const [k, v] of kw) {
    if (k === 'vlan') vlan = int(v, 'vlan');
    else if (net.type === 'ethernet' && k === 'script' && v) net.script = { path: v };
    else if (net.type === 'ethernet' && k === 'ifname') net.target = { dev: v };
  }
  const nic =
    nics.find((n) => Number(/vlan=(\d+)/.exec(n)?.[1] ?? Number.NaN) === vlan) ??
    (vlan === 0 ? nics[0] : undefined);
  if (!nic) bad(`cannot find NIC definition for vlan ${vlan}`);
  if (nic.startsWith('nic,')) {
    for (const [k, v] of parseKeywords(nic.slice(4))) {
      if (k === 'macaddr') {
        if (!v || !/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(v)) bad(`unable to parse mac address '${v}'`);
        net.mac = { address: v.toLowerCase() };
      } else if (k === 'model') net.model = { type: v };
      else if (k === 'vhost') net.driver = { name: v === 'off' ? 'qemu' : 'vhost' };
    }
  }
  const ordered: Obj = { type: net.type };
  for (const k of ['mac', 'script', 'target', 'model', 'driver']) if (net[k]) ordered[k] = net[k];
  return ordered;
}

function importCpu(def: Obj, features: Obj, val: string, ostype: Obj): void {
  const tokens = val.split(',');
  if (tokens.some((t) => t === '')) bad(`unknown CPU syntax '${val}'`);
  const [model, ...rest] = tokens;
  const cpu: Obj = def.cpu ?? {};
  if (model !== 'qemu32' && model !== 'qemu64') {
    cpu.match = 'exact';
    cpu.model = { value: model };
  }
  for (const t of rest) {
    if (t.startsWith('+') || t.startsWith('-')) {
      const name = t.slice(1);
      const on = t[0] === '+';
      if (name === 'kvmclock') def.timers = [{ name: 'kvmclock', present: on ? 'yes' : 'no' }];
      else if (name === 'kvm_pv_eoi') features.apic = { eoi: on ? 'on' : 'off' };
      else {
        cpu.match ??= 'exact';
        if (model !== 'qemu32' && model !== 'qemu64') cpu.model ??= { value: model };
        (cpu.feature ??= []).push({ policy: on ? 'require' : 'disable', name });
      }
    } else if (t === 'hv_crash') {
      def.panicHyperv = true;
    } else if (t.startsWith('hv_')) {
      const [name, v] = t.slice(3).split('=');
      const hv: Obj = (features.hyperv ??= {});
      if (name === 'spinlocks')
        hv.spinlocks = {
          state: 'on',
          retries: Math.max(0xfff, int(v, 'HyperV spinlock retry count', v?.startsWith('0x') ? 16 : 10)),
        };
      else if (name === 'vendor_id') hv.vendor_id = { state: 'on', value: v };
      else hv[name!] = { state: 'on' };
    } else if (t === 'kvm=off') features.kvm = { hidden: { state: 'on' } };
  }
  if (cpu.match || cpu.topology) def.cpu = cpu;
  if (ostype.arch === 'x86_64' && model === 'qemu32') ostype.arch = 'i686';
}
