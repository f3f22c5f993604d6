/**
 * Real tap devices and a real bridge (root, /dev/net/tun): what libvirt's qemu_interface.c does
 * to the host for ethernet and bridge interfaces, and its stop side. Every test removes its
 * bridge, taps and scripts, even when it fails.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { DomainDef } from '@qvirt/core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  connectInterfaces,
  hostSideMac,
  type InterfaceConnections,
  interfaceStats,
  reserveInterfaceNames,
  runEthernetScript,
  stopInterfaces,
  tapFdMap,
} from './net-interfaces.js';
import { formatMac, generateNetDevName, netDevExists, tapCreate, tapInterfaceStats } from './net-tap.js';

const canTap = process.getuid?.() === 0 && existsSync('/dev/net/tun');
const sys = (name: string, file: string) => readFileSync(`/sys/class/net/${name}/${file}`, 'utf8').trim();
const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

// cleanup registry: bridges and persistent taps to delete, connections to close, dirs to remove
const bridges: string[] = [];
const links: string[] = [];
const connections: InterfaceConnections[] = [];
const dirs: string[] = [];

afterEach(() => {
  for (const c of connections.splice(0)) c.closeFds();
  for (const name of [...links.splice(0), ...bridges.splice(0)]) {
    try {
      ip('link', 'del', name);
    } catch {
      // already gone
    }
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function makeBridge(mtu?: number): string {
  const name = `qvbr${randomBytes(4).toString('hex')}`;
  ip('link', 'add', name, 'type', 'bridge');
  bridges.push(name);
  if (mtu !== undefined) ip('link', 'set', 'dev', name, 'mtu', String(mtu));
  return name;
}

function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'qvirt-net-test-'));
  dirs.push(d);
  return d;
}

/** A script that appends its argument to `out`. */
function recorder(dir: string, name: string, out: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, `#!/bin/sh\necho "$1" >> '${out}'\n`);
  chmodSync(file, 0o755);
  return file;
}

function defWith(interfaces: NonNullable<DomainDef['devices']>['interface']): DomainDef {
  return { type: 'qemu', name: 'nettest', devices: { interface: interfaces } } as DomainDef;
}

async function connect(def: DomainDef): Promise<InterfaceConnections> {
  const c = await connectInterfaces(def, { privileged: true });
  connections.push(c);
  return c;
}

describe('host-side MAC (virNetDevTapCreateInBridgePort)', () => {
  it('makes the first byte 0xFE, or 0xFA when the guest MAC starts with 0xFE', () => {
    expect(formatMac(hostSideMac('52:54:00:12:34:56'))).toBe('fe:54:00:12:34:56');
    expect(formatMac(hostSideMac('fe:11:22:33:44:55'))).toBe('fa:11:22:33:44:55');
  });
});

describe('tapInterfaceStats (virNetDevTapInterfaceStats)', () => {
  const text = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
  vnet12: 100 2 3 4 0 0 0 0 500 6 7 8 0 0 0 0
   vnet1: 1 1 0 0 0 0 0 0 9 9 0 0 0 0 0 0
`;
  it('reads the device line, swapped for a tap (the guest receives what the host sends)', () => {
    expect(tapInterfaceStats('vnet12', true, text)).toEqual({
      rxBytes: 500,
      rxPackets: 6,
      rxErrs: 7,
      rxDrop: 8,
      txBytes: 100,
      txPackets: 2,
      txErrs: 3,
      txDrop: 4,
    });
    expect(tapInterfaceStats('vnet1', false, text).txBytes).toBe(9);
  });
  it('reports a missing device with libvirt text', () => {
    expect(() => tapInterfaceStats('vnet2', true, text)).toThrow(
      'internal error: /proc/net/dev: Interface not found',
    );
  });
});

describe('interfaceStats (qemuDomainInterfaceStats)', () => {
  const text = '  vnet7: 10 1 0 0 0 0 0 0 20 2 0 0 0 0 0 0\n';
  const def = defWith([
    { type: 'bridge', mac: { address: '52:54:00:AA:bb:0c' }, target: { dev: 'vnet7' } },
    { type: 'user', mac: { address: '52:54:00:aa:bb:0d' } },
  ]);
  it('finds an interface by MAC (any case) or by device name; a tap is seen from the guest', () => {
    expect(interfaceStats(def, 'vnet7', text)).toMatchObject({ rxBytes: 20, txBytes: 10 });
    expect(interfaceStats(def, '52:54:00:aa:BB:0c', text)).toMatchObject({ rxBytes: 20 });
  });
  it("refuses an unknown device with libvirt's message", () => {
    expect(() => interfaceStats(def, 'vnet8', text)).toThrow(
      "invalid argument: 'vnet8' is not a known interface",
    );
    expect(() => interfaceStats(def, '52:54:00:aa:bb:0d', text)).toThrow(
      'internal error: Interface name not provided',
    );
  });
});

describe('tapFdMap', () => {
  it('maps the command line numbers of each -netdev to the opened descriptors, queue by queue', () => {
    const conns: InterfaceConnections = {
      taps: new Map([
        [0, { name: 'vnet0', fds: [40] }],
        [2, { name: 'vnet1', fds: [41, 42] }],
      ]),
      closeFds: () => {},
    };
    const cl = {
      env: [],
      binary: 'qemu',
      args: [
        '-netdev',
        '{"type":"tap","fd":"3","id":"hostnet0"}',
        '-netdev',
        '{"type":"user","id":"hostnet1"}',
        '-netdev',
        'tap,fds=4:5,id=hostnet2',
      ],
    };
    expect([...tapFdMap(conns, cl, ['net0', 'net1', 'net2'])]).toEqual([
      [3, 40],
      [4, 41],
      [5, 42],
    ]);
    expect(() => tapFdMap(conns, { ...cl, args: cl.args.slice(0, 2) }, ['net0', 'net1', 'net2'])).toThrow(
      "internal error: no tap descriptors on the command line for network interface 'net2'",
    );
  });
});

describe.skipIf(!canTap)('tap devices (real /dev/net/tun)', () => {
  it('creates vnetN, one descriptor per queue, multiqueue and vnet headers as asked; gone when closed', () => {
    const tap = tapCreate(undefined, { queues: 2, vnetHdr: true });
    try {
      expect(tap.name).toMatch(/^vnet\d+$/);
      expect(tap.fds).toHaveLength(2);
      const flags = Number(sys(tap.name, 'tun_flags'));
      expect(flags & 0x0100).toBe(0x0100); // IFF_MULTI_QUEUE
      expect(flags & 0x4000).toBe(0x4000); // IFF_VNET_HDR
      expect(flags & 0x1002).toBe(0x1002); // IFF_TAP | IFF_NO_PI
      // the next generated name skips the one in use
      expect(generateNetDevName(undefined).name).not.toBe(tap.name);
    } finally {
      for (const fd of tap.fds) closeQuietly(fd);
    }
    expect(netDevExists(tap.name)).toBe(false);
  });

  it('refuses a named device that exists, with libvirt text', () => {
    const name = `qvt${randomBytes(3).toString('hex')}`;
    ip('tuntap', 'add', 'dev', name, 'mode', 'tap');
    links.push(name);
    expect(() => tapCreate(name)).toThrow(
      `Requested operation is not valid: The ${name} interface already exists`,
    );
  });

  it('bridge: host-side MAC, the bridge MTU, a port of the bridge, up; the live XML names it', async () => {
    const br = makeBridge(1400);
    const def = defWith([
      {
        type: 'bridge',
        mac: { address: '52:54:00:aa:bb:01' },
        source: { bridge: br },
        model: { type: 'virtio' },
      },
    ]);
    const c = await connect(def);
    const tap = def.devices!.interface![0]!.target!.dev!;
    expect(tap).toMatch(/^vnet\d+$/);
    expect(c.taps.get(0)!.name).toBe(tap);
    expect(sys(tap, 'address')).toBe('fe:54:00:aa:bb:01');
    expect(path.basename(readlinkSync(`/sys/class/net/${tap}/master`))).toBe(br);
    expect(sys(tap, 'mtu')).toBe('1400');
    expect(Number(sys(tap, 'flags')) & 1).toBe(1); // IFF_UP
    expect(Number(sys(tap, 'tun_flags')) & 0x4000).toBe(0x4000); // virtio: vnet headers
    c.closeFds();
    expect(netDevExists(tap)).toBe(false);
    expect(await stopInterfaces(def)).toEqual([]);
  });

  it('bridge: a missing bridge fails with libvirt text and leaves no tap', async () => {
    const before = ip('-o', 'link', 'show', 'type', 'tun');
    const def = defWith([
      {
        type: 'bridge',
        mac: { address: '52:54:00:aa:bb:02' },
        source: { bridge: 'qvbrnothere' },
        model: { type: 'e1000' },
      },
    ]);
    await expect(connectInterfaces(def, { privileged: true })).rejects.toThrow(
      "Cannot get interface MTU on 'qvbrnothere': No such device",
    );
    expect(ip('-o', 'link', 'show', 'type', 'tun')).toBe(before);
  });

  it('ethernet: MAC, up, <mtu>, <script> with the name; stop runs <downscript> and removes the tap', async () => {
    const dir = tempDir();
    const log = path.join(dir, 'log');
    const def = defWith([
      {
        type: 'ethernet',
        mac: { address: 'fe:54:00:aa:bb:03' },
        script: { path: recorder(dir, 'up.sh', log) },
        downscript: { path: recorder(dir, 'down.sh', log) },
        mtu: { size: 1280 },
        model: { type: 'rtl8139' },
      },
    ]);
    const c = await connect(def);
    const tap = def.devices!.interface![0]!.target!.dev!;
    expect(readFileSync(log, 'utf8')).toBe(`${tap}\n`);
    expect(sys(tap, 'address')).toBe('fa:54:00:aa:bb:03');
    expect(sys(tap, 'mtu')).toBe('1280');
    expect(Number(sys(tap, 'flags')) & 1).toBe(1);
    expect(Number(sys(tap, 'tun_flags')) & 0x4000).toBe(0); // rtl8139: no vnet headers
    c.closeFds();
    expect(await stopInterfaces(def)).toEqual([]);
    expect(readFileSync(log, 'utf8')).toBe(`${tap}\n${tap}\n`);
    expect(netDevExists(tap)).toBe(false);
  });

  it("ethernet managed='no': the existing tap is used as it is and left alone at stop", async () => {
    const name = `qvt${randomBytes(3).toString('hex')}`;
    ip('tuntap', 'add', 'dev', name, 'mode', 'tap', 'vnet_hdr');
    links.push(name);
    const mac = sys(name, 'address');
    const def = defWith([
      {
        type: 'ethernet',
        mac: { address: '52:54:00:aa:bb:04' },
        target: { dev: name, managed: 'no' },
        model: { type: 'virtio' },
      },
    ]);
    const c = await connect(def);
    expect(c.taps.get(0)!.name).toBe(name);
    expect(sys(name, 'address')).toBe(mac);
    c.closeFds();
    expect(await stopInterfaces(def)).toEqual([]);
    expect(netDevExists(name)).toBe(true);

    const missing = defWith([
      {
        type: 'ethernet',
        mac: { address: '52:54:00:aa:bb:05' },
        target: { dev: 'qvtnothere', managed: 'no' },
      },
    ]);
    await expect(connectInterfaces(missing, { privileged: true })).rejects.toThrow(
      "internal error: target managed='no' but specified dev doesn't exist",
    );
    const unnamed = defWith([
      { type: 'ethernet', mac: { address: '52:54:00:aa:bb:06' }, target: { managed: 'no' } },
    ]);
    await expect(connectInterfaces(unnamed, { privileged: true })).rejects.toThrow(
      "internal error: target dev must be supplied when managed='no'",
    );
  });

  it("a missing script fails with libvirt's message and leaves no tap; earlier interfaces are undone", async () => {
    const dir = tempDir();
    const log = path.join(dir, 'log');
    const br = makeBridge();
    const script = path.join(dir, 'ifup.sh');
    const before = ip('-o', 'link', 'show', 'type', 'tun');
    const def = defWith([
      {
        type: 'ethernet',
        mac: { address: '52:54:00:aa:bb:07' },
        script: { path: recorder(dir, 'up.sh', log) },
        downscript: { path: recorder(dir, 'down.sh', log) },
      },
      { type: 'bridge', mac: { address: '52:54:00:aa:bb:08' }, source: { bridge: br } },
      { type: 'ethernet', mac: { address: '52:54:00:aa:bb:09' }, script: { path: script } },
    ]);
    const err = await connectInterfaces(def, { privileged: true }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    const failedTap = def.devices!.interface![2]!.target!.dev!;
    const env = [
      `LC_ALL=C`,
      `PATH=${process.env.PATH}`,
      ...(process.env.HOME ? [`HOME=${process.env.HOME}`] : []),
    ];
    expect((err as Error).message).toMatch(
      new RegExp(
        `^internal error: Child process \\(${escapeRe(env.join(' '))}.* ${escapeRe(script)} ${failedTap}\\) unexpected exit status 127: libvirt:  error : cannot execute binary ${escapeRe(script)}: No such file or directory$`,
      ),
    );
    const first = def.devices!.interface![0]!.target!.dev!;
    // the first interface's downscript ran when the start failed
    expect(readFileSync(log, 'utf8')).toBe(`${first}\n${first}\n`);
    expect(ip('-o', 'link', 'show', 'type', 'tun')).toBe(before);
  });

  it('a failing script reports its exit status and stderr', async () => {
    const dir = tempDir();
    const script = path.join(dir, 'bad.sh');
    writeFileSync(script, '#!/bin/sh\necho "no way for $1" >&2\nexit 3\n');
    chmodSync(script, 0o755);
    await expect(runEthernetScript('vnet99', script)).rejects.toThrow(
      new RegExp(`${escapeRe(script)} vnet99\\) unexpected exit status 3: no way for vnet99$`),
    );
    const notExec = path.join(dir, 'noexec.sh');
    writeFileSync(notExec, '#!/bin/sh\n');
    await expect(runEthernetScript('vnet99', notExec)).rejects.toThrow(
      `unexpected exit status 126: libvirt:  error : cannot execute binary ${notExec}: Permission denied`,
    );
    // libvirt's no-op
    await runEthernetScript('vnet99', '');
  });

  it('reconnect keeps running tap names reserved', () => {
    const def = defWith([{ type: 'bridge', target: { dev: 'vnet4000' } }]);
    reserveInterfaceNames(def);
    expect(Number(generateNetDevName(undefined).name.slice(4))).toBeGreaterThan(4000);
  });
});

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // closed
  }
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
