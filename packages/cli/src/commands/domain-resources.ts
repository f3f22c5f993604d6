/**
 * The commands of a domain's vCPUs, memory, metadata and statistics, printing what virsh 9.0
 * prints (tools/virsh-domain.c, virsh-domain-monitor.c): vcpucount, vcpuinfo, vcpupin,
 * emulatorpin, setvcpu, setvcpus, setmem, setmaxmem, desc, metadata, domrename, domstats, cpu-stats,
 * domblkinfo, domcontrol, schedinfo (domjobinfo is domain-job.ts').
 */
import { VirError } from '@qvirt/core/errors';
import {
  VIR_DOMAIN_AFFECT as A,
  type Domain,
  domainStateName,
  VIR_CONNECT_GET_ALL_DOMAINS_STATS as F,
  VIR_DOMAIN_METADATA as M,
  VIR_DOMAIN_STATS as S,
  type TypedParam,
  VIR_DOMAIN_VCPU as V,
  VIR_DOMAIN_MEM,
  VIR_TYPED_PARAM,
  VIR_TYPED_PARAM_STRING_OKAY,
} from '@qvirt/core/hypervisor';
import { parseXml, type XmlElement } from '@qvirt/core/xml';
import { type CommandDef, type OptDef, optionList, type ParsedOpts, usageError } from '../command.js';
import {
  type Connection,
  DOMAIN_OPT,
  lookupDomain,
  print,
  reporting,
  withDriver,
} from '../driver-connection.js';
import { formatTable } from './list.js';
import { parseSize, prettyCapacity } from './storage-common.js';

const flag = (name: string, help: string): OptDef => ({ name, type: 'bool', help });
const AFFECT_OPTS: OptDef[] = [
  flag('config', 'affect next boot'),
  flag('live', 'affect running domain'),
  flag('current', 'affect current domain'),
];

/** VSH_EXCLUSIVE_OPTIONS_VAR. */
function exclusive(opts: ParsedOpts, a: string, b: string): void {
  if (opts[a] && opts[b]) throw usageError(`Options --${a} and --${b} are mutually exclusive`);
}

/** The usual --current/--live/--config handling: the AFFECT flags. */
export function affectFlags(opts: ParsedOpts): number {
  exclusive(opts, 'current', 'live');
  exclusive(opts, 'current', 'config');
  return (opts.config ? A.CONFIG : 0) | (opts.live ? A.LIVE : 0);
}

/** virshNodeGetCPUCount: the host's CPUs (virNodeGetCPUMap). */
export async function hostCpus(conn: Connection): Promise<number> {
  return (await conn.nodeGetCPUMap(0, 0, 0)).ret;
}

/** virBitmapDataFormat: "0-3,5" of a byte map. */
export function formatMap(map: Uint8Array): string {
  const cpus: number[] = [];
  for (let c = 0; c < map.length * 8; c++) if (map[c >> 3]! & (1 << (c & 7))) cpus.push(c);
  const out: string[] = [];
  for (let i = 0; i < cpus.length; ) {
    let j = i;
    while (j + 1 < cpus.length && cpus[j + 1] === cpus[j]! + 1) j++;
    out.push(i === j ? `${cpus[i]}` : `${cpus[i]}-${cpus[j]}`);
    i = j + 1;
  }
  return out.join(',');
}

/** virshParseCPUList: "0-3,^2" (virBitmapParse) or "r" (all) into a byte map of the host's CPUs. */
export function parseCpuList(text: string, maxcpu: number): Uint8Array {
  const cpus = new Set<number>();
  if (text.startsWith('r')) {
    for (let c = 0; c < maxcpu; c++) cpus.add(c);
  } else {
    const off = new Set<number>();
    for (const part of text.split(',')) {
      const neg = part.startsWith('^');
      const m = /^(\d+)(?:-(\d+))?$/.exec(neg ? part.slice(1) : part);
      if (!m || Number(m[2] ?? m[1]) >= 1024) throw usageError(`Invalid cpulist '${text}'`);
      for (let c = Number(m[1]); c <= Number(m[2] ?? m[1]); c++) (neg ? off : cpus).add(c);
    }
    for (const c of off) cpus.delete(c);
    if (cpus.size === 0) throw usageError(`Invalid cpulist '${text}'`);
    const last = Math.max(...cpus);
    if (last >= maxcpu) throw usageError(`CPU ${last} in cpulist '${text}' exceed the maxcpu ${maxcpu}`);
  }
  const map = new Uint8Array(Math.ceil(Math.max(...cpus, 0) / 8 + 1 / 8));
  for (const c of cpus) map[c >> 3]! |= 1 << (c & 7);
  return map;
}

/** vshGetTypedParamValue. */
export function typedParamText(p: TypedParam): string {
  if (p.type === VIR_TYPED_PARAM.BOOLEAN) return p.value ? 'yes' : 'no';
  if (p.type === VIR_TYPED_PARAM.DOUBLE) return (p.value as number).toFixed(6);
  return String(p.value);
}

/**
 * virshCPUCountCollect: a count, -1 where the state does not allow the question (checkState),
 * and the error (thrown) otherwise.
 */
async function cpuCount(conn: Connection, dom: Domain, flags: number, checkState: boolean): Promise<number> {
  if (checkState) {
    if (flags & A.LIVE && (await conn.domainIsActive(dom)) < 1) return -1;
    if (flags & A.CONFIG && (await conn.domainIsPersistent(dom)) < 1) return -1;
  }
  return conn.domainGetVcpusFlags(dom, flags);
}

export const vcpucountCommand: CommandDef = {
  name: 'vcpucount',
  help: 'domain vcpu counts',
  desc: 'Returns the number of virtual CPUs used by the domain.',
  options: [
    DOMAIN_OPT,
    flag('maximum', 'get maximum count of vcpus'),
    flag('active', 'get number of currently active vcpus'),
    flag('live', 'get value from running domain'),
    flag('config', 'get value to be used on next boot'),
    flag('current', 'get value according to current domain state'),
    flag('guest', 'retrieve vcpu count from the guest instead of the hypervisor'),
  ],
  async run(session, opts) {
    await withDriver(session, async (conn) => {
      // virsh checks its options once connected: a refusal ends with the blank line too
      const o = { ...opts };
      const all = !o.maximum && !o.active && !o.current && !o.config && !o.live && !o.guest;
      // cmdVcpucount: before 0.9.4 --current meant the opposite of --maximum
      if (!o.maximum && !o.active && o.current) o.current = false;
      exclusive(o, 'live', 'config');
      exclusive(o, 'current', 'live');
      exclusive(o, 'current', 'config');
      exclusive(o, 'active', 'maximum');
      exclusive(o, 'guest', 'config');
      const flags =
        (o.live ? A.LIVE : 0) |
        (o.config ? A.CONFIG : 0) |
        (o.maximum ? V.MAXIMUM : 0) |
        (o.guest ? V.GUEST : 0);
      const dom = await lookupDomain(conn, opts.domain as string);
      if (!all) {
        print(session.io, `${await cpuCount(conn, dom, flags, false)}\n`);
        return;
      }
      const confMax = await cpuCount(conn, dom, A.CONFIG | V.MAXIMUM, true);
      const confCur = await cpuCount(conn, dom, A.CONFIG, true);
      const liveMax = await cpuCount(conn, dom, A.LIVE | V.MAXIMUM, true);
      const liveCur = await cpuCount(conn, dom, A.LIVE, true);
      let text = '';
      const row = (n: number, which: string, state: string) => {
        if (n > 0) text += `${which.padEnd(12)} ${state.padEnd(12)} ${String(n).padStart(3)}\n`;
      };
      row(confMax, 'maximum', 'config');
      row(liveMax, 'maximum', 'live');
      row(confCur, 'current', 'config');
      row(liveCur, 'current', 'live');
      print(session.io, text);
    });
  },
};

export const vcpuinfoCommand: CommandDef = {
  name: 'vcpuinfo',
  help: 'detailed domain vcpu information',
  desc: 'Returns basic information about the domain virtual CPUs.',
  options: [DOMAIN_OPT, flag('pretty', 'return human readable output')],
  async run(session, opts) {
    await withDriver(session, async (conn) => {
      const dom = await lookupDomain(conn, opts.domain as string);
      const maxcpu = await hostCpus(conn);
      const info = await conn.domainGetInfo(dom);
      const maplen = Math.ceil(maxcpu / 8);
      const affinity = (map: Uint8Array) => {
        let s = `${'CPU Affinity:'.padEnd(15)} `;
        if (opts.pretty) s += `${formatMap(map)} (out of ${maxcpu})`;
        else for (let c = 0; c < maxcpu; c++) s += map[c >> 3]! & (1 << (c & 7)) ? 'y' : '-';
        return `${s}\n`;
      };
      let vcpus: Awaited<ReturnType<Connection['domainGetVcpus']>>;
      try {
        vcpus = await conn.domainGetVcpus(dom, info.nrVirtCpu, maplen);
      } catch (err) {
        if (domainStateName(info.state) !== 'shutoff') throw err;
        // virshVcpuinfoInactive: the pinning of the config's vCPUs
        const max = await conn.domainGetVcpusFlags(dom, A.CONFIG | V.MAXIMUM);
        const cur = await conn.domainGetVcpusFlags(dom, A.CONFIG);
        const pins = await conn.domainGetVcpuPinInfo(dom, max, maplen, A.CONFIG);
        const blocks: string[] = [];
        for (let i = 0; i < cur; i++) {
          blocks.push(
            `${'VCPU:'.padEnd(15)} ${i}\n${'CPU:'.padEnd(15)} N/A\n${'State:'.padEnd(15)} N/A\n${'CPU time'.padEnd(15)} N/A\n` +
              affinity(pins.cpumaps.subarray(i * maplen, (i + 1) * maplen)),
          );
        }
        print(session.io, blocks.join('\n'));
        return;
      }
      const STATES = ['offline', 'running', 'blocked'];
      const blocks = vcpus.info.map((v, n) => {
        let s = `${'VCPU:'.padEnd(15)} ${v.number}\n${'CPU:'.padEnd(15)} ${v.cpu}\n`;
        s += `${'State:'.padEnd(15)} ${STATES[v.state] ?? 'no state'}\n`;
        if (v.cpu_time !== 0) s += `${'CPU time:'.padEnd(15)} ${(v.cpu_time / 1e9).toFixed(1)}s\n`;
        return s + affinity(vcpus.cpumaps.subarray(n * maplen, (n + 1) * maplen));
      });
      print(session.io, blocks.join('\n'));
    });
  },
};

export const vcpupinCommand: CommandDef = {
  name: 'vcpupin',
  help: 'control or query domain vcpu affinity',
  desc: 'Pin domain VCPUs to host physical CPUs.',
  options: [
    DOMAIN_OPT,
    { name: 'vcpu', type: 'data', help: 'vcpu number' },
    { name: 'cpulist', type: 'data', help: 'host cpu number(s) to set, or omit option to query' },
    ...AFFECT_OPTS,
  ],
  async run(session, opts) {
    await withDriver(session, async (conn) => {
      // virsh checks its options once connected: a refusal ends with the blank line too
      const flags = affectFlags(opts);
      const cpulist = opts.cpulist as string | undefined;
      if (!cpulist) exclusive(opts, 'live', 'config');
      const gotVcpu = opts.vcpu !== undefined;
      const vcpu = gotVcpu ? Number(opts.vcpu) : 0;
      if (gotVcpu && !/^\d+$/.test(opts.vcpu as string)) {
        throw usageError(`Numeric value '${opts.vcpu}' for <vcpu> option is malformed or out of range`);
      }
      if (cpulist && !gotVcpu) throw usageError('vcpupin: Missing vCPU number in pin mode.');
      const maxcpu = await hostCpus(conn);
      const dom = await lookupDomain(conn, opts.domain as string);
      if (!cpulist) {
        // virshVcpuPinQuery
        const ncpus = await cpuCount(conn, dom, flags | V.MAXIMUM, true);
        if (ncpus === -1) {
          throw usageError(
            flags & A.LIVE
              ? 'cannot get vcpupin for offline domain'
              : 'cannot get vcpupin for transient domain',
          );
        }
        if (gotVcpu && vcpu >= ncpus) {
          const live = flags & A.LIVE || (!(flags & A.CONFIG) && (await conn.domainIsActive(dom)) === 1);
          throw usageError(
            `vcpu ${vcpu} is out of range of ${live ? 'live' : 'persistent'} cpu count ${ncpus}`,
          );
        }
        const maplen = Math.ceil(maxcpu / 8);
        const info = await conn.domainGetVcpuPinInfo(dom, ncpus, maplen, flags);
        const rows: string[][] = [];
        for (let i = 0; i < info.num; i++) {
          if (gotVcpu && i !== vcpu) continue;
          rows.push([String(i), formatMap(info.cpumaps.subarray(i * maplen, (i + 1) * maplen))]);
        }
        print(session.io, formatTable(['VCPU', 'CPU Affinity'], rows));
        return;
      }
      const map = parseCpuList(cpulist, maxcpu);
      // virsh uses the old API without any explicit flags
      if (flags === 0 && !opts.current) await conn.domainPinVcpu(dom, vcpu, map);
      else await conn.domainPinVcpuFlags(dom, vcpu, map, flags);
      print(session.io, '');
    });
  },
};

export const emulatorpinCommand: CommandDef = {
  name: 'emulatorpin',
  help: 'control or query domain emulator affinity',
  desc: 'Pin domain emulator threads to host physical CPUs.',
  options: [
    DOMAIN_OPT,
    { name: 'cpulist', type: 'data', help: 'host cpu number(s) to set, or omit option to query' },
    ...AFFECT_OPTS,
  ],
  async run(session, opts) {
    await withDriver(session, async (conn) => {
      // virsh checks its options once connected: a refusal ends with the blank line too
      let flags = affectFlags(opts);
      const none = !opts.current && !opts.live && !opts.config;
      const dom = await lookupDomain(conn, opts.domain as string);
      const maxcpu = await hostCpus(conn);
      const cpulist = opts.cpulist as string | undefined;
      if (!cpulist) {
        const maplen = Math.ceil(maxcpu / 8);
        const info = await conn.domainGetEmulatorPinInfo(dom, maplen, flags);
        print(
          session.io,
          `emulator: CPU Affinity\n----------------------------------\n       *: ${formatMap(info.cpumaps)}\n`,
        );
        return;
      }
      const map = parseCpuList(cpulist, maxcpu);
      if (none) flags = A.LIVE;
      await conn.domainPinEmulator(dom, map, flags);
      print(session.io, '');
    });
  },
};

/** cmdSetvcpu: one vCPU (or a hotpluggable group of them) on or off. */
export const setvcpuCommand: CommandDef = {
  name: 'setvcpu',
  help: 'attach/detach vcpu or groups of threads',
  desc: 'Add or remove vcpus',
  options: [
    DOMAIN_OPT,
    { name: 'vcpulist', type: 'data', required: true, help: 'ids of vcpus to manipulate' },
    flag('enable', 'enable cpus specified by cpumap'),
    flag('disable', 'disable cpus specified by cpumap'),
    ...AFFECT_OPTS,
  ],
  async run(session, opts) {
    await withDriver(session, async (conn) => {
      exclusive(opts, 'enable', 'disable');
      const flags = affectFlags(opts);
      if (!opts.enable && !opts.disable) throw usageError('one of --enable, --disable is required');
      const dom = await lookupDomain(conn, opts.domain as string);
      await conn.domainSetVcpu(dom, opts.vcpulist as string, opts.enable ? 1 : 0, flags);
      print(session.io, '');
    });
  },
};

export const setvcpusCommand: CommandDef = {
  name: 'setvcpus',
  help: 'change number of virtual CPUs',
  desc: 'Change the number of virtual CPUs in the guest domain.',
  options: [
    DOMAIN_OPT,
    { name: 'count', type: 'data', required: true, help: 'number of virtual CPUs' },
    flag('maximum', 'set maximum limit on next boot'),
    ...AFFECT_OPTS,
    flag('guest', 'modify cpu state in the guest'),
    flag('hotpluggable', 'make added vcpus hot(un)pluggable'),
  ],
  async run(session, opts) {
    await withDriver(session, async (conn) => {
      // virsh checks its options once connected: a refusal ends with the blank line too
      const flags =
        affectFlags(opts) |
        (opts.maximum ? V.MAXIMUM : 0) |
        (opts.guest ? V.GUEST : 0) |
        (opts.hotpluggable ? V.HOTPLUGGABLE : 0);
      exclusive(opts, 'guest', 'config');
      if (opts.maximum && !opts.config) throw usageError('Option --config is required by option --maximum');
      const text = opts.count as string;
      if (!/^\d+$/.test(text))
        throw usageError(`Numeric value '${text}' for <count> option is malformed or out of range`);
      const dom = await lookupDomain(conn, opts.domain as string);
      if (flags === 0 && !opts.current) await conn.domainSetVcpus(dom, Number(text));
      else await conn.domainSetVcpusFlags(dom, Number(text), flags);
      print(session.io, '');
    });
  },
};

/** vshCommandOptScaledInt with KiB as the default unit, answered in KiB (rounded up). */
function kibOf(text: string): number {
  const bytes = /^\d+$/.test(text.trim()) ? Number(text) * 1024 : parseSize(text, 'size');
  return Math.ceil(bytes / 1024);
}

function memCommand(name: 'setmem' | 'setmaxmem'): CommandDef {
  const max = name === 'setmaxmem';
  return {
    name,
    help: max ? 'change maximum memory limit' : 'change memory allocation',
    desc: max
      ? 'Change the maximum memory allocation limit in the guest domain.'
      : 'Change the current memory allocation in the guest domain.',
    options: [
      DOMAIN_OPT,
      {
        name: 'size',
        type: 'data',
        required: true,
        help: 'new memory size, as scaled integer (default KiB)',
      },
      ...AFFECT_OPTS,
    ],
    async run(session, opts) {
      await withDriver(session, async (conn) => {
        // virsh checks its options once connected: a refusal ends with the blank line too
        const flags = affectFlags(opts);
        const kib = kibOf(opts.size as string);
        const dom = await lookupDomain(conn, opts.domain as string);
        const op = async () => {
          if (flags === 0) await (max ? conn.domainSetMaxMemory(dom, kib) : conn.domainSetMemory(dom, kib));
          else await conn.domainSetMemoryFlags(dom, kib, flags | (max ? VIR_DOMAIN_MEM.MAXIMUM : 0));
        };
        if (max) await reporting(session.io, 'Unable to change MaxMemorySize', op);
        else await op();
        print(session.io, '');
      });
    },
  };
}
export const setmemCommand = memCommand('setmem');
export const setmaxmemCommand = memCommand('setmaxmem');

/** virshGetDomainDescription: "" when the domain has none. */
async function description(conn: Connection, dom: Domain, title: boolean, flags: number): Promise<string> {
  try {
    return await conn.domainGetMetadata(dom, title ? M.TITLE : M.DESCRIPTION, null, flags);
  } catch (err) {
    if (err instanceof VirError && err.code === 'NO_DOMAIN_METADATA') return '';
    throw err;
  }
}

export const descCommand: CommandDef = {
  name: 'desc',
  help: "show or set domain's description or title",
  desc: 'Allows setting or modifying the description or title of a domain.',
  options: [
    DOMAIN_OPT,
    flag('live', 'modify/get running state'),
    flag('config', 'modify/get persistent state'),
    flag('current', 'modify/get current state'),
    flag('title', 'modify/get the title instead of description'),
    { name: 'new-desc', type: 'data', help: 'message' },
  ],
  async run(session, opts) {
    await withDriver(session, async (conn) => {
      const flags = affectFlags(opts);
      const title = Boolean(opts.title);
      const dom = await lookupDomain(conn, opts.domain as string);
      const text = opts['new-desc'] as string | undefined;
      if (text !== undefined) {
        await reporting(
          session.io,
          title ? 'Failed to set new domain title' : 'Failed to set new domain description',
          () => conn.domainSetMetadata(dom, title ? M.TITLE : M.DESCRIPTION, text, null, null, flags),
        );
        print(
          session.io,
          title ? 'Domain title updated successfully' : 'Domain description updated successfully',
        );
        return;
      }
      const desc = await description(conn, dom, title, flags);
      if (desc.length > 0) print(session.io, desc);
      else
        print(
          session.io,
          title ? `No title for domain: ${dom.name}` : `No description for domain: ${dom.name}`,
        );
    });
  },
};

export const metadataCommand: CommandDef = {
  name: 'metadata',
  help: "show or set domain's custom XML metadata",
  desc: 'Shows or modifies the XML metadata of a domain.',
  options: [
    DOMAIN_OPT,
    { name: 'uri', type: 'data', required: true, help: 'URI of the namespace' },
    ...AFFECT_OPTS,
    { name: 'key', type: 'string', help: 'key to be used as a namespace identifier' },
    { name: 'set', type: 'string', help: 'new metadata to set' },
    flag('remove', 'remove the metadata corresponding to an uri'),
  ],
  async run(session, opts) {
    await withDriver(session, async (conn) => {
      // virsh checks its options once connected: a refusal ends with the blank line too
      const flags = affectFlags(opts);
      exclusive(opts, 'remove', 'set');
      const key = (opts.key as string | undefined) ?? null;
      const uri = opts.uri as string;
      if (opts.set !== undefined && !key)
        throw usageError('namespace key is required when modifying metadata');
      const dom = await lookupDomain(conn, opts.domain as string);
      if (opts.set !== undefined || opts.remove) {
        const set = opts.set as string | undefined;
        await conn.domainSetMetadata(dom, M.ELEMENT, set ?? null, key, uri, flags);
        print(session.io, opts.remove ? 'Metadata removed\n' : 'Metadata modified\n');
        return;
      }
      print(session.io, `${await conn.domainGetMetadata(dom, M.ELEMENT, uri, flags)}\n`);
    });
  },
};

export const domrenameCommand: CommandDef = {
  name: 'domrename',
  help: 'rename a domain',
  desc: 'Rename an inactive domain.',
  options: [
    { ...DOMAIN_OPT, help: 'domain name or uuid' },
    { name: 'new-name', type: 'data', required: true, help: 'new domain name' },
  ],
  async run(session, opts) {
    await withDriver(session, async (conn) => {
      const dom = await lookupDomain(conn, opts.domain as string);
      await conn.domainRename(dom, opts['new-name'] as string, 0);
      print(session.io, 'Domain successfully renamed\n');
    });
  },
};

const STATS_OPTS: [string, number, string][] = [
  ['state', S.STATE, 'report domain state'],
  ['cpu-total', S.CPU_TOTAL, 'report domain physical cpu usage'],
  ['balloon', S.BALLOON, 'report domain balloon statistics'],
  ['vcpu', S.VCPU, 'report domain virtual cpu information'],
  ['interface', S.INTERFACE, 'report domain network interface information'],
  ['block', S.BLOCK, 'report domain block device statistics'],
  ['perf', S.PERF, 'report domain perf event statistics'],
  ['iothread', S.IOTHREAD, 'report domain IOThread information'],
  ['memory', S.MEMORY, 'report domain memory usage'],
  ['dirtyrate', S.DIRTYRATE, 'report domain dirty rate information'],
  ['vm', S.VM, 'report hypervisor-specific statistics'],
];
const LIST_OPTS: [string, number, string][] = [
  ['list-active', F.ACTIVE, 'list only active domains'],
  ['list-inactive', F.INACTIVE, 'list only inactive domains'],
  ['list-persistent', F.PERSISTENT, 'list only persistent domains'],
  ['list-transient', F.TRANSIENT, 'list only transient domains'],
  ['list-running', F.RUNNING, 'list only running domains'],
  ['list-paused', F.PAUSED, 'list only paused domains'],
  ['list-shutoff', F.SHUTOFF, 'list only shutoff domains'],
  ['list-other', F.OTHER, 'list only domains in other states'],
  ['raw', 0, 'do not pretty-print the fields'],
  ['enforce', F.ENFORCE_STATS, 'enforce requested stats parameters'],
  ['backing', F.BACKING, 'add backing chain information to block stats'],
  ['nowait', F.NOWAIT, 'report only stats that are accessible instantly'],
];

export const domstatsCommand: CommandDef = {
  name: 'domstats',
  help: 'get statistics about one or multiple domains',
  desc: 'Gets statistics about one or more (or all) domains',
  options: [
    ...STATS_OPTS.map(([n, , h]) => flag(n, h)),
    ...LIST_OPTS.map(([n, , h]) => flag(n, h)),
    { name: 'domain', type: 'data', help: 'list of domains to get stats for' },
  ],
  async run(session, opts) {
    await withDriver(session, async (conn) => {
      // virsh checks its options once connected: a refusal ends with the blank line too
      let stats = 0;
      for (const [n, bit] of STATS_OPTS) if (opts[n]) stats |= bit;
      let flags = 0;
      for (const [n, bit] of LIST_OPTS) if (opts[n]) flags += bit;
      const doms = opts.domain ? [await lookupDomain(conn, opts.domain as string)] : [];
      const records = await conn.connectGetAllDomainStats(doms, stats, flags);
      const text = records
        .map(
          (r) =>
            `Domain: '${r.dom.name}'\n${r.params.map((p) => `  ${p.field}=${typedParamText(p)}\n`).join('')}`,
        )
        .join('\n');
      print(session.io, text);
    });
  },
};

export const cpuStatsCommand: CommandDef = {
  name: 'cpu-stats',
  help: 'show domain cpu statistics',
  desc: "Display per-CPU and total statistics about the domain's CPUs",
  options: [
    DOMAIN_OPT,
    flag('total', 'Show total statistics only'),
    { name: 'start', type: 'string', help: 'Show statistics from this CPU' },
    { name: 'count', type: 'string', help: 'Number of shown CPUs at most' },
  ],
  async run(session, opts) {
    await withDriver(session, async (conn) => {
      const dom = await lookupDomain(conn, opts.domain as string);
      const failed = `Failed to retrieve CPU statistics for domain '${dom.name}'`;
      const field = (p: TypedParam) =>
        /_time$/.test(p.field)
          ? `\t${p.field.padEnd(12)} ${(Number(p.value) / 1e9).toFixed(9).padStart(20)} seconds\n`
          : `\t${p.field.padEnd(12)} ${typedParamText(p).padStart(20)}\n`;
      let text = '';
      // cmdCPUStats: per CPU with --start or --count, the total with --total, both by default
      const perCpu = opts.start !== undefined || opts.count !== undefined || !opts.total;
      const showTotal = Boolean(opts.total) || (opts.start === undefined && opts.count === undefined);
      if (perCpu) {
        const cpu = opts.start === undefined ? 0 : Number(opts.start);
        const maxId = (await reporting(session.io, failed, () => conn.domainGetCPUStats(dom, 0, 0, 0, 0)))
          .nparams;
        if (cpu >= maxId) throw usageError(`Start CPU ${cpu} is out of range (min: 0, max: ${maxId - 1})`);
        let count = opts.count === undefined ? -1 : Number(opts.count);
        if (count < 0 || count > maxId) {
          if (count > maxId) text += `Only ${maxId} CPUs available to show\n`;
          count = maxId - cpu;
        }
        const nparams = (await reporting(session.io, failed, () => conn.domainGetCPUStats(dom, 0, 0, 1, 0)))
          .nparams;
        const r = await reporting(session.io, failed, () =>
          conn.domainGetCPUStats(dom, nparams, cpu, count, 0),
        );
        for (let i = 0; i < count; i++) {
          const ps = r.params.slice(i * nparams, (i + 1) * nparams);
          if (ps.length === 0) continue;
          text += `CPU${cpu + i}:\n${ps.map(field).join('')}`;
        }
        if (!showTotal) {
          print(session.io, text);
          return;
        }
      }
      const n = (await reporting(session.io, failed, () => conn.domainGetCPUStats(dom, 0, -1, 1, 0))).nparams;
      const total = await reporting(session.io, failed, () => conn.domainGetCPUStats(dom, n, -1, 1, 0));
      text += `Total:\n${total.params.map(field).join('')}`;
      print(session.io, text);
    });
  },
};

/** cmdDomblkinfoGet: '-' for a disk with no figures, else the numbers (or vshPrettyCapacity's). */
function blockInfoCells(
  info: { capacity: number; allocation: number; physical: number },
  human: boolean,
): string[] {
  const all = [info.capacity, info.allocation, info.physical];
  if (all.every((n) => n === 0)) return ['-', '-', '-'];
  if (!human) return all.map(String);
  return all.map((n) => prettyCapacity(n, 3));
}

export const domblkinfoCommand: CommandDef = {
  name: 'domblkinfo',
  help: 'domain block device size information',
  desc: 'Get block device size info for a domain.',
  options: [
    DOMAIN_OPT,
    { name: 'device', type: 'data', help: 'block device' },
    flag('human', 'Human readable output'),
    flag('all', 'display all block devices info'),
  ],
  async run(session, opts) {
    await withDriver(session, async (conn) => {
      exclusive(opts, 'all', 'device');
      const dom = await lookupDomain(conn, opts.domain as string);
      const human = Boolean(opts.human);
      if (!opts.all) {
        if (!opts.device) throw usageError("command 'domblkinfo' requires <device> option");
        const info = await conn.domainGetBlockInfo(dom, opts.device as string, 0);
        const [cap, alloc, phy] = blockInfoCells(info, human);
        print(
          session.io,
          `${'Capacity:'.padEnd(15)} ${cap}\n${'Allocation:'.padEnd(15)} ${alloc}\n${'Physical:'.padEnd(15)} ${phy}\n`,
        );
        return;
      }
      // every <disk> of the domain's XML; one without a source has no figures
      const xml = parseXml(await conn.domainGetXMLDesc(dom, 0));
      const devices = xml.children.find(
        (c): c is XmlElement => typeof c !== 'string' && c.name === 'devices',
      );
      const rows: string[][] = [];
      for (const disk of devices?.children ?? []) {
        if (typeof disk === 'string' || disk.name !== 'disk') continue;
        const child = (name: string) =>
          disk.children.find((c): c is XmlElement => typeof c !== 'string' && c.name === name);
        const target = child('target')?.attributes.dev ?? '';
        const info = child('source')
          ? await conn.domainGetBlockInfo(dom, target, 0)
          : { capacity: 0, allocation: 0, physical: 0 };
        rows.push([target, ...blockInfoCells(info, human)]);
      }
      print(session.io, formatTable(['Target', 'Capacity', 'Allocation', 'Physical'], rows));
    });
  },
};

const CONTROL_STATES = ['ok', 'background job', 'occupied', 'error'];

export const domcontrolCommand: CommandDef = {
  name: 'domcontrol',
  help: 'domain control interface state',
  desc: 'Returns state of a control interface to the domain.',
  options: [DOMAIN_OPT],
  async run(session, opts) {
    await withDriver(session, async (conn) => {
      const dom = await lookupDomain(conn, opts.domain as string);
      const info = await conn.domainGetControlInfo(dom, 0);
      const state = CONTROL_STATES[info.state] ?? 'unknown';
      // cmdDomControl: the time only for states other than ok
      print(
        session.io,
        info.state === 0 ? `${state}\n` : `${state} (${(info.stateTime / 1000).toFixed(3)}s)\n`,
      );
    });
  },
};

/** virTypedParamsAddFromString for schedinfo's types. */
function schedValue(field: string, type: number, text: string): TypedParam {
  const unsigned = type === VIR_TYPED_PARAM.ULLONG || type === VIR_TYPED_PARAM.UINT;
  if (!(unsigned ? /^\s*\d+$/ : /^\s*-?\d+$/).test(text)) {
    const name = { 1: 'int', 2: 'unsigned int', 3: 'long long', 4: 'unsigned long long' }[type] ?? 'integer';
    throw new VirError(
      'INVALID_ARG',
      'none',
      `invalid argument: Invalid value for field '${field}': expected ${name}`,
    );
  }
  return { field, type, value: Number(text) };
}

export const schedinfoCommand: CommandDef = {
  name: 'schedinfo',
  help: 'show/set scheduler parameters',
  desc: 'Show/Set scheduler parameters.',
  options: [
    DOMAIN_OPT,
    { name: 'weight', type: 'string', help: 'weight for XEN_CREDIT' },
    { name: 'cap', type: 'string', help: 'cap for XEN_CREDIT' },
    ...AFFECT_OPTS,
    { name: 'set', type: 'data', multiple: true, help: 'parameter=value' },
  ],
  async run(session, opts) {
    await withDriver(session, async (conn) => {
      // virsh checks its options once connected: a refusal ends with the blank line too
      const flags = affectFlags(opts);
      // both --live and --config: the values are read back as the current ones
      const queryFlags = opts.live && opts.config ? 0 : flags;
      const useFlags = flags || opts.current;
      const dom = await lookupDomain(conn, opts.domain as string);
      let sched: { type: string; nparams: number };
      try {
        sched = await conn.domainGetSchedulerType(dom);
      } catch (err) {
        // cmdSchedinfo names the scheduler unknown, then libvirt's error follows
        session.io.out(`${'Scheduler'.padEnd(15)}: Unknown\n`);
        throw err;
      }
      session.io.out(`${'Scheduler'.padEnd(15)}: ${sched.type}\n`);
      if (sched.nparams === 0) {
        print(session.io, '');
        return;
      }
      const get = () =>
        useFlags
          ? conn.domainGetSchedulerParametersFlags(
              dom,
              sched.nparams,
              queryFlags | VIR_TYPED_PARAM_STRING_OKAY,
            )
          : conn.domainGetSchedulerParameters(dom, sched.nparams);
      let params = await get();
      // cmdSchedInfoUpdate: each --set name=value (then --cap, --weight) typed as the current value
      const words = [
        ...optionList(opts, 'set'),
        ...(['cap', 'weight'] as const).flatMap((k) =>
          typeof opts[k] === 'string' ? [`${k}=${opts[k]}`] : [],
        ),
      ];
      const updates: TypedParam[] = [];
      for (const w of words) {
        const eq = w.indexOf('=');
        if (eq < 0) throw usageError('Invalid syntax for --set, expecting name=value');
        const field = w.slice(0, eq);
        const cur = params.find((p) => p.field === field);
        if (!cur) throw usageError(`invalid scheduler option: ${field}`);
        updates.push(schedValue(field, cur.type, w.slice(eq + 1)));
      }
      if (updates.length) {
        if (useFlags) await conn.domainSetSchedulerParametersFlags(dom, updates, flags);
        else await conn.domainSetSchedulerParameters(dom, updates);
        params = await get();
      } else if (opts.live && opts.config) {
        throw usageError('cannot query both live and config at once');
      }
      print(session.io, params.map((p) => `${p.field.padEnd(15)}: ${typedParamText(p)}\n`).join(''));
    });
  },
};

export const RESOURCE_COMMANDS: CommandDef[] = [
  cpuStatsCommand,
  descCommand,
  domblkinfoCommand,
  domcontrolCommand,
  domrenameCommand,
  domstatsCommand,
  emulatorpinCommand,
  metadataCommand,
  schedinfoCommand,
  setmaxmemCommand,
  setmemCommand,
  setvcpuCommand,
  setvcpusCommand,
  vcpucountCommand,
  vcpuinfoCommand,
  vcpupinCommand,
];
