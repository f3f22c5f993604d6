/**
 * The domain events of each lifecycle path, compared with libvirt 9.0's own: the sequences in
 * fixtures/libvirt-events.json were recorded once against libvirtd with the same test guest
 * (tools/event-sequences/record.py). The guest takes part (it powers off on the ACPI button and
 * reboots its firmware), so the test runs only where tools/test-guest is built.
 */
import { copyFileSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  type Domain,
  type DomainEvent,
  type HypervisorDriver,
  VIR_DOMAIN_EVENT,
  VIR_DOMAIN_EVENT_DETAIL,
  VIR_DOMAIN_EVENT_ID,
} from '@qvirt/core/hypervisor';
import { GuestConsole, testGuest } from '@qvirt/test-guest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bothWays, type Way } from '../test-support/ways.js';

const FIXTURE = JSON.parse(
  readFileSync(path.join(import.meta.dirname, 'fixtures/libvirt-events.json'), 'utf8'),
) as { sequences: Record<string, string[][]> };

/** An event as the recorder names it: ['LIFECYCLE', 'STARTED', 'BOOTED'] or ['REBOOT']. */
function named(e: DomainEvent): string[] {
  if (e.eventID === VIR_DOMAIN_EVENT_ID.REBOOT) return ['REBOOT'];
  const type = Object.entries(VIR_DOMAIN_EVENT).find(([, v]) => v === e.event)![0];
  const details = VIR_DOMAIN_EVENT_DETAIL[type as keyof typeof VIR_DOMAIN_EVENT_DETAIL] as Record<
    string,
    number
  >;
  return ['LIFECYCLE', type, Object.entries(details).find(([, v]) => v === e.detail)![0]];
}

/**
 * One REBOOT for each run of them: libvirt sends one per QEMU RESET, and besides the fake
 * reboot's own `system_reset` the firmware resets the machine again while it boots, a number of
 * times that depends on the machine's devices (libvirt's recording: two guest resets; qvirt's
 * machine for the same XML: one). The order of the events is what is compared.
 */
function collapse(seq: string[][]): string[][] {
  return seq.filter((e, i) => !(e[0] === 'REBOOT' && seq[i - 1]?.[0] === 'REBOOT'));
}

/** The pid file of a running domain, wherever the instance keeps its run directory. */
function qemuPid(root: string, name: string): number {
  const walk = (d: string): string | undefined => {
    for (const e of readdirSync(d)) {
      const p = path.join(d, e);
      if (e === `${name}.pid`) return p;
      if (statSync(p).isDirectory()) {
        const found = walk(p);
        if (found) return found;
      }
    }
    return undefined;
  };
  return Number(readFileSync(walk(root)!, 'utf8').trim());
}

const guest = testGuest();

describe.skipIf(!guest).each(bothWays('qvirt-events-'))(
  "lifecycle events as libvirt's %s",
  (_label, open) => {
    let way: Way;
    let c: HypervisorDriver;
    let dom: Domain;
    const serial = () => path.join(way.dir, 'serial.log');
    const events: DomainEvent[] = [];

    beforeAll(async () => {
      way = await open();
      c = way.conn;
      // copies: the security drivers label what a guest uses
      copyFileSync(guest!.kernel, path.join(way.dir, 'vmlinuz'));
      copyFileSync(guest!.initrd, path.join(way.dir, 'initrd.img'));
      const xml = `<domain type='qemu'>
  <name>ev</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type>
    <kernel>${way.dir}/vmlinuz</kernel><initrd>${way.dir}/initrd.img</initrd>
    <cmdline>${guest!.append}</cmdline></os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <serial type='file'><source path='${serial()}'/><target port='0'/></serial>
  </devices>
</domain>`;
      writeFileSync(path.join(way.dir, 'ev.xml'), xml);
      dom = await c.domainDefineXML(xml);
      for (const id of [VIR_DOMAIN_EVENT_ID.LIFECYCLE, VIR_DOMAIN_EVENT_ID.REBOOT]) {
        await c.connectDomainEventRegisterAny(dom, id, (e) => events.push(e));
      }
    });
    afterAll(() => way?.close());

    const until = async (what: string, pred: () => boolean, ms = 120_000) => {
      const deadline = Date.now() + ms;
      while (!pred()) {
        if (Date.now() > deadline)
          throw new Error(`timed out waiting for ${what}: ${JSON.stringify(events.map(named))}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const stopped = () => events.some((e) => e.event === VIR_DOMAIN_EVENT.STOPPED && e.eventID === 0);
    /** Starts the guest and waits for its `ready` report (the `count`-th one on this console). */
    const readyCount = () => {
      const con = new GuestConsole();
      try {
        con.feed(readFileSync(serial()));
      } catch {
        return 0;
      }
      return con.reports.filter((r) => r.kind === 'ready').length;
    };
    const record = async (name: string, path_: () => Promise<void>) => {
      events.length = 0;
      rmSync(serial(), { force: true });
      await path_();
      await new Promise((r) => setTimeout(r, 1000)); // anything late
      expect(collapse(events.map(named)), name).toEqual(collapse(FIXTURE.sequences[name]!));
    };

    it('shutdown: the guest powers off on the ACPI button', async () => {
      await record('shutdown', async () => {
        await c.domainCreateWithFlags(dom, 0);
        await until('ready', () => readyCount() >= 1);
        await c.domainShutdown(dom);
        await until('the stop', stopped);
      });
    });

    it('reboot: a fake reboot, the REBOOT event at every reset, then destroy', async () => {
      await record('reboot', async () => {
        await c.domainCreateWithFlags(dom, 0);
        await until('ready', () => readyCount() >= 1);
        await c.domainReboot(dom, 0);
        await until('the second boot', () => readyCount() >= 2);
        await c.domainDestroy(dom);
        await until('the stop', stopped);
      });
    });

    it('crash: QEMU killed', async () => {
      await record('crash', async () => {
        await c.domainCreateWithFlags(dom, 0);
        await until('ready', () => readyCount() >= 1);
        process.kill(qemuPid(way.root, 'ev'), 'SIGKILL');
        await until('the stop', stopped);
      });
    });
  },
);
