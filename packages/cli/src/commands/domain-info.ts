/** dominfo, domstate, domid, domuuid, domname, domifstat, domblkstat, dommemstat, dumpxml. */
import {
  domainReasonText,
  domainStateName,
  STATE_TEXT,
  type TypedParam,
  VIR_DOMAIN_AFFECT,
  VIR_DOMAIN_XML,
  VIR_TYPED_PARAM_STRING_OKAY,
} from '@qvirt/core/hypervisor';
import { type CommandDef, usageError } from '../command.js';
import { DOMAIN_OPT, lookupDomain, print, reporting, withDriver } from '../driver-connection.js';

export const dominfoCommand: CommandDef = {
  name: 'dominfo',
  help: 'domain information',
  desc: 'Returns basic information about the domain.',
  options: [DOMAIN_OPT],
  async run(session, opts) {
    await withDriver(session, async (driver) => {
      const dom = await lookupDomain(driver, opts.domain as string);
      // cmdDominfo's calls, in its order
      const info = await driver.domainGetInfo(dom);
      const rows: Array<[string, string]> = [
        ['Id:', dom.id === -1 ? '-' : String(dom.id)],
        ['Name:', dom.name],
        ['UUID:', dom.uuid],
        ['OS Type:', await driver.domainGetOSType(dom)],
        ['State:', STATE_TEXT[domainStateName(info.state)]],
        ['CPU(s):', String(info.nrVirtCpu)],
      ];
      if (info.cpuTime !== 0) rows.push(['CPU time:', `${(info.cpuTime / 1e9).toFixed(1)}s`]);
      rows.push(
        ['Max memory:', `${info.maxMem} KiB`],
        ['Used memory:', `${info.memory} KiB`],
        ['Persistent:', (await driver.domainIsPersistent(dom)) ? 'yes' : 'no'],
        ['Autostart:', (await driver.domainGetAutostart(dom)) ? 'enable' : 'disable'],
        ['Managed save:', (await driver.domainHasManagedSaveImage(dom, 0)) ? 'yes' : 'no'],
      );
      // only when a security model is active; a label only for a running domain
      const secmodel = await driver.nodeGetSecurityModel();
      if (secmodel.model !== '') {
        rows.push(['Security model:', secmodel.model], ['Security DOI:', secmodel.doi]);
        const label = await driver.domainGetSecurityLabel(dom);
        if (label.label !== '') {
          rows.push(['Security label:', `${label.label} (${label.enforcing ? 'enforcing' : 'permissive'})`]);
        }
      }
      // the domain's taints and deprecations (virDomainGetMessages); a daemon without the call: none
      const messages = await driver.domainGetMessages(dom, 0).catch(() => []);
      messages.forEach((m, i) => {
        rows.push([i === 0 ? 'Messages:' : '', m]);
      });
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
      const st = await driver.domainGetState(dom, 0);
      const text = STATE_TEXT[domainStateName(st.state)];
      print(session.io, opts.reason ? `${text} (${domainReasonText(st.state, st.reason)})\n` : `${text}\n`);
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
      // virshDomainGetXMLFromDom's flags
      const flags =
        (opts.inactive === true ? VIR_DOMAIN_XML.INACTIVE : 0) |
        (opts['security-info'] === true ? VIR_DOMAIN_XML.SECURE : 0) |
        (opts['update-cpu'] === true ? VIR_DOMAIN_XML.UPDATE_CPU : 0) |
        (opts.migratable === true ? VIR_DOMAIN_XML.MIGRATABLE : 0);
      print(session.io, await driver.domainGetXMLDesc(dom, flags));
    });
  },
};

/** virsh's order of virDomainInterfaceStats' counters; -1 (unknown) is not printed. */
const IF_STATS = [
  'rx_bytes',
  'rx_packets',
  'rx_errs',
  'rx_drop',
  'tx_bytes',
  'tx_packets',
  'tx_errs',
  'tx_drop',
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
        driver.domainInterfaceStats(dom, dev),
      );
      const lines = IF_STATS.filter((k) => stats[k] >= 0).map((k) => `${dev} ${k} ${stats[k]}\n`);
      print(session.io, lines.join(''));
    });
  },
};

/** virsh's domblkstat_output: the typed parameter, its legacy name and --human label, in virsh's order. */
const DOMBLKSTAT_OUTPUT: [string, string, string][] = [
  ['rd_operations', 'rd_req', 'number of read operations:'],
  ['rd_bytes', 'rd_bytes', 'number of bytes read:'],
  ['wr_operations', 'wr_req', 'number of write operations:'],
  ['wr_bytes', 'wr_bytes', 'number of bytes written:'],
  ['errs', 'errs', 'error count:'],
  ['flush_operations', 'flush_operations', 'number of flush operations:'],
  ['rd_total_times', 'rd_total_times', 'total duration of reads (ns):'],
  ['wr_total_times', 'wr_total_times', 'total duration of writes (ns):'],
  ['flush_total_times', 'flush_total_times', 'total duration of flushes (ns):'],
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
      // cmdDomblkstat: how many parameters there are, then all of them
      const { nparams } = await driver.domainBlockStatsFlags(dom, device, 0, VIR_TYPED_PARAM_STRING_OKAY);
      const { params } = await driver.domainBlockStatsFlags(
        dom,
        device,
        nparams,
        VIR_TYPED_PARAM_STRING_OKAY,
      );
      const byField = new Map(params.map((p: TypedParam) => [p.field, p.value]));
      let text = '';
      if (opts.human) {
        text += `Device: ${device}\n`;
        device = '';
      }
      for (const [field, legacy, human] of DOMBLKSTAT_OUTPUT) {
        if (!byField.has(field)) continue;
        text += `${device} ${opts.human ? human.padEnd(31) : legacy} ${byField.get(field)}\n`;
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

/** VIR_DOMAIN_MEMORY_STAT_NR: how many statistics virsh asks for. */
const MEMORY_STAT_NR = 13;

export const dommemstatCommand: CommandDef = {
  name: 'dommemstat',
  help: 'get memory statistics for a domain',
  desc: 'Get memory statistics for a running domain.',
  options: [
    DOMAIN_OPT,
    { name: 'period', type: 'string', help: 'period in seconds to set collection' },
    { name: 'config', type: 'bool', help: 'affect next boot' },
    { name: 'live', type: 'bool', help: 'affect running domain' },
    { name: 'current', type: 'bool', help: 'affect current domain' },
  ],
  async run(session, opts) {
    await withDriver(session, async (driver) => {
      for (const other of ['live', 'config'])
        if (opts.current && opts[other])
          throw usageError(`Options --current and --${other} are mutually exclusive`);
      const given = opts.domain as string;
      const dom = await lookupDomain(driver, given);
      if (opts.period !== undefined) {
        // --period: the balloon's collection period (virDomainSetMemoryStatsPeriod), no statistics
        let flags = (opts.config ? VIR_DOMAIN_AFFECT.CONFIG : 0) | (opts.live ? VIR_DOMAIN_AFFECT.LIVE : 0);
        if (!opts.current && !opts.live && !opts.config && (await driver.domainIsActive(dom)) === 1)
          flags |= VIR_DOMAIN_AFFECT.LIVE;
        const text = opts.period as string;
        // vshCommandOptInt
        if (!/^[+-]?\d+$/.test(text.trim()) || Math.abs(Number(text)) > 2 ** 31 - 1)
          throw usageError(`Numeric value '${text}' for <period> option is malformed or out of range`);
        const period = Number(text);
        if (period < 0) throw usageError(`Invalid collection period value '${period}'`);
        await reporting(session.io, 'Unable to change balloon collection period.', () =>
          driver.domainSetMemoryStatsPeriod(dom, period, flags),
        );
        print(session.io, '');
        return;
      }
      const stats = await reporting(session.io, `Failed to get memory statistics for domain ${given}`, () =>
        driver.domainMemoryStats(dom, MEMORY_STAT_NR, 0),
      );
      // cmdDomMemStat prints in the driver's order and skips tags it does not know
      const lines = stats
        .filter((s) => MEMORY_STAT_NAMES[s.tag] !== undefined)
        .map((s) => `${MEMORY_STAT_NAMES[s.tag]} ${s.val}\n`);
      print(session.io, lines.join(''));
    });
  },
};
