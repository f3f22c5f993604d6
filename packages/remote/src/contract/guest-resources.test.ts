/**
 * The guest's side of live vCPU and memory changes, with the qvirt test guest (tools/test-guest):
 * a vCPU added with setvcpus --live comes online in the guest, and the balloon takes memory from
 * it and gives it back. In process and through qvirtd, as the contract suite runs.
 */
import { copyFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  VIR_DOMAIN_AFFECT as A,
  type Domain,
  type DomainEvent,
  type HypervisorDriver,
  VIR_CONNECT_LIST_DOMAINS as L,
  VIR_DOMAIN_EVENT_ID,
} from '@qvirt/core/hypervisor';
import { QemuDriver } from '@qvirt/driver';
import { GuestConsole, testGuest } from '@qvirt/test-guest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killMentioning } from '../test-support/harness.js';
import { bothWays, type Way } from '../test-support/ways.js';

const guest = testGuest();

describe.skipIf(!guest).each(bothWays('qvirt-guestres-'))(
  'live vCPUs and balloon seen by the Linux guest %s',
  (_label, open) => {
    let way: Way;
    let c: HypervisorDriver;
    let dom: Domain;
    let con: GuestConsole;
    let stop: () => void;

    beforeAll(async () => {
      way = await open();
      c = way.conn;
      copyFileSync(guest!.kernel, path.join(way.dir, 'vmlinuz'));
      copyFileSync(guest!.initrd, path.join(way.dir, 'initrd.img'));
      const serial = path.join(way.dir, 'serial.log');
      dom = await c.domainDefineXML(`<domain type='qemu'>
  <name>gr</name>
  <memory unit='MiB'>256</memory>
  <vcpu current='1'>2</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type>
    <kernel>${way.dir}/vmlinuz</kernel><initrd>${way.dir}/initrd.img</initrd>
    <cmdline>${guest!.append}</cmdline></os>
  <features><acpi/></features>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <serial type='file'><source path='${serial}'/><target port='0'/></serial>
    <memballoon model='virtio'/>
  </devices>
</domain>`);
      await c.domainCreateWithFlags(dom, 0);
      con = new GuestConsole();
      stop = con.followFile(serial);
      await con.waitUntil('ready', (v) => v.ready, 120_000);
    });
    afterAll(async () => {
      stop?.();
      for (const d of await c.connectListAllDomains(L.ACTIVE).catch(() => []))
        await c.domainDestroy(d).catch(() => {});
      await way?.close();
      killMentioning(way.dir);
      rmSync(way.dir, { recursive: true, force: true });
    });

    it('brings a hotplugged vCPU online in the guest', async () => {
      expect(con.view.cpus?.count).toBe(1);
      await c.domainSetVcpusFlags(dom, 2, A.LIVE);
      const cpus = await con.waitUntil(
        'two CPUs online',
        (v) => (v.cpus?.online === '0-1' ? v.cpus : undefined),
        60_000,
      );
      expect(cpus.count).toBe(2);
      expect(await c.domainGetVcpusFlags(dom, A.LIVE)).toBe(2);
      expect((await c.domainGetVcpus(dom, 2, 1)).info.map((v) => v.number)).toEqual([0, 1]);
    });

    it('hotplugs a virtio disk the guest sees, labelled, and unplugs it leaving nothing', async () => {
      const data = path.join(way.dir, 'data.img');
      writeFileSync(data, Buffer.alloc(4 << 20));
      const owner = statSync(data).uid;
      const events: DomainEvent[] = [];
      const ids = [
        await c.connectDomainEventRegisterAny(dom, VIR_DOMAIN_EVENT_ID.DEVICE_ADDED, (e) => events.push(e)),
        await c.connectDomainEventRegisterAny(dom, VIR_DOMAIN_EVENT_ID.DEVICE_REMOVED, (e) => events.push(e)),
      ];
      const diskXml = (type: string) =>
        `<disk type='file' device='disk'><driver name='qemu' type='${type}'/><source file='${data}'/><target dev='vdb' bus='virtio'/><serial>HOT1</serial></disk>`;
      const nodes = async () =>
        c instanceof QemuDriver
          ? JSON.stringify(await c.monitorCommand('gr', 'query-named-block-nodes', { flat: true }))
          : '';
      const before = await nodes();
      const xmlBefore = await c.domainGetXMLDesc(dom, 0);
      // a failure at the format node (a raw file declared qcow2): nothing is left behind
      await expect(c.domainAttachDeviceFlags(dom, diskXml('qcow2'), A.LIVE)).rejects.toThrow(
        /qcow2|Image is not/i,
      );
      expect(await nodes()).toBe(before);
      expect(await c.domainGetXMLDesc(dom, 0)).toBe(xmlBefore);
      expect(statSync(data).uid).toBe(owner);

      await c.domainAttachDeviceFlags(dom, diskXml('raw'), A.LIVE);
      const seen = await con.waitUntil(
        'the hotplugged disk',
        (v) => [...v.disks.values()].find((d) => d.serial === 'HOT1'),
        60_000,
      );
      expect(seen.bytes).toBe(4 << 20);
      expect(await c.domainGetXMLDesc(dom, 0)).toContain("<alias name='virtio-disk1'/>");
      if (process.geteuid?.() === 0) expect(statSync(data).uid).toBe(65534); // DAC's label for QEMU's user
      await expect(c.domainAttachDeviceFlags(dom, diskXml('raw'), A.LIVE)).rejects.toThrow(
        'target vdb already exists',
      );

      await c.domainDetachDeviceFlags(dom, diskXml('raw'), A.LIVE);
      await con.waitUntil(
        'the disk gone',
        (v) => ![...v.disks.values()].some((d) => d.serial === 'HOT1') || undefined,
        60_000,
      );
      expect(await nodes()).toBe(before);
      expect(statSync(data).uid).toBe(owner);
      await new Promise((r) => setTimeout(r, 200));
      for (const id of ids) await c.connectDomainEventDeregisterAny(id);
      expect(events.map((e) => [e.eventID, e.devAlias])).toEqual([
        [VIR_DOMAIN_EVENT_ID.DEVICE_ADDED, 'virtio-disk1'],
        [VIR_DOMAIN_EVENT_ID.DEVICE_REMOVED, 'virtio-disk1'],
      ]);

      // --config: the next boot's definition only
      await c.domainAttachDeviceFlags(dom, diskXml('raw'), A.CONFIG);
      expect(await c.domainGetXMLDesc(dom, 2)).toContain('HOT1');
      expect(await c.domainGetXMLDesc(dom, 0)).not.toContain('HOT1');
      await c.domainDetachDeviceFlags(dom, diskXml('raw'), A.CONFIG);
      expect(await c.domainGetXMLDesc(dom, 2)).not.toContain('HOT1');
    });

    it('takes memory with the balloon and gives it back', async () => {
      const before = con.view.memoryKiB!;
      await c.domainSetMemory(dom, 196608);
      const smaller = await con.waitUntil(
        'a smaller MemTotal',
        (v) => (v.memoryKiB !== undefined && v.memoryKiB <= before - 50_000 ? v.memoryKiB : undefined),
        60_000,
      );
      expect(smaller).toBeLessThan(before);
      // the balloon's BALLOON_CHANGE gives the live current memory
      const deadline = Date.now() + 30_000;
      while ((await c.domainGetInfo(dom)).memory !== 196608 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
      }
      expect((await c.domainGetInfo(dom)).memory).toBe(196608);
      await c.domainSetMemory(dom, 262144);
      await con.waitUntil(
        'MemTotal back',
        (v) => (v.memoryKiB !== undefined && v.memoryKiB >= before - 1024 ? true : undefined),
        60_000,
      );
    });

    it("sets the balloon's statistics period (dommemstat --period): the guest reports", async () => {
      await c.domainSetMemoryStatsPeriod(dom, 1, A.LIVE);
      expect(await c.domainGetXMLDesc(dom, 0)).toContain("<stats period='1'/>");
      // VIR_DOMAIN_MEMORY_STAT_UNUSED (4) and LAST_UPDATE (9) come from the guest's own reports
      const deadline = Date.now() + 30_000;
      let tags: number[] = [];
      while (!(tags.includes(4) && tags.includes(9))) {
        if (Date.now() > deadline) throw new Error(`no guest statistics: ${JSON.stringify(tags)}`);
        await new Promise((r) => setTimeout(r, 200));
        tags = (await c.domainMemoryStats(dom, 13, 0)).map((s) => s.tag);
      }
      await expect(c.domainSetMemoryStatsPeriod(dom, -1, A.LIVE)).rejects.toThrow(
        'Requested operation is not valid: unable to set balloon driver collection period',
      );
      await expect(c.domainSetMemoryStatsPeriod(dom, 1, 4)).rejects.toThrow(
        'unsupported flags (0x4) in function qemuDomainSetMemoryStatsPeriod',
      );
      await c.domainSetMemoryStatsPeriod(dom, 5, A.CONFIG);
      expect(await c.domainGetXMLDesc(dom, 2)).toContain("<stats period='5'/>");
      await c.domainSetMemoryStatsPeriod(dom, 0, A.LIVE | A.CONFIG);
      expect(await c.domainGetXMLDesc(dom, 0)).not.toContain('<stats period');
      expect(await c.domainGetXMLDesc(dom, 2)).not.toContain('<stats period');
    });

    // Last: after a vCPU unplug QEMU's TCG is not fit for more hotplug (it keeps the unplugged
    // vCPU's context, so plugging one again aborts QEMU, and later device_adds have crashed it).
    it('unplugs the hotplugged vCPU with setvcpu, the guest ejecting it', async () => {
      await c.domainSetVcpu(dom, '1', 0, A.LIVE);
      expect(await c.domainGetVcpusFlags(dom, A.LIVE)).toBe(1);
      const qemuCpus = async () =>
        JSON.parse(await c.domainQemuMonitorCommand(dom, '{"execute":"query-cpus-fast"}', 0)).return.length;
      const deadline = Date.now() + 60_000;
      while ((await qemuCpus()) !== 1) {
        if (Date.now() > deadline) throw new Error('QEMU never let the vCPU go');
        await new Promise((r) => setTimeout(r, 100));
      }
      await con.waitUntil('one CPU online', (v) => (v.cpus?.online === '0' ? true : undefined), 60_000);
      expect(await c.domainGetXMLDesc(dom, 0)).toContain("<vcpu id='1' enabled='no' hotpluggable='yes'/>");
    });
  },
);
