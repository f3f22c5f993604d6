/**
 * virsh's host commands (tools/virsh-host.c): nodeinfo, freecell, nodememstats, nodecpustats,
 * nodecpumap, version, maxvcpus, with virsh's calls in virsh's order and its output formats.
 */
import { VirError } from '@qvirt/core/errors';
import type { HypervisorDriver, NodeStatsReply } from '@qvirt/core/hypervisor';
import { type CommandDef, usageError } from '../command.js';
import { print, reporting, withDriver } from '../driver-connection.js';

/** libvirt's version qvirsh stands for (virsh's "Compiled against"/"Using library"). */
const LIBVIRT_VERSION = 9_000_000;

const flag = (name: string, help: string) => ({ name, type: 'bool' as const, help });
/** A VSH_OT_INT option: given as `--name N` or positionally. */
const intOpt = (name: string, help: string) => ({ name, type: 'data' as const, help });

/** vshCommandOptInt: an absent option is undefined, a malformed one is virsh's error. */
function optInt(opts: Record<string, string | boolean | undefined>, name: string): number | undefined {
  const v = opts[name];
  if (v === undefined || typeof v === 'boolean') return undefined;
  if (!/^[+-]?\d+$/.test(v.trim()) || Math.abs(Number(v)) > 2 ** 31 - 1) {
    throw usageError(`Numeric value '${v}' for <${name}> option is malformed or out of range`);
  }
  return Number(v);
}

/** `major.minor.micro` of libvirt's version numbers. */
const dotted = (v: number) =>
  `${Math.floor(v / 1_000_000)}.${Math.floor((v % 1_000_000) / 1000)}.${v % 1000}`;

/** printf's `%-Ns`. */
const left = (s: string, n: number) => s.padEnd(n);
/** printf's `%Nd` / `%Nllu`. */
const right = (v: number | string, n: number) => String(v).padStart(n);

export const nodeinfoCommand: CommandDef = {
  name: 'nodeinfo',
  help: 'node information',
  desc: 'Returns basic information about the node.',
  options: [],
  async run(session) {
    const info = await withDriver(session, (c) =>
      reporting(session.io, 'failed to get node information', () => c.nodeGetInfo()),
    );
    const lines = [`${left('CPU model:', 20)} ${info.model}`, `${left('CPU(s):', 20)} ${info.cpus}`];
    if (info.mhz) lines.push(`${left('CPU frequency:', 20)} ${info.mhz} MHz`);
    lines.push(
      `${left('CPU socket(s):', 20)} ${info.sockets}`,
      `${left('Core(s) per socket:', 20)} ${info.cores}`,
      `${left('Thread(s) per core:', 20)} ${info.threads}`,
      `${left('NUMA cell(s):', 20)} ${info.nodes}`,
      `${left('Memory size:', 20)} ${info.memory} KiB`,
    );
    print(session.io, `${lines.join('\n')}\n`);
  },
};

/** The `id`s of `<topology><cells><cell>` in a capabilities document. */
function cellIds(caps: string): number[] {
  const topo =
    /<topology>[\s\S]*?<\/topology>/.exec(/<host>[\s\S]*?<\/host>/.exec(caps)?.[0] ?? '')?.[0] ?? '';
  return [...topo.matchAll(/<cell id='(\d+)'/g)].map((m) => Number(m[1]));
}

export const freecellCommand: CommandDef = {
  name: 'freecell',
  help: 'NUMA free memory',
  desc: 'display available free memory for the NUMA cell.',
  options: [intOpt('cellno', 'NUMA cell number'), flag('all', 'show free memory for all NUMA cells')],
  async run(session, opts) {
    if (opts.all && opts.cellno !== undefined)
      throw usageError('Options --all and --cellno are mutually exclusive');
    const cell = optInt(opts, 'cellno');
    const kib = (bytes: number) => Math.floor(bytes / 1024);
    await withDriver(session, async (c) => {
      if (!opts.all) {
        if (cell !== undefined) {
          const [free = 0] = await c.nodeGetCellsFreeMemory(cell, 1);
          print(session.io, `${cell}: ${kib(free)} KiB\n`);
          return;
        }
        print(session.io, `Total: ${kib(await c.nodeGetFreeMemory())} KiB\n`);
        return;
      }
      const caps = await reporting(session.io, 'unable to get node capabilities', () =>
        c.connectGetCapabilities(),
      );
      const rows: [number, number][] = [];
      for (const id of cellIds(caps)) {
        const got = await reporting(session.io, `failed to get free memory for NUMA node number: ${id}`, () =>
          c.nodeGetCellsFreeMemory(id, 1),
        );
        rows.push([id, got[0] ?? 0]);
      }
      let total = 0;
      const lines = rows.map(([id, free]) => {
        total += free;
        return `${right(id, 5)}: ${right(kib(free), 10)} KiB`;
      });
      lines.push('--------------------', `${right('Total', 5)}: ${right(kib(total), 10)} KiB`);
      print(session.io, `${lines.join('\n')}\n`);
    });
  },
};

export const nodememstatsCommand: CommandDef = {
  name: 'nodememstats',
  help: 'Prints memory stats of the node.',
  desc: 'Returns memory stats of the node, in kilobytes.',
  options: [intOpt('cell', 'prints specified cell statistics only.')],
  async run(session, opts) {
    const cell = optInt(opts, 'cell') ?? -1;
    await withDriver(session, async (c) => {
      const count = await reporting(session.io, 'Unable to get number of memory stats', () =>
        c.nodeGetMemoryStats(0, cell, 0),
      );
      if (count.nparams === 0) return;
      const stats = await reporting(session.io, 'Unable to get memory stats', () =>
        c.nodeGetMemoryStats(count.nparams, cell, 0),
      );
      print(
        session.io,
        `${stats.params.map((p) => `${left(p.field, 7)}: ${right(p.value, 20)} KiB`).join('\n')}\n`,
      );
    });
  },
};

/** virshCPUStats: the stats virsh knows, in its order, with its labels. */
const CPU_FIELDS: [string, string][] = [
  ['user', 'user:'],
  ['kernel', 'system:'],
  ['idle', 'idle:'],
  ['iowait', 'iowait:'],
  ['intr', 'intr:'],
  ['utilization', 'usage:'],
];

/** printf's `%5.1lf`. */
const pct = (v: number) => right(v.toFixed(1), 5);

export const nodecpustatsCommand: CommandDef = {
  name: 'nodecpustats',
  help: 'Prints cpu stats of the node.',
  desc: 'Returns cpu stats of the node, in nanoseconds.',
  options: [
    intOpt('cpu', 'prints specified cpu statistics only.'),
    flag('percent', 'prints by percentage during 1 second.'),
  ],
  async run(session, opts) {
    const cpu = optInt(opts, 'cpu') ?? -1;
    await withDriver(session, async (c) => {
      const count = await reporting(session.io, 'Unable to get number of cpu stats', () =>
        c.nodeGetCPUStats(cpu, 0, 0),
      );
      if (count.nparams === 0) return;
      const sample = async (): Promise<Map<number, number>> => {
        const r: NodeStatsReply = await reporting(session.io, 'Unable to get node cpu stats', () =>
          c.nodeGetCPUStats(cpu, count.nparams, 0),
        );
        const out = new Map<number, number>();
        for (const p of r.params) {
          const i = CPU_FIELDS.findIndex(([f]) => f === p.field);
          if (i >= 0) out.set(i, p.value);
        }
        return out;
      };
      const first = await sample();
      const USAGE = 5;
      let stats = first;
      if (opts.percent && !first.has(USAGE)) {
        await new Promise((r) => setTimeout(r, 1000));
        const second = await sample();
        stats = new Map([...first].map(([i, v]) => [i, (second.get(i) ?? v) - v]));
      }
      const lines: string[] = [];
      if (!opts.percent) {
        for (let i = 0; i < USAGE; i++) {
          if (stats.has(i)) lines.push(`${left(CPU_FIELDS[i]![1], 15)} ${right(stats.get(i)!, 20)}`);
        }
      } else if (stats.has(USAGE)) {
        const usage = stats.get(USAGE)!;
        lines.push(
          `${left('usage:', 15)} ${right(usage, 5)}%`,
          `${left('idle:', 15)} ${right(100 - usage, 5)}%`,
        );
      } else {
        let total = 0;
        for (let i = 0; i < USAGE; i++) total += stats.get(i) ?? 0;
        const usage = (((stats.get(0) ?? 0) + (stats.get(1) ?? 0)) / total) * 100;
        lines.push(`${left('usage:', 15)} ${pct(usage)}%`);
        for (let i = 0; i < USAGE; i++) {
          if (stats.has(i))
            lines.push(`${left(CPU_FIELDS[i]![1], 15)} ${pct((stats.get(i)! / total) * 100)}%`);
        }
      }
      print(session.io, `${lines.join('\n')}\n`);
    });
  },
};

/** virBitmapDataFormat: the set bits as ranges, `0-1,4`. */
function bitmapRanges(map: Uint8Array, n: number): string {
  const set = (i: number) => ((map[i >> 3] ?? 0) >> (i & 7)) & 1;
  const parts: string[] = [];
  for (let i = 0; i < n; i++) {
    if (!set(i)) continue;
    let j = i;
    while (j + 1 < n && set(j + 1)) j++;
    parts.push(i === j ? `${i}` : `${i}-${j}`);
    i = j;
  }
  return parts.join(',');
}

export const nodecpumapCommand: CommandDef = {
  name: 'nodecpumap',
  help: 'node cpu map',
  desc: "Displays the node's total number of CPUs, the number of online CPUs and the list of online CPUs.",
  options: [flag('pretty', 'return human readable output')],
  async run(session, opts) {
    const m = await withDriver(session, (c) =>
      reporting(session.io, 'Unable to get cpu map', () => c.nodeGetCPUMap(1, 1, 0)),
    );
    let map = '';
    if (opts.pretty) map = bitmapRanges(m.cpumap, m.ret);
    else for (let i = 0; i < m.ret; i++) map += ((m.cpumap[i >> 3] ?? 0) >> (i & 7)) & 1 ? 'y' : '-';
    print(
      session.io,
      `${left('CPUs present:', 15)} ${m.ret}\n${left('CPUs online:', 15)} ${m.online}\n${left('CPU map:', 15)} ${map}\n`,
    );
  },
};

export const versionCommand: CommandDef = {
  name: 'version',
  help: 'show version',
  desc: 'Display the system version information.',
  options: [flag('daemon', 'report daemon version too')],
  async run(session, opts) {
    await withDriver(session, async (c) => {
      const type = await reporting(session.io, 'failed to get hypervisor type', () => c.connectGetType());
      const lines = [
        `Compiled against library: libvirt ${dotted(LIBVIRT_VERSION)}`,
        `Using library: libvirt ${dotted(LIBVIRT_VERSION)}`,
        `Using API: ${type} ${dotted(LIBVIRT_VERSION)}`,
      ];
      const hv = await reporting(session.io, 'failed to get the hypervisor version', () =>
        c.connectGetVersion(),
      );
      lines.push(
        hv === 0
          ? `Cannot extract running ${type} hypervisor version`
          : `Running hypervisor: ${type} ${dotted(hv)}`,
      );
      if (opts.daemon) {
        try {
          lines.push(`Running against daemon: ${dotted(await c.connectGetLibVersion())}`);
        } catch {
          session.io.err('error: failed to get the daemon version\n');
        }
      }
      print(session.io, `${lines.join('\n')}\n`);
    });
  },
};

type DomainCapabilitiesCall = (
  emulatorbin: string | null,
  arch: string | null,
  machine: string | null,
  virttype: string | null,
  flags: number,
) => Promise<string>;

export const maxvcpusCommand: CommandDef = {
  name: 'maxvcpus',
  help: 'connection vcpu maximum',
  desc: 'Show maximum number of virtual CPUs for guests on this connection.',
  options: [{ name: 'type', type: 'string', help: 'domain type' }],
  async run(session, opts) {
    const type = typeof opts.type === 'string' ? opts.type : null;
    const n = await withDriver(session, async (c: HypervisorDriver) => {
      // cmdMaxvcpus: the domain capabilities' <vcpu max>, else virConnectGetMaxVcpus
      const domcaps = (c as { connectGetDomainCapabilities?: DomainCapabilitiesCall })
        .connectGetDomainCapabilities;
      if (domcaps) {
        try {
          const xml = await domcaps.call(c, null, null, null, type, 0);
          const max = /<vcpu max='(\d+)'/.exec(xml)?.[1];
          if (max !== undefined) return Number(max);
        } catch {}
      }
      return c.connectGetMaxVcpus(type);
    });
    print(session.io, `${n}\n`);
  },
};

export const nodeMemoryTuneCommand: CommandDef = {
  name: 'node-memory-tune',
  help: 'Get or set node memory parameters',
  desc: 'Get or set node memory parameters\n    To get the memory parameters, use following command: \n\n    virsh # node-memory-tune',
  options: [
    intOpt('shm-pages-to-scan', 'number of pages to scan before the shared memory service goes to sleep'),
    intOpt(
      'shm-sleep-millisecs',
      'number of millisecs the shared memory service should sleep before next scan',
    ),
    intOpt('shm-merge-across-nodes', 'Specifies if pages from different numa nodes can be merged'),
  ],
  async run(session, opts) {
    const set = ['shm-pages-to-scan', 'shm-sleep-millisecs', 'shm-merge-across-nodes'].filter(
      (o) => optInt(opts, o) !== undefined,
    );
    if (set.length > 0) {
      throw new VirError(
        'NO_SUPPORT',
        'none',
        'this function is not supported by the connection driver: virNodeSetMemoryParameters',
      );
    }
    await withDriver(session, async (c) => {
      const count = await reporting(session.io, 'Unable to get number of memory parameters', () =>
        c.nodeGetMemoryParameters(0, 0),
      );
      if (count.nparams === 0) return;
      const got = await reporting(session.io, 'Unable to get memory parameters', () =>
        c.nodeGetMemoryParameters(count.nparams, 0),
      );
      const lines = ['Shared memory:', ...got.params.map((p) => `\t${left(p.field, 15)} ${String(p.value)}`)];
      print(session.io, `${lines.join('\n')}\n`);
    });
  },
};

/** cmdSysinfo. */
export const sysinfoCommand: CommandDef = {
  name: 'sysinfo',
  help: 'print the hypervisor sysinfo',
  desc: 'output an XML string for the hypervisor sysinfo, if available',
  options: [],
  async run(session) {
    await withDriver(session, async (c) => {
      const xml = await reporting(session.io, 'failed to get sysinfo', () => c.connectGetSysinfo(0));
      print(session.io, xml);
    });
  },
};

export const NODE_COMMANDS: CommandDef[] = [
  freecellCommand,
  maxvcpusCommand,
  nodecpumapCommand,
  nodecpustatsCommand,
  nodeinfoCommand,
  nodememstatsCommand,
  nodeMemoryTuneCommand,
  sysinfoCommand,
  versionCommand,
];
