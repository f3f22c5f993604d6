/**
 * The guest agent's APIs and libvirt-qemu's on the Linux test guest (tools/test-guest), in process
 * and through qvirtd, as the contract suite runs: the agent's lifecycle events, its answers in
 * the contract's shapes, the QEMU monitor's commands and events, the refusals, and a shutdown
 * through the agent.
 */
import { copyFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  type Domain,
  type DomainEvent,
  type HypervisorDriver,
  type QemuMonitorEvent,
  VIR_DOMAIN_EVENT_ID,
} from '@qvirt/core/hypervisor';
import { greetingBootSector } from '@qvirt/driver';
import { testGuest } from '@qvirt/test-guest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bothWays, type Way } from '../test-support/ways.js';

const guest = testGuest();
const AGENT = VIR_DOMAIN_EVENT_ID.AGENT_LIFECYCLE;
const LIFECYCLE = VIR_DOMAIN_EVENT_ID.LIFECYCLE;

/** Polls `probe` until it answers truthy. */
async function until<T>(what: string, probe: () => Promise<T | undefined | false>, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe.skipIf(!guest).each(bothWays('qvirt-agent-'))('the guest agent %s', (_label, open) => {
  let way: Way;
  let c: HypervisorDriver;
  let dom: Domain;
  let plain: Domain;
  const events: DomainEvent[] = [];
  const ids: number[] = [];

  beforeAll(async () => {
    way = await open();
    c = way.conn;
    const dir = way.dir;
    copyFileSync(guest!.kernel, path.join(dir, 'vmlinuz'));
    copyFileSync(guest!.initrd, path.join(dir, 'initrd.img'));
    copyFileSync(guest!.disk!, path.join(dir, 'data.raw'));
    writeFileSync(path.join(dir, 'boot.img'), greetingBootSector());
    dom =
      await c.domainDefineXML(`<domain type='qemu'><name>ga</name><memory unit='MiB'>256</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='q35'>hvm</type><kernel>${dir}/vmlinuz</kernel><initrd>${dir}/initrd.img</initrd>
<cmdline>${guest!.append}</cmdline></os><features><acpi/></features>
<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>
<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${dir}/data.raw'/><target dev='vda' bus='virtio'/></disk>
<interface type='user'><mac address='52:54:00:11:22:34'/><model type='virtio'/></interface>
<serial type='file'><source path='${dir}/serial.log'/><target port='0'/></serial>
<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
</devices></domain>`);
    plain = await c.domainDefineXML(`<domain type='qemu'><name>plain</name><memory unit='MiB'>32</memory>
<os><type arch='i686' machine='pc'>hvm</type><boot dev='hd'/></os>
<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>
<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${dir}/boot.img'/><target dev='hda' bus='ide'/></disk>
</devices></domain>`);
    for (const id of [AGENT, LIFECYCLE])
      ids.push(await c.connectDomainEventRegisterAny(dom, id, (e) => events.push(e)));
  }, 60_000);

  afterAll(async () => {
    for (const id of ids) await c?.connectDomainEventDeregisterAny(id).catch(() => {});
    await way?.close();
  });

  it('refuses with libvirt’s texts', async () => {
    await expect(c.domainGetTime(dom, 0)).rejects.toThrow(
      'Requested operation is not valid: domain is not running',
    );
    await expect(c.domainQemuMonitorCommand(dom, '{"execute":"query-status"}', 0)).rejects.toThrow(
      'Requested operation is not valid: domain is not running',
    );
    await expect(c.domainQemuAttach(1, 0)).rejects.toThrow(
      'this function is not supported by the connection driver: virDomainQemuAttach',
    );
    await c.domainCreateWithFlags(plain, 0);
    try {
      for (const call of [
        () => c.domainGetTime(plain, 0),
        () => c.domainGetFSInfo(plain, 0),
        () => c.domainQemuAgentCommand(plain, '{"execute":"guest-ping"}', -1, 0),
        () => c.domainShutdownFlags(plain, 2),
        () => c.domainInterfaceAddresses(plain, 1, 0),
      ])
        await expect(call()).rejects.toThrow('argument unsupported: QEMU guest agent is not configured');
      await expect(c.domainGetHostname(plain, 3)).rejects.toThrow(
        "Flags 'VIR_DOMAIN_GET_HOSTNAME_LEASE' and 'VIR_DOMAIN_GET_HOSTNAME_AGENT' are mutually exclusive",
      );
      await expect(c.domainGetHostname(plain, 1)).rejects.toThrow(
        'no hostname found: no hostname found for domain plain',
      );
      await expect(c.domainFSThaw(plain, ['/'], 0)).rejects.toThrow(
        'argument unsupported: specifying mountpoints is not supported',
      );
      await expect(c.domainGetGuestInfo(plain, 1 << 10, 0)).rejects.toThrow(
        "invalid argument: unsupported guest information types '0x400'",
      );
      expect(await c.domainInterfaceAddresses(plain, 0, 0)).toEqual([]);
    } finally {
      await c.domainDestroy(plain);
    }
  });

  it('connects when the guest opens its port, and answers', async () => {
    const monitorEvents: QemuMonitorEvent[] = [];
    const mon = await c.connectDomainQemuMonitorEventRegister(
      dom,
      'VSERPORT_CHANGE',
      (e) => monitorEvents.push(e),
      0,
    );
    await c.domainCreateWithFlags(dom, 0);
    await until('the agent', async () => events.some((e) => e.eventID === AGENT && e.state === 1), 120_000);
    // disconnected at the start ("domain started"), connected by the guest ("channel")
    expect(events.filter((e) => e.eventID === AGENT).map((e) => [e.state, e.reason])).toEqual([
      [2, 1],
      [1, 2],
    ]);
    await until('the port event', async () => monitorEvents.length > 0, 10_000);
    await c.connectDomainQemuMonitorEventDeregister(mon);
    expect(monitorEvents[0]).toMatchObject({ event: 'VSERPORT_CHANGE', dom: { name: 'ga' } });
    expect(JSON.parse(monitorEvents[0]!.details!)).toEqual({ open: true, id: 'channel0' });
    expect(await c.domainGetXMLDesc(dom, 0)).toContain("name='org.qemu.guest_agent.0' state='connected'/>");

    const { seconds } = await c.domainGetTime(dom, 0);
    expect(Math.abs(seconds - Date.now() / 1000)).toBeLessThan(600);
    expect(await c.domainGetHostname(dom, 0)).toBe('qvirt-guest');
    const eth0 = await until(
      'the DHCP address',
      async () =>
        (await c.domainInterfaceAddresses(dom, 1, 0)).find(
          (i) => i.name === 'eth0' && i.addrs.some((a) => a.addr === '10.0.2.15'),
        ),
      60_000,
    );
    expect(eth0).toMatchObject({ hwaddr: '52:54:00:11:22:34' });
    expect(await c.domainGetFSInfo(dom, 0)).toEqual({
      info: [{ mountpoint: '/mnt/data', name: 'vda', fstype: 'ext4', dev_aliases: ['vda'] }],
      ret: 1,
    });
    expect(await c.domainFSFreeze(dom, [], 0)).toBe(1);
    expect(await c.domainFSThaw(dom, [], 0)).toBe(1);
    const info = await c.domainGetGuestInfo(dom, 8 | 16, 0);
    expect(info.map((p) => p.field)).toEqual([
      'hostname',
      'fs.count',
      'fs.0.name',
      'fs.0.mountpoint',
      'fs.0.fstype',
      'fs.0.total-bytes',
      'fs.0.used-bytes',
      'fs.0.disk.count',
      'fs.0.disk.0.alias',
      'fs.0.disk.0.device',
    ]);
    expect(await c.domainGetGuestVcpus(dom, 0)).toEqual([
      { field: 'vcpus', type: 7, value: '0' },
      { field: 'online', type: 7, value: '0' },
      { field: 'offlinable', type: 7, value: '' },
    ]);
    await expect(c.domainSetGuestVcpus(dom, '0', 0, 0)).rejects.toThrow(
      "Operation not supported: vCPU '0' is not offlinable",
    );
    expect(await c.domainGetVcpusFlags(dom, 8)).toBe(1);
    await c.domainSetTime(dom, 0, 0, 1);
    expect(JSON.parse((await c.domainQemuAgentCommand(dom, '{"execute":"guest-ping"}', 5, 0))!)).toEqual({
      return: {},
    });
    await expect(c.domainQemuAgentCommand(dom, '{"execute":"nope"}', -1, 0)).rejects.toThrow(
      "internal error: unable to execute QEMU agent command 'nope': The command nope has not been found",
    );
    await expect(c.domainQemuAgentCommand(dom, '{"execute":"guest-ping"}', -3, 0)).rejects.toThrow(
      "guest agent timeout '-3' is less than the minimum '-2'",
    );
    const status = JSON.parse(await c.domainQemuMonitorCommand(dom, '{"execute":"query-status"}', 0));
    expect(status).toMatchObject({
      return: { status: 'running', running: true },
      id: expect.stringMatching(/^libvirt-\d+$/),
    });
    expect(await c.domainQemuMonitorCommand(dom, 'info status', 1)).toBe('VM status: running\r\n');
    // virDomainGetMessages: the run's taints in libvirt's order and words; no deprecations
    const tainted = [
      'tainted: custom monitor control commands issued',
      'tainted: custom guest agent control commands issued',
    ];
    expect(await c.domainGetMessages(dom, 0)).toEqual(tainted);
    expect(await c.domainGetMessages(dom, 2)).toEqual(tainted);
    expect(await c.domainGetMessages(dom, 1)).toEqual([]);
    await expect(c.domainGetMessages(dom, 4)).rejects.toThrow(
      'unsupported flags (0x4) in function qemuDomainGetMessages',
    );
    // virDomainAgentSetResponseTimeout (its effect on a silent agent: the driver's guest-agent
    // tests): a timeout longer than the agent needs, then blocking again
    await expect(c.domainAgentSetResponseTimeout(dom, -3, 0)).rejects.toThrow(
      "invalid argument: guest agent timeout '-3' is less than the minimum '-2'",
    );
    await expect(c.domainAgentSetResponseTimeout(dom, 5, 1)).rejects.toThrow(
      'unsupported flags (0x1) in function qemuDomainAgentSetResponseTimeout',
    );
    expect(await c.domainAgentSetResponseTimeout(dom, 10, 0)).toBe(0);
    expect(await c.domainGetHostname(dom, 0)).toBe('qvirt-guest');
    expect(await c.domainAgentSetResponseTimeout(dom, -2, 0)).toBe(0);
  }, 240_000);

  it('suspends to RAM through the agent and wakes up (dompmsuspend, dompmwakeup)', async () => {
    await expect(c.domainPMSuspendForDuration(dom, 0, 5, 0)).rejects.toThrow(
      'argument unsupported: Duration not supported. Use 0 for now',
    );
    await expect(c.domainPMSuspendForDuration(dom, 3, 0, 0)).rejects.toThrow(
      'invalid argument: Unknown suspend target: 3',
    );
    events.length = 0;
    // guest-suspend-ram ends at QEMU's SUSPEND, or when the agent's port closes as the guest goes
    // down (as libvirt, the call may return first): pmsuspended (reason unknown), PMSUSPENDED memory
    await c.domainPMSuspendForDuration(dom, 0, 0, 0);
    await until('pmsuspended', async () => (await c.domainGetState(dom, 0)).state === 7, 30_000);
    expect(await c.domainGetState(dom, 0)).toEqual({ state: 7, reason: 0 });
    await expect(c.domainPMSuspendForDuration(dom, 0, 0, 0)).rejects.toThrow(
      'Requested operation is not valid: domain is not running',
    );
    // system_wakeup: QEMU's WAKEUP makes it run again (reason wakeup), STARTED wakeup
    await c.domainPMWakeup(dom, 0);
    await until('running again', async () => (await c.domainGetState(dom, 0)).state === 1, 30_000);
    expect(await c.domainGetState(dom, 0)).toEqual({ state: 1, reason: 8 });
    expect(events.filter((e) => e.eventID === LIFECYCLE).map((e) => [e.event, e.detail])).toEqual([
      [7, 0],
      [2, 4],
    ]);
    // the guest's agent opens its port again after the sleep (an AGENT_LIFECYCLE connected event)
    const agentStates = () => events.filter((e) => e.eventID === AGENT).map((e) => e.state);
    await until(
      'the agent answering',
      async () => (await c.domainGetHostname(dom, 0)) === 'qvirt-guest' && agentStates().includes(1),
      60_000,
    );
  }, 120_000);

  it('reboots through the agent: the guest resets and its agent comes back', async () => {
    events.length = 0;
    const reboots: DomainEvent[] = [];
    const id = await c.connectDomainEventRegisterAny(dom, VIR_DOMAIN_EVENT_ID.REBOOT, (e) => reboots.push(e));
    try {
      // guest-shutdown mode=reboot ends at QEMU's RESET, or when the agent stops with the guest
      await c.domainReboot(dom, 2);
      // (the guest's reboot resets QEMU more than once; each reset is a REBOOT event. The
      // probes ask the connection something so that it is never idle for long.)
      await until('the reset', async () => (await c.domainGetState(dom, 0)) && reboots.length > 0, 90_000);
      await until(
        'the agent back',
        async () =>
          (await c.domainGetState(dom, 0)) &&
          events
            .filter((e) => e.eventID === AGENT)
            .map((e) => e.state)
            .join() === '2,1',
        120_000,
      );
      expect(await c.domainGetHostname(dom, 0)).toBe('qvirt-guest');
    } finally {
      await c.connectDomainEventDeregisterAny(id).catch(() => {});
    }
  }, 150_000);

  it('shuts down through the agent with libvirt’s events', async () => {
    events.length = 0;
    await c.domainShutdownFlags(dom, 2);
    await until(
      'the stop',
      async () =>
        (await c.connectGetLibVersion()) && events.some((e) => e.eventID === LIFECYCLE && e.event === 5),
      90_000,
    );
    expect(
      events.map((e) => (e.eventID === AGENT ? ['agent', e.state, e.reason] : [e.event, e.detail])),
    ).toEqual([
      ['agent', 2, 2],
      [6, 1],
      [5, 0],
    ]);
    await expect(c.domainGetTime(dom, 0)).rejects.toThrow('domain is not running');
  }, 120_000);
});
