/** Block and memory statistics from QMP replies shaped as QEMU 7.2 gives them (no guest needed). */
import { parseDomainXML } from '@qvirt/core';
import { describe, expect, it } from 'vitest';
import {
  blockStatsParams,
  findDisk,
  gatherBlockStats,
  gatherMemoryStats,
  MemoryStatTag,
  type StatsMonitor,
} from './domain-stats.js';
import { QmpCommandError } from './qmp.js';

/** QEMU's "not collected", (uint64_t)-1, as the QMP client's JSON.parse reads it. */
const UNSET = JSON.parse('18446744073709551615') as number;

const live = (devices: string) =>
  parseDomainXML(`<domain type='qemu'><name>g</name><memory>65536</memory>
    <os><type arch='x86_64'>hvm</type></os><devices>${devices}</devices></domain>`);

const IDE = `<disk type='file' device='disk'><source file='/img/a.img'/><target dev='hda' bus='ide'/><alias name='ide0-0-0'/></disk>`;
const VIRTIO = `<disk type='block' device='disk'><source dev='/dev/sdb'/><target dev='vda' bus='virtio'/><alias name='virtio-disk0'/></disk>`;
const USB = `<disk type='file' device='disk'><source file='/img/u.img'/><target dev='sda' bus='usb'/><alias name='usb-disk0'/></disk>`;

const counters = (n: number, extra: Record<string, number> = {}) => ({
  rd_bytes: 512 * n,
  wr_bytes: 1024 * n,
  rd_operations: n,
  wr_operations: 2 * n,
  rd_total_time_ns: 10 * n,
  wr_total_time_ns: 20 * n,
  flush_operations: 3 * n,
  flush_total_time_ns: 30 * n,
  unmap_operations: 0,
  ...extra,
});

/** A monitor answering from a table; records what it was asked. */
function monitor(replies: Record<string, unknown>): StatsMonitor & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    async execute<T>(command: string, args?: Record<string, unknown>): Promise<T> {
      const key = args?.['query-nodes'] === true ? `${command} nodes` : command;
      asked.push(key);
      const r = replies[key];
      if (r instanceof Error) throw r;
      return r as T;
    },
  };
}

const blockdevReplies = {
  'query-blockstats': [
    { device: '', qdev: 'ide0-0-0', 'node-name': 'libvirt-3-format', stats: counters(1) },
    {
      device: '',
      qdev: '/machine/peripheral/virtio-disk0/virtio-backend',
      'node-name': 'libvirt-2-format',
      stats: counters(2),
    },
    { device: '', qdev: '/machine/peripheral/usb-disk0/usb-disk0.0/legacy[0]', stats: counters(4) },
  ],
  'query-blockstats nodes': [{ 'node-name': 'libvirt-3-storage', stats: counters(100) }],
};

describe('gatherBlockStats (qemuDomainBlocksStatsGather)', () => {
  const def = live(IDE + VIRTIO + USB);

  it('finds a disk by target, then by its QOM name (virtio backend, usb legacy[0])', async () => {
    const mon = monitor(blockdevReplies);
    expect(await gatherBlockStats(def, mon, 'hda')).toEqual({
      rdReq: 1,
      rdBytes: 512,
      wrReq: 2,
      wrBytes: 1024,
      errs: -1,
      flushReq: 3,
      rdTotalTimes: 10,
      wrTotalTimes: 20,
      flushTotalTimes: 30,
      nstats: 8,
    });
    expect(mon.asked).toEqual(['query-blockstats', 'query-blockstats nodes']);
    expect((await gatherBlockStats(def, mon, 'vda')).rdReq).toBe(2);
    expect((await gatherBlockStats(def, mon, 'sda')).rdReq).toBe(4);
  });

  it('finds a disk by source path, file or block device; "" sums every disk', async () => {
    const mon = monitor(blockdevReplies);
    expect((await gatherBlockStats(def, mon, '/dev/sdb')).rdBytes).toBe(1024);
    expect((await gatherBlockStats(def, mon, '/img/u.img')).rdReq).toBe(4);
    const all = await gatherBlockStats(def, mon, '');
    expect([all.rdReq, all.wrBytes, all.flushTotalTimes, all.errs]).toEqual([7, 7 * 1024, 7 * 30, -1]);
  });

  it("refuses what is not the domain's disk, with libvirt's messages", async () => {
    const mon = monitor(blockdevReplies);
    await expect(gatherBlockStats(def, mon, 'vdb')).rejects.toThrow(/^invalid argument: invalid path: vdb$/);
    await expect(gatherBlockStats(def, mon, '/img/none.img')).rejects.toThrow('invalid path: /img/none.img');
    // neither asked QEMU anything
    expect(mon.asked).toEqual([]);
    // the same source twice is ambiguous (virDomainDiskByName without allow_ambiguous)
    const twice = live(IDE + IDE.replace("'hda'", "'hdb'").replace('ide0-0-0', 'ide0-0-1'));
    expect(findDisk(twice, '/img/a.img')).toBeUndefined();
    expect(findDisk(twice, 'hdb')?.alias?.name).toBe('ide0-0-1');
  });

  it('names a disk QEMU has no entry for, and a disk with no alias', async () => {
    const mon = monitor({
      ...blockdevReplies,
      'query-blockstats': blockdevReplies['query-blockstats'].slice(0, 1),
    });
    await expect(gatherBlockStats(def, mon, 'vda')).rejects.toThrow(
      "internal error: cannot find statistics for device '/machine/peripheral/virtio-disk0/virtio-backend'",
    );
    const noAlias = live(
      `<disk type='file' device='disk'><source file='/a'/><target dev='hdc' bus='ide'/></disk>`,
    );
    await expect(gatherBlockStats(noAlias, mon, 'hdc')).rejects.toThrow(
      'internal error: missing disk device alias name for hdc',
    );
  });

  it('keys -drive era entries by the alias in the drive name, backing layers as ALIAS.N', async () => {
    const mon = monitor({
      'query-blockstats': [
        {
          device: 'drive-ide0-0-0',
          stats: { rd_bytes: 1, wr_bytes: 2, rd_operations: 3, wr_operations: 4, flush_operations: 5 },
          backing: { stats: counters(9) },
        },
      ],
      'query-blockstats nodes': [],
    });
    const s = await gatherBlockStats(live(IDE), mon, 'hda');
    // the count is the top layer's (five counters), not its backing layer's eight
    expect([s.rdBytes, s.flushReq, s.rdTotalTimes, s.nstats]).toEqual([1, 5, 0, 5]);
    expect(blockStatsParams(s).map((p) => p.field)).toEqual([
      'wr_bytes',
      'wr_operations',
      'rd_bytes',
      'rd_operations',
      'flush_operations',
    ]);
  });

  it('lists the typed parameters in the QEMU driver order, at most nparams', () => {
    const s = {
      rdReq: 1,
      rdBytes: 2,
      wrReq: 3,
      wrBytes: 4,
      errs: -1,
      flushReq: 5,
      rdTotalTimes: 6,
      wrTotalTimes: 7,
      flushTotalTimes: 8,
      nstats: 8,
    };
    expect(blockStatsParams(s).map((p) => `${p.field}=${p.value}`)).toEqual([
      'wr_bytes=4',
      'wr_operations=3',
      'rd_bytes=2',
      'rd_operations=1',
      'flush_operations=5',
      'wr_total_times=7',
      'rd_total_times=6',
      'flush_total_times=8',
    ]);
    expect(blockStatsParams(s, 2).map((p) => p.field)).toEqual(['wr_bytes', 'wr_operations']);
  });
});

describe('gatherMemoryStats (qemuDomainMemoryStatsInternal)', () => {
  const balloon =
    "<memballoon model='virtio'><alias name='balloon0'/><address type='pci' bus='0x00' slot='0x03'/></memballoon>";

  it("gives actual, the guest's figures it has collected (KiB), last_update, then rss", async () => {
    const mon = monitor({
      'query-balloon': { actual: 64 * 1024 * 1024 },
      'qom-get': {
        stats: {
          'stat-swap-in': 4096,
          'stat-swap-out': UNSET,
          'stat-major-faults': 7,
          'stat-minor-faults': -1,
          'stat-free-memory': 2048 * 1024,
          'stat-total-memory': 65536 * 1024,
          'stat-available-memory': UNSET,
          'stat-disk-caches': 1024 * 1024,
          'stat-htlb-pgalloc': 0,
        },
        'last-update': 1700000000,
      },
    });
    const stats = await gatherMemoryStats(live(balloon), mon, process.pid);
    const rss = stats.pop();
    expect(rss?.tag).toBe(MemoryStatTag.RSS);
    expect(rss?.val).toBeGreaterThan(0);
    expect(stats).toEqual([
      { tag: MemoryStatTag.ACTUAL_BALLOON, val: 65536 },
      { tag: MemoryStatTag.SWAP_IN, val: 4 },
      { tag: MemoryStatTag.MAJOR_FAULT, val: 7 },
      { tag: MemoryStatTag.UNUSED, val: 2048 },
      { tag: MemoryStatTag.AVAILABLE, val: 65536 },
      { tag: MemoryStatTag.LAST_UPDATE, val: 1700000000 },
      { tag: MemoryStatTag.DISK_CACHES, val: 1024 },
      { tag: MemoryStatTag.HUGETLB_PGALLOC, val: 0 },
    ]);
  });

  it('carries on past balloon errors; asks QEMU nothing without a balloon', async () => {
    const failing = monitor({
      'query-balloon': new QmpCommandError(
        'query-balloon',
        'DeviceNotActive',
        'No balloon device has been activated',
      ),
      'qom-get': new QmpCommandError('qom-get', 'GenericError', 'no stats'),
    });
    const some = await gatherMemoryStats(live(balloon), failing, process.pid);
    expect(some.map((s) => s.tag)).toEqual([MemoryStatTag.RSS]);

    const none = monitor({});
    const rssOnly = await gatherMemoryStats(live("<memballoon model='none'/>"), none, process.pid);
    expect(rssOnly.map((s) => s.tag)).toEqual([MemoryStatTag.RSS]);
    expect(none.asked).toEqual([]);
    // a process that is gone has no RSS (libvirt still succeeds)
    expect(await gatherMemoryStats(live("<memballoon model='none'/>"), none, 2 ** 22 + 7)).toEqual([]);
  });
});
