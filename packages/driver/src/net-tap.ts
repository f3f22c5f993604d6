/**
 * Host network devices for `<interface>`s that QEMU reaches through a TAP descriptor: libvirt's
 * virnetdevtap.c (virNetDevTapCreate, virNetDevTapDelete, virNetDevTapInterfaceStats),
 * virnetdev.c (virNetDevExists, virNetDevSetMAC, virNetDevGetMTU/SetMTU, virNetDevSetOnline,
 * virNetDevGenerateName, virNetDevReserveName) and virnetdevbridge.c (virNetDevBridgeAddPort).
 *
 * Like libvirt these are ioctl(2)s: TUNSETIFF on /dev/net/tun, SIOC[GS]IF* and SIOCBRADDIF on a
 * datagram socket. Node has no ioctl, so they go through koffi (libc's `ioctl`, `socket`,
 * `if_nametoindex`), as `@qvirt/cgroup-devices` does for bpf(2). The descriptors are opened by
 * Node (`fs.openSync`, so close-on-exec until the launch puts them where QEMU expects them).
 * A helper process per operation (`ip tuntap`, `ip link set`) could make the devices but cannot
 * hand back the queue descriptors QEMU needs, and costs a fork per step.
 *
 * Linux x86-64 layouts: `struct ifreq` is 40 bytes, the name in the first 16 (IFNAMSIZ), the
 * union (flags, MTU, index, hardware address) from byte 16.
 */
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import { type VirError, virReportError, virReportSystemError } from '@qvirt/core';

const IFNAMSIZ = 16;
const IFREQ_SIZE = 40;

// <linux/if_tun.h>
const TUNSETIFF = 0x400454ca;
const TUNSETPERSIST = 0x400454cb;
const IFF_TAP = 0x0002;
const IFF_NO_PI = 0x1000;
const IFF_MULTI_QUEUE = 0x0100;
const IFF_VNET_HDR = 0x4000;
// <linux/sockios.h>, <net/if.h>
const SIOCGIFFLAGS = 0x8913;
const SIOCSIFFLAGS = 0x8914;
const SIOCGIFMTU = 0x8921;
const SIOCSIFMTU = 0x8922;
const SIOCSIFHWADDR = 0x8924;
const SIOCGIFHWADDR = 0x8927;
const SIOCBRADDIF = 0x89a2;
const IFF_UP = 0x1;
const AF_INET = 2;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;

/** The prefix of names libvirt generates for tap devices (VIR_NET_GENERATED_VNET_PREFIX). */
export const VNET_PREFIX = 'vnet';

interface Libc {
  ioctl(fd: number, request: number, arg: Buffer): number;
  /** ioctl with an integer argument (TUNSETPERSIST takes its flag by value) */
  ioctlValue(fd: number, request: number, arg: number): number;
  socket(domain: number, type: number, protocol: number): number;
  close(fd: number): number;
  if_nametoindex(name: string): number;
  errno(): number;
}

let libc: Libc | undefined;

/** Loaded on first use only, so importing the driver loads no native code. */
function loadKoffi(): {
  load(lib: string): { func(sig: string): (...a: unknown[]) => unknown };
  errno(): number;
} {
  return createRequire(import.meta.url)('koffi');
}

function ffi(): Libc {
  if (libc) return libc;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw virReportError('NO_SUPPORT', 'qemu', 'tap devices (Linux x86-64 only)');
  }
  const koffi = loadKoffi();
  const lib = koffi.load('libc.so.6');
  const ioctl = lib.func('int ioctl(int fd, unsigned long request, void *arg)');
  const ioctlValue = lib.func('int ioctl(int fd, unsigned long request, unsigned long arg)');
  const socket = lib.func('int socket(int domain, int type, int protocol)');
  const close = lib.func('int close(int fd)');
  const nametoindex = lib.func('unsigned int if_nametoindex(const char *name)');
  libc = {
    ioctl: (fd, request, arg) => ioctl(fd, request, arg) as number,
    ioctlValue: (fd, request, arg) => ioctlValue(fd, request, arg) as number,
    socket: (d, t, p) => socket(d, t, p) as number,
    close: (fd) => close(fd) as number,
    if_nametoindex: (name) => nametoindex(name) as number,
    errno: () => koffi.errno(),
  };
  return libc;
}

/** virReportSystemError: `<what>: <strerror>`; the errno name stays readable as `cause.code`. */
export function systemError(err: number | string | undefined, what: string): VirError {
  return virReportSystemError(err, 'qemu', what);
}

function ifreq(name: string): Buffer {
  const b = Buffer.alloc(IFREQ_SIZE);
  if (Buffer.byteLength(name) >= IFNAMSIZ) {
    throw systemError('ERANGE', `Network interface name '${name}' is too long`);
  }
  b.write(name, 0, 'utf8');
  return b;
}

const ifreqName = (b: Buffer) => b.toString('utf8', 0, IFNAMSIZ).replace(/\0.*$/s, '');

/** virNetDevSetupControl: a datagram socket for SIOC* requests, closed after `fn`. */
function withControl<T>(fn: (fd: number, c: Libc) => T): T {
  const c = ffi();
  const fd = c.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw systemError(c.errno(), 'Unable to open control socket');
  try {
    return fn(fd, c);
  } finally {
    c.close(fd);
  }
}

/** virNetDevExists */
export function netDevExists(name: string): boolean {
  const req = ifreq(name);
  return withControl((fd, c) => {
    if (c.ioctl(fd, SIOCGIFFLAGS, req) === 0) return true;
    const errno = c.errno();
    if (errno === osConstants.errno.ENODEV || errno === osConstants.errno.ENXIO) return false;
    throw systemError(errno, `Unable to check interface flags for ${name}`);
  });
}

/** A MAC address as six bytes (from `aa:bb:…`). */
export function parseMac(mac: string): Buffer {
  const parts = mac.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{1,2}$/.test(p))) {
    throw virReportError('INTERNAL_ERROR', 'qemu', `invalid MAC address '${mac}'`);
  }
  return Buffer.from(parts.map((p) => Number.parseInt(p, 16)));
}

export const formatMac = (b: Buffer): string =>
  [...b.subarray(0, 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');

/** virNetDevSetMAC (SIOCGIFHWADDR for the address family, then SIOCSIFHWADDR). */
export function netDevSetMAC(name: string, mac: Buffer): void {
  const req = ifreq(name);
  withControl((fd, c) => {
    if (c.ioctl(fd, SIOCGIFHWADDR, req) < 0) {
      throw systemError(c.errno(), `Cannot get interface MAC on '${name}'`);
    }
    mac.copy(req, 18, 0, 6);
    if (c.ioctl(fd, SIOCSIFHWADDR, req) < 0) {
      throw systemError(c.errno(), `Cannot set interface MAC to ${formatMac(mac)} on '${name}'`);
    }
  });
}

/** virNetDevGetMTU */
export function netDevGetMTU(name: string): number {
  const req = ifreq(name);
  return withControl((fd, c) => {
    if (c.ioctl(fd, SIOCGIFMTU, req) < 0) {
      throw systemError(c.errno(), `Cannot get interface MTU on '${name}'`);
    }
    return req.readInt32LE(16);
  });
}

/** virNetDevSetMTU */
export function netDevSetMTU(name: string, mtu: number): void {
  const req = ifreq(name);
  req.writeInt32LE(mtu, 16);
  withControl((fd, c) => {
    if (c.ioctl(fd, SIOCSIFMTU, req) < 0) {
      throw systemError(c.errno(), `Cannot set interface MTU on '${name}'`);
    }
  });
}

/** virNetDevSetMTUFromDevice */
export function netDevSetMTUFromDevice(name: string, from: string): void {
  netDevSetMTU(name, netDevGetMTU(from));
}

/** virNetDevSetOnline (virNetDevSetIFFlag with IFF_UP). */
export function netDevSetOnline(name: string, online: boolean): void {
  const req = ifreq(name);
  withControl((fd, c) => {
    if (c.ioctl(fd, SIOCGIFFLAGS, req) < 0) {
      throw systemError(c.errno(), `Cannot get interface flags on '${name}'`);
    }
    const flags = req.readUInt16LE(16);
    const next = online ? flags | IFF_UP : flags & ~IFF_UP;
    if (next === flags) return;
    req.writeUInt16LE(next, 16);
    if (c.ioctl(fd, SIOCSIFFLAGS, req) < 0) {
      throw systemError(c.errno(), `Cannot set interface flags on '${name}'`);
    }
  });
}

/** virNetDevBridgeAddPort (SIOCBRADDIF with the port's index). */
export function bridgeAddPort(bridge: string, name: string): void {
  const req = ifreq(bridge);
  withControl((fd, c) => {
    const index = c.if_nametoindex(name);
    if (!index) throw systemError('ENODEV', `Unable to get interface index for ${name}`);
    req.writeInt32LE(index, 16);
    if (c.ioctl(fd, SIOCBRADDIF, req) < 0) {
      throw systemError(c.errno(), `Unable to add bridge ${bridge} port ${name}`);
    }
  });
}

// virNetDevGenNames: the last id handed out per prefix, for this process (-1: none yet)
let lastVnetId = -1;

/** virNetDevReserveName: a device found running (reconnect) keeps later generated names above it. */
export function reserveNetDevName(name: string | undefined): void {
  if (!name?.startsWith(VNET_PREFIX)) return;
  const rest = name.slice(VNET_PREFIX.length);
  if (!/^\d+$/.test(rest)) return;
  const id = Number(rest);
  if (id > lastVnetId) lastVnetId = id;
}

/** A user-given name is kept; only a missing name or a `%d` template is generated. */
export function isNameTemplate(name: string | undefined): boolean {
  if (name === undefined) return true;
  const first = name.indexOf('%');
  return first === name.lastIndexOf('%') && name.includes('%d');
}

/**
 * virNetDevGenerateName: the next free `vnetN` (or the template with N), skipping names in use.
 * Returns the name and whether it was generated.
 */
export function generateNetDevName(template: string | undefined): { name: string; generated: boolean } {
  if (!isNameTemplate(template)) return { name: template!, generated: false };
  const maxId = 10 ** (IFNAMSIZ - 1 - VNET_PREFIX.length);
  for (let attempts = 0; attempts < 10000; attempts++) {
    const id = ++lastVnetId;
    if (lastVnetId >= maxId) lastVnetId = -1;
    const name = template === undefined ? `${VNET_PREFIX}${id}` : template.replace('%d', String(id));
    if (!netDevExists(name)) return { name, generated: true };
  }
  throw virReportError('INTERNAL_ERROR', 'qemu', `no unused ${VNET_PREFIX} names available`);
}

export interface TapCreateOptions {
  /** The tun device (`<backend tap=…>`), default /dev/net/tun. */
  tunPath?: string;
  /** Descriptors to open: more than one asks for a multiqueue device. */
  queues?: number;
  /** IFF_VNET_HDR (virtio, e1000e, vmxnet3 models: qemuInterfaceIsVnetCompatModel). */
  vnetHdr?: boolean;
  /** Open an existing device (`managed='no'`) instead of refusing it. */
  allowExisting?: boolean;
}

export interface TapDevice {
  name: string;
  /** One per queue, close-on-exec, owned by the caller. */
  fds: number[];
}

/** One TUNSETIFF on a fresh descriptor of the tun device; returns the name the kernel used. */
function attachQueue(tunPath: string, name: string, flags: number): { fd: number; name: string } {
  let fd: number;
  try {
    fd = openSync(tunPath, 'r+');
  } catch (err) {
    throw systemError(
      (err as NodeJS.ErrnoException).code,
      `Unable to open ${tunPath}, is tun module loaded?`,
    );
  }
  const req = ifreq(name);
  req.writeUInt16LE(flags, 16);
  const c = ffi();
  if (c.ioctl(fd, TUNSETIFF, req) < 0) {
    const errno = c.errno();
    closeSync(fd);
    throw systemError(errno, `Unable to create tap device ${name}`);
  }
  return { fd, name: ifreqName(req) };
}

/**
 * virNetDevTapCreate: a tap device named `name` (a generated `vnetN` when undefined or a `%d`
 * template), with one descriptor per queue. The device is not persistent: it disappears when the
 * last descriptor is closed (QEMU's, once it exits).
 */
export function tapCreate(name: string | undefined, options: TapCreateOptions = {}): TapDevice {
  const tunPath = options.tunPath ?? '/dev/net/tun';
  const queues = Math.max(options.queues ?? 1, 1);
  let flags = IFF_TAP | IFF_NO_PI;
  if (queues > 1) flags |= IFF_MULTI_QUEUE;
  if (options.vnetHdr) flags |= IFF_VNET_HDR;
  // Another process may take a generated name between the check and TUNSETIFF (libvirt's
  // counter is per daemon; here several drivers share the host): try the next name then.
  for (let attempt = 0; ; attempt++) {
    const { name: ifname, generated } = generateNetDevName(name);
    if (!generated && !options.allowExisting && netDevExists(ifname)) {
      throw virReportError('OPERATION_INVALID', 'qemu', `The ${ifname} interface already exists`);
    }
    const fds: number[] = [];
    let actual = ifname;
    try {
      for (let i = 0; i < queues; i++) {
        const q = attachQueue(tunPath, actual, flags);
        fds.push(q.fd);
        if (i === 0) actual = q.name;
      }
      return { name: actual, fds };
    } catch (err) {
      for (const fd of fds) closeSync(fd);
      const busy = (err as { cause?: { code?: string } }).cause?.code === 'EBUSY';
      if (generated && busy && fds.length === 0 && attempt < 100) continue;
      throw err;
    }
  }
}

/**
 * virNetDevTapDelete: makes a tap device non-persistent, so it goes away with its last
 * descriptor (here at once, unless QEMU still holds one).
 */
export function tapDelete(name: string, tunPath = '/dev/net/tun'): void {
  let fd: number;
  try {
    fd = openSync(tunPath, 'r+');
  } catch (err) {
    throw systemError(
      (err as NodeJS.ErrnoException).code,
      `Unable to open ${tunPath}, is tun module loaded?`,
    );
  }
  try {
    const req = ifreq(name);
    req.writeUInt16LE(IFF_TAP | IFF_NO_PI, 16);
    const c = ffi();
    if (c.ioctl(fd, TUNSETIFF, req) < 0) throw systemError(c.errno(), 'Unable to associate TAP device');
    if (c.ioctlValue(fd, TUNSETPERSIST, 0) < 0) {
      throw systemError(c.errno(), 'Unable to make TAP device non-persistent');
    }
  } finally {
    closeSync(fd);
  }
}

/** What virDomainInterfaceStats returns (from the domain's point of view). */
export interface InterfaceStats {
  rxBytes: number;
  rxPackets: number;
  rxErrs: number;
  rxDrop: number;
  txBytes: number;
  txPackets: number;
  txErrs: number;
  txDrop: number;
}

/**
 * virNetDevTapInterfaceStats: the device's line of /proc/net/dev; `swapped` (a tap: what the host
 * sends is what the guest receives) exchanges the rx and tx columns.
 */
export function tapInterfaceStats(
  name: string | undefined,
  swapped: boolean,
  procNetDev?: string,
): InterfaceStats {
  if (!name) throw virReportError('INTERNAL_ERROR', 'qemu', 'Interface name not provided');
  let text: string;
  try {
    text = procNetDev ?? readFileSync('/proc/net/dev', 'utf8');
  } catch (err) {
    throw systemError((err as NodeJS.ErrnoException).code, 'Could not open /proc/net/dev');
  }
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0 || line.slice(0, colon).trim() !== name) continue;
    const v = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    if (v.length < 16 || v.some((x) => Number.isNaN(x))) continue;
    const rx = { bytes: v[0]!, packets: v[1]!, errs: v[2]!, drop: v[3]! };
    const tx = { bytes: v[8]!, packets: v[9]!, errs: v[10]!, drop: v[11]! };
    const [r, t] = swapped ? [tx, rx] : [rx, tx];
    return {
      rxBytes: r.bytes,
      rxPackets: r.packets,
      rxErrs: r.errs,
      rxDrop: r.drop,
      txBytes: t.bytes,
      txPackets: t.packets,
      txErrs: t.errs,
      txDrop: t.drop,
    };
  }
  throw virReportError('INTERNAL_ERROR', 'qemu', '/proc/net/dev: Interface not found');
}
