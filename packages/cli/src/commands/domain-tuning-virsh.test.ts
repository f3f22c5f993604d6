import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { greetingBootSector } from '@qvirt/driver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CliTestDaemon,
  hasVirsh,
  qvirshOn,
  type Run,
  startCliTestDaemon,
  virshOn,
} from '../test-support/test-daemon.js';

let t: CliTestDaemon;
let dir: string;
let uri: string;

const virsh = virshOn(() => uri);
const qvirsh = qvirshOn(() => uri);

/** Both print the same for `argv`. */
async function same(argv: string[]): Promise<Run> {
  const real = await virsh(...argv);
  const ours = await qvirsh(...argv);
  expect(ours, argv.join(' ')).toEqual(real);
  return real;
}

/** The running domain's group directory in a v1 controller, from QEMU's /proc/PID/cgroup. */
function group(controller: string): string | undefined {
  if (!existsSync(`/sys/fs/cgroup/${controller}/cgroup.procs`)) return undefined;
  const pid = readFileSync(path.join(dir, 'root', 'run', 'qemu', 'tn1.pid'), 'utf8').trim();
  const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8')
    .split('\n')
    .find((l) => l.split(':')[1]?.split(',').includes(controller));
  const p = line?.split(':')[2]?.replace(/\/emulator$/, '');
  return p && p !== '/' ? `/sys/fs/cgroup/${controller}${p}` : undefined;
}
const cat = (f: string) => readFileSync(f, 'utf8').trim();

describe.skipIf(!hasVirsh)(
  'tuning, IOThread, key and screen commands: virsh and qvirsh through qvirtd',
  () => {
    beforeAll(async () => {
      t = await startCliTestDaemon('qvirt-cli-tuning-');
      ({ dir, uri } = t);
      const boot = path.join(dir, 'boot.img');
      writeFileSync(boot, greetingBootSector());
      const data = path.join(dir, 'data.qcow2');
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', data, '10M']);
      const file = path.join(dir, 'tn.xml');
      writeFileSync(
        file,
        `<domain type='qemu'><name>tn1</name><memory unit='KiB'>65536</memory><vcpu>2</vcpu><iothreads>1</iothreads>
<os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>
<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${boot}'/><target dev='hda' bus='ide'/></disk>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='${data}'/><target dev='vdb' bus='virtio'/></disk>
<video><model type='vga'/></video>
</devices></domain>`,
      );
      expect((await qvirsh('define', file)).code).toBe(0);
    });

    afterAll(async () => {
      await qvirsh('destroy', 'tn1');
      await qvirsh('undefine', 'tn1');
      await t?.stop();
    });

    it('prints the same for a stopped domain', async () => {
      for (const argv of [
        ['memtune', 'tn1'],
        ['memtune', 'tn1', '--hard-limit', '1G', '--config'],
        ['memtune', 'tn1', '--config'],
        ['memtune', 'tn1', '--live'],
        ['memtune', 'tn1', '--min-guarantee', '1000'],
        ['memtune', 'tn1', '--hard-limit', 'x'],
        ['blkiotune', 'tn1'],
        ['blkiotune', 'tn1', '--weight', '300'],
        ['blkiotune', 'tn1', '--weight', '0'],
        ['blkiotune', 'tn1', '--device-read-bytes-sec', '/dev/null'],
        ['numatune', 'tn1'],
        ['numatune', 'tn1', '--mode', 'restrictive', '--nodeset', '0'],
        ['numatune', 'tn1', '--mode', 'bogus'],
        ['numatune', 'tn1', '--config'],
        ['schedinfo', 'tn1', '--set', 'cpu_shares=300'],
        ['schedinfo', 'tn1', '--set', 'vcpu_quota=-1', '--config'],
        ['schedinfo', 'tn1', '--set', 'bogus=1'],
        ['schedinfo', 'tn1', '--set', 'cpu_shares'],
        ['schedinfo', 'tn1', '--set', 'cpu_shares=x'],
        ['iothreadinfo', 'tn1'],
        ['iothreadadd', 'tn1', '0'],
        ['iothreaddel', 'tn1', '4'],
        ['send-key', 'tn1', 'KEY_A'],
        ['inject-nmi', 'tn1'],
        ['domblkerror', 'tn1'],
        ['screenshot', 'tn1'],
        ['blkdeviotune', 'tn1', 'vdb'],
        ['blkdeviotune', 'tn1', 'vdb', '--total-bytes-sec', '2M', '--write-iops-sec', '40', '--config'],
        ['blkdeviotune', 'tn1', 'vdb'],
        ['blkdeviotune', 'tn1', 'vdz'],
        ['blockresize', 'tn1', 'vdb', '20M'],
        ['perf', 'tn1'],
        ['perf', 'tn1', '--enable', 'cpu_cycles,page_faults', '--disable', 'cmt'],
        ['perf', 'tn1', '--config'],
        ['perf', 'tn1', '--enable', 'bogus'],
        // hardware counters stay off in the config: a machine without a PMU (most VMs) cannot
        // open cpu_cycles, and a start fails as libvirt's does ("unable to open host cpu perf event")
        ['perf', 'tn1', '--disable', 'cpu_cycles,page_faults'],
        ['set-lifecycle-action', 'tn1', 'reboot', 'destroy'],
        ['set-lifecycle-action', 'tn1', 'poweroff', 'coredump-destroy'],
        ['set-lifecycle-action', 'tn1', 'crash', 'rename-restart'],
        ['set-lifecycle-action', 'tn1', 'poweroff', 'restart'],
        ['set-lifecycle-action', 'tn1', 'bogus', 'restart'],
        ['set-lifecycle-action', 'tn1', 'crash', 'bogus'],
        ['set-lifecycle-action', 'tn1', 'reboot', 'restart'],
        ['set-lifecycle-action', 'tn1', 'crash', 'preserve', '--config'],
      ]) {
        await same(argv);
      }
      // a change: virsh makes it and takes it back, then qvirsh makes it
      const added = await virsh('iothreadadd', 'tn1', '4');
      expect(added).toEqual({ code: 0, out: '\n', err: '' });
      expect((await virsh('iothreaddel', 'tn1', '4')).code).toBe(0);
      expect(await qvirsh('iothreadadd', 'tn1', '4')).toEqual(added);
      await same(['iothreadadd', 'tn1', '4']);
      await same(['iothreadpin', 'tn1', '4', '0']);
      expect((await same(['iothreadinfo', 'tn1'])).out).toBe(
        ' IOThread ID   CPU Affinity\n-----------------------------\n 1             0-1\n 4             0\n\n'.replace(
          /0-1/,
          (await virsh('iothreadinfo', 'tn1')).out.match(/^ 1 +(\S+)$/m)![1]!,
        ),
      );
      const deleted = await virsh('iothreaddel', 'tn1', '4');
      expect((await qvirsh('iothreadadd', 'tn1', '4')).code).toBe(0);
      expect(await qvirsh('iothreaddel', 'tn1', '4')).toEqual(deleted);
    });

    it('answers the migration tunables of a stopped domain as libvirt', async () => {
      // qemuDomainMigrateGetMaxSpeed: QEMU_DOMAIN_MIG_BANDWIDTH_MAX until set, kept without a job
      expect((await same(['migrate-getspeed', 'tn1'])).out).toBe('8796093022207\n\n');
      expect(await same(['migrate-setspeed', 'tn1', '100'])).toEqual({ code: 0, out: '\n', err: '' });
      expect((await same(['migrate-getspeed', 'tn1'])).out).toBe('100\n\n');
      for (const argv of [
        ['migrate-setspeed', 'tn1', '8796093022208'],
        ['migrate-getmaxdowntime', 'tn1'],
        ['migrate-setmaxdowntime', 'tn1', '0'],
        ['migrate-setmaxdowntime', 'tn1', 'x'],
        ['migrate-compcache', 'tn1'],
        ['migrate-getspeed', 'tn1', '--postcopy'],
      ]) {
        expect((await same(argv)).code, argv.join(' ')).toBe(1);
      }
      expect((await virsh('migrate-getmaxdowntime', 'tn1')).err).toBe(
        'error: Requested operation is not valid: domain is not running\n',
      );
      expect((await virsh('migrate-setspeed', 'tn1', '8796093022208')).err).toBe(
        'error: numerical overflow: bandwidth must be less than 8796093022208\n',
      );
    });

    it('prints the same for a running domain, and the cgroup files hold what was set', async () => {
      expect(await qvirsh('start', 'tn1')).toMatchObject({ code: 0, err: '' });
      for (const argv of [
        ['memtune', 'tn1'],
        ['schedinfo', 'tn1'],
        ['numatune', 'tn1'],
        ['blkiotune', 'tn1'],
        ['iothreadinfo', 'tn1'],
        ['domblkerror', 'tn1'],
        ['send-key', 'tn1', 'KEY_LEFTCTRL', 'KEY_C'],
        ['send-key', 'tn1', '--codeset', 'xt', '30', '0x30'],
        ['send-key', 'tn1', '--codeset', 'rfb', '--holdtime', '50', '30'],
        ['send-key', 'tn1', 'BOGUS'],
        ['send-key', 'tn1', '--codeset', 'bogus', '1'],
        ['send-key', 'tn1', '--codeset', 'linux', '9999'],
        ['send-key', 'tn1', '--codeset', 'os_x', 'ANSI_A'],
        ['inject-nmi', 'tn1'],
        ['numatune', 'tn1', '--mode', 'interleave'],
        ['schedinfo', 'tn1', '--set', 'vcpu_quota=10'],
        ['memtune', 'tn1', '--hard-limit', '4194304', '--swap-hard-limit', '2097152'],
        ['iothreadpin', 'tn1', '9', '0'],
        ['screenshot', 'tn1', '--screen', '3'],
        ['domstats', 'tn1', '--iothread', '--perf', '--memory', '--vm'],
        ['blkdeviotune', 'tn1', 'vdb'],
        ['blkdeviotune', 'tn1', 'vdb', '--config'],
        ['blkdeviotune', 'tn1', 'vdz'],
        ['blkdeviotune', 'tn1', 'vdb', '--read-bytes-sec', '5', '--total-bytes-sec', '6'],
        ['blkdeviotune', 'tn1', 'vdb', '--total-bytes-sec-max', '5'],
        ['blockresize', 'tn1', 'vdz', '20M'],
        ['iothreadset', 'tn1', '1', '--poll-max-ns', '1000', '--poll-grow', '2'],
        ['iothreadset', 'tn1', '1', '--thread-pool-min', '2'],
        ['iothreadset', 'tn1', '1', '--thread-pool-min', '-1', '--thread-pool-max', '4'],
        ['iothreadset', 'tn1', '1', '--thread-pool-min', '1', '--thread-pool-max', '4'],
        ['iothreadset', 'tn1', '1', '--poll-max-ns', '1000', '--config'],
        ['iothreadset', 'tn1', '1', '--thread-pool-max', '0'],
        ['iothreadset', 'tn1', '9', '--poll-grow', '2'],
        ['iothreadset', 'tn1', '1'],
        ['domstats', 'tn1', '--iothread'],
        ['perf', 'tn1'],
        ['perf', 'tn1', '--enable', 'cmt'],
        ['set-lifecycle-action', 'tn1', 'reboot', 'destroy', '--live'],
        ['set-lifecycle-action', 'tn1', 'reboot', 'preserve', '--live'],
        ['perf', 'tn1', '--config'],
      ]) {
        await same(argv);
      }
      // a change made by one is what the other reads back, and what the cgroup holds
      expect(await virsh('memtune', 'tn1', '--hard-limit', '1048576', '--soft-limit', '524288')).toEqual({
        code: 0,
        out: '\n',
        err: '',
      });
      const mem = await same(['memtune', 'tn1']);
      expect(mem.out).toBe(
        'hard_limit     : 1048576\nsoft_limit     : 524288\nswap_hard_limit: unlimited\n\n',
      );
      const mg = group('memory');
      if (mg) {
        expect(cat(`${mg}/memory.limit_in_bytes`)).toBe(String(1048576 * 1024));
        expect(cat(`${mg}/memory.soft_limit_in_bytes`)).toBe(String(524288 * 1024));
      }
      const sched = await qvirsh(
        'schedinfo',
        'tn1',
        '--set',
        'cpu_shares=512',
        '--set',
        'vcpu_quota=50000',
        '--live',
      );
      expect(sched.out).toContain('cpu_shares     : 512\n');
      expect(await virsh('schedinfo', 'tn1')).toEqual(await qvirsh('schedinfo', 'tn1'));
      const cg = group('cpu');
      if (cg) {
        expect(cat(`${cg}/cpu.shares`)).toBe('512');
        expect(cat(`${cg}/vcpu0/cpu.cfs_quota_us`)).toBe('50000');
        expect(cat(`${cg}/vcpu1/cpu.cfs_quota_us`)).toBe('50000');
      }
      expect((await virsh('numatune', 'tn1', '--nodeset', '0')).code).toBe(0);
      expect((await same(['numatune', 'tn1'])).out).toBe(
        'numa_mode      : restrictive\nnuma_nodeset   : 0\n\n',
      );
      const cs = group('cpuset');
      if (cs) expect(cat(`${cs}/emulator/cpuset.mems`)).toBe('0');
      // IOThreads: virsh adds and pins, qvirsh reads and deletes
      expect((await virsh('iothreadadd', 'tn1', '5')).code).toBe(0);
      expect((await virsh('iothreadpin', 'tn1', '5', '0')).code).toBe(0);
      const info = await same(['iothreadinfo', 'tn1']);
      expect(info.out).toMatch(/^ 5 +0\n/m);
      if (cg) expect(existsSync(`${cg}/iothread5`)).toBe(true);
      expect((await qvirsh('iothreaddel', 'tn1', '5')).code).toBe(0);
      if (cg) expect(existsSync(`${cg}/iothread5`)).toBe(false);
      await same(['iothreaddel', 'tn1', '5']);
      // screenshots: the same message, a PNG from each
      for (const run of [virsh, qvirsh]) {
        const file = path.join(dir, `shot-${run === virsh ? 'virsh' : 'qvirsh'}.png`);
        expect(await run('screenshot', 'tn1', file)).toEqual({
          code: 0,
          out: `Screenshot saved to ${file}, with type of image/png\n`,
          err: '',
        });
        expect(readFileSync(file).subarray(1, 4).toString()).toBe('PNG');
      }
      // throttling: virsh sets, both read QEMU's figures back; qvirsh changes the group
      expect(
        await virsh('blkdeviotune', 'tn1', 'vdb', '--total-bytes-sec', '1000000', '--read-iops-sec', '100'),
      ).toEqual({ code: 0, out: '\n', err: '' });
      expect((await same(['blkdeviotune', 'tn1', 'vdb'])).out).toMatch(
        /^total_bytes_sec: 1000000\n(.*\n){3}read_iops_sec {2}: 100\n/,
      );
      expect(
        await qvirsh('blkdeviotune', 'tn1', 'vdb', '--group-name', 'g1', '--write-iops-sec', '50'),
      ).toEqual({ code: 0, out: '\n', err: '' });
      expect((await same(['blkdeviotune', 'tn1', 'vdb'])).out).toContain(
        'write_iops_sec : 50\ntotal_bytes_sec_max: 0\n',
      );
      // resizing: each one's size as the other reads it
      expect(await virsh('blockresize', 'tn1', 'vdb', '20M')).toEqual({
        code: 0,
        out: "Block device 'vdb' is resized\n",
        err: '',
      });
      expect((await same(['domblkinfo', 'tn1', 'vdb'])).out).toMatch(/^Capacity: +20971520$/m);
      expect(await qvirsh('blockresize', 'tn1', 'vdb', '1000')).toEqual({
        code: 0,
        out: "Block device 'vdb' is resized\n",
        err: '',
      });
      expect((await same(['domblkinfo', 'tn1', 'vdb'])).out).toMatch(/^Capacity: +1024000$/m);
      // perf counters on QEMU's process: software events work under TCG too
      expect(await qvirsh('perf', 'tn1', '--enable', 'page_faults,task_clock')).toEqual({
        code: 0,
        out: 'page_faults    : enabled\ntask_clock     : enabled\n\n',
        err: '',
      });
      expect((await same(['perf', 'tn1'])).out).toContain(
        'task_clock     : enabled\npage_faults    : enabled\n',
      );
      await new Promise((r) => setTimeout(r, 200));
      // QEMU 7.2's defaults as libvirtd reports them, then set through migrate-set-parameters
      expect((await same(['migrate-getmaxdowntime', 'tn1'])).out).toBe('300\n\n');
      expect((await same(['migrate-setmaxdowntime', 'tn1', '500'])).code).toBe(0);
      expect((await same(['migrate-getmaxdowntime', 'tn1'])).out).toBe('500\n\n');
      expect((await same(['migrate-compcache', 'tn1'])).out).toBe('Compression cache: 64.000 MiB\n');
      expect((await same(['migrate-compcache', 'tn1', '--size', '33554432'])).out).toBe(
        'Compression cache: 32.000 MiB\n',
      );
      expect((await same(['migrate-getspeed', 'tn1', '--postcopy'])).out).toBe('0\n\n');
      expect((await same(['migrate-setspeed', 'tn1', '200', '--postcopy'])).code).toBe(0);
      expect((await same(['migrate-getspeed', 'tn1', '--postcopy'])).out).toBe('200\n\n');
      expect((await same(['migrate-getspeed', 'tn1'])).out).toBe('100\n\n');
      // qemuDomainStartDirtyRateCalc, then domstats --dirtyrate reads what QEMU measured
      for (const argv of [
        ['domdirtyrate-calc', 'tn1', '--seconds', '61'],
        ['domdirtyrate-calc', 'tn1', '--mode', 'dirty-ring'],
        ['domdirtyrate-calc', 'tn1', '--mode', 'x'],
      ]) {
        expect((await same(argv)).code, argv.join(' ')).toBe(1);
      }
      expect(await qvirsh('domdirtyrate-calc', 'tn1', '--seconds', '1')).toEqual({
        code: 0,
        out: "Start to calculate domain's memory dirty rate successfully.\n\n",
        err: '',
      });
      for (
        let i = 0;
        i < 100 && !/calc_status=2/.test((await virsh('domstats', 'tn1', '--dirtyrate')).out);
        i++
      )
        await new Promise((r) => setTimeout(r, 100));
      expect((await virsh('domstats', 'tn1', '--dirtyrate')).out).toMatch(
        /dirtyrate\.calc_status=2\n {2}dirtyrate\.calc_start_time=\d+\n {2}dirtyrate\.calc_period=1\n/,
      );
      const perfStats = (await virsh('domstats', 'tn1', '--perf')).out;
      expect(perfStats).toMatch(/^ {2}perf\.task_clock=\d+\n {2}perf\.page_faults=\d+$/m);
      expect(Number(/task_clock=(\d+)/.exec(perfStats)![1])).toBeGreaterThan(0);
      expect((await virsh('perf', 'tn1', '--disable', 'page_faults,task_clock')).code).toBe(0);
      expect((await qvirsh('domstats', 'tn1', '--perf')).out).toBe("Domain: 'tn1'\n\n");
      // the groups go with the domain
      const groups = [mg, cg, cs].filter((g): g is string => g !== undefined);
      expect((await qvirsh('destroy', 'tn1')).code).toBe(0);
      for (const g of groups) expect(existsSync(g), g).toBe(false);
    });
  },
);
