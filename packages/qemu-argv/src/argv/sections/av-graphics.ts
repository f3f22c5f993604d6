/**
 * `<graphics>`: -vnc, -spice, -display sdl/egl-headless/dbus (qemuBuildGraphicsCommandLine), with
 * what libvirt's process preparation does first for a command line that is not started
 * (qemuProcessSetupGraphics in "pretend" mode): listen addresses from qemu.conf, automatic unix
 * sockets, fixed placeholder ports (VNC 5900, SPICE 5901/5902), the host's DRM render node.
 */
import { existsSync } from 'node:fs';
import { type VirError, virReportError } from '@qvirt/core';
import { shortName } from '../../layout.js';
import { add, type Build } from '../build.js';
import { jsonProps, optsValue } from '../props.js';
import type { GraphicsDef, GraphicsListenDef, GraphicsOf } from './av-util.js';
import { audioIdString, hostDrmRenderNode, internalError, unsupported } from './av-util.js';

/** The listen a graphics device uses (libvirt only supports one; checked at start). */
interface Listen {
  type: string;
  address?: string;
  network?: string;
  socket?: string;
}

function firstListen(g: { listens?: GraphicsListenDef[] }): Listen | undefined {
  const l = g.listens?.[0];
  return l ? { ...l, type: l.type ?? 'address' } : undefined;
}

/** qemuProcessGraphicsSetupListen for the first listen of a VNC or SPICE device. */
function setupListen(b: Build, kind: 'vnc' | 'spice', listen: Listen): Listen {
  const conf = b.ctx.conf;
  const useSocket = kind === 'vnc' ? conf.vncAutoUnixSocket : conf.spiceAutoUnixSocket;
  const listenAddr = kind === 'vnc' ? conf.vncListen : conf.spiceListen;
  const l = { ...listen };
  switch (l.type) {
    case 'address':
      if (!l.address) {
        if (useSocket) return { type: 'socket', socket: `${b.libDir}/${kind}.sock` };
        if (listenAddr) l.address = listenAddr;
      }
      break;
    case 'network':
      if (l.address || !listenAddr) break;
      if (!l.network) {
        l.address = listenAddr;
        break;
      }
      // The address of a libvirt network comes from the network driver, which qvirt lacks.
      throw virReportError('NO_NETWORK', 'qemu', `no network with matching name '${l.network}'`);
    case 'socket':
      if (!l.socket) l.socket = `${b.libDir}/${kind}.sock`;
      break;
  }
  return l;
}

/** qemuProcessStartValidateGraphics. */
function validateListens(g: { listens?: GraphicsListenDef[] }): void {
  if ((g.listens?.length ?? 0) > 1) {
    throw unsupported('QEMU does not support multiple listens for one graphics device.');
  }
}

function missingListen(): VirError {
  return internalError('missing listen element');
}

function vnc(b: Build, g: GraphicsOf<'vnc'>): void {
  validateListens(g);
  const conf = b.ctx.conf;
  const audioid = audioIdString(b.def, g.audio?.id);
  const first = firstListen(g);
  if (!first) throw missingListen();
  const listen = setupListen(b, 'vnc', first);

  // virDomainGraphicsDefParseXMLVNC: no port (or -1) means autoport; the inactive port is 0.
  let autoport = g.port === undefined || g.port === -1;
  let port = g.port === undefined || g.port === -1 ? 0 : g.port;
  if (g.autoport === 'yes') autoport = true;
  else if (g.autoport === 'no') autoport = false;
  if (autoport) port = 0;

  let opt = '';
  switch (listen.type) {
    case 'socket':
      opt = `vnc=unix:${optsValue(listen.socket ?? '')}`;
      break;
    case 'address':
    case 'network': {
      // qemuProcessVNCAllocatePorts without allocation
      if (autoport) port = 5900;
      if (!autoport && (port < 5900 || port > 65535)) {
        throw unsupported('vnc port must be in range [5900,65535]');
      }
      if (listen.address) opt += listen.address.includes(':') ? `[${listen.address}]` : listen.address;
      opt += `:${port - 5900}`;
      if (g.websocket) opt += `,websocket=${g.websocket}`;
      break;
    }
    case 'none':
      opt = 'none';
      break;
  }
  if (g.sharePolicy && g.sharePolicy !== 'default') opt += `,share=${g.sharePolicy}`;
  if (g.passwd !== undefined || conf.vncPassword !== undefined) opt += ',password=on';
  if (conf.vncTls) {
    const secretUuid = conf.vncTlsX509SecretUuid ?? conf.defaultTlsX509SecretUuid;
    if (secretUuid !== undefined) {
      throw virReportError('NO_SECRET', 'qemu', `no secret with matching uuid '${secretUuid}'`);
    }
    const dir =
      conf.vncTlsX509CertDir ??
      (existsSync('/etc/pki/libvirt-vnc') ? '/etc/pki/libvirt-vnc' : conf.defaultTlsX509CertDir);
    const verify = conf.vncTlsX509Verify ?? conf.defaultTlsX509Verify ?? false;
    add(
      b,
      '-object',
      jsonProps({
        'qom-type': 'tls-creds-x509',
        id: 'vnc-tls-creds0',
        dir,
        endpoint: 'server',
        'verify-peer': verify,
      }),
    );
    opt += ',tls-creds=vnc-tls-creds0';
  }
  if (conf.vncSasl) {
    opt += ',sasl=on';
    if (conf.vncSaslDir) b.env.push(['SASL_CONF_PATH', conf.vncSaslDir]);
  }
  if (g.powerControl) opt += `,power-control=${g.powerControl === 'yes' ? 'on' : 'off'}`;
  opt += `,audiodev=${audioid}`;
  add(b, '-vnc', opt);
  if (g.keymap) add(b, '-k', g.keymap);
}

const SPICE_CHANNELS = ['main', 'display', 'inputs', 'cursor', 'playback', 'record', 'smartcard', 'usbredir'];

function spice(b: Build, g: GraphicsOf<'spice'>): void {
  validateListens(g);
  const conf = b.ctx.conf;
  const first = firstListen(g);
  if (!first) throw missingListen();
  if ((first.type === 'address' || first.type === 'network') && (g.tlsPort ?? 0) > 0 && !conf.spiceTls) {
    throw unsupported('spice TLS port set in XML configuration, but TLS is disabled in qemu.conf');
  }
  if (g.gl?.enable === 'yes' && !g.gl.rendernode) {
    // qemuProcessGraphicsSetupRenderNode
    g.gl.rendernode = hostDrmRenderNode();
  }
  const listen = setupListen(b, 'spice', first);

  // virDomainGraphicsDefParseXMLSpice: -1/-1 is the legacy autoport; inactive autoport ports are 0.
  let port = g.port ?? 0;
  let tlsPort = g.tlsPort ?? 0;
  let autoport = g.autoport === 'yes';
  if (port === -1 && tlsPort === -1) autoport = true;
  if (autoport) {
    port = 0;
    tlsPort = 0;
  }
  const defaultMode = g.defaultMode ?? 'any';
  const channelMode = new Map<string, string>();
  for (const c of g.channel ?? []) if (c.name) channelMode.set(c.name, c.mode ?? 'any');

  if (listen.type === 'address' || listen.type === 'network') {
    // qemuProcessSPICEAllocatePorts without allocation
    let needPort = false;
    let needTLSPort = false;
    if (autoport) {
      for (const mode of channelMode.values()) {
        if (mode === 'secure') needTLSPort = true;
        else if (mode === 'insecure') needPort = true;
      }
      if (defaultMode === 'secure') needTLSPort = true;
      else if (defaultMode === 'insecure') needPort = true;
      else {
        if (conf.spiceTls) needTLSPort = true;
        needPort = true;
      }
    }
    if (needPort || port === -1) port = 5901;
    if (needTLSPort || tlsPort === -1) tlsPort = 5902;
  }

  let opt = '';
  let hasSecure = false;
  let hasInsecure = false;
  switch (listen.type) {
    case 'socket':
      opt += `unix,addr=${optsValue(listen.socket ?? '')},`;
      hasInsecure = true;
      break;
    case 'address':
    case 'network':
      if (port > 0) {
        opt += `port=${port},`;
        hasInsecure = true;
      }
      if (tlsPort > 0) {
        opt += `tls-port=${tlsPort},`;
        hasSecure = true;
      }
      if ((port > 0 || tlsPort > 0) && listen.address) opt += `addr=${listen.address},`;
      break;
    case 'none':
      opt += 'port=0,';
      hasInsecure = true;
      break;
  }
  if (conf.spiceSasl) {
    opt += 'sasl=on,';
    if (conf.spiceSaslDir) b.env.push(['SASL_CONF_PATH', conf.spiceSaslDir]);
  }
  const mouse = g.mouse?.mode;
  if (mouse === 'server') opt += 'agent-mouse=off,';
  else if (mouse === 'client') opt += 'agent-mouse=on,';
  if (g.passwd === undefined && conf.spicePassword === undefined) opt += 'disable-ticketing=on,';
  if (hasSecure) {
    const dir =
      conf.spiceTlsX509CertDir ??
      (existsSync('/etc/pki/libvirt-spice') ? '/etc/pki/libvirt-spice' : conf.defaultTlsX509CertDir);
    opt += `x509-dir=${optsValue(dir)},`;
  }
  if (defaultMode === 'secure') {
    if (!hasSecure) {
      throw unsupported(
        'spice defaultMode secure requested in XML configuration, but TLS connection is not available',
      );
    }
    opt += 'tls-channel=default,';
  } else if (defaultMode === 'insecure') {
    if (!hasInsecure) {
      throw unsupported(
        'spice defaultMode insecure requested in XML configuration, but plaintext connection is not available',
      );
    }
    opt += 'plaintext-channel=default,';
  }
  for (const name of SPICE_CHANNELS) {
    const mode = channelMode.get(name);
    if (mode === 'secure') {
      if (!hasSecure) {
        throw unsupported(
          'spice secure channels set in XML configuration, but TLS connection is not available',
        );
      }
      opt += `tls-channel=${name},`;
    } else if (mode === 'insecure') {
      if (!hasInsecure) {
        throw unsupported(
          'spice insecure channels set in XML configuration, but plaintext connection is not available',
        );
      }
      opt += `plaintext-channel=${name},`;
    }
  }
  const setting = (v: string | undefined) => (v && v !== 'default' ? v : undefined);
  if (setting(g.image?.compression)) opt += `image-compression=${g.image?.compression},`;
  if (setting(g.jpeg?.compression)) opt += `jpeg-wan-compression=${g.jpeg?.compression},`;
  if (setting(g.zlib?.compression)) opt += `zlib-glz-wan-compression=${g.zlib?.compression},`;
  if (g.playback?.compression) opt += `playback-compression=${g.playback.compression},`;
  if (setting(g.streaming?.mode)) opt += `streaming-video=${g.streaming?.mode},`;
  if (g.clipboard?.copypaste === 'no') opt += 'disable-copy-paste=on,';
  if (g.filetransfer?.enable === 'no') opt += 'disable-agent-file-xfer=on,';
  if (g.gl?.enable === 'yes') {
    opt += 'gl=on,';
    if (g.gl.rendernode) opt += `rendernode=${optsValue(g.gl.rendernode)},`;
  }
  opt += 'seamless-migration=on';
  add(b, '-spice', opt);
  if (g.keymap) add(b, '-k', g.keymap);
}

function sdl(b: Build, g: GraphicsOf<'sdl'>): void {
  if (g.xauth) b.env.push(['XAUTHORITY', g.xauth]);
  if (g.display) b.env.push(['DISPLAY', g.display]);
  if (g.fullscreen === 'yes') add(b, '-full-screen');
  let opt = 'sdl';
  if (g.gl?.enable) opt += `,gl=${g.gl.enable === 'yes' ? 'on' : 'off'}`;
  add(b, '-display', opt);
}

function eglHeadless(b: Build, g: GraphicsOf<'egl-headless'>): void {
  // qemuProcessGraphicsSetupRenderNode (QEMU 7.2 supports egl-headless rendernode)
  const rendernode = g.gl?.rendernode ?? hostDrmRenderNode();
  add(b, '-display', `egl-headless,rendernode=${optsValue(rendernode)}`);
}

function dbus(b: Build, g: GraphicsOf<'dbus'>): void {
  let rendernode = g.gl?.rendernode;
  if (g.gl?.enable === 'yes' && !rendernode) rendernode = hostDrmRenderNode();
  let opt = 'dbus';
  if (g.p2p === 'yes') {
    opt += ',p2p=on';
  } else {
    // qemuProcessGraphicsSetupDBus: the domain's own bus (qemuDBusGetAddress)
    const address =
      g.address ??
      `unix:path=${b.ctx.layout.runDir}/dbus/${shortName(b.ctx.domainId, b.def.name ?? '')}-dbus.sock`;
    opt += `,addr=${optsValue(address)}`;
  }
  if (g.gl?.enable) opt += `,gl=${g.gl.enable === 'yes' ? 'on' : 'off'}`;
  if (rendernode) opt += `,rendernode=${optsValue(rendernode)}`;
  if (g.audio?.id && g.audio.id > 0) opt += `,audiodev=${audioIdString(b.def, g.audio.id)}`;
  add(b, '-display', opt);
}

export function graphics(b: Build): void {
  for (const g of (b.def.devices?.graphics ?? []) as GraphicsDef[]) {
    switch (g.type) {
      case 'sdl':
        sdl(b, g as GraphicsOf<'sdl'>);
        break;
      case 'vnc':
        vnc(b, g as GraphicsOf<'vnc'>);
        break;
      case 'spice':
        spice(b, g as GraphicsOf<'spice'>);
        break;
      case 'egl-headless':
        eglHeadless(b, g as GraphicsOf<'egl-headless'>);
        break;
      case 'dbus':
        dbus(b, g as GraphicsOf<'dbus'>);
        break;
      default:
        throw unsupported(`graphics type '${g.type ?? ''}' is not supported by QEMU`);
    }
  }
}
