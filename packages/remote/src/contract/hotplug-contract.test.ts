/**
 * Hotplug of every device kind on the Linux test guest (tools/test-guest), in process and through
 * qvirtd: disks on the virtio, SCSI and USB buses, interfaces, chardevs, controllers, input, RNG
 * and DIMM memory, attached and detached live and in the config; CD-ROM media change; libvirt's
 * refusals; and a failed attach proven to leave nothing, by failing each of its steps in turn.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {
  VIR_DOMAIN_AFFECT as A,
  type Domain,
  type DomainEvent,
  type HypervisorDriver,
  VIR_CONNECT_LIST_DOMAINS as L,
  VIR_DOMAIN_EVENT_ID,
} from '@qvirt/core/hypervisor';
import { INJECTED_FAULT, netDevExists, QemuDriver, setHotplugFault } from '@qvirt/driver';
import { GuestConsole, testGuest } from '@qvirt/test-guest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killMentioning } from '../test-support/harness.js';
import { bothWays, type Way } from '../test-support/ways.js';

const guest = testGuest();
const root = process.geteuid?.() === 0;
const XML_INACTIVE = 2;

/** The element of the live XML whose alias is `alias` (what virsh users detach with). */
function liveElement(xml: string, alias: string): string {
  for (const kind of ['serial', 'console', 'channel', 'interface', 'disk', 'input', 'rng', 'memory']) {
    for (const m of xml.matchAll(new RegExp(`<${kind}\\b[^>]*>[\\s\\S]*?</${kind}>`, 'g'))) {
      if (m[0].includes(`<alias name='${alias}'/>`)) return m[0];
    }
  }
  throw new Error(`no device ${alias}`);
}

/**
 * The guest agent on the hotplugged channel, over one connection (qemu-ga on a virtio-serial port
 * answers the first host connection only, as libvirt keeps its own open): `exec` runs a shell
 * command in the guest (guest-exec) and returns its stdout.
 */
async function openAgent(liveXml: string): Promise<{ exec(cmd: string): Promise<string>; close(): void }> {
  const sock = /<source mode='bind' path='([^']+org\.qemu\.guest_agent\.0)'\/>/.exec(liveXml)?.[1];
  if (!sock) throw new Error('no agent channel');
  const s = net.connect(sock);
  s.on('error', () => {});
  const lines: string[] = [];
  let buf = '';
  s.on('data', (d) => {
    buf += d.toString();
    let nl = buf.indexOf('\n');
    while (nl >= 0) {
      const line = buf.slice(0, nl).replace(/^\xff/, '').trim();
      buf = buf.slice(nl + 1);
      if (line) lines.push(line);
      nl = buf.indexOf('\n');
    }
  });
  await new Promise((r) => s.once('connect', r));
  const ask = (msg: object, ms = 10_000) =>
    new Promise<any>((resolve, reject) => {
      const deadline = Date.now() + ms;
      const check = () => {
        const line = lines.shift();
        if (line === undefined && Date.now() > deadline)
          return reject(new Error(`agent: no answer to ${JSON.stringify(msg)}`));
        if (line === undefined) return setTimeout(check, 20);
        const m = JSON.parse(line);
        if (m.error) reject(new Error(m.error.desc));
        else resolve(m.return);
      };
      s.write(`${JSON.stringify(msg)}\n`);
      check();
    });
  // qemu-ga may not have the port open yet, and drops what came before: sync until it answers
  for (let id = 1; ; id++) {
    const got = await ask({ execute: 'guest-sync', arguments: { id } }, 2000).catch((e) => {
      if (id > 30) throw e;
    });
    if (got === id) break;
  }
  lines.length = 0;
  return {
    async exec(cmd) {
      const { pid } = await ask({
        execute: 'guest-exec',
        arguments: { path: '/bin/sh', arg: ['-c', cmd], 'capture-output': true },
      });
      for (;;) {
        const st = await ask({ execute: 'guest-exec-status', arguments: { pid } });
        if (st.exited) return Buffer.from(st['out-data'] ?? '', 'base64').toString();
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    close: () => s.destroy(),
  };
}

describe.skipIf(!guest).each(bothWays('qvirt-hotplug-'))('hotplug on the Linux guest %s', (label, open) => {
  let way: Way;
  let c: HypervisorDriver;
  let dom: Domain;
  let con: GuestConsole;
  let stop: () => void;
  let agent: Awaited<ReturnType<typeof openAgent>> | undefined;
  const inProcess = label.includes('process');

  /** QEMU's view (in process only: the remote way has no monitor handle here). */
  const qmp = async (cmd: string, args?: Record<string, unknown>): Promise<unknown> =>
    c instanceof QemuDriver ? c.monitorCommand('hp', cmd, args) : undefined;
  const qemuState = async () => {
    // QEMU lists children in hash order: compare sorted
    const sorted = (v: unknown) => (Array.isArray(v) ? v.map((x) => JSON.stringify(x)).sort() : v);
    return JSON.stringify([
      sorted(await qmp('query-named-block-nodes', { flat: true })),
      sorted(await qmp('query-chardev')),
      sorted(await qmp('qom-list', { path: '/machine/peripheral' })),
      sorted(await qmp('qom-list', { path: '/objects' })),
    ]);
  };

  beforeAll(async () => {
    way = await open();
    c = way.conn;
    copyFileSync(guest!.kernel, path.join(way.dir, 'vmlinuz'));
    copyFileSync(guest!.initrd, path.join(way.dir, 'initrd.img'));
    writeFileSync(path.join(way.dir, 'cd1.iso'), Buffer.alloc(1 << 20));
    writeFileSync(path.join(way.dir, 'cd2.iso'), Buffer.alloc(2 << 20));
    const serial = path.join(way.dir, 'serial.log');
    dom = await c.domainDefineXML(`<domain type='qemu'>
  <name>hp</name>
  <maxMemory slots='2' unit='MiB'>1024</maxMemory>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type>
    <kernel>${way.dir}/vmlinuz</kernel><initrd>${way.dir}/initrd.img</initrd>
    <cmdline>${guest!.append} block.events_dfl_poll_msecs=500</cmdline></os>
  <features><acpi/></features>
  <cpu><numa><cell id='0' cpus='0' memory='256' unit='MiB'/></numa></cpu>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='${way.dir}/cd1.iso'/><target dev='sda' bus='scsi'/><readonly/></disk>
    <controller type='scsi' index='0' model='virtio-scsi'/>
    <controller type='virtio-serial' index='0'/>
    <controller type='pci' index='0' model='pcie-root'/>
    <controller type='pci' model='pcie-root-port'/>
    <controller type='pci' model='pcie-root-port'/>
    <controller type='pci' model='pcie-root-port'/>
    <controller type='pci' model='pcie-root-port'/>
    <controller type='pci' model='pcie-root-port'/>
    <controller type='pci' model='pcie-root-port'/>
    <controller type='pci' model='pcie-root-port'/>
    <controller type='pci' model='pcie-root-port'/>
    <serial type='file'><source path='${serial}'/><target port='0'/></serial>
    <memballoon model='virtio'/>
  </devices>
</domain>`);
    await c.domainCreateWithFlags(dom, 0);
    con = new GuestConsole();
    stop = con.followFile(serial);
    await con.waitUntil('ready', (v) => v.ready, 120_000);
  }, 180_000);
  afterAll(async () => {
    setHotplugFault(undefined);
    agent?.close();
    stop?.();
    for (const d of await c.connectListAllDomains(L.ACTIVE).catch(() => []))
      await c.domainDestroy(d).catch(() => {});
    await way?.close();
    killMentioning(way.dir);
    rmSync(way.dir, { recursive: true, force: true });
  });

  it('attaches and detaches disks on the virtio, SCSI and USB buses, seen by the guest', async () => {
    const files = ['v', 's', 'u'].map((n) => {
      const f = path.join(way.dir, `${n}.img`);
      writeFileSync(f, Buffer.alloc(4 << 20));
      return f;
    });
    const owners = files.map((f) => statSync(f).uid);
    const before = await qemuState();
    const xmls = [
      `<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${files[0]}'/><target dev='vdb' bus='virtio'/><serial>HPV</serial></disk>`,
      `<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${files[1]}'/><target dev='sdb' bus='scsi'/><serial>HPS</serial></disk>`,
      `<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${files[2]}'/><target dev='sdc' bus='usb'/><serial>HPU</serial></disk>`,
    ];
    const events: DomainEvent[] = [];
    const ids = [
      await c.connectDomainEventRegisterAny(dom, VIR_DOMAIN_EVENT_ID.DEVICE_ADDED, (e) => events.push(e)),
      await c.connectDomainEventRegisterAny(dom, VIR_DOMAIN_EVENT_ID.DEVICE_REMOVED, (e) => events.push(e)),
    ];
    for (const xml of xmls) await c.domainAttachDeviceFlags(dom, xml, A.LIVE);
    // virtio-blk shows its serial; the SCSI disk is the guest's first sd disk (the guest's kernel
    // has no USB storage driver: QEMU's view and the live XML show that one)
    await con.waitUntil('HPV', (v) => [...v.disks.values()].find((d) => d.serial === 'HPV'), 60_000);
    await con.waitUntil('the SCSI disk', (v) => v.disks.get('sda'), 60_000);
    if (inProcess) expect(JSON.stringify(await qmp('query-block'))).toContain('usb-disk2');
    const live = await c.domainGetXMLDesc(dom, 0);
    expect(live).toContain("<alias name='virtio-disk1'/>");
    expect(live).toContain("<alias name='scsi0-0-0-1'/>");
    expect(live).toContain("<alias name='usb-disk2'/>");
    if (root) for (const f of files) expect(statSync(f).uid).toBe(65534);
    for (const xml of xmls) await c.domainDetachDeviceFlags(dom, xml, A.LIVE);
    await con.waitUntil(
      'the disks gone',
      (v) => (!v.disks.has('vda') && !v.disks.has('sda')) || undefined,
      60_000,
    );
    expect(files.map((f) => statSync(f).uid)).toEqual(owners);
    expect(await qemuState()).toBe(before);
    await new Promise((r) => setTimeout(r, 200));
    for (const id of ids) await c.connectDomainEventDeregisterAny(id);
    expect(events.map((e) => [e.eventID, e.devAlias])).toEqual([
      [VIR_DOMAIN_EVENT_ID.DEVICE_ADDED, 'virtio-disk1'],
      [VIR_DOMAIN_EVENT_ID.DEVICE_ADDED, 'scsi0-0-0-1'],
      [VIR_DOMAIN_EVENT_ID.DEVICE_ADDED, 'usb-disk2'],
      [VIR_DOMAIN_EVENT_ID.DEVICE_REMOVED, 'virtio-disk1'],
      [VIR_DOMAIN_EVENT_ID.DEVICE_REMOVED, 'scsi0-0-0-1'],
      [VIR_DOMAIN_EVENT_ID.DEVICE_REMOVED, 'usb-disk2'],
    ]);
    // SATA: libvirt 9.0 goes on to QEMU, whose refusal is the answer, and nothing is left
    const sata = `<disk type='file' device='disk'><source file='${files[0]}'/><target dev='sdd' bus='sata'/></disk>`;
    await expect(c.domainAttachDeviceFlags(dom, sata, A.LIVE)).rejects.toThrow(
      /^internal error: unable to execute QEMU command 'device_add': Bus 'ide\.\d' does not support hotplugging$/,
    );
    expect(await qemuState()).toBe(before);
    expect(statSync(files[0]!).uid).toBe(owners[0]);
    await c.domainAttachDeviceFlags(dom, sata, A.CONFIG);
    expect(await c.domainGetXMLDesc(dom, XML_INACTIVE)).toContain("<target dev='sdd' bus='sata'/>");
    await c.domainDetachDeviceFlags(dom, sata, A.CONFIG);
    expect(await c.domainGetXMLDesc(dom, XML_INACTIVE)).not.toContain("dev='sdd'");
  });

  it('attaches and detaches chardevs: a guest agent channel the guest uses, a virtio console, a USB serial port', async () => {
    const before = await qemuState();
    const agentXml = `<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>`;
    const virtioConsole = `<console type='pty'><target type='virtio'/></console>`;
    const usbSerial = `<serial type='pty'><target type='usb-serial' port='1'/></serial>`;
    await c.domainAttachDeviceFlags(dom, agentXml, A.LIVE);
    await con.waitUntil('the agent on the hotplugged port', (v) => v.agentPort, 60_000);
    const live = await c.domainGetXMLDesc(dom, 0);
    expect(live).toContain("<alias name='channel0'/>");
    expect(live).toMatch(/<source mode='bind' path='[^']+org\.qemu\.guest_agent\.0'\/>/);
    agent = await openAgent(live);
    expect(await agent.exec('echo hello')).toBe('hello\n');
    await c.domainAttachDeviceFlags(dom, virtioConsole, A.LIVE);
    await c.domainAttachDeviceFlags(dom, usbSerial, A.LIVE);
    const more = await c.domainGetXMLDesc(dom, 0);
    // a virtio console keeps no address, as libvirt shows it
    expect(liveElement(more, 'console1')).not.toContain('<address');
    expect(more).toContain("<alias name='serial1'/>");
    if (inProcess) {
      const chardevs = JSON.stringify(await qmp('query-chardev'));
      for (const id of ['charchannel0', 'charconsole1', 'charserial1']) expect(chardevs).toContain(id);
    }
    // a console on the serial port is no device of its own (qemuBuildConsoleChrDeviceProps)
    await expect(
      c.domainAttachDeviceFlags(dom, "<console type='pty'><target type='serial'/></console>", A.LIVE),
    ).rejects.toThrow('unsupported configuration: unsupported console target type serial');
    // a pty is matched with its path, as virDomainChrEquals does: the attach XML names none
    await expect(c.domainDetachDeviceFlags(dom, usbSerial, A.LIVE)).rejects.toThrow(
      "device not found: chr type 'serial' device not present in domain configuration",
    );
    await c.domainDetachDeviceFlags(dom, liveElement(more, 'serial1'), A.LIVE);
    await c.domainDetachDeviceFlags(dom, liveElement(more, 'console1'), A.LIVE);
    const after = await c.domainGetXMLDesc(dom, 0);
    expect(after).not.toContain("<alias name='serial1'/>");
    expect(after).not.toContain("<alias name='console1'/>");
    if (inProcess) expect(JSON.stringify(await qmp('query-chardev'))).not.toContain('charserial1');
    // the agent channel stays for the media change below
    if (inProcess) expect(await qemuState()).not.toBe(before);
  });

  it('changes the CD-ROM medium, seen by the guest', async () => {
    const cd = (file?: string) =>
      `<disk type='file' device='cdrom'><driver name='qemu' type='raw'/>${file ? `<source file='${file}'/>` : ''}<target dev='sda' bus='scsi'/><readonly/></disk>`;
    // the guest's kernel reads a CD's size when the drive is opened: the agent opens it
    const medium = async (n: number) => {
      for (let i = 0; i < 50; i++) {
        const out = await agent!.exec('blockdev --getsize64 /dev/sr0 2>/dev/null || echo 0');
        if (Number(out) === n) return true;
        await new Promise((r) => setTimeout(r, 200));
      }
      return false;
    };
    expect(await medium(1 << 20)).toBe(true);
    const trays: DomainEvent[] = [];
    const trayId = await c.connectDomainEventRegisterAny(dom, VIR_DOMAIN_EVENT_ID.TRAY_CHANGE, (e) =>
      trays.push(e),
    );
    await c.domainUpdateDeviceFlags(dom, cd(path.join(way.dir, 'cd2.iso')), A.LIVE);
    // the tray opened and closed again (VIR_DOMAIN_EVENT_TRAY_CHANGE_OPEN, _CLOSE)
    await expect
      .poll(() => trays.map((e) => [e.devAlias, e.reason]), { timeout: 10_000 })
      .toEqual([
        ['scsi0-0-0-0', 0],
        ['scsi0-0-0-0', 1],
      ]);
    await c.connectDomainEventDeregisterAny(trayId);
    expect(await medium(2 << 20)).toBe(true);
    await con.waitUntil(
      'the second medium',
      (v) => v.disks.get('sr0')?.bytes === 2 << 20 || undefined,
      60_000,
    );
    expect(await c.domainGetXMLDesc(dom, 0)).toContain(`cd2.iso`);
    await c.domainUpdateDeviceFlags(dom, cd(), A.LIVE);
    expect(await medium(0)).toBe(true);
    expect(await c.domainGetXMLDesc(dom, 0)).not.toContain(`cd2.iso`);
    // attach-device of a CD-ROM that exists is a media change too (qemuDomainAttachDeviceDiskLive)
    await c.domainAttachDeviceFlags(dom, cd(path.join(way.dir, 'cd1.iso')), A.LIVE);
    expect(await medium(1 << 20)).toBe(true);
    await expect(
      c.domainUpdateDeviceFlags(
        dom,
        "<interface type='user'><mac address='52:54:00:00:00:01'/></interface>",
        A.LIVE,
      ),
    ).rejects.toThrow(
      "device not found: no device found at address '(<null>)' matching MAC address '52:54:00:00:00:01' and alias '(<null>)'",
    );
    await expect(
      c.domainUpdateDeviceFlags(
        dom,
        "<rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>",
        A.LIVE,
      ),
    ).rejects.toThrow("unsupported configuration: live update of device 'rng' is not supported");
  });

  it.skipIf(!root)(
    'attaches an ethernet interface the guest sees, and detaches it with its tap',
    async () => {
      const before = await qemuState();
      const mac = '52:54:00:7a:00:01';
      const nic = `<interface type='ethernet'><mac address='${mac}'/><model type='virtio'/></interface>`;
      await c.domainAttachDeviceFlags(dom, nic, A.LIVE);
      await con.waitUntil(
        'the hotplugged NIC',
        (v) => [...v.nics.values()].find((n) => n.mac === mac),
        60_000,
      );
      const live = await c.domainGetXMLDesc(dom, 0);
      expect(live).toContain("<alias name='net0'/>");
      const tap = /<target dev='([^']+)'\/>\s*<model type='virtio'\/>\s*<alias name='net0'\/>/.exec(
        live,
      )?.[1];
      expect(tap && netDevExists(tap)).toBe(true);
      // the link state, the one thing QEMU changes live (set_link); the model it cannot
      const down = nic.replace('</interface>', "<link state='down'/></interface>");
      await c.domainUpdateDeviceFlags(dom, down, A.LIVE);
      expect(await c.domainGetXMLDesc(dom, 0)).toContain("<link state='down'/>");
      await con.waitUntil(
        'the link down',
        (v) => [...v.nics.values()].find((n) => n.mac === mac && n.state !== 'up'),
        60_000,
      );
      await c.domainUpdateDeviceFlags(dom, nic, A.LIVE);
      await con.waitUntil(
        'the link up',
        (v) => [...v.nics.values()].find((n) => n.mac === mac && n.state === 'up'),
        60_000,
      );
      await expect(
        c.domainUpdateDeviceFlags(dom, nic.replace("'virtio'", "'e1000e'"), A.LIVE),
      ).rejects.toThrow('Operation not supported: cannot modify network device model from virtio to e1000e');
      // detach matching rules (virDomainNetFindIdx)
      await expect(
        c.domainDetachDeviceFlags(
          dom,
          "<interface type='ethernet'><mac address='52:54:00:7a:00:99'/></interface>",
          A.LIVE,
        ),
      ).rejects.toThrow(
        "device not found: no device found at address '(<null>)' matching MAC address '52:54:00:7a:00:99' and alias '(<null>)'",
      );
      await c.domainDetachDeviceFlags(dom, nic, A.LIVE);
      await con.waitUntil(
        'the NIC gone',
        (v) => ![...v.nics.values()].some((n) => n.mac === mac) || undefined,
        60_000,
      );
      expect(netDevExists(tap!)).toBe(false);
      expect(await qemuState()).toBe(before);
      expect(await c.domainGetXMLDesc(dom, 0)).not.toContain(mac);
    },
  );

  it('attaches and detaches an RNG, input devices, a SCSI controller and a DIMM, live and in the config', async () => {
    const before = await qemuState();
    const xmlBefore = await c.domainGetXMLDesc(dom, XML_INACTIVE);
    const rng = "<rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>";
    const tablet = "<input type='tablet' bus='usb'/>";
    const keyboard = "<input type='keyboard' bus='virtio'/>";
    const scsi = "<controller type='scsi' index='1' model='virtio-scsi'/>";
    const dimm = "<memory model='dimm'><target><size unit='MiB'>128</size><node>0</node></target></memory>";
    const memBefore = con.view.memoryKiB!;
    for (const xml of [rng, tablet, keyboard, scsi, dimm])
      await c.domainAttachDeviceFlags(dom, xml, A.LIVE | A.CONFIG);
    const live = await c.domainGetXMLDesc(dom, 0);
    // input0 and input1 are the PS/2 mouse and keyboard of every x86 guest
    for (const alias of ['rng0', 'input2', 'input3', 'scsi1', 'dimm0'])
      expect(live).toContain(`<alias name='${alias}'/>`);
    expect(live).toContain("<memory unit='KiB'>393216</memory>");
    // the DIMM's base address as QEMU chose it (query-memory-devices)
    expect(live).toMatch(/<address type='dimm' slot='0' base='0x[0-9a-f]+'\/>/);
    await con.waitUntil(
      'the DIMM online',
      (v) => (v.memoryKiB ?? 0) >= memBefore + 100 * 1024 || undefined,
      60_000,
    );
    const config = await c.domainGetXMLDesc(dom, XML_INACTIVE);
    for (const part of [
      "<rng model='virtio'>",
      "<input type='tablet' bus='usb'>",
      "<controller type='scsi' index='1' model='virtio-scsi'>",
      "<memory model='dimm'>",
    ]) {
      expect(config).toContain(part);
    }
    // what libvirt refuses
    await expect(
      c.domainAttachDeviceFlags(dom, "<controller type='usb' index='1' model='qemu-xhci'/>", A.LIVE),
    ).rejects.toThrow("Operation not supported: 'usb' controller cannot be hot plugged.");
    await expect(c.domainAttachDeviceFlags(dom, scsi, A.LIVE)).rejects.toThrow(
      'operation failed: target scsi:1 already exists',
    );
    await expect(c.domainAttachDeviceFlags(dom, "<input type='mouse' bus='ps2'/>", A.LIVE)).rejects.toThrow(
      "Operation not supported: input device on bus 'ps2' cannot be hot plugged.",
    );
    for (const xml of [rng, tablet, keyboard, scsi])
      await c.domainDetachDeviceFlags(dom, xml, A.LIVE | A.CONFIG);
    await c.domainDetachDeviceFlags(dom, dimm, A.CONFIG);
    // a DIMM's unplug needs the guest to offline its memory: libvirt returns once asked, and the
    // device goes when (if) QEMU reports it gone
    await c.domainDetachDeviceFlags(dom, dimm, A.LIVE);
    expect(await c.domainGetXMLDesc(dom, XML_INACTIVE)).toBe(xmlBefore);
    const after = await c.domainGetXMLDesc(dom, 0);
    for (const alias of ['rng0', 'input2', 'input3', 'scsi1'])
      expect(after).not.toContain(`<alias name='${alias}'/>`);
    if (!after.includes("<alias name='dimm0'/>")) expect(await qemuState()).toBe(before);
    // detach-device-alias: a user alias names the device in both definitions; live, the call
    // returns once QEMU is asked, and the device goes with QEMU's DEVICE_DELETED
    const uaRng =
      "<rng model='virtio'><alias name='ua-rng'/><backend model='random'>/dev/urandom</backend></rng>";
    await c.domainAttachDeviceFlags(dom, uaRng, A.LIVE | A.CONFIG);
    expect(await c.domainGetXMLDesc(dom, XML_INACTIVE)).toContain("<alias name='ua-rng'/>");
    await expect(c.domainDetachDeviceAlias(dom, 'nope', A.LIVE)).rejects.toThrow(
      'internal error: no device found with alias nope',
    );
    await expect(c.domainDetachDeviceAlias(dom, 'balloon0', A.LIVE)).rejects.toThrow(
      "Operation not supported: live detach of device 'memballoon' is not supported",
    );
    await c.domainDetachDeviceAlias(dom, 'ua-rng', A.LIVE | A.CONFIG);
    expect(await c.domainGetXMLDesc(dom, XML_INACTIVE)).toBe(xmlBefore);
    const gone = Date.now() + 30_000;
    while ((await c.domainGetXMLDesc(dom, 0)).includes("<alias name='ua-rng'/>")) {
      if (Date.now() > gone) throw new Error('the RNG never left');
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  it('leaves nothing behind when any step of an attach fails', async () => {
    const file = path.join(way.dir, 'fault.img');
    writeFileSync(file, Buffer.alloc(1 << 20));
    const owner = statSync(file).uid;
    const cases = [
      `<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${file}'/><target dev='vdf' bus='virtio'/></disk>`,
      `<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${file}'/><target dev='sdf' bus='scsi'/></disk>`,
      "<channel type='unix'><target type='virtio' name='org.example.fault'/></channel>",
      "<rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>",
      ...(root
        ? ["<interface type='ethernet'><mac address='52:54:00:7a:00:0f'/><model type='virtio'/></interface>"]
        : []),
    ];
    const cd = `<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='${file}'/><target dev='sda' bus='scsi'/><readonly/></disk>`;
    for (const [xml, flags, detach] of [
      ...cases.map((x) => [x, A.LIVE | A.CONFIG, true] as const),
      [cd, A.LIVE, false] as const,
    ]) {
      const state = await qemuState();
      const liveXml = await c.domainGetXMLDesc(dom, 0);
      const configXml = await c.domainGetXMLDesc(dom, XML_INACTIVE);
      let n = 1;
      try {
        for (; ; n++) {
          setHotplugFault(n);
          const err = await (detach
            ? c.domainAttachDeviceFlags(dom, xml, flags)
            : c.domainUpdateDeviceFlags(dom, xml, flags)
          ).then(
            () => undefined,
            (e: Error) => e,
          );
          if (!err) break;
          expect(err.message).toContain(INJECTED_FAULT);
          expect({ step: n, state: await qemuState() }).toEqual({ step: n, state });
          expect(await c.domainGetXMLDesc(dom, 0)).toBe(liveXml);
          expect(await c.domainGetXMLDesc(dom, XML_INACTIVE)).toBe(configXml);
          // a read-only medium keeps its label: libvirt never restores read-only images
          // (virSecurityDACRestoreImageLabelInt), so only writable ones are checked
          if (detach) expect({ xml, step: n, uid: statSync(file).uid }).toEqual({ xml, step: n, uid: owner });
        }
      } finally {
        setHotplugFault(undefined);
      }
      expect(n).toBeGreaterThan(1);
      if (detach) {
        // what the attach added: detached from the config with its XML, live with the live
        // element (a chardev is matched with the path QEMU's side got)
        const now = await c.domainGetXMLDesc(dom, 0);
        const added = [...now.matchAll(/<alias name='([^']+)'\/>/g)]
          .map((m) => m[1]!)
          .filter((a) => !liveXml.includes(`<alias name='${a}'/>`));
        expect(added).toHaveLength(1);
        await c.domainDetachDeviceFlags(dom, xml, A.CONFIG);
        await c.domainDetachDeviceFlags(dom, liveElement(now, added[0]!), A.LIVE);
        await expect.poll(() => c.domainGetXMLDesc(dom, 0), { timeout: 30_000 }).toBe(liveXml);
      } else {
        await c.domainUpdateDeviceFlags(dom, cd.replace(file, path.join(way.dir, 'cd1.iso')), flags);
      }
    }
  });

  it.skipIf(!root || !inProcess)(
    'allows a hotplugged block device in the device cgroup and revokes it at unplug',
    async (ctx) => {
      const drv = c as QemuDriver;
      const cg = drv.security.stack.nested.find((d) => d.name === 'cgroup-devices') as
        | { domainDeviceRules(def: unknown): Promise<string[]> }
        | undefined;
      const backing = path.join(way.dir, 'loop.img');
      writeFileSync(backing, Buffer.alloc(2 << 20));
      let loop: string;
      try {
        loop = execFileSync('losetup', ['--find', '--show', backing], { encoding: 'utf8' }).trim();
      } catch {
        ctx.skip();
        return;
      }
      try {
        const live = await c.domainGetXMLDesc(dom, 0);
        const key = {
          uuid: /<uuid>([^<]+)<\/uuid>/.exec(live)![1],
          id: Number(/<domain type='qemu' id='(\d+)'/.exec(live)![1]),
        };
        const rules = async () => (cg ? (await cg.domainDeviceRules(key)).sort() : []);
        const before = await rules();
        const owner = statSync(loop).uid;
        const { rdev } = statSync(loop);
        const rule = `b ${Math.floor(rdev / 256)}:${rdev % 256} rw`;
        const xml = `<disk type='block' device='disk'><driver name='qemu' type='raw'/><source dev='${loop}'/><target dev='sdg' bus='scsi'/><serial>HPB</serial></disk>`;
        await c.domainAttachDeviceFlags(dom, xml, A.LIVE);
        await con.waitUntil(
          'the block disk',
          (v) => [...v.disks.values()].find((d) => d.bytes === 2 << 20),
          60_000,
        );
        if (cg) expect(await rules()).toContain(rule);
        // QEMU's private /dev has its own node, owned by QEMU: the host's is left alone
        expect(statSync(loop).uid).toBe(owner);
        await c.domainDetachDeviceFlags(dom, xml, A.LIVE);
        await expect.poll(() => c.domainGetXMLDesc(dom, 0), { timeout: 30_000 }).toBe(live);
        expect(await rules()).toEqual(before);
        expect(statSync(loop).uid).toBe(owner);
      } finally {
        execFileSync('losetup', ['-d', loop]);
      }
    },
  );
});
