/**
 * virsh's block job commands (virsh-domain.c): blockcommit, blockcopy, blockjob, blockpull, with
 * virshBlockJobWait's loop for --wait (BLOCK_JOB and BLOCK_JOB_2 events, the job's info polled
 * every half second, virshPrintJobProgress on stderr with --verbose) and virsh 9.0's words.
 */
import { readFile } from 'node:fs/promises';
import {
  type Domain,
  type TypedParam,
  VIR_DOMAIN_BLOCK_COMMIT,
  VIR_DOMAIN_BLOCK_COPY,
  VIR_DOMAIN_BLOCK_COPY_BANDWIDTH,
  VIR_DOMAIN_BLOCK_COPY_BUF_SIZE,
  VIR_DOMAIN_BLOCK_COPY_GRANULARITY,
  VIR_DOMAIN_BLOCK_JOB,
  VIR_DOMAIN_BLOCK_JOB_ABORT,
  VIR_DOMAIN_BLOCK_JOB_INFO_BANDWIDTH_BYTES,
  VIR_DOMAIN_BLOCK_JOB_SPEED_BANDWIDTH_BYTES,
  VIR_DOMAIN_BLOCK_PULL_BANDWIDTH_BYTES,
  VIR_DOMAIN_BLOCK_REBASE,
  VIR_DOMAIN_EVENT_ID,
  VIR_TYPED_PARAM,
} from '@qvirt/core/hypervisor';
import {
  type CommandDef,
  CommandFailed,
  type Io,
  type OptDef,
  type ParsedOpts,
  usageError,
} from '../command.js';
import {
  type Connection,
  DOMAIN_OPT,
  lookupDomain,
  print,
  reporting,
  withDriver,
} from '../driver-connection.js';
import { prettyCapacity } from './storage-common.js';

const bool = (name: string, help: string): OptDef => ({ name, type: 'bool', help });
const str = (name: string, help: string): OptDef => ({ name, type: 'string', help });
const PATH_OPT: OptDef = { name: 'path', type: 'data', required: true, help: 'fully-qualified path of disk' };
const ULONG_MAX = 2 ** 64 - 1;

/** vshBlockJobOptionBandwidth: a number (MiB/s, or bytes with --bytes), or a scaled size in bytes. */
function bandwidthOpt(io: Io, opts: ParsedOpts, bytes: boolean): number {
  const v = opts.bandwidth;
  if (typeof v !== 'string') return 0;
  const t = v.trim();
  if (/^-?\d+$/.test(t)) {
    const n = Number(t);
    // negative numbers wrap to the unsigned type, as strtoul does
    return n < 0 ? ULONG_MAX + 1 + n : n;
  }
  const m = /^(\d+)(.*)$/.exec(t);
  const scale = m ? unitScale(m[2]!) : undefined;
  if (!m || scale === undefined) {
    const what = `Scaled numeric value '${v}' for <--bandwidth> option is malformed or out of range`;
    if (!m) throw usageError(what);
    // virScaleInteger's own error stays libvirt's last error, and virsh prints it after its own
    io.err(`error: ${what}\n`);
    throw usageError(`invalid argument: unknown suffix '${m[2]}'`);
  }
  const bw = Number(m[1]) * scale;
  return bytes ? bw : Math.floor(bw / 2 ** 20);
}

/** virScaleInteger's suffixes (1024-based, or 1000-based with `B` after a prefix letter). */
function unitScale(unit: string): number | undefined {
  if (unit === '' || unit === 'b' || unit === 'B') return 1;
  const idx = 'kmgtpe'.indexOf(unit[0]!.toLowerCase());
  if (idx < 0) return undefined;
  const rest = unit.slice(1);
  if (rest === '' || rest === 'iB' || rest === 'ib') return 1024 ** (idx + 1);
  if (rest === 'B' || rest === 'b') return 1000 ** (idx + 1);
  return undefined;
}

/** vshCommandOptTimeoutToMs */
function timeoutMs(opts: ParsedOpts): number {
  const v = opts.timeout;
  if (typeof v !== 'string') return 0;
  if (!/^\d+$/.test(v.trim()))
    throw usageError(`Numeric value '${v}' for <timeout> option is malformed or out of range`);
  const n = Number(v);
  if (n === 0 || n > Math.floor(2147483647 / 1000))
    throw usageError(`Numeric value '${n}' for <timeout> option is malformed or out of range`);
  return n * 1000;
}

/** vshCommandOptUInt / ULongLong: undefined when absent. */
function numOpt(opts: ParsedOpts, name: string, max: number): number | undefined {
  const v = opts[name];
  if (typeof v !== 'string') return undefined;
  if (!/^\d+$/.test(v.trim()) || Number(v) > max)
    throw usageError(`Numeric value '${v}' for <${name}> option is malformed or out of range`);
  return Number(v);
}

/** virshPrintJobProgress: on stderr, the line rewritten in place. */
function printJobProgress(io: Io, label: string, remaining: number, total: number): void {
  let progress = 100;
  if (remaining !== 0) {
    progress = Math.trunc(100.0 - (remaining * 100.0) / total);
    if (progress >= 100) progress = 99;
  }
  io.err(`\r${label}: [${String(progress).padStart(3)} %]`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** virshBlockJobWaitInit + virshBlockJobWait: the job's end (or ready phase) as an event status. */
class BlockJobWait {
  status = -1;
  readonly #ids: number[] = [];

  private constructor(
    readonly conn: Connection,
    readonly dom: Domain,
    readonly dev: string,
    readonly label: string,
    readonly verbose: boolean,
    readonly timeout: number,
    readonly asyncAbort: boolean,
  ) {}

  static async init(
    conn: Connection,
    dom: Domain,
    dev: string,
    label: string,
    opts: { verbose: boolean; timeout: number; async: boolean },
  ): Promise<BlockJobWait> {
    const w = new BlockJobWait(conn, dom, dev, label, opts.verbose, opts.timeout, opts.async);
    for (const id of [VIR_DOMAIN_EVENT_ID.BLOCK_JOB, VIR_DOMAIN_EVENT_ID.BLOCK_JOB_2]) {
      const cb = await conn
        .connectDomainEventRegisterAny(dom, id, (e) => {
          if (e.disk === dev && e.status !== undefined) w.status = e.status;
        })
        .catch(() => -1);
      w.#ids.push(cb);
    }
    return w;
  }

  async free(): Promise<void> {
    for (const id of this.#ids)
      if (id >= 0) await this.conn.connectDomainEventDeregisterAny(id).catch(() => {});
  }

  async wait(io: Io): Promise<number> {
    const registered = this.#ids.filter((id) => id >= 0).length;
    let retries = 5;
    const start = Date.now();
    let last = { cur: 0, end: 0 };
    let ret: number;
    for (;;) {
      const info = await reporting(io, `failed to query job for disk ${this.dev}`, () =>
        this.conn.domainGetBlockJobInfo(this.dom, this.dev, 0),
      );
      if (registered > 0 && this.status !== -1) {
        ret = this.status;
        break;
      }
      if (registered < 2) {
        if (!info.found) {
          ret = VIR_DOMAIN_BLOCK_JOB.COMPLETED;
          break;
        }
        if (info.end === info.cur && (registered === 0 || --retries === 0)) {
          ret = VIR_DOMAIN_BLOCK_JOB.READY;
          break;
        }
      }
      if (this.verbose && (info.cur !== last.cur || info.end !== last.end))
        printJobProgress(io, this.label, info.end - info.cur, info.end);
      last = info;
      if (this.timeout && Date.now() - start > this.timeout) {
        await reporting(io, `failed to abort job for disk '${this.dev}'`, () =>
          this.conn.domainBlockJobAbort(
            this.dom,
            this.dev,
            this.asyncAbort ? VIR_DOMAIN_BLOCK_JOB_ABORT.ASYNC : 0,
          ),
        );
        ret = VIR_DOMAIN_BLOCK_JOB.CANCELED;
        break;
      }
      await sleep(500);
    }
    if (this.verbose && (ret === VIR_DOMAIN_BLOCK_JOB.COMPLETED || ret === VIR_DOMAIN_BLOCK_JOB.READY))
      printJobProgress(io, this.label, 0, 1);
    return ret;
  }
}

/** The wait's end that is no success: virsh's word, then the command fails without an error. */
function endedBadly(io: Io, status: number, aborted: string, failed: string): void {
  if (status === VIR_DOMAIN_BLOCK_JOB.CANCELED || status === VIR_DOMAIN_BLOCK_JOB.FAILED) {
    print(io, `\n${status === VIR_DOMAIN_BLOCK_JOB.CANCELED ? aborted : failed}`);
    throw new CommandFailed();
  }
}

function exclusive(opts: ParsedOpts, a: string, b: string): void {
  if (opts[a] !== undefined && opts[b] !== undefined)
    throw usageError(`Options --${a} and --${b} are mutually exclusive`);
}

/**
 * The end of an active commit or a copy that virsh waited for (cmdBlockcommit, cmdBlockcopy):
 * pivot to the new image, finish keeping the old one, or leave the job in its second phase.
 */
async function endTwoPhaseJob(
  io: Io,
  conn: Connection,
  dom: Parameters<Connection['domainBlockJobAbort']>[0],
  path: string,
  abortFlags: number,
  end: 'pivot' | 'finish' | 'keep',
  texts: { finished: string; kept: string },
): Promise<void> {
  if (end === 'pivot') {
    await reporting(io, `failed to pivot job for disk ${path}`, () =>
      conn.domainBlockJobAbort(dom, path, abortFlags | VIR_DOMAIN_BLOCK_JOB_ABORT.PIVOT),
    );
    print(io, '\nSuccessfully pivoted');
  } else if (end === 'finish') {
    await reporting(io, `failed to finish job for disk ${path}`, () =>
      conn.domainBlockJobAbort(dom, path, abortFlags),
    );
    print(io, `\n${texts.finished}`);
  } else print(io, `\n${texts.kept}`);
}

export const blockcommitCommand: CommandDef = {
  name: 'blockcommit',
  help: 'Start a block commit operation.',
  desc: 'Commit changes from a snapshot down to its backing image.',
  options: [
    DOMAIN_OPT,
    PATH_OPT,
    { name: 'bandwidth', type: 'string', help: 'bandwidth limit in MiB/s' },
    str('base', 'path of base file to commit into (default bottom of chain)'),
    bool('shallow', 'use backing file of top as base'),
    str('top', 'path of top file to commit from (default top of chain)'),
    bool('active', 'trigger two-stage active commit of top file'),
    bool('delete', 'delete files that were successfully committed'),
    bool('wait', 'wait for job to complete (with --active, wait for job to sync)'),
    bool('verbose', 'with --wait, display the progress'),
    str('timeout', 'implies --wait, abort if copy exceeds timeout (in seconds)'),
    bool('pivot', 'implies --active --wait, pivot when commit is synced'),
    bool('keep-overlay', 'implies --active --wait, quit when commit is synced'),
    bool('async', "with --wait, don't wait for cancel to finish"),
    bool('keep-relative', 'keep the backing chain relatively referenced'),
    bool('bytes', 'the bandwidth limit is in bytes/s rather than MiB/s'),
  ],
  async run(session, opts) {
    const io = session.io;
    exclusive(opts, 'pivot', 'keep-overlay');
    const pivot = opts.pivot === true;
    const finish = opts['keep-overlay'] === true;
    const active = opts.active === true || pivot || finish;
    let blocking = opts.wait === true || pivot || finish;
    const bytes = opts.bytes === true;
    const path = opts.path as string;
    const bandwidth = bandwidthOpt(session.io, opts, bytes);
    const C = VIR_DOMAIN_BLOCK_COMMIT;
    const flags =
      (bytes ? C.BANDWIDTH_BYTES : 0) |
      (opts.shallow ? C.SHALLOW : 0) |
      (opts.delete ? C.DELETE : 0) |
      (active ? C.ACTIVE : 0) |
      (opts['keep-relative'] ? C.RELATIVE : 0);
    const timeout = timeoutMs(opts);
    if (timeout) blocking = true;
    if (!blocking) {
      if (opts.verbose)
        throw usageError('--verbose requires at least one of --timeout, --wait, --pivot, or --keep-overlay');
      if (opts.async)
        throw usageError('--async requires at least one of --timeout, --wait, --pivot, or --keep-overlay');
    }
    const abortFlags = opts.async ? VIR_DOMAIN_BLOCK_JOB_ABORT.ASYNC : 0;
    await withDriver(session, async (conn) => {
      const dom = await lookupDomain(conn, opts.domain as string);
      const wait = blocking
        ? await BlockJobWait.init(conn, dom, path, 'Block commit', {
            verbose: opts.verbose === true,
            timeout,
            async: opts.async === true,
          })
        : undefined;
      try {
        await conn.domainBlockCommit(
          dom,
          path,
          (opts.base as string | undefined) ?? null,
          (opts.top as string | undefined) ?? null,
          bandwidth,
          flags,
        );
        if (!wait) {
          print(io, active ? 'Active Block Commit started' : 'Block Commit started');
          return;
        }
        endedBadly(io, await wait.wait(io), 'Commit aborted', 'Commit failed');
        if (!active) return print(io, '\nCommit complete');
        await endTwoPhaseJob(io, conn, dom, path, abortFlags, pivot ? 'pivot' : finish ? 'finish' : 'keep', {
          finished: 'Commit complete, overlay image kept',
          kept: 'Now in synchronized phase',
        });
      } finally {
        await wait?.free();
      }
    });
  },
};

export const blockpullCommand: CommandDef = {
  name: 'blockpull',
  help: 'Populate a disk from its backing image.',
  desc: 'Populate a disk from its backing image.',
  options: [
    DOMAIN_OPT,
    PATH_OPT,
    { name: 'bandwidth', type: 'string', help: 'bandwidth limit in MiB/s' },
    str('base', 'path of backing file in chain for a partial pull'),
    bool('wait', 'wait for job to finish'),
    bool('verbose', 'with --wait, display the progress'),
    str('timeout', 'with --wait, abort if pull exceeds timeout (in seconds)'),
    bool('async', "with --wait, don't wait for cancel to finish"),
    bool('keep-relative', 'keep the backing chain relatively referenced'),
    bool('bytes', 'the bandwidth limit is in bytes/s rather than MiB/s'),
  ],
  async run(session, opts) {
    const io = session.io;
    // VSH_REQUIRE_OPTION
    for (const o of ['verbose', 'async'])
      if (opts[o] && !opts.wait) throw usageError(`Option --wait is required by option --${o}`);
    const bytes = opts.bytes === true;
    const path = opts.path as string;
    const base = opts.base as string | undefined;
    const bandwidth = bandwidthOpt(session.io, opts, bytes);
    const timeout = timeoutMs(opts);
    let flags = opts['keep-relative'] ? VIR_DOMAIN_BLOCK_REBASE.RELATIVE : 0;
    await withDriver(session, async (conn) => {
      const dom = await lookupDomain(conn, opts.domain as string);
      const wait = opts.wait
        ? await BlockJobWait.init(conn, dom, path, 'Block Pull', {
            verbose: opts.verbose === true,
            timeout,
            async: opts.async === true,
          })
        : undefined;
      try {
        if (base || flags) {
          if (bytes) flags |= VIR_DOMAIN_BLOCK_REBASE.BANDWIDTH_BYTES;
          await conn.domainBlockRebase(dom, path, base ?? null, bandwidth, flags);
        } else {
          if (bytes) flags |= VIR_DOMAIN_BLOCK_PULL_BANDWIDTH_BYTES;
          await conn.domainBlockPull(dom, path, bandwidth, flags);
        }
        if (!wait) return print(io, 'Block Pull started');
        endedBadly(io, await wait.wait(io), 'Pull aborted', 'Pull failed');
        print(io, '\nPull complete');
      } finally {
        await wait?.free();
      }
    });
  },
};

/** virshDomainBlockJob's names (virsh-util.c), --raw's too. */
const JOB_LABELS = [
  'Unknown job',
  'Block Pull',
  'Block Copy',
  'Block Commit',
  'Active Block Commit',
  'Backup',
];

export const blockjobCommand: CommandDef = {
  name: 'blockjob',
  help: 'Manage active block operations',
  desc: 'Query, adjust speed, or cancel active block operations.',
  options: [
    DOMAIN_OPT,
    PATH_OPT,
    bool('abort', 'abort the active job on the specified disk'),
    bool('async', "implies --abort; request but don't wait for job end"),
    bool('pivot', 'implies --abort; conclude and pivot a copy or commit job'),
    bool('info', 'get active job information for the specified disk'),
    bool('bytes', 'get/set bandwidth in bytes rather than MiB/s'),
    bool('raw', 'implies --info; output details rather than human summary'),
    { name: 'bandwidth', type: 'string', help: 'set the bandwidth limit in MiB/s' },
  ],
  async run(session, opts) {
    const io = session.io;
    for (const [a, b] of [
      ['raw', 'abort'],
      ['raw', 'pivot'],
      ['raw', 'async'],
      ['raw', 'bandwidth'],
      ['info', 'abort'],
      ['info', 'pivot'],
      ['info', 'async'],
      ['info', 'bandwidth'],
      ['bytes', 'abort'],
      ['bytes', 'pivot'],
      ['bytes', 'async'],
    ] as const)
      exclusive(opts, a, b);
    const raw = opts.raw === true;
    const bytes = opts.bytes === true;
    const path = opts.path as string;
    await withDriver(session, async (conn) => {
      const dom = await lookupDomain(conn, opts.domain as string);
      if (opts.bandwidth !== undefined) {
        const bw = bandwidthOpt(session.io, opts, bytes);
        await conn.domainBlockJobSetSpeed(
          dom,
          path,
          bw,
          bytes ? VIR_DOMAIN_BLOCK_JOB_SPEED_BANDWIDTH_BYTES : 0,
        );
        return print(io, '');
      }
      if (opts.abort || opts.pivot || opts.async) {
        const A = VIR_DOMAIN_BLOCK_JOB_ABORT;
        await conn.domainBlockJobAbort(dom, path, (opts.async ? A.ASYNC : 0) | (opts.pivot ? A.PIVOT : 0));
        return print(io, '');
      }
      // virshBlockJobInfo: bytes/s asked for unless --raw; MiB/s scaled when the driver refuses
      let info: Awaited<ReturnType<Connection['domainGetBlockJobInfo']>> | undefined;
      let speed = 0;
      if (bytes || !raw) {
        try {
          info = await conn.domainGetBlockJobInfo(dom, path, VIR_DOMAIN_BLOCK_JOB_INFO_BANDWIDTH_BYTES);
          speed = info.bandwidth;
        } catch (err) {
          const code = (err as { code?: string }).code;
          if (bytes || raw || (code !== 'INVALID_ARG' && code !== 'OVERFLOW')) throw err;
        }
      }
      if (!info) {
        info = await conn.domainGetBlockJobInfo(dom, path, 0);
        speed = raw ? info.bandwidth : info.bandwidth * 2 ** 20;
      }
      if (!info.found) return print(io, raw ? '' : `No current block job for ${path}`);
      if (raw) {
        return print(
          io,
          ` type=${JOB_LABELS[info.type] ?? 'Unknown job'}\n bandwidth=${info.bandwidth}\n cur=${info.cur}\n end=${info.end}\n`,
        );
      }
      printJobProgress(io, JOB_LABELS[info.type] ?? 'Unknown job', info.end - info.cur, info.end);
      const limit = speed ? `    Bandwidth limit: ${speed} bytes/s (${prettyCapacity(speed, 3)}/s)` : '';
      print(io, `${limit}\n`);
    });
  },
};

export const blockcopyCommand: CommandDef = {
  name: 'blockcopy',
  help: 'Start a block copy operation.',
  desc: 'Copy a disk backing image chain to dest.',
  options: [
    DOMAIN_OPT,
    { name: 'path', type: 'data', required: true, help: 'fully-qualified path of source disk' },
    str('dest', 'path of the copy to create'),
    { name: 'bandwidth', type: 'string', help: 'bandwidth limit in MiB/s' },
    bool('shallow', 'make the copy share a backing chain'),
    bool('reuse-external', 'reuse existing destination'),
    bool('raw', 'format=raw'),
    bool('blockdev', 'copy destination is block device instead of regular file'),
    bool('wait', 'wait for job to reach mirroring phase'),
    bool('verbose', 'with --wait, display the progress'),
    str('timeout', 'implies --wait, abort if copy exceeds timeout (in seconds)'),
    bool('pivot', 'implies --wait, pivot when mirroring starts'),
    bool('finish', 'implies --wait, quit when mirroring starts'),
    bool('async', "with --wait, don't wait for cancel to finish"),
    str('xml', 'filename containing XML description of the copy destination'),
    str('format', 'format of the destination file'),
    str('granularity', 'power-of-two granularity to use during the copy'),
    str('buf-size', 'maximum amount of in-flight data during the copy'),
    bool('bytes', 'the bandwidth limit is in bytes/s rather than MiB/s'),
    bool('transient-job', 'the copy job is not persisted if VM is turned off'),
    bool(
      'synchronous-writes',
      'the copy job forces guest writes to be synchronously written to the destination',
    ),
    bool('print-xml', 'print the XML used to start the copy job instead of starting the job'),
  ],
  async run(session, opts) {
    const io = session.io;
    // --raw is virsh's alias of --format=raw
    const format = opts.raw ? 'raw' : (opts.format as string | undefined);
    const dest = opts.dest as string | undefined;
    const xml = opts.xml as string | undefined;
    const pivot = opts.pivot === true;
    const finish = opts.finish === true;
    let blocking = opts.wait === true || pivot || finish;
    const bytes = opts.bytes === true;
    const transient = opts['transient-job'] === true;
    const syncWrites = opts['synchronous-writes'] === true;
    const path = opts.path as string;
    let bandwidth = bandwidthOpt(session.io, opts, bytes);
    const granularity = numOpt(opts, 'granularity', 2 ** 32 - 1) ?? 0;
    const bufSize = numOpt(opts, 'buf-size', Number.MAX_SAFE_INTEGER) ?? 0;
    const F = VIR_DOMAIN_BLOCK_COPY;
    let flags =
      (opts.shallow ? F.SHALLOW : 0) |
      (opts['reuse-external'] ? F.REUSE_EXT : 0) |
      (transient ? F.TRANSIENT_JOB : 0) |
      (syncWrites ? F.SYNCHRONOUS_WRITES : 0);
    const timeout = timeoutMs(opts);
    if (timeout) blocking = true;
    const abortFlags = opts.async ? VIR_DOMAIN_BLOCK_JOB_ABORT.ASYNC : 0;
    exclusive(opts, 'dest', 'xml');
    if (format !== undefined && xml !== undefined)
      throw usageError(`Options --format and --xml are mutually exclusive`);
    if (opts.blockdev && xml !== undefined)
      throw usageError('Options --blockdev and --xml are mutually exclusive');
    exclusive(opts, 'pivot', 'finish');
    if (!dest && !xml) throw usageError('need either --dest or --xml');
    if (!blocking) {
      if (opts.verbose)
        throw usageError('--verbose requires at least one of --timeout, --wait, --pivot, or --finish');
      if (opts.async)
        throw usageError('--async requires at least one of --timeout, --wait, --pivot, or --finish');
    }
    await withDriver(session, async (conn) => {
      const dom = await lookupDomain(conn, opts.domain as string);
      const wait = blocking
        ? await BlockJobWait.init(conn, dom, path, 'Block Copy', {
            verbose: opts.verbose === true,
            timeout,
            async: opts.async === true,
          })
        : undefined;
      try {
        if (
          granularity ||
          bufSize ||
          (format && format !== 'raw') ||
          xml ||
          transient ||
          syncWrites ||
          opts['print-xml']
        ) {
          // the new API, virDomainBlockCopy
          const params: TypedParam[] = [];
          const T = VIR_TYPED_PARAM;
          if (bandwidth) {
            if (!bytes) {
              const limit = 2 ** 44 - 1;
              if (bandwidth > limit) throw usageError(`bandwidth must be less than ${limit}`);
              bandwidth *= 2 ** 20;
            }
            params.push({ field: VIR_DOMAIN_BLOCK_COPY_BANDWIDTH, type: T.ULLONG, value: bandwidth });
          }
          if (granularity)
            params.push({ field: VIR_DOMAIN_BLOCK_COPY_GRANULARITY, type: T.UINT, value: granularity });
          if (bufSize) params.push({ field: VIR_DOMAIN_BLOCK_COPY_BUF_SIZE, type: T.ULLONG, value: bufSize });
          const esc = (s: string) =>
            s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&apos;');
          const xmlstr =
            xml !== undefined
              ? await readFile(xml, 'utf8')
              : `<disk type='${opts.blockdev ? 'block' : 'file'}'>\n  <source ${opts.blockdev ? 'dev' : 'file'}='${esc(dest!)}'/>\n${format ? `  <driver type='${esc(format)}'/>\n` : ''}</disk>\n`;
          if (opts['print-xml']) return print(io, xmlstr);
          await conn.domainBlockCopy(dom, path, xmlstr, params, flags);
        } else {
          // the old API, virDomainBlockRebase with COPY
          const R = VIR_DOMAIN_BLOCK_REBASE;
          flags |= R.COPY;
          if (opts.blockdev) flags |= R.COPY_DEV;
          if (format === 'raw') flags |= R.COPY_RAW;
          if (bytes) flags |= R.BANDWIDTH_BYTES;
          await conn.domainBlockRebase(dom, path, dest ?? null, bandwidth, flags);
        }
        if (!wait) return print(io, 'Block Copy started');
        endedBadly(io, await wait.wait(io), 'Copy aborted', 'Copy failed');
        await endTwoPhaseJob(io, conn, dom, path, abortFlags, pivot ? 'pivot' : finish ? 'finish' : 'keep', {
          finished: 'Successfully copied',
          kept: 'Now in mirroring phase',
        });
      } finally {
        await wait?.free();
      }
    });
  },
};

export const BLOCK_JOB_COMMANDS: CommandDef[] = [
  blockcommitCommand,
  blockcopyCommand,
  blockjobCommand,
  blockpullCommand,
];
