/**
 * Guests with tap interfaces on real QEMU (TCG): an ethernet interface with `<script>` and
 * `<downscript>`, and a bridge interface on a bridge the test makes. The taps exist while the
 * guest runs (MAC, master, up), the live XML names them, QEMU sees the NICs, and destroy (also by
 * a driver that reconnected) runs the downscript and leaves no tap. Every test removes its bridge,
 * taps and guests, even when it fails.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { QemuDriver } from './driver.js';
import { cleanupRoots, guestXml, makeRoot, pidsMentioning, sweepRun } from './test-support/guests.js';

const canTap = process.getuid?.() === 0 && existsSync('/dev/net/tun');
const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
const sys = (name: string, file: string) => readFileSync(`/sys/class/net/${name}/${file}`, 'utf8').trim();
const tapExists = (name: string) => existsSync(`/sys/class/net/${name}`);

const drivers: QemuDriver[] = [];
const bridges: string[] = [];
/** Tap names a test saw, deleted at the end if still there (a failed test must not leave them). */
const taps: string[] = [];

async function openDriver(root: string): Promise<QemuDriver> {
  const d = await QemuDriver.open(`qemu:///embed?root=${root}`);
  drivers.push(d);
  return d;
}

afterEach(async () => {
  for (const d of drivers.splice(0)) await d.close();
  cleanupRoots();
  for (const name of [...taps.splice(0), ...bridges.splice(0)]) {
    if (!tapExists(name)) continue;
    try {
      ip('link', 'del', name);
    } catch {
      // gone meanwhile
    }
  }
});

afterAll(sweepRun);

function makeBridge(): string {
  const name = `qvbr${randomBytes(4).toString('hex')}`;
  ip('link', 'add', name, 'type', 'bridge');
  bridges.push(name);
  return name;
}

/** A script that appends its argument to `out`. */
function recorder(file: string, out: string): string {
  writeFileSync(file, `#!/bin/sh\necho "$1" >> '${out}'\n`);
  chmodSync(file, 0o755);
  return file;
}

function withInterfaces(xml: string, interfaces: string): string {
  return xml.replace('</devices>', `${interfaces}\n  </devices>`);
}

/** `<target dev>` of each interface in the live XML, in order. */
function liveTargets(xml: string): string[] {
  return [...xml.matchAll(/<interface[\s\S]*?<\/interface>/g)].map(
    (m) => /<target dev='([^']+)'/.exec(m[0])?.[1] ?? '',
  );
}

/** Descriptors of this process (the driver runs in it) open on /dev/net/tun. */
function ownTunFds(): string[] {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === '/dev/net/tun';
    } catch {
      return false;
    }
  });
}

const tunLinks = () => ip('-o', 'link', 'show', 'type', 'tun');

describe.skipIf(!canTap)('tap interfaces on a real guest', () => {
  it('ethernet with scripts and a bridge port: up while running, gone after destroy by a reconnected driver', async () => {
    const root = makeRoot();
    const br = makeBridge();
    const log = path.join(root, 'scripts.log');
    const up = recorder(path.join(root, 'ifup.sh'), log);
    const down = recorder(path.join(root, 'ifdown.sh'), log);
    const xml = withInterfaces(
      guestXml(root, 'net1'),
      `    <interface type='ethernet'>
      <mac address='52:54:00:f6:66:88'/>
      <script path='${up}'/>
      <downscript path='${down}'/>
      <model type='virtio'/>
    </interface>
    <interface type='bridge'>
      <mac address='fe:54:00:12:34:56'/>
      <source bridge='${br}'/>
      <model type='e1000'/>
    </interface>`,
    );
    const d = await openDriver(root);
    await d.defineXML(xml);
    await d.start('net1');
    const live = d.getXMLDesc('net1');
    const [eth, port] = liveTargets(live);
    taps.push(eth!, port!);
    expect(eth).toMatch(/^vnet\d+$/);
    expect(port).toMatch(/^vnet\d+$/);
    expect(live).toContain("<alias name='net0'/>");
    expect(live).toContain("<alias name='net1'/>");
    // the stored definition keeps no generated name
    expect(d.getXMLDesc('net1', { inactive: true })).not.toContain('vnet');
    expect(readFileSync(log, 'utf8')).toBe(`${eth}\n`);

    expect(sys(eth!, 'address')).toBe('fe:54:00:f6:66:88');
    expect(Number(sys(eth!, 'flags')) & 1).toBe(1);
    expect(sys(port!, 'address')).toBe('fa:54:00:12:34:56');
    expect(path.basename(readlinkSync(`/sys/class/net/${port}/master`))).toBe(br);
    expect(Number(sys(port!, 'flags')) & 1).toBe(1);
    // QEMU holds the queues (carrier), the driver kept no copy of them
    expect(sys(eth!, 'carrier')).toBe('1');
    expect(ownTunFds()).toEqual([]);

    // QEMU sees both NICs, on the descriptors the command line names (3, then 4)
    const filters = await d.monitorCommand<{ name: string; 'main-mac': string }[]>(
      'net1',
      'query-rx-filter',
      {
        name: 'net0',
      },
    );
    expect(filters.map((f) => [f.name, f['main-mac']])).toEqual([['net0', '52:54:00:f6:66:88']]);
    const network = await d.monitorCommand<string>('net1', 'human-monitor-command', {
      'command-line': 'info network',
    });
    expect(network).toContain('hostnet0: index=0,type=tap,fd=3');
    expect(network).toContain('model=e1000,macaddr=fe:54:00:12:34:56');
    expect(network).toContain('hostnet1: index=0,type=tap,fd=4');
    // the status file keeps the names for a driver that reconnects
    expect(readFileSync(path.join(root, 'run/qemu/net1.xml'), 'utf8')).toContain(`<target dev='${eth}'/>`);

    await d.close();
    const d2 = await openDriver(root);
    await d2.reconnected();
    expect(liveTargets(d2.getXMLDesc('net1'))).toEqual([eth, port]);
    await d2.destroy('net1');
    expect(readFileSync(log, 'utf8')).toBe(`${eth}\n${eth}\n`);
    expect(tapExists(eth!)).toBe(false);
    expect(tapExists(port!)).toBe(false);
    expect(pidsMentioning(root)).toEqual([]);
  });

  it("a missing script fails the start with libvirt's message and leaves no tap and no QEMU", async () => {
    const root = makeRoot();
    const script = path.join(root, 'missing-ifup.sh');
    const before = tunLinks();
    const d = await openDriver(root);
    await d.defineXML(
      withInterfaces(
        guestXml(root, 'net2'),
        `    <interface type='ethernet'>
      <mac address='52:54:00:f6:66:89'/>
      <script path='${script}'/>
      <model type='virtio'/>
    </interface>`,
      ),
    );
    const err = await d.start('net2').catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(
      new RegExp(
        `^internal error: Child process \\(LC_ALL=C .*${script.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} vnet\\d+\\) unexpected exit status 127: libvirt:  error : cannot execute binary ${script.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: No such file or directory$`,
      ),
    );
    expect(d.getState('net2').state).toBe('shutoff');
    expect(tunLinks()).toBe(before);
    expect(ownTunFds()).toEqual([]);
    expect(pidsMentioning(root)).toEqual([]);
    expect(existsSync(path.join(root, 'run/qemu/net2.xml'))).toBe(false);
  });

  it("destroy removes a multiqueue bridge tap; a managed='no' tap stays as it was", async () => {
    const root = makeRoot();
    const br = makeBridge();
    const own = `qvt${randomBytes(3).toString('hex')}`;
    ip('tuntap', 'add', 'dev', own, 'mode', 'tap', 'vnet_hdr');
    taps.push(own);
    const d = await openDriver(root);
    await d.defineXML(
      withInterfaces(
        guestXml(root, 'net3'),
        `    <interface type='bridge'>
      <mac address='52:54:00:f6:66:90'/>
      <source bridge='${br}'/>
      <model type='virtio'/>
      <driver queues='2'/>
    </interface>
    <interface type='ethernet'>
      <mac address='52:54:00:f6:66:91'/>
      <target dev='${own}' managed='no'/>
      <model type='virtio'/>
    </interface>`,
      ),
    );
    await d.start('net3');
    const [port, unmanaged] = liveTargets(d.getXMLDesc('net3'));
    taps.push(port!);
    expect(unmanaged).toBe(own);
    expect(Number(sys(port!, 'tun_flags')) & 0x0100).toBe(0x0100); // multiqueue
    await d.destroy('net3');
    expect(tapExists(port!)).toBe(false);
    expect(tapExists(own)).toBe(true);
  });
});
