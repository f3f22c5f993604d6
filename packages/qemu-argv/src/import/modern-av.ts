/**
 * Audio backends (`-audiodev`), graphics (`-vnc`, `-spice`, `-display`, `-k`), video adapters,
 * sound cards, inputs and watchdogs. The reverse of ../argv/sections/av*.ts.
 */

import { virtioOptions } from './modern-storage.js';
import {
  type ModernState,
  num,
  type Obj,
  type Opt,
  onOff,
  placeDevice,
  propsOf,
  push,
  yesNo,
} from './modern-util.js';
import { parseKeywords } from './split.js';

const AUDIO_TYPE: Record<string, string> = { pa: 'pulseaudio', wav: 'file' };

function audioIO(type: string, io: Obj | undefined): Obj | undefined {
  if (!io) return undefined;
  const out: Obj = {};
  if (io['mixing-engine'] !== undefined) out.mixingEngine = yesNo(io['mixing-engine']);
  if (io['fixed-settings'] !== undefined) out.fixedSettings = yesNo(io['fixed-settings']);
  if (io.voices !== undefined) out.voices = io.voices;
  if (io['buffer-length'] !== undefined) out.bufferLength = io['buffer-length'];
  if (io.dev !== undefined) out.dev = io.dev;
  if (io['buffer-count'] !== undefined) out.bufferCount = io['buffer-count'];
  if (io['server-name'] !== undefined) out.serverName = io['server-name'];
  if (io['client-name'] !== undefined) out.clientName = io['client-name'];
  if (io['connect-ports'] !== undefined) out.connectPorts = io['connect-ports'];
  if (io['exact-name'] !== undefined) out.exactName = yesNo(io['exact-name']);
  if (io['try-poll'] !== undefined) out.tryPoll = yesNo(io['try-poll']);
  if (io.name !== undefined) out.name = io.name;
  if (io['stream-name'] !== undefined) out.streamName = io['stream-name'];
  if (io.latency !== undefined) out.latency = io.latency;
  const settings: Obj = {};
  if (io.frequency !== undefined) settings.frequency = io.frequency;
  if (io.channels !== undefined) settings.channels = io.channels;
  if (io.format !== undefined) settings.format = io.format;
  if (Object.keys(settings).length) out.settings = settings;
  void type;
  return Object.keys(out).length ? out : undefined;
}

export function importAudiodev(s: ModernState, opt: Opt): boolean {
  const p = propsOf(opt);
  const m = /^audio(\d+)$/.exec(String(p.id));
  if (!m) return false;
  s.used.add(`-audiodev ${p.id}`);
  const type = AUDIO_TYPE[p.driver] ?? p.driver;
  const a: Obj = { id: Number(m[1]), type };
  if (p['timer-period'] !== undefined) a.timerPeriod = p['timer-period'];
  if (p['try-mmap'] !== undefined) a.tryMMap = yesNo(p['try-mmap']);
  if (p.exclusive !== undefined) a.exclusive = yesNo(p.exclusive);
  if (p['dsp-policy'] !== undefined) a.dspPolicy = p['dsp-policy'];
  if (p.server !== undefined) a.serverName = p.server;
  if (p.path !== undefined) a.path = p.path;
  if (type === 'sdl' && s.env.has('SDL_AUDIODRIVER')) a.driver = s.env.get('SDL_AUDIODRIVER');
  const input = audioIO(type, p.in);
  const output = audioIO(type, p.out);
  if (input) a.input = input;
  if (output) a.output = output;
  push(s, 'audio', a);
  return true;
}

/** A device's audio backend; the first one (`audio1`) is every device's default. */
function audioRef(v: string | undefined): Obj | undefined {
  const m = /^audio(\d+)$/.exec(v ?? '');
  return m && m[1] !== '1' ? { id: Number(m[1]) } : undefined;
}

/** `-vnc [addr]:display[,…]` / `unix:path` / `none`. */
export function importVnc(s: ModernState, value: string): boolean {
  const g: Obj = { type: 'vnc' };
  const items = parseKeywords(value);
  const first = items[0]?.[0] === 'vnc' ? (items[0]?.[1] ?? '') : (items[0]?.[0] ?? '');
  if (first.startsWith('unix:')) {
    const path = first.slice(5);
    // libvirt's automatic socket in the domain's directory is the default listen.
    g.listens = [{ type: 'socket', ...(/\/domain-[^/]+\/vnc\.sock$/.test(path) ? {} : { socket: path }) }];
  } else if (first === 'none') g.listens = [{ type: 'none' }];
  else {
    const m = /^(?:\[([^\]]*)\]|([^:]*)):(\d+)$/.exec(first);
    if (!m) return false;
    const addr = m[1] ?? m[2];
    const port = Number(m[3]) + 5900;
    if (port === 5900 && !s.def.vncExplicit) {
      g.port = -1;
      g.autoport = 'yes';
    } else {
      g.port = port;
      g.autoport = 'no';
    }
    g.listens = [{ type: 'address', ...(addr && addr !== '127.0.0.1' ? { address: addr } : {}) }];
  }
  for (const [k, v] of items.slice(1)) {
    if (k === 'websocket') g.websocket = num(v, 'websocket');
    else if (k === 'share') g.sharePolicy = v;
    else if (k === 'password') g.passwd = '';
    else if (k === 'power-control') g.powerControl = yesNo(v);
    else if (k === 'audiodev') {
      const a = audioRef(v);
      if (a) g.audio = a;
    }
  }
  push(s, 'graphics', g);
  return true;
}

export function importSpice(s: ModernState, value: string): boolean {
  const g: Obj = { type: 'spice' };
  const channels: Obj[] = [];
  let port: number | undefined;
  let tlsPort: number | undefined;
  let addr: string | undefined;
  let unix: string | undefined;
  const items = parseKeywords(value);
  items.forEach(([k, v], i) => {
    if (i === 0 && k === 'unix' && v === undefined) unix = '';
    else if (k === 'addr' && unix !== undefined) unix = v;
    else if (k === 'port') port = num(v, 'port');
    else if (k === 'tls-port') tlsPort = num(v, 'tls-port');
    else if (k === 'addr') addr = v;
    else if (k === 'agent-mouse') g.mouse = { mode: v === 'on' ? 'client' : 'server' };
    else if (k === 'tls-channel' || k === 'plaintext-channel') {
      const mode = k === 'tls-channel' ? 'secure' : 'insecure';
      if (v === 'default') g.defaultMode = mode;
      else channels.push({ name: v, mode });
    } else if (k === 'image-compression') g.image = { compression: v };
    else if (k === 'jpeg-wan-compression') g.jpeg = { compression: v };
    else if (k === 'zlib-glz-wan-compression') g.zlib = { compression: v };
    else if (k === 'playback-compression') g.playback = { compression: v };
    else if (k === 'streaming-video') g.streaming = { mode: v };
    else if (k === 'disable-copy-paste' && v === 'on') g.clipboard = { copypaste: 'no' };
    else if (k === 'disable-agent-file-xfer' && v === 'on') g.filetransfer = { enable: 'no' };
    else if (k === 'gl' && v === 'on') g.gl = { ...g.gl, enable: 'yes' };
    else if (k === 'rendernode') g.gl = { ...g.gl, rendernode: v };
    else if (k === 'disable-ticketing') g.noTicketing = true;
  });
  if (unix !== undefined) {
    g.listens = [
      { type: 'socket', ...(unix && !/\/domain-[^/]+\/spice\.sock$/.test(unix) ? { socket: unix } : {}) },
    ];
  } else if (port === 0 && tlsPort === undefined) {
    g.listens = [{ type: 'none' }];
  } else {
    const autoport = (port === undefined || port === 5901) && (tlsPort === undefined || tlsPort === 5902);
    if (autoport) g.autoport = 'yes';
    else {
      if (port !== undefined) g.port = port;
      if (tlsPort !== undefined) g.tlsPort = tlsPort;
      g.autoport = 'no';
    }
    g.listens = [{ type: 'address', ...(addr && addr !== '127.0.0.1' ? { address: addr } : {}) }];
  }
  if (!g.noTicketing) g.passwd = '';
  delete g.noTicketing;
  if (channels.length) g.channel = channels;
  push(s, 'graphics', g);
  return true;
}

export function importDisplay(s: ModernState, value: string): boolean {
  const items = parseKeywords(value);
  const kind = items[0]?.[0];
  const m = new Map(items.slice(1));
  if (kind === 'none') return true;
  if (kind === 'sdl') {
    const g: Obj = { type: 'sdl' };
    if (s.env.has('DISPLAY')) g.display = s.env.get('DISPLAY');
    if (s.env.has('XAUTHORITY')) g.xauth = s.env.get('XAUTHORITY');
    if (s.def.fullScreen) g.fullscreen = 'yes';
    if (m.has('gl')) g.gl = { enable: m.get('gl') === 'on' ? 'yes' : 'no' };
    push(s, 'graphics', g);
    return true;
  }
  if (kind === 'egl-headless') {
    const g: Obj = { type: 'egl-headless' };
    if (m.has('rendernode')) g.gl = { rendernode: m.get('rendernode') };
    push(s, 'graphics', g);
    return true;
  }
  if (kind === 'dbus') {
    const g: Obj = { type: 'dbus' };
    if (m.get('p2p') === 'on') g.p2p = 'yes';
    else if (m.has('addr') && !/\/dbus\/[^/]+-dbus\.sock$/.test(m.get('addr') ?? ''))
      g.address = m.get('addr');
    if (m.has('gl')) g.gl = { enable: m.get('gl') === 'on' ? 'yes' : 'no' };
    if (m.has('rendernode')) g.gl = { ...g.gl, rendernode: m.get('rendernode') };
    // Unlike VNC and SPICE, D-Bus gets no audio by default: any `audiodev` was asked for.
    const a = /^audio(\d+)$/.exec(m.get('audiodev') ?? '');
    if (a) g.audio = { id: Number(a[1]) };
    push(s, 'graphics', g);
    return true;
  }
  return false;
}

const VIDEO: Record<string, [type: string, primary: boolean]> = {
  VGA: ['vga', true],
  'cirrus-vga': ['cirrus', true],
  'vmware-svga': ['vmvga', true],
  'qxl-vga': ['qxl', true],
  qxl: ['qxl', false],
  'bochs-display': ['bochs', true],
  ramfb: ['ramfb', true],
  'virtio-vga': ['virtio', true],
  'virtio-vga-gl': ['virtio', true],
  'virtio-gpu-pci': ['virtio', false],
  'virtio-gpu-gl-pci': ['virtio', false],
  'virtio-gpu-ccw': ['virtio', false],
  'virtio-gpu-device': ['virtio', false],
};

export function importVideo(s: ModernState, p: Obj): boolean {
  const entry = VIDEO[String(p.driver)];
  if (!entry) return false;
  const [type, primary] = entry;
  const model: Obj = { type };
  if (primary) model.primary = 'yes';
  if (p.max_outputs !== undefined) model.heads = p.max_outputs;
  if (type === 'qxl') {
    if (p.ram_size !== undefined) model.ram = p.ram_size / 1024;
    if (p.vram_size !== undefined) model.vram = p.vram_size / 1024;
    if (p.vram64_size_mb) model.vram64 = p.vram64_size_mb * 1024;
    if (p.vgamem_mb) model.vgamem = p.vgamem_mb * 1024;
  } else if (p.vgamem_mb !== undefined) model.vram = p.vgamem_mb * 1024;
  else if (p.vgamem !== undefined) model.vram = p.vgamem / 1024;
  if (String(p.driver).includes('-gl') || p.virgl !== undefined) {
    model.acceleration = { accel3d: String(p.driver).includes('-gl') || p.virgl === true ? 'yes' : 'no' };
  }
  if (p.xres !== undefined || p.yres !== undefined) model.resolution = { x: p.xres, y: p.yres };
  const v: Obj = { model };
  const drv: Obj = {};
  virtioOptions(drv, p);
  if (Object.keys(drv).length) v.driver = drv;
  placeDevice(v, p);
  push(s, 'video', v);
  return true;
}

const SOUND: Record<string, string> = {
  ES1370: 'es1370',
  AC97: 'ac97',
  'intel-hda': 'ich6',
  'usb-audio': 'usb',
  'ich9-intel-hda': 'ich9',
  sb16: 'sb16',
};
const CODEC: Record<string, string> = {
  'hda-duplex': 'duplex',
  'hda-micro': 'micro',
  'hda-output': 'output',
};

export function importSound(s: ModernState, p: Obj): boolean {
  const driver = String(p.driver);
  if (SOUND[driver]) {
    const snd: Obj = { model: SOUND[driver], soundId: p.id };
    const a = audioRef(p.audiodev);
    if (a) snd.audio = a;
    placeDevice(snd, p);
    push(s, 'sound', snd);
    return true;
  }
  if (CODEC[driver]) {
    const bus = String(p.bus ?? '').replace(/\.0$/, '');
    const list: Obj[] = s.devices.sound ?? [];
    const snd = list.find((x) => x.soundId === bus) ?? list[list.length - 1];
    if (!snd) return false;
    (snd.codecs ??= []).push(CODEC[driver]);
    const a = audioRef(p.audiodev);
    if (a) snd.audio = a;
    return true;
  }
  return false;
}

/** Sound codecs: a lone `duplex` is the default (no `<codec>`). */
export function finishSound(s: ModernState): void {
  for (const snd of s.devices.sound ?? []) {
    const codecs: string[] = snd.codecs ?? [];
    delete snd.codecs;
    delete snd.soundId;
    if (codecs.length > 1 || (codecs.length === 1 && codecs[0] !== 'duplex')) {
      snd.codec = codecs.map((type) => ({ type }));
    }
  }
}

const USB_INPUT: Record<string, string> = {
  'usb-mouse': 'mouse',
  'usb-tablet': 'tablet',
  'usb-kbd': 'keyboard',
};
const VIRTIO_INPUT: Record<string, string> = {
  'virtio-mouse': 'mouse',
  'virtio-tablet': 'tablet',
  'virtio-keyboard': 'keyboard',
  'virtio-input-host': 'passthrough',
};

export function importInput(s: ModernState, p: Obj): boolean {
  const driver = String(p.driver);
  if (USB_INPUT[driver]) {
    push(s, 'input', placeDevice({ type: USB_INPUT[driver], bus: 'usb' }, p));
    return true;
  }
  const base = driver.replace(/-(pci|ccw|device)(-(non-)?transitional)?$/, '');
  if (VIRTIO_INPUT[base]) {
    const input: Obj = { type: VIRTIO_INPUT[base], bus: 'virtio' };
    if (p.evdev !== undefined) input.source = { evdev: p.evdev };
    const drv: Obj = {};
    virtioOptions(drv, p);
    if (Object.keys(drv).length) input.driver = drv;
    if (driver.endsWith('-non-transitional')) input.model = 'virtio-non-transitional';
    else if (driver.endsWith('-transitional')) input.model = 'virtio-transitional';
    push(s, 'input', placeDevice(input, p));
    return true;
  }
  return false;
}

export function importEvdev(s: ModernState, opt: Opt): void {
  const p = propsOf(opt, 'qom-type');
  const src: Obj = { dev: p.evdev };
  if (p.repeat !== undefined) src.repeat = onOff(p.repeat);
  if (p.grab_all === true) src.grab = 'all';
  if (p['grab-toggle'] !== undefined) src.grabToggle = p['grab-toggle'];
  const input: Obj = { type: 'evdev', source: src };
  const alias = typeof p.id === 'string' && p.id.startsWith('ua-') ? { name: p.id } : undefined;
  if (alias) input.alias = alias;
  push(s, 'input', input);
}

const WATCHDOGS = new Set(['i6300esb', 'ib700', 'diag288', 'itco']);

export function importWatchdog(s: ModernState, p: Obj): boolean {
  if (!WATCHDOGS.has(String(p.driver))) return false;
  push(s, 'watchdog', placeDevice({ model: p.driver }, p));
  return true;
}
