/**
 * Core dumps, block and memory peeks and write thresholds, one suite two ways (in process and
 * through a real qvirtd), on one running guest: the counting boot sector, whose 512 bytes are
 * both its disk and what the BIOS loaded at 0x7c00. Its disk is never written by the guest, so
 * the write that crosses a threshold is QEMU's own `qemu-io` on the disk (HMP), standing in for a
 * guest's write.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  type Domain,
  type DomainEvent,
  VIR_DOMAIN_CORE_DUMP_FORMAT as F,
  type HypervisorDriver,
  VIR_DOMAIN_AFFECT,
  VIR_DOMAIN_EVENT,
  VIR_DOMAIN_EVENT_DETAIL,
  VIR_DOMAIN_EVENT_ID,
  VIR_DOMAIN_STATE,
  VIR_DUMP,
  VIR_MEMORY,
  VIR_TYPED_PARAM,
} from '@qvirt/core/hypervisor';
import { serialGuestBootSector } from '@qvirt/driver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bothWays, type Way } from '../test-support/ways.js';

function guestXml(dir: string, name: string, format = 'raw'): { xml: string; disk: string } {
  const disk = path.join(dir, `${name}.img`);
  writeFileSync(disk, serialGuestBootSector(2));
  return {
    disk,
    xml: `<domain type='qemu'>
  <name>${name}</name>
  <memory unit='KiB'>65536</memory>
  <vcpu>1</vcpu>
  <os><type arch='i686' machine='pc'>hvm</type><boot dev='hd'/></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'><driver name='qemu' type='${format}'/><source file='${disk}'/><target dev='hda' bus='ide'/></disk>
    <serial type='file'><source path='${path.join(dir, `${name}-serial.log`)}'/><target port='0'/></serial>
    <interface type='ethernet'><mac address='52:54:00:d7:00:01'/><model type='e1000'/></interface>
  </devices>
</domain>
`,
  };
}

async function until<T>(what: string, probe: () => T | undefined, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what} never came`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.each(bothWays('qvirt-dump-'))('dumps, peeks and thresholds %s', (label, open) => {
  let way: Way;
  let c: HypervisorDriver;
  let dom: Domain;
  let disk: string;
  const events: DomainEvent[] = [];
  const ids: number[] = [];
  const remote = label === 'through qvirtd';

  beforeAll(async () => {
    way = await open();
    c = way.conn;
    const g = guestXml(way.dir, 'dp');
    disk = g.disk;
    dom = await c.domainCreateXML(g.xml, 0);
    // the BIOS has loaded the boot sector once the guest prints its first count
    const log = path.join(way.dir, 'dp-serial.log');
    await until('the first count', () =>
      existsSync(log) && /[0-9A-F]{4}\r\n/.test(readFileSync(log, 'latin1')) ? true : undefined,
    );
    for (const id of [
      VIR_DOMAIN_EVENT_ID.LIFECYCLE,
      VIR_DOMAIN_EVENT_ID.JOB_COMPLETED,
      VIR_DOMAIN_EVENT_ID.BLOCK_THRESHOLD,
      VIR_DOMAIN_EVENT_ID.REBOOT,
    ])
      ids.push(await c.connectDomainEventRegisterAny(dom, id, (e) => events.push(e)));
  });
  afterAll(async () => {
    for (const id of ids) await c?.connectDomainEventDeregisterAny(id).catch(() => {});
    await way?.close();
  });

  const lifecycle = () =>
    events.filter((e) => e.eventID === VIR_DOMAIN_EVENT_ID.LIFECYCLE).map((e) => [e.event, e.detail]);
  const E = VIR_DOMAIN_EVENT;
  const D = VIR_DOMAIN_EVENT_DETAIL;

  it('peeks at guest memory, physical and virtual, as QEMU saves it', async () => {
    const sector = Buffer.from(serialGuestBootSector(2));
    // the BIOS loaded the boot sector at 0x7c00; in real mode virtual and physical agree
    expect(await c.domainMemoryPeek(dom, 0x7c00, 512, VIR_MEMORY.PHYSICAL)).toEqual(sector);
    expect(await c.domainMemoryPeek(dom, 0x7c00, 16, VIR_MEMORY.VIRTUAL)).toEqual(sector.subarray(0, 16));
    await expect(c.domainMemoryPeek(dom, 0, 16, 0)).rejects.toThrow(
      'invalid argument: flags parameter must be VIR_MEMORY_VIRTUAL or VIR_MEMORY_PHYSICAL',
    );
    await expect(c.domainMemoryPeek(dom, 0, 16, 3)).rejects.toThrow(
      "Flags 'VIR_MEMORY_VIRTUAL' and 'VIR_MEMORY_PHYSICAL' are mutually exclusive",
    );
    await expect(c.domainMemoryPeek(dom, 0, 16, 4)).rejects.toThrow(
      'unsupported flags (0x4) in function qemuDomainMemoryPeek',
    );
    if (remote)
      await expect(c.domainMemoryPeek(dom, 0, 4194305, VIR_MEMORY.PHYSICAL)).rejects.toThrow(
        'memory peek request too large for remote protocol, 4194305 > 4194304',
      );
  });

  it("peeks at a raw disk's source, by target or path, and refuses other formats", async () => {
    const sector = readFileSync(disk);
    expect(await c.domainBlockPeek(dom, 'hda', 0, 512, 0)).toEqual(sector);
    expect(await c.domainBlockPeek(dom, disk, 510, 2, 0)).toEqual(Buffer.from([0x55, 0xaa]));
    await expect(c.domainBlockPeek(dom, 'hda', 256, 512, 0)).rejects.toThrow(
      "invalid argument: 'hda' starting from 256 has only 256 bytes available",
    );
    await expect(c.domainBlockPeek(dom, 'vdz', 0, 1, 0)).rejects.toThrow(
      "invalid argument: disk 'vdz' not found in domain",
    );
    if (remote)
      await expect(c.domainBlockPeek(dom, 'hda', 0, 4194305, 0)).rejects.toThrow(
        'block peek request too large for remote protocol, 4194305 > 4194304',
      );
    // a stopped domain's disks are peeked at too; qcow2 is refused as libvirt 9.0 does
    const q = await c.domainDefineXML(guestXml(way.dir, 'dpq', 'qcow2').xml);
    await expect(c.domainBlockPeek(q, 'hda', 0, 1, 0)).rejects.toThrow(
      "Operation not supported: peeking is only supported for disk with 'raw' format not 'qcow2'",
    );
    await c.domainUndefine(q);
  });

  it('fires BLOCK_THRESHOLD once a write crosses the threshold, for the disk and its index', async () => {
    await expect(c.domainSetBlockThreshold(dom, 'vdz', 1, 0)).rejects.toThrow(
      "invalid argument: failed to find disk 'vdz'",
    );
    await expect(c.domainSetBlockThreshold(dom, 'hda[x]', 1, 0)).rejects.toThrow(
      "invalid argument: failed to parse block device 'hda[x]'",
    );
    await expect(c.domainSetBlockThreshold(dom, 'hda[7]', 1, 0)).rejects.toThrow(
      "invalid argument: failed to find disk 'hda[7]'",
    );
    await c.domainSetBlockThreshold(dom, 'hda', 100, 0);
    const live = await c.domainGetXMLDesc(dom, 0);
    const alias = /<target dev='hda'[^>]*\/>\s*<alias name='([^']+)'/.exec(live)?.[1] ?? 'ide0-0-0';
    // the write (QEMU's own, standing in for the guest's): 100 bytes at offset 200 goes 200 past
    const hmp = await c.domainQemuMonitorCommand(
      dom,
      JSON.stringify({
        execute: 'human-monitor-command',
        arguments: { 'command-line': `qemu-io -d ${alias} "write -P 0x55 200 100"` },
      }),
      0,
    );
    expect(JSON.parse(hmp)).toMatchObject({ return: '' });
    const got = await until('BLOCK_THRESHOLD', () => {
      const t = events.filter((e) => e.eventID === VIR_DOMAIN_EVENT_ID.BLOCK_THRESHOLD);
      return t.length >= 2 ? t : undefined;
    });
    expect(got.map(({ dev, path: p, threshold }) => ({ dev, path: p, threshold }))).toEqual([
      { dev: 'hda', path: disk, threshold: 100 },
      { dev: expect.stringMatching(/^hda\[\d+\]$/), path: disk, threshold: 100 },
    ]);
    expect(got[0]!.excess).toBeGreaterThan(0);
    // the boot sector is back as it was (the guest runs from memory)
    writeFileSync(disk, serialGuestBootSector(2));
  });

  it("reads the host's free pages and sets its huge page pools, as sysfs has them", async () => {
    const pool = '/sys/devices/system/node/node0/hugepages/hugepages-2048kB';
    const sysfs = (f: string) => Number(readFileSync(`${pool}/${f}`, 'utf8').trim());
    const [small, huge] = await c.nodeGetFreePages([4, 2048], 0, 1, 0);
    expect(huge).toBe(sysfs('free_hugepages'));
    expect(small).toBeGreaterThan(0);
    await expect(c.nodeGetFreePages([3], 0, 1, 0)).rejects.toThrow(
      'operation failed: page size 3 is not available on node 0',
    );
    await expect(c.nodeGetFreePages([4], 9, 1, 0)).rejects.toThrow(
      'internal error: start cell 9 out of range (0-0)',
    );
    await expect(c.nodeAllocPages([4], [1], 0, 1, 1)).rejects.toThrow(
      "Operation not supported: system pages pool can't be modified",
    );
    // one more 2 MiB page for a moment (the kernel's own pool, given back below)
    const before = sysfs('nr_hugepages');
    try {
      expect(await c.nodeAllocPages([2048], [1], 0, 1, 0)).toBe(1);
      expect(sysfs('nr_hugepages')).toBe(before + 1);
      expect(await c.nodeGetFreePages([2048], 0, 1, 0)).toEqual([sysfs('free_hugepages')]);
    } finally {
      await c.nodeAllocPages([2048], [before], 0, 1, 1);
    }
    expect(sysfs('nr_hugepages')).toBe(before);
  });

  it("tunes an interface's bandwidth live with tc on its tap, and in the persistent definition", async () => {
    const live = await c.domainGetXMLDesc(dom, 0);
    const tap = /<interface type='ethernet'>[\s\S]*?<target dev='([^']+)'/.exec(live)?.[1];
    expect(tap).toBeDefined();
    const get = async (d: Domain, flags = 0, device = tap!) =>
      Object.fromEntries(
        (await c.domainGetInterfaceParameters(d, device, 7, flags)).params.map((p) => [p.field, p.value]),
      );
    const U = VIR_TYPED_PARAM.UINT;
    expect((await c.domainGetInterfaceParameters(dom, '52:54:00:d7:00:01', 0, 0)).nparams).toBe(7);
    expect(await get(dom)).toEqual({
      'inbound.average': 0,
      'inbound.peak': 0,
      'inbound.burst': 0,
      'inbound.floor': 0,
      'outbound.average': 0,
      'outbound.peak': 0,
      'outbound.burst': 0,
    });
    // the guest's inbound is the tap's egress (HTB + SFQ), its outbound the tap's ingress (u32 +
    // police): where the kernel lacks those (sch_sfq, act_police), tc fails and libvirt 9.0 fails
    // the same way with tc's words (measured against libvirtd on such a kernel), keeping no rate
    const qdiscs = () => execFileSync('tc', ['qdisc', 'show', 'dev', tap!], { encoding: 'utf8' });
    // started as libvirt starts a tap: its root qdisc is noqueue
    expect(qdiscs()).toMatch(/^qdisc noqueue [0-9a-f]+: root/);
    const set = (params: { field: string; value: number }[]) =>
      c.domainSetInterfaceParameters(
        dom,
        '52:54:00:d7:00:01',
        params.map((p) => ({ ...p, type: U })),
        0,
      );
    const inbound = await set([
      { field: 'inbound.average', value: 1000 },
      { field: 'inbound.peak', value: 2000 },
      { field: 'inbound.burst', value: 1024 },
    ]).then(
      () => undefined,
      (e: Error) => e,
    );
    if (inbound) {
      expect(inbound.message).toBe(
        `internal error: Child process (tc qdisc add dev ${tap} parent 1:1 handle 2: sfq perturb 10) unexpected exit status 2: Error: Specified qdisc kind is unknown.`,
      );
      expect(await get(dom)).toMatchObject({ 'inbound.average': 0 });
    } else {
      expect(await get(dom)).toMatchObject({ 'inbound.average': 1000, 'inbound.peak': 2000 });
      expect(await c.domainGetXMLDesc(dom, 0)).toMatch(
        /<bandwidth>\s*<inbound average='1000' peak='2000' burst='1024'\/>\s*<\/bandwidth>/,
      );
      expect(qdiscs()).toMatch(/qdisc htb 1: root/);
      expect(execFileSync('tc', ['class', 'show', 'dev', tap!], { encoding: 'utf8' })).toMatch(
        /class htb 1:1 root leaf 2: prio 0 rate 8Mbit ceil 16Mbit/,
      );
      // an average of 0 clears a direction; the tap gets libvirt's noqueue back
      await set([{ field: 'inbound.average', value: 0 }]);
      expect(await get(dom)).toMatchObject({ 'inbound.average': 0, 'inbound.peak': 0 });
      expect(qdiscs()).toMatch(/qdisc noqueue 0: root/);
    }
    const outbound = await set([{ field: 'outbound.average', value: 500 }]).then(
      () => undefined,
      (e: Error) => e,
    );
    if (outbound) {
      expect(outbound.message).toMatch(
        new RegExp(
          `^internal error: Child process \\(tc filter add dev ${tap} parent ffff: protocol all u32 match u32 0 0 police rate 500kbps burst 500kb mtu 64kb drop flowid :1\\) unexpected exit status 2: `,
        ),
      );
      expect(await get(dom)).toMatchObject({ 'outbound.average': 0 });
    } else {
      expect(await get(dom)).toMatchObject({ 'outbound.average': 500 });
      expect(qdiscs()).toMatch(/qdisc ingress ffff:/);
    }
    await expect(c.domainGetInterfaceParameters(dom, 'eth9', 7, 0)).rejects.toThrow(
      "invalid argument: 'eth9' is not a known interface",
    );
    await expect(
      c.domainSetInterfaceParameters(dom, tap!, [{ field: 'inbound.floor', type: U, value: 10 }], 0),
    ).rejects.toThrow("Invalid use of 'floor' on interface with MAC address 52:54:00:d7:00:01");
    await expect(
      c.domainSetInterfaceParameters(
        dom,
        tap!,
        [{ field: 'inbound.average', type: VIR_TYPED_PARAM.INT, value: 1 }],
        0,
      ),
    ).rejects.toThrow("invalid type 'int' for parameter 'inbound.average', expected 'uint'");
    // the persistent definition of a stopped domain
    const q = await c.domainDefineXML(guestXml(way.dir, 'dpif').xml);
    await c.domainSetInterfaceParameters(
      q,
      '52:54:00:d7:00:01',
      [{ field: 'outbound.average', type: U, value: 300 }],
      VIR_DOMAIN_AFFECT.CONFIG,
    );
    expect(await c.domainGetXMLDesc(q, 0)).toMatch(
      /<bandwidth>\s*<outbound average='300'\/>\s*<\/bandwidth>/,
    );
    expect(await get(q, VIR_DOMAIN_AFFECT.CONFIG, '52:54:00:d7:00:01')).toMatchObject({
      'outbound.average': 300,
    });
    await expect(
      c.domainGetInterfaceParameters(q, '52:54:00:d7:00:01', 7, VIR_DOMAIN_AFFECT.LIVE),
    ).rejects.toThrow('Requested operation is not valid: domain is not running');
    await c.domainUndefine(q);
  });

  it('dumps memory only as ELF or kdump, pausing and resuming a running guest', async () => {
    events.length = 0;
    const elf = path.join(way.dir, 'dp.elf');
    await c.domainCoreDump(dom, elf, VIR_DUMP.MEMORY_ONLY);
    expect(readFileSync(elf).subarray(0, 4)).toEqual(Buffer.from('\x7fELF', 'latin1'));
    // created by the daemon: its own and private
    expect(statSync(elf).mode & 0o777).toBe(0o600);
    expect(statSync(elf).uid).toBe(process.getuid?.());
    expect(await c.domainGetState(dom, 0)).toEqual({ state: VIR_DOMAIN_STATE.running, reason: 5 });
    await until('the resume', () => (lifecycle().length >= 2 ? true : undefined));
    expect(lifecycle()).toEqual([
      [E.SUSPENDED, D.SUSPENDED.PAUSED],
      [E.RESUMED, D.RESUMED.UNPAUSED],
    ]);
    const kdump = path.join(way.dir, 'dp.kdump');
    await c.domainCoreDumpWithFormat(dom, kdump, F.KDUMP_ZLIB, VIR_DUMP.MEMORY_ONLY | VIR_DUMP.LIVE);
    // makedumpfile's flattened format
    expect(readFileSync(kdump).subarray(0, 16).toString('latin1')).toBe('makedumpfile\0\0\0\0');
    rmSync(elf);
    rmSync(kdump);
  });

  it('refuses what libvirt refuses, and removes a file it created for a failed dump', async () => {
    const f = path.join(way.dir, 'dp.refused');
    await expect(c.domainCoreDumpWithFormat(dom, f, F.KDUMP_LZO, 0)).rejects.toThrow(
      'Operation not supported: kdump-compressed format is only supported with memory-only dump',
    );
    expect(existsSync(f)).toBe(false);
    await expect(c.domainCoreDumpWithFormat(dom, f, 9, VIR_DUMP.MEMORY_ONLY)).rejects.toThrow(
      "dumpformat '9' is not supported",
    );
    await expect(c.domainCoreDump(dom, f, VIR_DUMP.CRASH | VIR_DUMP.LIVE)).rejects.toThrow(
      "Flags 'VIR_DUMP_CRASH' and 'VIR_DUMP_LIVE' are mutually exclusive",
    );
    await expect(c.domainCoreDump(dom, f, VIR_DUMP.LIVE | VIR_DUMP.RESET)).rejects.toThrow(
      "Flags 'VIR_DUMP_LIVE' and 'VIR_DUMP_RESET' are mutually exclusive",
    );
    await expect(c.domainCoreDump(dom, f, 0x40)).rejects.toThrow(
      'unsupported flags (0x40) in function qemuDomainCoreDumpWithFormat',
    );
    await expect(c.domainCoreDump(dom, path.join(way.dir, 'no/such/dir/x'), 0)).rejects.toThrow(
      `Failed to create file '${path.join(way.dir, 'no/such/dir/x')}': No such file or directory`,
    );
    expect((await c.domainGetState(dom, 0)).state).toBe(VIR_DOMAIN_STATE.running);
  });

  it('dumps the whole guest through a migration, then resets it, then crashes it', async () => {
    events.length = 0;
    const full = path.join(way.dir, 'dp.core');
    await c.domainCoreDump(dom, full, VIR_DUMP.RESET);
    // QEMU's migration stream
    expect(readFileSync(full).subarray(0, 4).toString('latin1')).toBe('QEVM');
    const done = await until('JOB_COMPLETED', () =>
      events.find((e) => e.eventID === VIR_DOMAIN_EVENT_ID.JOB_COMPLETED),
    );
    expect(done.params?.find((p) => p.field === 'operation')?.value).toBe(8);
    await until('REBOOT', () => events.find((e) => e.eventID === VIR_DOMAIN_EVENT_ID.REBOOT));
    expect((await c.domainGetState(dom, 0)).state).toBe(VIR_DOMAIN_STATE.running);
    rmSync(full);

    events.length = 0;
    await c.domainCoreDump(dom, full, VIR_DUMP.MEMORY_ONLY | VIR_DUMP.CRASH);
    await until('the stop', () => (lifecycle().some(([e]) => e === E.STOPPED) ? true : undefined));
    expect(lifecycle()).toEqual([
      [E.SUSPENDED, D.SUSPENDED.PAUSED],
      [E.STOPPED, D.STOPPED.CRASHED],
    ]);
    // a transient domain is gone with its run
    await expect(c.domainLookupByName('dp')).rejects.toThrow("no domain with matching name 'dp'");
    rmSync(full);
  });
});
