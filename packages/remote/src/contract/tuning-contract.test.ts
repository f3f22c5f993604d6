/**
 * The tuning APIs of the hypervisor contract, two ways (in process and through a real qvirtd, as
 * hypervisor-contract.test.ts): memory, blkio, NUMA and scheduler parameters read back from the
 * domain's cgroup files, IOThreads added, pinned and deleted, keys, NMI, disk errors and a
 * screenshot of a running guest, each refusal in libvirt's words.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  VIR_DOMAIN_AFFECT as A,
  type Domain,
  type HypervisorDriver,
  VIR_TYPED_PARAM as T,
  type TypedParam,
  toReadable,
  VIR_DOMAIN_XML,
} from '@qvirt/core/hypervisor';
import { greetingBootSector } from '@qvirt/driver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bothWays, type Way } from '../test-support/ways.js';

const UNLIMITED = 9007199254740991;
/** The resource controllers this host mounts as cgroup v1 (where qvirt, as libvirt here, puts domains). */
const v1 = (c: string) => existsSync(`/sys/fs/cgroup/${c}/cgroup.procs`) && process.getuid?.() === 0;

function domainXml(dir: string, name: string): string {
  const disk = path.join(dir, `${name}.img`);
  writeFileSync(disk, greetingBootSector());
  return `<domain type='qemu'>
  <name>${name}</name>
  <memory unit='KiB'>65536</memory>
  <vcpu>2</vcpu>
  <iothreads>1</iothreads>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${disk}'/><target dev='hda' bus='ide'/></disk>
    <serial type='file'><source path='${path.join(dir, `${name}-serial.log`)}'/><target port='0'/></serial>
    <video><model type='vga'/></video>
  </devices>
</domain>`;
}

/** The running domain's group directory in controller `c` (from QEMU's /proc/PID/cgroup). */
function groupDir(root: string, name: string, c: string): string {
  const find = (d: string): string | undefined => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isFile() && e.name === `${name}.pid`) return p;
      if (e.isDirectory()) {
        const f = find(p);
        if (f) return f;
      }
    }
    return undefined;
  };
  const pid = readFileSync(find(root)!, 'utf8').trim();
  const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8')
    .split('\n')
    .find((l) => l.split(':')[1]!.split(',').includes(c))!;
  // QEMU's main thread sits in emulator/ for the thread controllers
  return `/sys/fs/cgroup/${c}${line.split(':')[2]!.replace(/\/emulator$/, '')}`;
}

const cat = (f: string) => readFileSync(f, 'utf8').trim();
const byField = (ps: TypedParam[]) => Object.fromEntries(ps.map((p) => [p.field, p.value]));

describe.each(bothWays('qvirt-tuning-'))('the tuning APIs %s', (_label, open) => {
  let way: Way;
  let c: HypervisorDriver;
  let dom: Domain;
  beforeAll(async () => {
    way = await open();
    c = way.conn;
    dom = await c.domainDefineXML(domainXml(way.dir, 'tune1'));
    await c.domainCreate(dom);
  });
  afterAll(() => way?.close());

  it('keeps the migration tunables as libvirt: QEMU parameters, and the speed cap in the domain', async () => {
    // QEMU 7.2's defaults, as libvirtd reports them for a running guest
    expect(await c.domainMigrateGetMaxDowntime(dom, 0)).toBe(300);
    await c.domainMigrateSetMaxDowntime(dom, 450, 0);
    expect(await c.domainMigrateGetMaxDowntime(dom, 0)).toBe(450);
    expect(await c.domainMigrateGetCompressionCache(dom, 0)).toBe(64 << 20);
    await c.domainMigrateSetCompressionCache(dom, 16 << 20, 0);
    expect(await c.domainMigrateGetCompressionCache(dom, 0)).toBe(16 << 20);
    expect(await c.domainMigrateGetMaxSpeed(dom, 0)).toBe(8796093022207);
    await c.domainMigrateSetMaxSpeed(dom, 250, 0);
    expect(await c.domainMigrateGetMaxSpeed(dom, 0)).toBe(250);
    expect(await c.domainMigrateGetMaxSpeed(dom, 1)).toBe(0);
    await c.domainMigrateSetMaxSpeed(dom, 40, 1);
    expect(await c.domainMigrateGetMaxSpeed(dom, 1)).toBe(40);
    await expect(c.domainMigrateSetMaxSpeed(dom, 8796093022208, 0)).rejects.toThrow(
      'numerical overflow: bandwidth must be less than 8796093022208',
    );
    await expect(c.domainStartDirtyRateCalc(dom, 0, 0)).rejects.toThrow(
      'unsupported configuration: seconds=0 is invalid, please choose value within [1, 60].',
    );
    await c.domainStartDirtyRateCalc(dom, 1, 0);
  });

  it('sets memory limits in the cgroup and the config, and refuses what libvirt refuses', async () => {
    const ull = (field: string, value: number) => ({ field, type: T.ULLONG, value });
    expect(await c.domainGetMemoryParameters(dom, 0, 0)).toEqual({ params: [], nparams: 3 });
    await c.domainSetMemoryParameters(
      dom,
      [ull('hard_limit', 1048576), ull('soft_limit', 524288), ull('swap_hard_limit', 2097152)],
      A.LIVE,
    );
    const live = await c.domainGetMemoryParameters(dom, 3, A.LIVE);
    expect(byField(live.params)).toEqual({
      hard_limit: 1048576,
      soft_limit: 524288,
      swap_hard_limit: 2097152,
    });
    if (v1('memory')) {
      const g = groupDir(way.root, 'tune1', 'memory');
      expect(Number(cat(`${g}/memory.limit_in_bytes`))).toBe(1048576 * 1024);
      expect(Number(cat(`${g}/memory.soft_limit_in_bytes`))).toBe(524288 * 1024);
    }
    // the config is untouched by a live change
    expect(byField((await c.domainGetMemoryParameters(dom, 3, A.CONFIG)).params).hard_limit).toBe(UNLIMITED);
    await c.domainSetMemoryParameters(dom, [ull('hard_limit', 2000000)], A.CONFIG);
    expect(await c.domainGetXMLDesc(dom, VIR_DOMAIN_XML.INACTIVE)).toContain(
      "<memtune>\n    <hard_limit unit='KiB'>2000000</hard_limit>\n  </memtune>",
    );
    await expect(c.domainSetMemoryParameters(dom, [ull('min_guarantee', 1000)], 0)).rejects.toThrow(
      "argument unsupported: parameter 'min_guarantee' not supported",
    );
    await expect(c.domainSetMemoryParameters(dom, [ull('hard_limit', 4194304)], A.LIVE)).rejects.toThrow(
      'invalid argument: memory hard_limit tunable value must be lower than or equal to swap_hard_limit',
    );
    await expect(
      c.domainSetMemoryParameters(dom, [{ field: 'hard_limit', type: T.INT, value: 1 }], 0),
    ).rejects.toThrow("invalid argument: invalid type 'int' for parameter 'hard_limit', expected 'ullong'");
    // back to unlimited: -1 in the cgroup
    await c.domainSetMemoryParameters(
      dom,
      [ull('hard_limit', UNLIMITED), ull('swap_hard_limit', UNLIMITED)],
      0,
    );
    expect(byField((await c.domainGetMemoryParameters(dom, 3, 0)).params).hard_limit).toBe(UNLIMITED);
  });

  it('sets the scheduler in the domain, vCPU, emulator and IOThread groups', async () => {
    expect(await c.domainGetSchedulerType(dom)).toEqual({ type: 'posix', nparams: 9 });
    await c.domainSetSchedulerParametersFlags(
      dom,
      [
        { field: 'cpu_shares', type: T.ULLONG, value: 512 },
        { field: 'vcpu_quota', type: T.LLONG, value: 50000 },
        { field: 'emulator_period', type: T.ULLONG, value: 200000 },
        { field: 'global_quota', type: T.LLONG, value: 80000 },
        { field: 'iothread_quota', type: T.LLONG, value: 30000 },
      ],
      A.LIVE,
    );
    const got = byField(await c.domainGetSchedulerParametersFlags(dom, 9, A.LIVE));
    expect(got).toMatchObject({
      cpu_shares: 512,
      vcpu_quota: 50000,
      emulator_period: 200000,
      global_quota: 80000,
      iothread_quota: 30000,
    });
    if (v1('cpu')) {
      const g = groupDir(way.root, 'tune1', 'cpu');
      expect(cat(`${g}/cpu.shares`)).toBe('512');
      expect(cat(`${g}/cpu.cfs_quota_us`)).toBe('80000');
      expect(cat(`${g}/vcpu0/cpu.cfs_quota_us`)).toBe('50000');
      expect(cat(`${g}/vcpu1/cpu.cfs_quota_us`)).toBe('50000');
      expect(cat(`${g}/emulator/cpu.cfs_period_us`)).toBe('200000');
      expect(cat(`${g}/iothread1/cpu.cfs_quota_us`)).toBe('30000');
      expect(got.vcpu_period).toBe(Number(cat(`${g}/vcpu0/cpu.cfs_period_us`)));
    }
    await expect(
      c.domainSetSchedulerParameters(dom, [{ field: 'vcpu_quota', type: T.LLONG, value: 10 }]),
    ).rejects.toThrow("invalid argument: value of 'vcpu_quota' is out of range [1000, 17592186044415]");
    await c.domainSetSchedulerParametersFlags(
      dom,
      [{ field: 'cpu_shares', type: T.ULLONG, value: 300 }],
      A.CONFIG,
    );
    expect(byField(await c.domainGetSchedulerParametersFlags(dom, 9, A.CONFIG)).cpu_shares).toBe(300);
  });

  it('changes the NUMA node set of a running domain as libvirt allows', async () => {
    expect(await c.domainGetNumaParameters(dom, 0, 0)).toEqual({ params: [], nparams: 2 });
    await c.domainSetNumaParameters(dom, [{ field: 'numa_nodeset', type: T.STRING, value: '0' }], A.LIVE);
    expect(byField((await c.domainGetNumaParameters(dom, 2, A.LIVE)).params)).toEqual({
      numa_mode: 0,
      numa_nodeset: '0',
    });
    if (v1('cpuset')) expect(cat(`${groupDir(way.root, 'tune1', 'cpuset')}/emulator/cpuset.mems`)).toBe('0');
    await expect(
      c.domainSetNumaParameters(dom, [{ field: 'numa_mode', type: T.INT, value: 2 }], A.LIVE),
    ).rejects.toThrow("Requested operation is not valid: can't change numatune mode for running domain");
    await expect(
      c.domainSetNumaParameters(dom, [{ field: 'numa_mode', type: T.INT, value: 7 }], 0),
    ).rejects.toThrow("invalid argument: unsupported numatune mode: '7'");
  });

  it('keeps the blkio weight where the host has one, and refuses as libvirt where it has none', async () => {
    const weightFile = v1('blkio')
      ? ['blkio.bfq.weight', 'blkio.weight'].find((f) =>
          existsSync(`${groupDir(way.root, 'tune1', 'blkio')}/${f}`),
        )
      : undefined;
    if (v1('blkio') && !weightFile) {
      await expect(c.domainGetBlkioParameters(dom, 6, 0)).rejects.toThrow(
        'Requested operation is not valid: blkio device weight is valid only for bfq or cfq scheduler',
      );
    }
    await c.domainSetBlkioParameters(dom, [{ field: 'weight', type: T.UINT, value: 500 }], A.CONFIG);
    const conf = byField((await c.domainGetBlkioParameters(dom, 6, A.CONFIG)).params);
    expect(conf).toEqual({
      weight: 500,
      device_weight: '',
      device_read_iops_sec: '',
      device_write_iops_sec: '',
      device_read_bytes_sec: '',
      device_write_bytes_sec: '',
    });
    await expect(
      c.domainSetBlkioParameters(
        dom,
        [{ field: 'device_read_bytes_sec', type: T.STRING, value: '/dev/null' }],
        A.CONFIG,
      ),
    ).rejects.toThrow("invalid argument: unable to parse blkio device '/dev/null' 'device_read_bytes_sec'");
  });

  it('adds, pins and deletes IOThreads, live and in the config', async () => {
    const ids = async (flags: number) =>
      (await c.domainGetIOThreadInfo(dom, flags)).info.map((t) => t.iothread_id);
    expect(await ids(A.LIVE)).toEqual([1]);
    await c.domainAddIOThread(dom, 3, A.LIVE | A.CONFIG);
    expect((await ids(A.LIVE)).sort()).toEqual([1, 3]);
    expect(await ids(A.CONFIG)).toEqual([1, 3]);
    const cpuGroup = v1('cpu') ? groupDir(way.root, 'tune1', 'cpu') : undefined;
    if (cpuGroup) expect(existsSync(`${cpuGroup}/iothread3`)).toBe(true);
    await c.domainPinIOThread(dom, 3, Uint8Array.of(1), A.LIVE);
    const pinned = (await c.domainGetIOThreadInfo(dom, A.LIVE)).info.find((t) => t.iothread_id === 3)!;
    expect(pinned.cpumap[0]).toBe(1);
    if (v1('cpuset')) expect(cat(`${groupDir(way.root, 'tune1', 'cpuset')}/iothread3/cpuset.cpus`)).toBe('0');
    expect(await c.domainGetXMLDesc(dom, 0)).toContain("<iothreadpin iothread='3' cpuset='0'/>");
    await expect(c.domainPinIOThread(dom, 9, Uint8Array.of(1), A.LIVE)).rejects.toThrow(
      'invalid argument: iothread 9 not found',
    );
    await expect(c.domainAddIOThread(dom, 1, 0)).rejects.toThrow(
      "invalid argument: an IOThread is already using iothread_id '1'",
    );
    await c.domainDelIOThread(dom, 3, A.LIVE | A.CONFIG);
    expect(await ids(A.LIVE)).toEqual([1]);
    expect(await ids(A.CONFIG)).toEqual([1]);
    if (cpuGroup) expect(existsSync(`${cpuGroup}/iothread3`)).toBe(false);
    await expect(c.domainDelIOThread(dom, 3, 0)).rejects.toThrow(
      "invalid argument: cannot find IOThread '3' in iothreadids list",
    );
    await expect(c.domainAddIOThread(dom, 0, 0)).rejects.toThrow(
      'invalid argument: invalid value of 0 for iothread_id',
    );
  });

  it('sends keys, injects an NMI, lists disk errors and takes a PNG screenshot', async () => {
    await c.domainSendKey(dom, 0, 0, [30, 48], 0); // linux KEY_A KEY_B
    await c.domainSendKey(dom, 9, 50, [0x1e], 0); // qnum, held 50 ms
    await expect(c.domainSendKey(dom, 0, 0, [9999], 0)).rejects.toThrow(
      'internal error: cannot translate keycode 9999 of linux codeset to qnum keycode',
    );
    await c.domainInjectNMI(dom, 0);
    expect(await c.domainGetDiskErrors(dom, 0, 0)).toEqual({ errors: [], nerrors: 1 });
    expect(await c.domainGetDiskErrors(dom, 1, 0)).toEqual({ errors: [], nerrors: 0 });
    const st = await c.domainScreenshot(dom, 0, 0);
    expect(st.mime).toBe('image/png');
    const chunks: Buffer[] = [];
    for await (const b of toReadable(st)) chunks.push(b as Buffer);
    const png = Buffer.concat(chunks);
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    const file = path.join(way.dir, 'shot.png');
    writeFileSync(file, png);
    if (existsSync('/usr/bin/file'))
      expect(execFileSync('file', ['-b', file], { encoding: 'utf8' })).toMatch(/^PNG image data, \d+ x \d+/);
    // nothing left in the private directory
    await expect(c.domainScreenshot(dom, 5, 0)).rejects.toThrow(
      'Requested operation is not valid: no such screen ID',
    );
  });

  it('resizes a disk and throttles it, live and in the config', async () => {
    const img = path.join(way.dir, 'tune1.img');
    await c.domainBlockResize(dom, 'hda', 2048, 0); // KiB
    expect(statSync(img).size).toBe(2 << 20);
    await c.domainBlockResize(dom, 'hda', 3 << 20, 1); // VIR_DOMAIN_BLOCK_RESIZE_BYTES
    expect(statSync(img).size).toBe(3 << 20);
    await expect(c.domainBlockResize(dom, 'vdz', 1, 0)).rejects.toThrow(
      "invalid argument: disk 'vdz' was not found in the domain config",
    );
    const ull = (field: string, value: number) => ({ field, type: T.ULLONG, value });
    expect((await c.domainGetBlockIoTune(dom, null, 0, 0)).nparams).toBe(20);
    await c.domainSetBlockIoTune(
      dom,
      'hda',
      [ull('total_bytes_sec', 1000000), ull('read_iops_sec', 100)],
      A.LIVE,
    );
    const live = byField((await c.domainGetBlockIoTune(dom, 'hda', 20, A.LIVE)).params);
    expect(live).toMatchObject({ total_bytes_sec: 1000000, read_iops_sec: 100, write_iops_sec: 0 });
    expect(typeof live.group_name).toBe('string');
    expect(await c.domainGetXMLDesc(dom, 0)).toMatch(
      /<iotune>\n {8}<total_bytes_sec>1000000<\/total_bytes_sec>\n {8}<read_iops_sec>100<\/read_iops_sec>/,
    );
    await expect(
      c.domainSetBlockIoTune(dom, 'hda', [ull('read_bytes_sec', 5), ull('total_bytes_sec', 6)], 0),
    ).rejects.toThrow('invalid argument: total and read/write of bytes_sec cannot be set at the same time');
    await expect(c.domainSetBlockIoTune(dom, 'hda', [ull('total_bytes_sec_max', 5)], A.LIVE)).rejects.toThrow(
      "unsupported configuration: value 'total_bytes_sec_max' cannot be smaller than 'total_bytes_sec'",
    );
    await c.domainSetBlockIoTune(dom, 'hda', [ull('write_iops_sec', 40)], A.CONFIG);
    expect(byField((await c.domainGetBlockIoTune(dom, 'hda', 20, A.CONFIG)).params)).toMatchObject({
      total_bytes_sec: 0,
      write_iops_sec: 40,
      group_name: '',
    });
  });

  it('sets IOThread polling and pool sizes, perf counters and lifecycle actions', async () => {
    await c.domainSetIOThreadParams(
      dom,
      1,
      [
        { field: 'poll_max_ns', type: T.ULLONG, value: 1000 },
        { field: 'thread_pool_min', type: T.INT, value: 1 },
        { field: 'thread_pool_max', type: T.INT, value: 4 },
      ],
      A.LIVE,
    );
    const io = byField((await c.connectGetAllDomainStats([dom], 1 << 7, 0))[0]!.params);
    expect(io).toMatchObject({ 'iothread.count': 1, 'iothread.1.poll-max-ns': 1000 });
    expect(await c.domainGetXMLDesc(dom, 0)).toContain(
      "<iothread id='1' thread_pool_min='1' thread_pool_max='4'/>",
    );
    await expect(
      c.domainSetIOThreadParams(dom, 1, [{ field: 'poll_grow', type: T.UINT, value: 2 }], A.CONFIG),
    ).rejects.toThrow('Operation not supported: configuring persistent polling values is not supported');
    // perf: a software counter on QEMU's process
    await c.domainSetPerfEvents(dom, [{ field: 'task_clock', type: T.BOOLEAN, value: true }], A.LIVE);
    expect(byField(await c.domainGetPerfEvents(dom, A.LIVE)).task_clock).toBe(true);
    expect(byField(await c.domainGetPerfEvents(dom, A.CONFIG)).task_clock).toBe(false);
    const perf = (await c.connectGetAllDomainStats([dom], 1 << 6, 0))[0]!.params;
    expect(perf.map((p) => p.field)).toEqual(['perf.task_clock']);
    await c.domainSetPerfEvents(dom, [{ field: 'task_clock', type: T.BOOLEAN, value: false }], A.LIVE);
    // the RDT events need the kernel's intel_cqm PMU
    if (!existsSync('/sys/devices/intel_cqm/type'))
      await expect(
        c.domainSetPerfEvents(dom, [{ field: 'cmt', type: T.BOOLEAN, value: true }], A.LIVE),
      ).rejects.toThrow('argument unsupported: unable to enable host cpu perf event for cmt');
    // lifecycle actions: QEMU's reboot action live, the config's elements
    await c.domainSetLifecycleAction(dom, 1, 0, A.LIVE | A.CONFIG); // reboot: destroy
    expect(await c.domainGetXMLDesc(dom, 0)).toContain('<on_reboot>destroy</on_reboot>');
    expect(await c.domainGetXMLDesc(dom, VIR_DOMAIN_XML.INACTIVE)).toContain(
      '<on_reboot>destroy</on_reboot>',
    );
    await expect(c.domainSetLifecycleAction(dom, 0, 1, 0)).rejects.toThrow(
      "unsupported configuration: qemu driver doesn't support 'onReboot' set to 'destroy and 'onPoweroff' set to 'reboot'",
    );
    await expect(c.domainSetLifecycleAction(dom, 7, 0, 0)).rejects.toThrow(
      "invalid argument: invalid lifecycle type '7'",
    );
    await c.domainSetLifecycleAction(dom, 1, 1, A.LIVE | A.CONFIG);
  });

  it("enables the perf counters <perf> names at start, and fails the start as libvirt when the host can't", async () => {
    const xml = (events: string) =>
      domainXml(way.dir, 'tune2').replace('<devices>', `<perf>${events}</perf>\n  <devices>`);
    const d2 = await c.domainDefineXML(xml("<event name='task_clock' enabled='yes'/>"));
    await c.domainCreate(d2);
    expect(byField(await c.domainGetPerfEvents(d2, A.LIVE)).task_clock).toBe(true);
    expect((await c.connectGetAllDomainStats([d2], 1 << 6, 0))[0]!.params.map((p) => p.field)).toEqual([
      'perf.task_clock',
    ]);
    await c.domainDestroy(d2);
    // no hardware PMU (a VM without one): the kernel has no cpu_cycles to count
    if (!existsSync('/sys/bus/event_source/devices/cpu')) {
      await c.domainDefineXML(
        xml("<event name='cpu_cycles' enabled='yes'/>").replace(
          '</name>',
          `</name>\n  <uuid>${d2.uuid}</uuid>`,
        ),
      );
      await expect(c.domainCreate(d2)).rejects.toThrow(
        'unable to open host cpu perf event for cpu_cycles: No such file or directory',
      );
      expect(await c.domainIsActive(d2)).toBe(0);
    }
    await c.domainUndefine(d2);
  });

  it('removes the domain cgroups when the domain stops', async () => {
    const dirs = ['memory', 'cpu', 'cpuset', 'blkio']
      .filter(v1)
      .map((ctl) => groupDir(way.root, 'tune1', ctl));
    for (const d of dirs) expect(statSync(d).isDirectory()).toBe(true);
    await c.domainDestroy(dom);
    for (const d of dirs) expect(existsSync(d), d).toBe(false);
    await expect(c.domainGetIOThreadInfo(dom, A.LIVE)).rejects.toThrow(
      'Requested operation is not valid: domain is not running',
    );
    await expect(c.domainSendKey(dom, 0, 0, [30], 0)).rejects.toThrow(
      'Requested operation is not valid: domain is not running',
    );
  });
});
