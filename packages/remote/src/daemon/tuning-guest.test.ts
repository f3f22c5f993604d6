/**
 * Tuning, keys and screens of the Linux test guest (tools/test-guest) through qvirtd, driven by
 * libvirt's own virsh and by libvirt-python (Debian's python3-libvirt 9.0), as Nova calls them:
 * a magic SysRq sent with send-key answers on the guest's serial console, a screenshot is a PNG,
 * and memory, scheduler, NUMA and IOThread changes land in the domain's cgroup files.
 */
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { GuestConsole, testGuest } from '@qvirt/test-guest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasVirsh, run, startTestDaemon, type TestDaemon, virsh } from '../test-support/harness.js';

const guest = testGuest();
const PYTHON = '/usr/bin/python3';
const hasPythonLibvirt = existsSync(PYTHON) && existsSync('/usr/lib/python3/dist-packages/libvirt.py');

/** The running domain's group in a v1 controller (undefined where the host has none). */
function group(t: TestDaemon, controller: string): string | undefined {
  if (!existsSync(`/sys/fs/cgroup/${controller}/cgroup.procs`)) return undefined;
  const pid = readFileSync(path.join(t.root, 'run', 'qemu', 'tg.pid'), 'utf8').trim();
  const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8')
    .split('\n')
    .find((l) => l.split(':')[1]?.split(',').includes(controller));
  const p = line?.split(':')[2]?.replace(/\/emulator$/, '');
  return p && p !== '/' ? `/sys/fs/cgroup/${controller}${p}` : undefined;
}
const cat = (f: string) => readFileSync(f, 'utf8').trim();

describe.skipIf(!guest || !hasVirsh)('tuning the Linux test guest through qvirtd', () => {
  let t: TestDaemon;
  let con: GuestConsole;
  let stop: () => void;
  beforeAll(async () => {
    t = await startTestDaemon();
    copyFileSync(guest!.kernel, path.join(t.dir, 'vmlinuz'));
    copyFileSync(guest!.initrd, path.join(t.dir, 'initrd.img'));
    const serial = path.join(t.dir, 'serial.log');
    await t.daemon.driver.defineXML(`<domain type='qemu'>
  <name>tg</name>
  <memory unit='MiB'>256</memory>
  <vcpu current='1'>2</vcpu>
  <iothreads>1</iothreads>
  <os><type arch='x86_64' machine='q35'>hvm</type>
    <kernel>${t.dir}/vmlinuz</kernel><initrd>${t.dir}/initrd.img</initrd>
    <cmdline>${guest!.append}</cmdline></os>
  <features><acpi/></features>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <serial type='file'><source path='${serial}'/><target port='0'/></serial>
    <video><model type='vga'/></video>
  </devices>
</domain>`);
    expect((await virsh(t.rwUri, 'start', 'tg')).code).toBe(0);
    con = new GuestConsole();
    stop = con.followFile(serial);
    await con.waitUntil('ready', (v) => v.ready, 120_000);
  }, 150_000);
  afterAll(async () => {
    stop?.();
    await t?.stop();
  });

  it('sends keys the guest kernel reads: Alt+SysRq+H prints the SysRq help on its serial console', async () => {
    const r = await virsh(t.rwUri, 'send-key', 'tg', 'KEY_LEFTALT', 'KEY_SYSRQ', 'KEY_H');
    expect(r).toMatchObject({ code: 0, stderr: '' });
    await con.waitUntil('the SysRq help', () => /sysrq: HELP : /.test(con.text), 30_000);
  });

  it("puts a vCPU hotplugged with setvcpus in its own group, with the domain's vCPU bandwidth", async () => {
    const cpu = group(t, 'cpu');
    if (cpu) expect(existsSync(`${cpu}/vcpu1`)).toBe(false);
    expect((await virsh(t.rwUri, 'schedinfo', 'tg', '--set', 'vcpu_quota=60000', '--live')).code).toBe(0);
    expect((await virsh(t.rwUri, 'setvcpus', 'tg', '2', '--live')).code).toBe(0);
    await con.waitUntil('two CPUs online', (v) => v.cpus?.online === '0-1', 60_000);
    if (cpu) {
      const tasks = cat(`${cpu}/vcpu1/tasks`).split('\n');
      expect(tasks).toHaveLength(1);
      expect(cat(`${cpu}/vcpu1/cpu.cfs_quota_us`)).toBe('60000');
      expect(cat(`${cpu}/emulator/tasks`).split('\n')).not.toContain(tasks[0]);
    }
  });

  it('takes a PNG screenshot with virsh', async () => {
    const file = path.join(t.dir, 'screen.png');
    const r = await virsh(t.rwUri, 'screenshot', 'tg', file);
    expect(r.stdout).toBe(`Screenshot saved to ${file}, with type of image/png\n`);
    const png = readFileSync(file);
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    // IHDR: a VGA text screen, 720 x 400
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([720, 400]);
  });

  it.skipIf(!hasPythonLibvirt)(
    'answers libvirt-python as libvirt does, the values in the cgroup files',
    async () => {
      const script = `
import libvirt, sys
libvirt.registerErrorHandler(lambda ctx, err: None, None)
c = libvirt.open(sys.argv[1])
d = c.lookupByName('tg')
L = libvirt.VIR_DOMAIN_AFFECT_LIVE
d.setMemoryParameters({'hard_limit': 2097152, 'soft_limit': 1048576}, L)
m = d.memoryParameters(L)
print(m['hard_limit'], m['soft_limit'], m['swap_hard_limit'])
d.setSchedulerParametersFlags({'cpu_shares': 256, 'vcpu_period': 50000, 'emulator_quota': 20000}, L)
s = d.schedulerParametersFlags(L)
print(s['cpu_shares'], s['vcpu_period'], s['emulator_quota'], d.schedulerType()[0])
print(sorted(d.numaParameters(L).items()))
d.addIOThread(7, L)
d.pinIOThread(7, (True,), L)
print(sorted(d.ioThreadInfo(L)))
d.delIOThread(7, L)
print(sorted(i for i, _ in d.ioThreadInfo(L)))
try:
    d.setNumaParameters({'numa_mode': 9}, L)
except libvirt.libvirtError as e:
    print(e.get_error_code(), e)
d.sendKey(libvirt.VIR_KEYCODE_SET_LINUX, 0, [30], 1, 0)
d.injectNMI(0)
print(d.diskErrors(0))
st = c.newStream(0)
mime = d.screenshot(st, 0, 0)
data = b''
while True:
    b = st.recv(65536)
    if not b:
        break
    data += b
st.finish()
print(mime, data[:4] == b'\\x89PNG')
`;
      const r = await run(PYTHON, ['-c', script, t.rwUri]);
      expect(r.stderr).toBe('');
      const lines = r.stdout.trim().split('\n');
      expect(lines[0]).toBe('2097152 1048576 9007199254740991');
      expect(lines[1]).toBe('256 50000 20000 posix');
      expect(lines[2]).toBe("[('numa_mode', 0), ('numa_nodeset', '')]");
      // IOThread 1 on every host CPU, IOThread 7 pinned to CPU 0
      expect(lines[3]).toMatch(/^\[\(1, \[True(, True)*\]\), \(7, \[True(, False)*\]\)\]$/);
      expect(lines[4]).toBe('[1]');
      expect(lines[5]).toBe("8 invalid argument: unsupported numatune mode: '9'");
      expect(lines[6]).toBe('{}');
      expect(lines[7]).toBe('image/png True');
      const mem = group(t, 'memory');
      if (mem) {
        expect(cat(`${mem}/memory.limit_in_bytes`)).toBe(String(2097152 * 1024));
        expect(cat(`${mem}/memory.soft_limit_in_bytes`)).toBe(String(1048576 * 1024));
      }
      const cpu = group(t, 'cpu');
      if (cpu) {
        expect(cat(`${cpu}/cpu.shares`)).toBe('256');
        expect(cat(`${cpu}/vcpu0/cpu.cfs_period_us`)).toBe('50000');
        expect(cat(`${cpu}/emulator/cpu.cfs_quota_us`)).toBe('20000');
        expect(existsSync(`${cpu}/iothread7`)).toBe(false);
        expect(existsSync(`${cpu}/iothread1`)).toBe(true);
      }
    },
  );
});
