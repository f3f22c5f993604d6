/**
 * The host side of a domain's `<interface>`s at start and stop, as libvirt's qemu_interface.c:
 * qemuInterfaceEthernetConnect (`type='ethernet'`: a tap device, its MAC, up, then `<script>`),
 * qemuInterfaceBridgeConnect (`type='bridge'`: a tap device, its MAC and MTU, a port of the
 * bridge, up), the MTU of qemuBuildInterfaceCommandLine, and the stop side of qemuProcessStop
 * (qemuExtDevicesStop runs `<downscript>`; qemuProcessStop deletes managed ethernet taps).
 *
 * The descriptors are QEMU's `-netdev tap,fd=N` (`fds=N:M` with queues): the command line is
 * built first with numbers of its own, and {@link tapFdMap} says which opened descriptor each
 * number must be in QEMU (the launch moves them there). The devices are not persistent: they go
 * away when QEMU, the last holder of their descriptors, exits.
 */
import { spawn } from 'node:child_process';
import { closeSync, constants as fsConstants } from 'node:fs';
import { access } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { type DomainDef, type DomainDevices, strerror, virReportError } from '@qvirt/core';
import { type CommandLine, shellQuote } from '@qvirt/qemu-argv';
import { applyBandwidthAtStart } from './interface-bandwidth.js';
import {
  bridgeAddPort,
  formatMac,
  type InterfaceStats,
  netDevExists,
  netDevSetMAC,
  netDevSetMTU,
  netDevSetMTUFromDevice,
  netDevSetOnline,
  parseMac,
  reserveNetDevName,
  type TapDevice,
  tapCreate,
  tapDelete,
  tapInterfaceStats,
} from './net-tap.js';

type Net = NonNullable<DomainDevices['interface']>[number];

const internal = (msg: string) => virReportError('INTERNAL_ERROR', 'qemu', msg);
const unsupported = (msg: string) => virReportError('CONFIG_UNSUPPORTED', 'qemu', msg);

/** The interface types QEMU reaches through tap descriptors (qemuBuildHostNetProps). */
const TAP_TYPES = new Set(['bridge', 'network', 'direct', 'ethernet']);

/** virDomainNetIsVirtioModel, plus e1000e and vmxnet3: qemuInterfaceIsVnetCompatModel. */
export function isVnetCompatModel(net: Net): boolean {
  const model = net.model?.type;
  return (
    model === 'virtio' ||
    model === 'virtio-transitional' ||
    model === 'virtio-non-transitional' ||
    model === 'e1000e' ||
    model === 'vmxnet3'
  );
}

/**
 * The host side of a tap's MAC: the guest's with the first byte made 0xFE (0xFA when it already
 * is 0xFE), so the kernel never sees the guest's own address on the host and a bridge does not
 * take the tap's address as its own (it takes the lowest).
 */
export function hostSideMac(guestMac: string): Buffer {
  const mac = parseMac(guestMac);
  mac[0] = mac[0] === 0xfe ? 0xfa : 0xfe;
  return mac;
}

/** Environment of a script libvirt runs: LC_ALL=C and the daemon's common variables (virCommandAddEnvPassCommon). */
export function scriptEnv(env: NodeJS.ProcessEnv = process.env): [string, string][] {
  const out: [string, string][] = [['LC_ALL', 'C']];
  for (const k of [
    'LD_PRELOAD',
    'LD_LIBRARY_PATH',
    'DYLD_INSERT_LIBRARIES',
    'DYLD_FORCE_FLAT_NAMESPACE',
    'PATH',
    'HOME',
    'USER',
    'LOGNAME',
    'TMPDIR',
  ]) {
    const v = env[k];
    if (v !== undefined) out.push([k, v]);
  }
  return out;
}

/** What a failed exec in the child prints, in libvirt's words (virExec's child). */
const execFailure = (script: string, errno: string) =>
  `libvirt:  error : cannot execute binary ${script}: ${strerror(errno || 'EACCES')}\n`;

/**
 * virNetDevRunEthernetScript: `SCRIPT IFNAME` with libvirt's environment, keeping only
 * CAP_NET_ADMIN when run as root (virCommandClearCaps + AllowCap, through setpriv). A non-zero
 * exit is libvirt's "Child process (…) unexpected exit status N: STDERR".
 */
export async function runEthernetScript(ifname: string, script: string): Promise<void> {
  // Not a bug: libvirt has always accepted script='' as a no-op.
  if (script === '') return;
  const env = scriptEnv();
  const shown = [
    ...env.map(([k, v]) => `${k}=${shellQuote(v)}`),
    shellQuote(script),
    shellQuote(ifname),
  ].join(' ');
  const fail = (status: string, stderr: string) =>
    internal(`Child process (${shown}) unexpected ${status}${stderr ? `: ${stderr.trimEnd()}` : ''}`);
  // virExec's exit codes when the binary cannot be run: 127 (missing), 126 (not executable)
  try {
    await access(script, fsConstants.X_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EACCES';
    throw fail(`exit status ${code === 'ENOENT' ? 127 : 126}`, execFailure(script, code));
  }
  const root = process.geteuid?.() === 0;
  const argv = root
    ? [
        '/usr/bin/setpriv',
        '--inh-caps=-all,+net_admin',
        '--bounding-set=-all,+net_admin',
        '--',
        script,
        ifname,
      ]
    : [script, ifname];
  await new Promise<void>((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      env: Object.fromEntries(env),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (s: string) => {
      stderr += s;
    });
    child.once('error', (err: NodeJS.ErrnoException) => {
      reject(fail(`exit status ${err.code === 'ENOENT' ? 127 : 126}`, execFailure(argv[0]!, err.code ?? '')));
    });
    child.once('close', (code, signal) => {
      if (code === 0) return resolve();
      // setpriv's own exec failure, in libvirt's words
      const text = stderr.replace(/^setpriv: failed to execute /, 'libvirt:  error : cannot execute binary ');
      const status = signal ? `fatal signal ${osConstants.signals[signal] ?? 0}` : `exit status ${code}`;
      reject(fail(status, text));
    });
  });
}

/** One interface's connection: its device and the descriptors for QEMU. */
interface Connected {
  index: number;
  tap: TapDevice;
}

/** The tap interfaces of a start: every opened descriptor, by interface. */
export interface InterfaceConnections {
  /** Interface index in `<devices>` → its tap device (name and one descriptor per queue). */
  taps: Map<number, TapDevice>;
  /** Closes this process's copies of the descriptors (after QEMU has its own). */
  closeFds(): void;
}

/**
 * qemuInterfaceEthernetConnect. `managed='no'` uses an existing tap (the name is required) and
 * changes nothing on it; otherwise a new one gets the host-side MAC and is brought up. Then
 * `<script>`, with the device's name.
 */
async function ethernetConnect(net: Net, privileged: boolean): Promise<TapDevice> {
  const tunPath = net.backend?.tap ?? '/dev/net/tun';
  if (net.backend?.tap !== undefined && !privileged) {
    throw unsupported('cannot use custom tap device in session mode');
  }
  const queues = Math.max(net.driver?.queues ?? 1, 1);
  const vnetHdr = isVnetCompatModel(net);
  let tap: TapDevice;
  if (net.target?.managed === 'no') {
    const name = net.target.dev;
    if (!name) throw internal("target dev must be supplied when managed='no'");
    if (!netDevExists(name)) throw internal("target managed='no' but specified dev doesn't exist");
    tap = tapCreate(name, { tunPath, queues, vnetHdr, allowExisting: true });
  } else {
    tap = tapCreate(net.target?.dev, { tunPath, queues, vnetHdr });
    try {
      netDevSetMAC(tap.name, hostSideMac(macOf(net)));
      netDevSetOnline(tap.name, true);
    } catch (err) {
      closeAll(tap);
      throw err;
    }
  }
  setTarget(net, tap.name);
  if (net.script?.path !== undefined) {
    try {
      await runEthernetScript(tap.name, net.script.path);
    } catch (err) {
      closeAll(tap);
      throw err;
    }
  }
  return tap;
}

/**
 * qemuInterfaceBridgeConnect (privileged: virNetDevTapCreateInBridgePort): a new tap, the
 * host-side MAC set before it joins (a bridge takes the lowest MAC of its ports), the bridge's MTU
 * (so joining does not lower it), a port of the bridge, then up.
 */
function bridgeConnect(net: Net, privileged: boolean): TapDevice {
  const tunPath = net.backend?.tap ?? '/dev/net/tun';
  if (net.backend?.tap !== undefined && !privileged) {
    throw unsupported('cannot use custom tap device in session mode');
  }
  const bridge = net.source?.bridge;
  if (!bridge) throw internal('Missing bridge name');
  if (!privileged) {
    // libvirt asks qemu-bridge-helper for the descriptor (qemuCreateInBridgePortWithHelper)
    throw unsupported('bridge interfaces need a privileged instance (no qemu-bridge-helper support yet)');
  }
  const tap = tapCreate(net.target?.dev, {
    tunPath,
    queues: Math.max(net.driver?.queues ?? 1, 1),
    vnetHdr: isVnetCompatModel(net),
  });
  try {
    netDevSetMAC(tap.name, hostSideMac(macOf(net)));
    netDevSetMTUFromDevice(tap.name, bridge);
    bridgeAddPort(bridge, tap.name);
    netDevSetOnline(tap.name, true);
  } catch (err) {
    closeAll(tap);
    throw err;
  }
  setTarget(net, tap.name);
  return tap;
}

function macOf(net: Net): string {
  const mac = net.mac?.address;
  if (!mac) throw internal('missing MAC address of network interface');
  return mac;
}

function setTarget(net: Net, name: string): void {
  net.target = { ...net.target, dev: name };
}

function closeAll(tap: TapDevice): void {
  for (const fd of tap.fds.splice(0)) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
  }
}

/**
 * qemuBuildInterfaceConnect for every interface of `def` (the live definition, in place: each
 * tap's name goes to `<target dev>`). A failure closes what was opened, runs the stop side for the
 * interfaces already connected (their downscripts) and throws libvirt's error.
 */
export async function connectInterfaces(
  def: DomainDef,
  options: { privileged: boolean },
): Promise<InterfaceConnections> {
  const taps = new Map<number, TapDevice>();
  const list = def.devices?.interface ?? [];
  const done: Connected[] = [];
  try {
    for (const [index, net] of list.entries()) {
      const type = net.type ?? 'user';
      if (!TAP_TYPES.has(type)) continue;
      let tap: TapDevice;
      if (type === 'ethernet') tap = await ethernetConnect(net, options.privileged);
      else if (type === 'bridge') tap = bridgeConnect(net, options.privileged);
      else throw unsupported(`interface type '${type}' is not supported by this driver yet`);
      done.push({ index, tap });
      taps.set(index, tap);
      // qemuBuildInterfaceConnect: the default qdisc and `<bandwidth>` (./interface-bandwidth.ts)
      applyBandwidthAtStart(net, tap.name, options.privileged);
      // qemuBuildInterfaceCommandLine: the configured MTU, on devices libvirt manages
      if (net.mtu?.size && net.target?.managed !== 'no') netDevSetMTU(tap.name, net.mtu.size);
    }
  } catch (err) {
    for (const c of done) closeAll(c.tap);
    // qemuProcessStop after a failed launch: only the interfaces that were connected
    const connected = new Set(done.map((c) => c.index));
    await stopInterfaces(def, { only: connected });
    throw err;
  }
  return {
    taps,
    closeFds: () => {
      for (const tap of taps.values()) closeAll(tap);
    },
  };
}

/** The `-netdev` of `id` on a command line: its tap descriptor numbers, or undefined. */
function netdevFds(commandLine: CommandLine, id: string): number[] | undefined {
  const args = commandLine.args;
  for (let i = 0; i + 1 < args.length; i++) {
    if (args[i] !== '-netdev') continue;
    const value = args[i + 1]!;
    let props: Record<string, unknown>;
    if (value.startsWith('{')) {
      try {
        props = JSON.parse(value) as Record<string, unknown>;
      } catch {
        continue;
      }
    } else {
      // the key=value form (tap,fd=N,id=…)
      props = Object.fromEntries(
        value.split(',').map((kv) => {
          const eq = kv.indexOf('=');
          return eq < 0 ? ['type', kv] : [kv.slice(0, eq), kv.slice(eq + 1)];
        }),
      );
    }
    if (props.id !== id) continue;
    const fds = props.fds ?? props.fd;
    if (typeof fds !== 'string' && typeof fds !== 'number') return undefined;
    return String(fds)
      .split(':')
      .map((n) => Number(n));
  }
  return undefined;
}

/**
 * Where each opened descriptor must be in QEMU: the command line's `-netdev` of interface `i` is
 * `host` + its alias, with `fd=`/`fds=` numbers in queue order. `aliases[i]` is interface i's
 * alias (the live definition's).
 */
export function tapFdMap(
  connections: InterfaceConnections,
  commandLine: CommandLine,
  aliases: (string | undefined)[],
): Map<number, number> {
  const map = new Map<number, number>();
  for (const [index, tap] of connections.taps) {
    const alias = aliases[index];
    const numbers = alias === undefined ? undefined : netdevFds(commandLine, `host${alias}`);
    if (!numbers || numbers.length !== tap.fds.length || numbers.some((n) => !Number.isInteger(n) || n < 3)) {
      throw internal(`no tap descriptors on the command line for network interface '${alias ?? index}'`);
    }
    numbers.forEach((n, q) => {
      if (map.has(n)) throw internal(`tap descriptor ${n} used twice on the command line`);
      map.set(n, tap.fds[q]!);
    });
  }
  return map;
}

/**
 * The stop side (qemuExtDevicesStop, then qemuProcessStop's interface loop), after QEMU is gone:
 * `<downscript>` of each ethernet interface with its device's name, then a managed ethernet tap
 * still present is made non-persistent (virNetDevTapDelete). Bridge taps went away with QEMU's
 * descriptors; `managed='no'` taps are left alone. Failures are returned as warnings, as libvirt
 * ignores them.
 */
export async function stopInterfaces(
  def: DomainDef,
  options: { only?: Set<number> } = {},
): Promise<string[]> {
  const warnings: string[] = [];
  for (const [index, net] of (def.devices?.interface ?? []).entries()) {
    if (options.only && !options.only.has(index)) continue;
    if (net.type !== 'ethernet') continue;
    const ifname = net.target?.dev;
    if (!ifname) continue;
    if (net.downscript?.path !== undefined) {
      try {
        await runEthernetScript(ifname, net.downscript.path);
      } catch (err) {
        warnings.push((err as Error).message);
      }
    }
    if (net.target?.managed !== 'no') {
      try {
        if (netDevExists(ifname)) tapDelete(ifname, net.backend?.tap);
      } catch (err) {
        warnings.push((err as Error).message);
      }
    }
  }
  return warnings;
}

/** qemuProcessReconnect: the tap names of a running domain stay reserved (virNetDevReserveName). */
export function reserveInterfaceNames(def: DomainDef): void {
  for (const net of def.devices?.interface ?? []) {
    if (TAP_TYPES.has(net.type ?? 'user')) reserveNetDevName(net.target?.dev);
  }
}

/** Whether a definition has interfaces that need host tap devices at start. */
export function hasTapInterfaces(def: DomainDef): boolean {
  return (def.devices?.interface ?? []).some((n) => TAP_TYPES.has(n.type ?? 'user'));
}

/** virDomainNetFind: an interface by MAC address (when `device` is one) or by host device name. */
export function findInterface(def: DomainDef, device: string): Net {
  const list = def.devices?.interface ?? [];
  let mac: string | undefined;
  try {
    mac = formatMac(parseMac(device));
  } catch {
    mac = undefined;
  }
  const net =
    mac !== undefined
      ? list.find((n) => {
          try {
            return n.mac?.address !== undefined && formatMac(parseMac(n.mac.address)) === mac;
          } catch {
            return false;
          }
        })
      : list.find((n) => n.target?.dev === device);
  if (!net) throw virReportError('INVALID_ARG', 'qemu', `'${device}' is not a known interface`);
  return net;
}

/**
 * qemuDomainInterfaceStats for tap-backed interfaces: the counters of the host device, from the
 * guest's side (rx and tx exchanged, except for types that share the host's view).
 */
export function interfaceStats(def: DomainDef, device: string, procNetDev?: string): InterfaceStats {
  const net = findInterface(def, device);
  const type = net.type ?? 'user';
  if (type === 'vhostuser' || type === 'hostdev') {
    throw virReportError(
      'OPERATION_UNSUPPORTED',
      'qemu',
      `interface statistics of type '${type}' interfaces`,
    );
  }
  // virDomainNetTypeSharesHostView: only macvtap (direct) sees what the guest sees
  return tapInterfaceStats(net.target?.dev, type !== 'direct', procNetDev);
}
