/**
 * The commands of a domain's long job (a save), printing what virsh 9.0 prints
 * (tools/virsh-domain.c cmdDomjobinfo, cmdDomjobabort): domjobinfo, domjobabort.
 */
import {
  type TypedParam,
  VIR_DOMAIN_ABORT_JOB,
  VIR_DOMAIN_JOB,
  VIR_DOMAIN_JOB_STATS,
  VIR_TYPED_PARAM,
} from '@qvirt/core/hypervisor';
import { type CommandDef, usageError } from '../command.js';
import { DOMAIN_OPT, lookupDomain, print, withDriver } from '../driver-connection.js';
import { typedParamText } from './domain-resources.js';
import { prettyCapacity } from './storage-common.js';

/** virshDomainJob. */
const JOB_TYPES = ['None', 'Bounded', 'Unbounded', 'Completed', 'Failed', 'Cancelled'];
/** virshDomainJobOperation. */
const JOB_OPERATIONS = [
  'Unknown',
  'Start',
  'Save',
  'Restore',
  'Incoming migration',
  'Outgoing migration',
  'Snapshot',
  'Snapshot revert',
  'Dump',
  'Backup',
  'Snapshot delete',
];

/** virTypedParamsGetULLong / GetInt / GetString: the field's value when it has that type. */
function get(params: TypedParam[], field: string, type: number): number | string | undefined {
  const p = params.find((x) => x.field === field);
  return p && p.type === type ? (p.value as number | string) : undefined;
}
const ull = (params: TypedParam[], field: string) =>
  get(params, field, VIR_TYPED_PARAM.ULLONG) as number | undefined;

/** cmdDomjobinfo's lines after "Job type:" and "Operation:", in its order. */
function statLines(type: number, params: TypedParam[]): string[] {
  const lines: string[] = [];
  const line = (label: string, value: string) => lines.push(`${label.padEnd(17)} ${value}`);
  const count = (n: number, width = 12) => String(n).padEnd(width);
  // virshDomainJobStatsToDomainJobInfo
  const n = (f: string) => ull(params, f) ?? 0;
  const info = {
    timeElapsed: n('time_elapsed'),
    timeRemaining: n('time_remaining'),
    dataTotal: n('data_total'),
    dataProcessed: n('data_processed'),
    dataRemaining: n('data_remaining'),
    memTotal: n('memory_total'),
    memProcessed: n('memory_processed'),
    memRemaining: n('memory_remaining'),
    fileTotal: n('disk_total'),
    fileProcessed: n('disk_processed'),
    fileRemaining: n('disk_remaining'),
  };
  line('Time elapsed:', `${count(info.timeElapsed)} ms`);
  const net = ull(params, 'time_elapsed_net');
  if (net !== undefined) line('Time elapsed w/o network:', `${count(net)} ms`);
  if (type === VIR_DOMAIN_JOB.BOUNDED) line('Time remaining:', `${count(info.timeRemaining)} ms`);
  if (info.dataTotal || info.dataRemaining || info.dataProcessed) {
    line('Data processed:', prettyCapacity(info.dataProcessed, 3));
    line('Data remaining:', prettyCapacity(info.dataRemaining, 3));
    line('Data total:', prettyCapacity(info.dataTotal, 3));
  }
  if (info.memTotal || info.memRemaining || info.memProcessed) {
    line('Memory processed:', prettyCapacity(info.memProcessed, 3));
    line('Memory remaining:', prettyCapacity(info.memRemaining, 3));
    line('Memory total:', prettyCapacity(info.memTotal, 3));
    const bps = ull(params, 'memory_bps');
    if (bps) line('Memory bandwidth:', `${prettyCapacity(bps, 3)}/s`);
    const dirty = ull(params, 'memory_dirty_rate');
    if (dirty !== undefined) line('Dirty rate:', `${count(dirty)} pages/s`);
    const page = ull(params, 'memory_page_size');
    if (page !== undefined) line('Page size:', `${count(page)} bytes`);
    const iteration = ull(params, 'memory_iteration');
    if (iteration !== undefined) line('Iteration:', count(iteration));
    const reqs = ull(params, 'memory_postcopy_requests');
    if (reqs !== undefined) line('Postcopy requests:', count(reqs));
  }
  if (info.fileTotal || info.fileRemaining || info.fileProcessed) {
    line('File processed:', prettyCapacity(info.fileProcessed, 3));
    line('File remaining:', prettyCapacity(info.fileRemaining, 3));
    line('File total:', prettyCapacity(info.fileTotal, 3));
    const bps = ull(params, 'disk_bps');
    if (bps) line('File bandwidth:', `${prettyCapacity(bps, 3)}/s`);
  }
  const constant = ull(params, 'memory_constant');
  if (constant !== undefined) line('Constant pages:', count(constant));
  const normal = ull(params, 'memory_normal');
  if (normal !== undefined) line('Normal pages:', count(normal));
  const normalBytes = ull(params, 'memory_normal_bytes');
  if (normalBytes !== undefined) line('Normal data:', prettyCapacity(normalBytes, 3));
  const downtime = ull(params, 'downtime');
  if (downtime !== undefined)
    line(
      type === VIR_DOMAIN_JOB.COMPLETED ? 'Total downtime:' : 'Expected downtime:',
      `${count(downtime)} ms`,
    );
  const downtimeNet = ull(params, 'downtime_net');
  if (downtimeNet !== undefined) line('Downtime w/o network:', `${count(downtimeNet)} ms`);
  const setup = ull(params, 'setup_time');
  if (setup !== undefined) line('Setup time:', `${count(setup)} ms`);
  const cache = ull(params, 'compression_cache');
  if (cache !== undefined) line('Compression cache:', prettyCapacity(cache, 3));
  const cbytes = ull(params, 'compression_bytes');
  if (cbytes !== undefined) line('Compressed data:', prettyCapacity(cbytes, 3));
  const cpages = ull(params, 'compression_pages');
  if (cpages !== undefined) line('Compressed pages:', count(cpages, 13));
  const misses = ull(params, 'compression_cache_misses');
  if (misses !== undefined) line('Compression cache misses:', count(misses, 13));
  const overflow = ull(params, 'compression_overflow');
  if (overflow !== undefined) line('Compression overflows:', count(overflow, 13));
  const throttle = get(params, 'auto_converge_throttle', VIR_TYPED_PARAM.INT) as number | undefined;
  if (throttle !== undefined) line('Auto converge throttle:', count(throttle, 13));
  const tempUsed = ull(params, 'disk_temp_used');
  if (tempUsed !== undefined) line('Temporary disk space use:', prettyCapacity(tempUsed, 3));
  const tempTotal = ull(params, 'disk_temp_total');
  if (tempTotal !== undefined) line('Temporary disk space total:', prettyCapacity(tempTotal, 3));
  const errmsg = get(params, 'errmsg', VIR_TYPED_PARAM.STRING);
  if (errmsg !== undefined) line('Error message:', String(errmsg));
  return lines;
}

export const domjobinfoCommand: CommandDef = {
  name: 'domjobinfo',
  help: 'domain job information',
  desc: 'Returns information about jobs running on a domain.',
  options: [
    DOMAIN_OPT,
    { name: 'completed', type: 'bool', help: 'return statistics of a recently completed job' },
    {
      name: 'keep-completed',
      type: 'bool',
      help: "don't destroy statistics of a recently completed job when reading",
    },
    { name: 'anystats', type: 'bool', help: 'print statistics for any kind of job (even failed ones)' },
    { name: 'rawstats', type: 'bool', help: 'print the raw data returned by libvirt' },
  ],
  async run(session, opts) {
    await withDriver(session, async (conn) => {
      if (opts['keep-completed'] && !opts.completed)
        throw usageError('Option --completed is required by option --keep-completed');
      const dom = await lookupDomain(conn, opts.domain as string);
      const flags =
        (opts.completed ? VIR_DOMAIN_JOB_STATS.COMPLETED : 0) |
        (opts['keep-completed'] ? VIR_DOMAIN_JOB_STATS.KEEP_COMPLETED : 0);
      // virDomainGetJobStats (every daemon qvirsh meets has it)
      const { type, params } = await conn.domainGetJobStats(dom, flags);
      if (opts.rawstats) {
        const raw = params.map((p) => `${p.field}: ${typedParamText(p)}\n`).join('');
        print(session.io, `Job type: ${type}\n\n${raw}`);
        return;
      }
      const out = [`${'Job type:'.padEnd(17)} ${(JOB_TYPES[type] ?? 'unknown').padEnd(12)}`];
      if (type !== VIR_DOMAIN_JOB.NONE) {
        const op = (get(params, 'operation', VIR_TYPED_PARAM.INT) as number | undefined) ?? 0;
        out.push(`${'Operation:'.padEnd(17)} ${(JOB_OPERATIONS[op] ?? 'unknown').padEnd(12)}`);
        const running = type === VIR_DOMAIN_JOB.BOUNDED || type === VIR_DOMAIN_JOB.UNBOUNDED;
        const completed = opts.completed && type === VIR_DOMAIN_JOB.COMPLETED;
        if (opts.anystats || running || completed) out.push(...statLines(type, params));
      }
      print(session.io, `${out.join('\n')}\n`);
    });
  },
};

export const domjobabortCommand: CommandDef = {
  name: 'domjobabort',
  help: 'abort active domain job',
  desc: 'Aborts the currently running domain job',
  options: [DOMAIN_OPT, { name: 'postcopy', type: 'bool', help: 'interrupt post-copy migration' }],
  async run(session, opts) {
    await withDriver(session, async (conn) => {
      const dom = await lookupDomain(conn, opts.domain as string);
      if (opts.postcopy) await conn.domainAbortJobFlags(dom, VIR_DOMAIN_ABORT_JOB.POSTCOPY);
      else await conn.domainAbortJob(dom);
      print(session.io, '');
    });
  },
};

export const JOB_COMMANDS: CommandDef[] = [domjobabortCommand, domjobinfoCommand];
