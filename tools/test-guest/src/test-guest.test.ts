// The test guest booted straight under QEMU on TCG (no qvirt): it reports what it sees, its
// agent answers, it sees a hotplugged disk and vCPU come (and the disk go), gives memory back
// to the balloon, and powers off on the ACPI power button.
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testGuest, whyNoTestGuest } from './index.js';
import { Agent, bootDirect, type DirectGuest, haveQemu } from './test-support/direct-qemu.js';

// Each test boots a guest under TCG on a shared machine: minutes, not the default seconds.
const BOOT_TEST_MS = 180000;

const guest = haveQemu() ? testGuest() : undefined;
const skipReason = haveQemu() ? whyNoTestGuest() : 'no qemu-system-x86_64';

describe.skipIf(!guest)(`test guest under QEMU/TCG${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let dir: string;
  let vm: DirectGuest | undefined;
  let agent: Agent | undefined;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'qvirt-test-guest-'));
  });
  afterEach(async () => {
    agent?.close();
    agent = undefined;
    await vm?.stop();
    vm = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it(
    'reports what it sees, answers the agent and powers off on system_powerdown',
    async () => {
      const data = join(dir, 'data.raw');
      copyFileSync(guest!.disk!, data);
      vm = await bootDirect(guest!, dir, [
        '-drive',
        `if=none,id=data0,file=${data},format=raw`,
        '-device',
        'virtio-blk-pci,drive=data0,serial=QVIRT-DATA',
        '-nic',
        'user,model=virtio-net-pci,mac=52:54:00:ab:cd:ef',
      ]);
      const first = await vm.console.waitForReport('kernel', {}, { timeoutMs: 120000 });
      const firstAt = Date.now();
      const ready = await vm.console.waitForReport('ready', {}, { timeoutMs: 60000 });
      const view = vm.console.view;
      process.stdout.write(
        `test-guest: first report ${firstAt - vm.startedAt} ms after QEMU started, ready at ${Date.now() - vm.startedAt} ms ` +
          `(guest uptime ${ready.fields.uptime} s); ` +
          `kernel ${guest!.manifest.kernelBytes} bytes, initramfs ${guest!.manifest.initrdBytes} bytes\n`,
      );
      expect(first.fields.release).toBe(guest!.manifest.kernelRelease);
      expect(view.cpus?.count).toBe(1);
      expect(view.memoryKiB).toBeGreaterThan(100 * 1024);
      const disk = [...view.disks.values()].find((d) => d.serial === 'QVIRT-DATA');
      expect(disk?.bytes).toBe(8 * 1024 * 1024);
      expect([...view.nics.values()].map((n) => n.mac)).toContain('52:54:00:ab:cd:ef');
      await vm.console.waitUntil('the data disk mounted', (v) => v.mounts.get('/mnt/data'));

      agent = await Agent.open(vm.agentSocket);
      expect(await agent.execute('guest-ping')).toEqual({});
      const guestNs = await agent.execute('guest-get-time');
      expect(Math.abs(guestNs / 1e6 - Date.now())).toBeLessThan(10 * 60 * 1000);
      expect(await agent.execute('guest-get-host-name')).toEqual({ 'host-name': 'qvirt-guest' });
      const ifaces: { name: string; 'hardware-address': string }[] = await agent.execute(
        'guest-network-get-interfaces',
      );
      expect(ifaces.map((i) => i['hardware-address'])).toContain('52:54:00:ab:cd:ef');
      expect(await agent.execute('guest-fsfreeze-freeze')).toBe(1);
      expect(await agent.execute('guest-fsfreeze-status')).toBe('frozen');
      expect(await agent.execute('guest-fsfreeze-thaw')).toBe(1);
      expect(await agent.execute('guest-fsfreeze-status')).toBe('thawed');

      await vm.qmp.execute('system_powerdown');
      await vm.console.waitForReport('power-button');
      await vm.console.waitForReport('shutdown');
      expect(await vm.exited).toEqual({ code: 0, signal: null });
      const shutdown = await vm.qmp.waitEvent('SHUTDOWN', () => true, 1000);
      expect(shutdown.data).toMatchObject({ guest: true, reason: 'guest-shutdown' });
    },
    BOOT_TEST_MS,
  );

  it(
    'sees a virtio disk hotplugged over QMP, and sees it go',
    async () => {
      const extra = join(dir, 'extra.raw');
      copyFileSync(guest!.disk!, extra);
      vm = await bootDirect(guest!, dir);
      await vm.console.waitUntil('ready', (v) => v.ready, 120000);
      expect([...vm.console.view.disks.values()].some((d) => d.serial === 'QVIRT-HOT')).toBe(false);

      await vm.qmp.execute('blockdev-add', { driver: 'file', filename: extra, 'node-name': 'hot0' });
      await vm.qmp.execute('device_add', {
        driver: 'virtio-blk-pci',
        drive: 'hot0',
        id: 'hotdisk0',
        serial: 'QVIRT-HOT',
        bus: 'hotplug0',
      });
      const seen = await vm.console.waitUntil('the hotplugged disk', (v) =>
        [...v.disks.values()].find((d) => d.serial === 'QVIRT-HOT'),
      );
      expect(seen.bytes).toBe(8 * 1024 * 1024);

      await vm.qmp.execute('device_del', { id: 'hotdisk0' });
      await vm.qmp.waitEvent('DEVICE_DELETED', (d) => d.device === 'hotdisk0');
      await vm.console.waitUntil('the disk gone', (v) => !v.disks.has(seen.name));
      await vm.qmp.execute('quit');
      await vm.exited;
    },
    BOOT_TEST_MS,
  );

  it(
    'onlines a hotplugged vCPU and gives memory to the balloon and takes it back',
    async () => {
      vm = await bootDirect(guest!, dir);
      await vm.console.waitUntil('ready', (v) => v.ready, 120000);
      const before = vm.console.view.memoryKiB!;

      const slots: { props: Record<string, number>; type: string; 'qom-path'?: string }[] =
        await vm.qmp.execute('query-hotpluggable-cpus');
      const free = slots.find((s) => !s['qom-path']);
      expect(free).toBeDefined();
      await vm.qmp.execute('device_add', { driver: free!.type, id: 'vcpu1', ...free!.props });
      const cpus = await vm.console.waitUntil('two CPUs online', (v) => v.cpus?.count === 2 && v.cpus);
      expect(cpus.online).toBe('0-1');

      await vm.qmp.execute('balloon', { value: 128 * 1024 * 1024 });
      const shrunk = await vm.console.waitUntil(
        'the balloon inflated',
        (v) => v.memoryKiB! <= 128 * 1024 && v.memoryKiB,
      );
      expect(shrunk).toBeLessThan(before);
      await vm.qmp.execute('balloon', { value: 256 * 1024 * 1024 });
      await vm.console.waitUntil('the balloon deflated', (v) => v.memoryKiB === before);
      await vm.qmp.execute('quit');
      await vm.exited;
    },
    BOOT_TEST_MS,
  );
});
