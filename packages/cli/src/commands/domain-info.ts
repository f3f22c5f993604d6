/** dominfo, domstate, domid, domuuid, domname, domifstat, domblkstat, dommemstat, dumpxml. */
import type { BlockStats } from '@qvirt/driver';
import type { CommandDef } from '../command.js';
import { DOMAIN_OPT, lookupDomain, print, reporting, withDriver } from '../driver-connection.js';

export const dominfoCommand: CommandDef = {
  name: 'dominfo',
  help: 'domain information',
  desc: 'Returns basic information about the domain.',
  options: [DOMAIN_OPT],
  async run(session, opts) {
    await withDriver(session, async (driver) => {
      const dom = await lookupDomain(driver, opts.domain as string);
      const info = await driver.getInfo(dom.name);
      const rows: Array<[string, string]> = [
        ['Id:', dom.id === -1 ? '-' : String(dom.id)],
        ['Name:', dom.name],
        ['UUID:', dom.uuid],
        ['OS Type:', 'hvm'],
        ['State:', (await import('@qvirt/driver')).STATE_TEXT[info.state]],
        ['CPU(s):', String(info.nrVirtCpu)],
      ];
      if (info.cpuTime !== 0) rows.push(['CPU time:', `${(info.cpuTime / 1e9).toFixed(1)}s`]);
      rows.push(
        ['Max memory:', `${info.maxMem} KiB`],
        ['Used memory:', `${info.memory} KiB`],
        ['Persistent:', dom.persistent ? 'yes' : 'no'],
        ['Autostart:', dom.autostart ? 'enable' : 'disable'],
        ['Managed save:', 'no'],
        ['Security model:', 'none'],
        ['Security DOI:', '0'],
      );
      print(session.io, rows.map(([k, v]) => `${k.padEnd(15)} ${v}\n`).join(''));
    });
  },
};

export const domstateCommand: CommandDef = {
  name: 'domstate',
  help: 'domain state',
  desc: 'Returns state about a domain.',
  options: [DOMAIN_OPT, { name: 'reason', type: 'bool', help: 'also print reason for the state' }],
  async run(session, opts) {
    await withDriver(session, async (driver) => {
      const dom = await lookupDomain(driver, opts.domain as string);
      const text = (await import('@qvirt/driver')).STATE_TEXT[dom.state];
      print(session.io, opts.reason ? `${text} (${dom.reason})\n` : `${text}\n`);
    });
  },
};

export const domidCommand: CommandDef = {
  name: 'domid',
  help: 'convert a domain name or UUID to domain id',
  desc: 'Convert a domain name (or UUID) to a domain id',
  options: [{ ...DOMAIN_OPT, help: 'domain name or uuid' }],
  async run(session, opts) {
    await withDriver(session, async (driver) => {
      const dom = await lookupDomain(driver, opts.domain as string);
      print(session.io, `${dom.id === -1 ? '-' : dom.id}\n`);
    });
  },
};

export const domuuidCommand: CommandDef = {
  name: 'domuuid',
  help: 'convert a domain name or id to domain UUID',
  desc: 'Convert a domain name or id to domain UUID',
  options: [{ ...DOMAIN_OPT, help: 'domain id or name' }],
  async run(session, opts) {
    await withDriver(session, async (driver) => {
      print(session.io, `${(await lookupDomain(driver, opts.domain as string)).uuid}\n`);
    });
  },
};

export const domnameCommand: CommandDef = {
  name: 'domname',
  help: 'convert a domain id or UUID to domain name',
  desc: 'Convert a domain id or UUID to domain name',
  options: [{ ...DOMAIN_OPT, help: 'domain id or uuid' }],
  async run(session, opts) {
    await withDriver(session, async (driver) => {
      print(session.io, `${(await lookupDomain(driver, opts.domain as string)).name}\n`);
    });
  },
};

export const dumpxmlCommand: CommandDef = {
  name: 'dumpxml',
  help: 'domain information in XML',
  desc: 'Output the domain information as an XML dump to stdout.',
  options: [
    DOMAIN_OPT,
    { name: 'inactive', type: 'bool', help: 'show inactive defined XML' },
    { name: 'security-info', type: 'bool', help: 'include security sensitive information in XML dump' },
    { name: 'update-cpu', type: 'bool', help: 'update guest CPU according to host CPU' },
    { name: 'migratable', type: 'bool', help: 'provide XML suitable for migrations' },
  ],
  async run(session, opts) {
    await withDriver(session, async (driver) => {
      const dom = await lookupDomain(driver, opts.domain as string);
      print(session.io, await driver.getXMLDesc(dom.name, { inactive: opts.inactive === true }));
    });
  },
};

/** virsh's names for virDomainInterfaceStats' counters, in its order; -1 (unknown) is not printed. */
const IF_STATS = [
  ['rxBytes', 'rx_bytes'],
  ['rxPackets', 'rx_packets'],
  ['rxErrs', 'rx_errs'],
  ['rxDrop', 'rx_drop'],
  ['txBytes', 'tx_bytes'],
  ['txPackets', 'tx_packets'],
  ['txErrs', 'tx_errs'],
  ['txDrop', 'tx_drop'],
] as const;

export const domifstatCommand: CommandDef = {
  name: 'domifstat',
  help: 'get network interface stats for a domain',
  desc: 'Get network interface stats for a running domain.',
  options: [
    DOMAIN_OPT,
    {
      name: 'interface',
      type: 'data',
      required: true,
      help: 'interface device specified by name or MAC Address',
    },
  ],
  async run(session, opts) {
    await withDriver(session, async (driver) => {
      const dom = await lookupDomain(driver, opts.domain as string);
      const dev = opts.interface as string;
      const stats = await reporting(session.io, `Failed to get interface stats ${dom.name} ${dev}`, () =>
        driver.interfaceStats(dom.name, dev),
      );
      const lines = IF_STATS.filter(([k]) => stats[k] >= 0).map(
        ([k, label]) => `${dev} ${label} ${stats[k]}\n`,
      );
      print(session.io, lines.join(''));
    });
  },
};

type BlockCounter = Exclude<keyof BlockStats, 'nstats'>;

/**
 * The parameters virDomainBlockStatsFlags gives, in the QEMU driver's order
 * (QEMU_BLOCK_STATS_ASSIGN_PARAM): a server reporting `nstats` gives the first `nstats`.
 */
const BLOCK_PARAMS_ORDER: BlockCounter[] = [
  'wrBytes',
  'wrReq',
  'rdBytes',
  'rdReq',
  'flushReq',
  'wrTotalTimes',
  'rdTotalTimes',
  'flushTotalTimes',
];

/** virsh's domblkstat_output: its order, legacy names and --human labels. */
const DOMBLKSTAT_OUTPUT: [BlockCounter, string, string][] = [
  ['rdReq', 'rd_req', 'number of read operations:'],
  ['rdBytes', 'rd_bytes', 'number of bytes read:'],
  ['wrReq', 'wr_req', 'number of write operations:'],
  ['wrBytes', 'wr_bytes', 'number of bytes written:'],
  ['errs', 'errs', 'error count:'],
  ['flushReq', 'flush_operations', 'number of flush operations:'],
  ['rdTotalTimes', 'rd_total_times', 'total duration of reads (ns):'],
  ['wrTotalTimes', 'wr_total_times', 'total duration of writes (ns):'],
  ['flushTotalTimes', 'flush_total_times', 'total duration of flushes (ns):'],
];

export const domblkstatCommand: CommandDef = {
  name: 'domblkstat',
  help: 'get device block stats for a domain',
  desc: 'Get device block stats for a running domain. See man page or use --human for explanation of fields',
  options: [
    DOMAIN_OPT,
    { name: 'device', type: 'data', help: 'block device' },
    { name: 'human', type: 'bool', help: 'print a more human readable output' },
  ],
  async run(session, opts) {
    await withDriver(session, async (driver) => {
      const dom = await lookupDomain(driver, opts.domain as string);
      // cmdDomblkstat: no device means all of them (""); a failure of the first
      // virDomainBlockStatsFlags call is reported with libvirt's error alone
      let device = (opts.device as string | undefined) ?? '';
      const stats = await driver.blockStats(dom.name, device);
      const given = new Set(BLOCK_PARAMS_ORDER.slice(0, stats.nstats));
      let text = '';
      if (opts.human) {
        text += `Device: ${device}\n`;
        device = '';
      }
      for (const [key, legacy, human] of DOMBLKSTAT_OUTPUT) {
        if (!given.has(key)) continue;
        text += `${device} ${opts.human ? human.padEnd(31) : legacy} ${stats[key]}\n`;
      }
      print(session.io, text);
    });
  },
};

/** virsh's names for virDomainMemoryStatTags, by tag. */
const MEMORY_STAT_NAMES: Record<number, string> = {
  0: 'swap_in',
  1: 'swap_out',
  2: 'major_fault',
  3: 'minor_fault',
  4: 'unused',
  5: 'available',
  6: 'actual',
  7: 'rss',
  8: 'usable',
  9: 'last_update',
  10: 'disk_caches',
  11: 'hugetlb_pgalloc',
  12: 'hugetlb_pgfail',
};

export const dommemstatCommand: CommandDef = {
  name: 'dommemstat',
  help: 'get memory statistics for a domain',
  desc: 'Get memory statistics for a running domain.',
  options: [DOMAIN_OPT],
  async run(session, opts) {
    await withDriver(session, async (driver) => {
      const given = opts.domain as string;
      const dom = await lookupDomain(driver, given);
      const stats = await reporting(session.io, `Failed to get memory statistics for domain ${given}`, () =>
        driver.memoryStats(dom.name),
      );
      // cmdDomMemStat prints in the driver's order and skips tags it does not know
      const lines = stats
        .filter((s) => MEMORY_STAT_NAMES[s.tag] !== undefined)
        .map((s) => `${MEMORY_STAT_NAMES[s.tag]} ${s.val}\n`);
      print(session.io, lines.join(''));
    });
  },
};
