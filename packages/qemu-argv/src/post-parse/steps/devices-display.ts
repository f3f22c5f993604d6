/**
 * Graphics, video and audio: the listen elements and port attributes libvirt's graphics parser
 * derives, the primary video card, default video models and memory sizes, the implicit video card
 * of a graphical guest, and the default audio backend (qemuDomainDefAddDefaultAudioBackend).
 */
import type { DomainDef, DomainDevices } from '@qvirt/core';
import { hasFlag } from '../../caps/qemu-caps.js';
import type { QemuContext } from '../../context.js';
import { devicesOf, isX86 } from '../../domain-util.js';

type Video = NonNullable<DomainDevices['video']>[number];
type GraphicsDef = NonNullable<DomainDevices['graphics']>[number];
type GraphicsListenDef = { type?: string; address?: string; network?: string; socket?: string };
type G = GraphicsDef & {
  port?: number;
  tlsPort?: number;
  autoport?: string;
  listen?: string;
  socket?: string;
  listens?: GraphicsListenDef[];
};

const SPICE_CHANNEL_ORDER = [
  'main',
  'display',
  'inputs',
  'cursor',
  'playback',
  'record',
  'smartcard',
  'usbredir',
];

/** virDomainGraphicsListensParseXML: the `listen`/`socket` attributes become the first `<listen>`. */
function normalizeListens(g: G): void {
  const listens = g.listens ?? [];
  const socketCompat = g.type === 'vnc' ? g.socket : undefined;
  const addressCompat = g.listen;
  const first = listens[0];
  if (first?.type === 'address' && !first.address && addressCompat) first.address = addressCompat;
  if (first?.type === 'socket' && !first.socket && g.socket) first.socket = g.socket;
  for (const l of listens) {
    if (l.address === '' || (l.address && l.type !== 'address')) delete l.address;
    if (l.type === 'network' && !l.network) delete l.network;
  }
  let fresh: GraphicsListenDef;
  if (socketCompat) fresh = { type: 'socket', socket: socketCompat };
  else {
    fresh = { type: 'address' };
    if (addressCompat) fresh.address = addressCompat;
  }
  if (listens.length === 0) listens.push(fresh);
  else if ((first!.type === 'address' || first!.type === 'network') && fresh.type === 'socket')
    listens[0] = fresh;
  g.listens = listens;
}

/** The attributes libvirt's virDomainGraphicsDefFormat prints, from the parsed state. */
function graphicsDefaults(g: G): void {
  if (g.type === 'vnc') {
    normalizeListens(g);
    let port = g.port ?? 0;
    let autoport = g.port === undefined || g.port === -1;
    if (g.port === -1) port = 0;
    if (g.autoport !== undefined) {
      if (g.autoport === 'yes') autoport = true;
      else if (g.autoport === 'no') autoport = false;
      if (autoport) port = 0;
    }
    const first = g.listens![0]!;
    delete g.port;
    delete g.autoport;
    delete g.listen;
    delete g.socket;
    if (first.type === 'socket') {
      if (first.socket) g.socket = first.socket;
    } else if (first.type === 'address' || first.type === 'network') {
      if (port && !autoport) g.port = port;
      else if (autoport) g.port = -1;
      g.autoport = autoport ? 'yes' : 'no';
      if (first.type === 'address' && first.address) g.listen = first.address;
    }
  } else if (g.type === 'spice') {
    normalizeListens(g);
    const s = g as G & { channel?: Array<{ name?: string; mode?: string }>; defaultMode?: string };
    let port = g.port ?? 0;
    let tlsPort = g.tlsPort ?? 0;
    let autoport = g.autoport === 'yes';
    if (port === -1 && tlsPort === -1) autoport = true;
    if (autoport) {
      port = 0;
      tlsPort = 0;
    }
    const first = g.listens![0]!;
    // virDomainDefPostParseGraphics: no ports and no autoport means listen type none.
    if (first.type === 'address' && port === 0 && tlsPort === 0 && !autoport) {
      delete first.address;
      first.type = 'none';
    }
    delete g.port;
    delete g.tlsPort;
    delete g.autoport;
    delete g.listen;
    if (first.type === 'address' || first.type === 'network') {
      if (port) g.port = port;
      if (tlsPort) g.tlsPort = tlsPort;
      g.autoport = autoport ? 'yes' : 'no';
      if (first.type === 'address' && first.address) g.listen = first.address;
    }
    if (s.defaultMode === 'any') delete s.defaultMode;
    if (s.channel?.length) {
      const byName = new Map<string, string>();
      for (const c of s.channel) if (c.name) byName.set(c.name, c.mode ?? 'any');
      s.channel = SPICE_CHANNEL_ORDER.filter((n) => byName.has(n) && byName.get(n) !== 'any').map((n) => ({
        name: n,
        mode: byName.get(n)!,
      }));
      if (!s.channel.length) delete s.channel;
    }
  } else if (g.type === 'rdp') {
    normalizeListens(g);
    let port = g.port ?? 0;
    let autoport = g.port === undefined || g.port === -1;
    if (g.autoport === 'yes') autoport = true;
    if (autoport) port = 0;
    const first = g.listens![0]!;
    delete g.port;
    delete g.autoport;
    delete g.listen;
    if (port) g.port = port;
    else if (autoport) g.port = 0;
    if (autoport) g.autoport = 'yes';
    if (first.type === 'address' && first.address) g.listen = first.address;
  }
}

/** Graphics defaults for every `<graphics>`. */
export function graphicsPostParse(def: DomainDef): void {
  for (const g of def.devices?.graphics ?? []) {
    graphicsDefaults(g as G);
    // virDomainGraphicsAuthDefFormatAttr writes the expiry (and `connected`) only with a password
    const auth = g as { passwd?: string; passwdValidTo?: string; connected?: string };
    if (auth.passwd === undefined) {
      delete auth.passwdValidTo;
      delete auth.connected;
    }
  }
}

/** At parse time a video card with `primary='yes'` moves to the front. */
export function videoParseOrder(def: DomainDef): void {
  const videos = def.devices?.video;
  if (!videos || videos.length < 2) return;
  const out: Video[] = [];
  for (const v of videos) {
    if (v.model?.primary === 'yes') out.unshift(v);
    else out.push(v);
  }
  def.devices!.video = out;
}

/** For a graphical guest without a video card, libvirt adds one of the default model. */
export function implicitVideo(def: DomainDef): void {
  const devices = def.devices;
  if (!devices?.graphics?.length || devices.video?.length) return;
  devices.video = [{ model: {} }];
}

function defaultVideoType(def: DomainDef, ctx: QemuContext): string | undefined {
  if (!isX86(def)) return undefined;
  if (hasFlag(ctx.caps, 'cirrus-vga')) return 'cirrus';
  if (hasFlag(ctx.caps, 'VGA')) return 'vga';
  return undefined;
}

function defaultRam(type: string): number {
  switch (type) {
    case 'vga':
    case 'cirrus':
    case 'vmvga':
    case 'bochs':
      return 16 * 1024;
    case 'xen':
      return 4 * 1024;
    case 'qxl':
      return 64 * 1024;
    default:
      return 0;
  }
}

const roundPow2 = (n: number): number => (n <= 0 ? 0 : 2 ** Math.ceil(Math.log2(n)));

function videoPostParse(def: DomainDef, ctx: QemuContext, v: Video): void {
  const model = (v.model ??= {});
  if (model.primary !== undefined && model.primary !== 'yes') delete model.primary;
  if (model.type === undefined || model.type === 'default') {
    const t = defaultVideoType(def, ctx);
    if (t) model.type = t;
  }
  const type = model.type ?? 'default';
  if (type === 'qxl' && !model.vgamem) model.vgamem = 16 * 1024;
  if (!model.ram && type === 'qxl') model.ram = defaultRam(type);
  if (!model.vram) model.vram = defaultRam(type);
  model.ram = roundPow2(model.ram ?? 0);
  model.vram = roundPow2(model.vram ?? 0);
  for (const k of ['ram', 'vram', 'vram64', 'vgamem', 'heads'] as const) if (!model[k]) delete model[k];
}

/** The per-device part for video cards: heads default to one, and QEMU's model defaults. */
export function videoDefaults(def: DomainDef, ctx: QemuContext): void {
  for (const v of def.devices?.video ?? []) {
    const model = (v.model ??= {});
    if (model.heads === undefined) model.heads = 1;
    videoPostParse(def, ctx, v);
  }
}

/** virDomainDefPostParseVideo: the first card is the primary one (and a `none` card is bare). */
export function primaryVideo(def: DomainDef, ctx: QemuContext): void {
  const first = def.devices?.video?.[0];
  if (!first) return;
  if (first.model?.type === 'none') {
    def.devices!.video![0] = { model: { type: 'none' }, ...(first.alias ? { alias: first.alias } : {}) };
    return;
  }
  const model = (first.model ??= {});
  if (model.heads === undefined) model.heads = 1;
  model.primary = 'yes';
  videoPostParse(def, ctx, first);
}

/** qemuDomainDefAddDefaultAudioBackend: a backend that matches the graphics, when there is none. */
export function defaultAudio(def: DomainDef, ctx: QemuContext): void {
  const devices = devicesOf(def);
  if (devices.audio?.length) return;
  let add = false;
  let passthrough = false;
  let backend = 'none';
  for (const g of devices.graphics ?? []) {
    if (g.type === 'vnc') {
      if (ctx.conf.vncAllowHostAudio) passthrough = true;
      else {
        passthrough = false;
        backend = 'none';
      }
      add = true;
    } else if (g.type === 'spice') {
      passthrough = false;
      backend = 'spice';
      add = true;
    } else if (g.type === 'sdl') {
      passthrough = true;
      add = true;
    }
  }
  if (!devices.graphics?.length) {
    if (ctx.conf.nographicsAllowHostAudio) passthrough = true;
    else {
      passthrough = false;
      backend = 'none';
    }
    add = true;
  }
  // The daemon has no QEMU_AUDIO_DRV in its environment: passthrough adds nothing.
  if (add && passthrough) add = false;
  if (add) devices.audio = [{ id: 1, type: backend } as NonNullable<DomainDevices['audio']>[number]];
}
