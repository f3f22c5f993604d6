/**
 * The block job APIs of libvirt 9.0's QEMU driver with -blockdev (qemu_driver.c, qemu_block.c):
 * qemuDomainGetBlockJobInfo (`query-block-jobs`), qemuDomainBlockJobSetSpeed
 * (`block-job-set-speed`), qemuDomainBlockJobAbort (`block-job-cancel`, or `job-complete` for a
 * pivot, then waiting for the end unless ASYNC), qemuDomainBlockPullCommon (`block-stream`),
 * qemuDomainBlockCommit / qemuBlockCommit (`block-commit`) and qemuDomainBlockCopyCommon
 * (`blockdev-add` of the destination, `blockdev-mirror`). What happens when a job ends is
 * block-jobs.ts's.
 */
import { execFile } from 'node:child_process';
import { stat, unlink } from 'node:fs/promises';
import { promisify } from 'node:util';
import { type DomainDef, virCheckFlags, virReportError, virReportSystemError } from '@qvirt/core';
import {
  type BlockJobInfo,
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
  VIR_DOMAIN_BLOCK_JOB_TYPE,
  VIR_DOMAIN_BLOCK_PULL_BANDWIDTH_BYTES,
  VIR_DOMAIN_BLOCK_REBASE,
  VIR_TYPED_PARAM,
} from '@qvirt/core/hypervisor';
import {
  type BlockJob,
  type BlockJobs,
  type Layer,
  type Mon,
  mirrorElement,
  queryChain,
  srcPath,
} from './block-jobs.js';
import { parseDevice } from './hotplug-device.js';
import { type Mon as HotplugMon, nextNodeId } from './hotplug-qemu.js';
import { type LiveDomain, operationInvalid } from './live-domain.js';
import { type DomDisk, domDisks } from './snapshot-external.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
/** LLONG_MAX >> 20: the largest MiB/s that still fits in bytes/s. */
const MAX_MIB = 8796093022207;
const invalidArg = (msg: string) => virReportError('INVALID_ARG', 'qemu', msg);

/** Labels an image for the domain (readonly or not), and restores it. */
export interface ImageLabels {
  set(path: string, format: string, readonly: boolean): Promise<void>;
  restore(path: string, format: string): Promise<void>;
}

/** What an API needs: the domain (its job held), its block jobs, the run's labels (when applied). */
export interface BlockJobContext {
  dom: LiveDomain;
  jobs: BlockJobs;
  labels?: ImageLabels;
}

function requireActive(dom: LiveDomain): void {
  if (!dom.active) throw operationInvalid('domain is not running');
}

/** The definition the domain runs (vm->def). */
const currentDef = (dom: LiveDomain): DomainDef => (dom.active && dom.live ? dom.live : dom.config);

/** qemuDomainDiskByName (virDomainDiskByName): a target, or a source path. */
function diskByName(def: DomainDef, name: string): DomDisk {
  const disks = domDisks(def);
  const dd = name.startsWith('/')
    ? disks.find((d) => srcPath(d) === name)
    : disks.find((d) => d.target?.dev === name);
  if (!dd) throw invalidArg(`disk '${name}' not found in domain`);
  return dd;
}

/** qemuDomainDiskBlockJobIsSupported */
function checkSupported(dd: DomDisk & { transient?: unknown }): void {
  const dst = dd.target?.dev ?? '';
  const unsupported = (m: string) => virReportError('OPERATION_UNSUPPORTED', 'qemu', m);
  if (dd.target?.bus === 'sd')
    throw unsupported(`block jobs are not supported on disk '${dst}' using bus 'sd'`);
  if (dd.transient) throw unsupported(`block jobs are not supported on transient disk '${dst}'`);
  if (dd.type === 'vhostuser') throw unsupported(`block jobs are not supported on vhostuser disk '${dst}'`);
}

/** qemuDomainDiskBlockJobIsActive */
function checkNoJob(ctx: BlockJobContext, dd: DomDisk & { mirror?: unknown }): void {
  const dst = dd.target?.dev ?? '';
  if (dd.mirror || ctx.jobs.byDisk(dst))
    throw virReportError('BLOCK_COPY_ACTIVE', 'qemu', `disk '${dst}' already in active block job`);
}

/** The public API's MiB/s as QEMU's bytes/s, unless the caller gave bytes already. */
function speedOf(bandwidth: number, bytes: boolean): number {
  if (bytes) return bandwidth;
  if (bandwidth > MAX_MIB) throw virReportError('OVERFLOW', 'qemu', `bandwidth must be less than ${MAX_MIB}`);
  return bandwidth * MiB;
}

/**
 * virStorageSourceChainLookup: `name` (a path; null for the bottom of the chain) at or below
 * `startFrom` (exclusive). Answers the layer's index and its parent's.
 */
function chainLookup(
  chain: Layer[],
  name: string | null,
  startFrom: number | undefined,
  dst: string,
): { index: number; parent: number | undefined } {
  const first = startFrom === undefined ? 0 : startFrom + 1;
  for (let i = first; i < chain.length; i++) {
    const l = chain[i]!;
    if (name === null ? i === chain.length - 1 : l.path === name || l.relPath === name)
      return { index: i, parent: i > 0 ? i - 1 : undefined };
  }
  if (name === null) throw invalidArg(`could not find base image in chain for '${dst}'`);
  if (startFrom !== undefined)
    throw invalidArg(
      `could not find image '${name}' beneath '${chain[startFrom]?.path ?? ''}' in chain for '${dst}'`,
    );
  throw invalidArg(`could not find image '${name}' in chain for '${dst}'`);
}

/**
 * virStorageSourceGetRelativeBackingPath: the backing name of `to` as the images from `from`
 * down reference each other; undefined when one of them is referenced by an absolute name.
 */
function relativeBacking(chain: Layer[], from: number, to: number): string | undefined {
  let path = '';
  for (let i = from; i <= to; i++) {
    const rel = chain[i]!.relPath;
    if (rel === undefined) return undefined;
    path = path.slice(0, path.lastIndexOf('/') + 1) + rel;
  }
  return path;
}

/**
 * qemuBlockJobDiskNew*'s names (`commit-vda-libvirt-3-format`); a node QEMU opened itself
 * (`#block123`) is named without its `#`, which job ids may not hold.
 */
const jobName = (kind: string, dst: string, node: string) => `${kind}-${dst}-${node.replace(/#/g, '')}`;

const cantKeepRelative = () => operationInvalid("can't keep relative backing relationship");

async function chainOf(mon: Mon, dd: DomDisk): Promise<Layer[]> {
  const chain = await queryChain(mon, dd);
  if (!chain.length)
    throw virReportError(
      'CONFIG_UNSUPPORTED',
      'qemu',
      `disk ${dd.target?.dev ?? ''} has no source file to be committed`,
    );
  return chain;
}

/**
 * Starts QEMU's job, the disk's `<mirror>` (a copy's or an active commit's) shown first so that
 * QEMU's READY finds it; the job is forgotten and the mirror dropped again if QEMU refuses it.
 */
async function startJob(
  ctx: BlockJobContext,
  job: BlockJob,
  mirror: Record<string, unknown> | undefined,
  qmp: () => Promise<unknown>,
): Promise<void> {
  if (mirror)
    await ctx.jobs.editLive(job.disk, (d) => {
      d.mirror = mirror;
    });
  try {
    await qmp();
  } catch (err) {
    ctx.jobs.forget(job);
    if (mirror)
      await ctx.jobs.editLive(job.disk, (d) => {
        delete d.mirror;
      });
    throw err;
  }
}

// ---- info, speed, abort ---------------------------------------------------------------------

/** qemuDomainGetBlockJobInfo with qemuBlockJobInfoTranslate. */
export async function getBlockJobInfo(
  ctx: BlockJobContext,
  path: string,
  flags: number,
): Promise<BlockJobInfo> {
  virCheckFlags(flags, VIR_DOMAIN_BLOCK_JOB_INFO_BANDWIDTH_BYTES, 'qemuDomainGetBlockJobInfo');
  requireActive(ctx.dom);
  const dd = diskByName(currentDef(ctx.dom), path);
  const job = ctx.jobs.byDisk(dd.target?.dev ?? '');
  if (!job) return { found: 0, type: 0, bandwidth: 0, cur: 0, end: 0 };
  const mon = await ctx.dom.monitor();
  const raw = (
    await mon.execute<Array<{ device: string; len: number; offset: number; speed: number; ready?: boolean }>>(
      'query-block-jobs',
    )
  ).find((j) => j.device === job.name);
  // the job is gone in QEMU but its end is not handled yet: an incomplete job
  if (!raw) return { found: 1, type: job.type, bandwidth: 0, cur: 0, end: 1 };
  let cur = raw.offset;
  let end = raw.len;
  // cur == end means "done" to applications; QEMU reports 0/0 before it starts
  if (cur === 0 && end === 0 && raw.ready !== undefined) {
    end = 1;
    if (raw.ready) cur = 1;
  }
  // not ready yet: keep applications polling for cur == end from seeing the end
  if (raw.ready === false && cur === end && cur > 0) cur -= 1;
  let bandwidth = raw.speed;
  if (bandwidth && !(flags & VIR_DOMAIN_BLOCK_JOB_INFO_BANDWIDTH_BYTES))
    bandwidth = Math.ceil(bandwidth / MiB);
  return { found: 1, type: job.type, bandwidth, cur, end };
}

/** qemuDomainBlockJobSetSpeed */
export async function blockJobSetSpeed(
  ctx: BlockJobContext,
  path: string,
  bandwidth: number,
  flags: number,
): Promise<void> {
  virCheckFlags(flags, VIR_DOMAIN_BLOCK_JOB_SPEED_BANDWIDTH_BYTES, 'qemuDomainBlockJobSetSpeed');
  const speed = speedOf(bandwidth, (flags & VIR_DOMAIN_BLOCK_JOB_SPEED_BANDWIDTH_BYTES) !== 0);
  requireActive(ctx.dom);
  const dd = diskByName(currentDef(ctx.dom), path);
  const job = ctx.jobs.byDisk(dd.target?.dev ?? '');
  if (!job) throw invalidArg(`disk ${dd.target?.dev ?? ''} does not have an active block job`);
  await (await ctx.dom.monitor()).execute('block-job-set-speed', { device: job.name, speed });
}

const TYPE_NAMES = ['none', 'pull', 'copy', 'commit', 'active-commit', 'backup'];

/** qemuDomainBlockJobAbort, with qemuBlockPivot for PIVOT. */
export async function blockJobAbort(ctx: BlockJobContext, path: string, flags: number): Promise<void> {
  const A = VIR_DOMAIN_BLOCK_JOB_ABORT;
  virCheckFlags(flags, A.ASYNC | A.PIVOT, 'qemuDomainBlockJobAbort');
  const pivot = (flags & A.PIVOT) !== 0;
  const async = (flags & A.ASYNC) !== 0;
  requireActive(ctx.dom);
  const dd = diskByName(currentDef(ctx.dom), path);
  const dst = dd.target?.dev ?? '';
  const job = ctx.jobs.byDisk(dst);
  if (!job) throw invalidArg(`disk ${dst} does not have an active block job`);
  if (job.state === 'aborting' || job.state === 'pivoting')
    throw operationInvalid(`block job on disk '${dst}' is still being ended`);
  const mon = await ctx.dom.monitor();
  if (pivot) {
    if (job.state !== 'ready')
      throw virReportError('BLOCK_COPY_ACTIVE', 'qemu', `block job '${job.name}' not ready for pivot yet`);
    if (job.type !== VIR_DOMAIN_BLOCK_JOB_TYPE.COPY && job.type !== VIR_DOMAIN_BLOCK_JOB_TYPE.ACTIVE_COMMIT)
      throw operationInvalid(`job type '${TYPE_NAMES[job.type] ?? ''}' does not support pivot`);
    await mon.execute('job-complete', { id: job.name });
    job.state = 'pivoting';
    await ctx.jobs.editLive(dst, (d) => {
      if (d.mirror) d.mirror.ready = 'pivot';
    });
  } else {
    await mon.execute('block-job-cancel', { device: job.name });
    job.state = 'aborting';
    await ctx.jobs.editLive(dst, (d) => {
      if (d.mirror) d.mirror.ready = 'abort';
    });
  }
  if (async) return;
  // qemuBlockJobUpdate / qemuDomainObjWait until the job's end is handled
  await job.done;
  if (pivot && job.outcome === VIR_DOMAIN_BLOCK_JOB.FAILED)
    throw virReportError(
      'OPERATION_FAILED',
      'qemu',
      job.errmsg
        ? `block job '${job.name}' failed while pivoting: ${job.errmsg}`
        : `block job '${job.name}' failed while pivoting`,
    );
}

// ---- pull and rebase ------------------------------------------------------------------------

/** qemuDomainBlockPull */
export async function blockPull(
  ctx: BlockJobContext,
  path: string,
  bandwidth: number,
  flags: number,
): Promise<void> {
  virCheckFlags(flags, VIR_DOMAIN_BLOCK_PULL_BANDWIDTH_BYTES, 'qemuDomainBlockPull');
  await blockPullCommon(ctx, path, null, bandwidth, flags);
}

/** qemuDomainBlockRebase: a pull, or with COPY a copy to `base` (qemuDomainBlockCopyCommon). */
export async function blockRebase(
  ctx: BlockJobContext,
  path: string,
  base: string | null,
  bandwidth: number,
  flags: number,
): Promise<void> {
  const R = VIR_DOMAIN_BLOCK_REBASE;
  virCheckFlags(
    flags,
    R.SHALLOW | R.REUSE_EXT | R.COPY | R.COPY_RAW | R.RELATIVE | R.COPY_DEV | R.BANDWIDTH_BYTES,
    'qemuDomainBlockRebase',
  );
  if (!(flags & R.COPY)) return blockPullCommon(ctx, path, base, bandwidth, flags);
  const speed = speedOf(bandwidth, (flags & R.BANDWIDTH_BYTES) !== 0);
  if (flags & R.RELATIVE)
    throw virReportError('ARGUMENT_UNSUPPORTED', 'qemu', 'Relative backing during copy not supported yet');
  const dest: CopyDest = {
    type: flags & R.COPY_DEV ? 'block' : 'file',
    path: base ?? '',
    ...(flags & R.COPY_RAW ? { format: 'raw' } : {}),
  };
  await blockCopyCommon(ctx, path, dest, speed, 0, 0, flags & (R.SHALLOW | R.REUSE_EXT));
}

/** qemuDomainBlockPullCommon: `block-stream` of the chain above `base` (all of it without) into the top. */
async function blockPullCommon(
  ctx: BlockJobContext,
  path: string,
  base: string | null,
  bandwidth: number,
  flags: number,
): Promise<void> {
  const R = VIR_DOMAIN_BLOCK_REBASE;
  if (flags & R.RELATIVE && !base)
    throw invalidArg('flag VIR_DOMAIN_BLOCK_REBASE_RELATIVE is valid only with non-null base');
  requireActive(ctx.dom);
  const dd = diskByName(currentDef(ctx.dom), path);
  const dst = dd.target?.dev ?? '';
  checkNoJob(ctx, dd);
  checkSupported(dd);
  const mon = await ctx.dom.monitor();
  const chain = await chainOf(mon, dd);
  const baseAt = base !== null ? chainLookup(chain, base, 0, dst).index : undefined;
  let backingPath: string | undefined;
  if (baseAt !== undefined && flags & R.RELATIVE) {
    backingPath = relativeBacking(chain, 1, baseAt);
    if (backingPath === undefined) throw cantKeepRelative();
  }
  // VIR_DOMAIN_BLOCK_PULL_BANDWIDTH_BYTES and _REBASE_BANDWIDTH_BYTES are the same bit
  const speed = speedOf(bandwidth, (flags & VIR_DOMAIN_BLOCK_PULL_BANDWIDTH_BYTES) !== 0);
  const top = chain[0]!;
  const job = ctx.jobs.start({
    name: jobName('pull', dst, top.node),
    disk: dst,
    type: VIR_DOMAIN_BLOCK_JOB_TYPE.PULL,
    chain,
  });
  const baseLayer = baseAt !== undefined ? chain[baseAt] : undefined;
  await startJob(ctx, job, undefined, () =>
    mon.execute('block-stream', {
      device: top.node,
      'job-id': job.name,
      ...(speed ? { speed } : {}),
      ...(baseLayer ? { 'base-node': baseLayer.node, 'backing-file': backingPath ?? baseLayer.path } : {}),
      'auto-finalize': true,
      'auto-dismiss': false,
    }),
  );
}

// ---- commit ---------------------------------------------------------------------------------

/** qemuDomainBlockCommit with qemuBlockCommit. */
export async function blockCommit(
  ctx: BlockJobContext,
  path: string,
  base: string | null,
  top: string | null,
  bandwidth: number,
  flags: number,
): Promise<void> {
  const C = VIR_DOMAIN_BLOCK_COMMIT;
  virCheckFlags(
    flags,
    C.SHALLOW | C.ACTIVE | C.RELATIVE | C.DELETE | C.BANDWIDTH_BYTES,
    'qemuDomainBlockCommit',
  );
  const speed = speedOf(bandwidth, (flags & C.BANDWIDTH_BYTES) !== 0);
  const dd = diskByName(currentDef(ctx.dom), path);
  requireActive(ctx.dom);
  const dst = dd.target?.dev ?? '';
  checkSupported(dd);
  const mon = await ctx.dom.monitor();
  const chain = await chainOf(mon, dd);
  const lookedUp =
    !top || top === dst ? { index: 0, parent: undefined } : chainLookup(chain, top, undefined, dst);
  const topAt = lookedUp.index;
  const topParent = lookedUp.parent;
  const baseAt =
    base === null && flags & C.SHALLOW
      ? topAt + 1 < chain.length
        ? topAt + 1
        : undefined
      : chainLookup(chain, base, topAt, dst).index;
  const topLayer = chain[topAt]!;
  // qemuBlockCommit
  checkNoJob(ctx, dd);
  if (topAt === 0) {
    if (!(flags & C.ACTIVE)) throw invalidArg(`commit of '${dst}' active layer requires active flag`);
  } else if (flags & C.ACTIVE) {
    throw invalidArg(`active commit requested but '${topLayer.path}' is not active`);
  }
  if (topAt + 1 >= chain.length || baseAt === undefined)
    throw invalidArg(`top '${topLayer.path}' in chain for '${chain[0]!.path}' has no backing file`);
  const baseLayer = chain[baseAt]!;
  if (flags & C.SHALLOW && baseAt !== topAt + 1)
    throw invalidArg(
      `base '${baseLayer.path}' is not immediately below '${topLayer.path}' in chain for '${chain[0]!.path}'`,
    );
  let backingPath: string | undefined;
  if (flags & C.RELATIVE && topAt !== 0) {
    backingPath = relativeBacking(chain, topAt, baseAt);
    if (backingPath === undefined) throw cantKeepRelative();
  }
  // QEMU writes into the base, and into the image above the top (its new backing name)
  const writable = [baseLayer, ...(topParent !== undefined && topParent !== 0 ? [chain[topParent]!] : [])];
  const allowed: Layer[] = [];
  const labels = ctx.labels;
  try {
    if (labels) {
      for (const l of writable) {
        await labels.set(l.path, l.format, false);
        allowed.push(l);
      }
    }
    const active = topAt === 0;
    const job = ctx.jobs.start({
      name: jobName('commit', dst, topLayer.node),
      disk: dst,
      type: active ? VIR_DOMAIN_BLOCK_JOB_TYPE.ACTIVE_COMMIT : VIR_DOMAIN_BLOCK_JOB_TYPE.COMMIT,
      chain,
      ...(active ? { mirror: [baseLayer] } : {}),
      madeWritable: writable,
      deleteCommitted: (flags & C.DELETE) !== 0,
    });
    await startJob(
      ctx,
      job,
      active ? mirrorElement(VIR_DOMAIN_BLOCK_JOB_TYPE.ACTIVE_COMMIT, [baseLayer]) : undefined,
      () =>
        mon.execute('block-commit', {
          device: chain[0]!.node,
          'job-id': job.name,
          ...(speed ? { speed } : {}),
          'top-node': topLayer.node,
          'base-node': baseLayer.node,
          ...(topParent !== undefined ? { 'backing-file': backingPath ?? baseLayer.path } : {}),
          'auto-finalize': true,
          'auto-dismiss': false,
        }),
    );
  } catch (err) {
    if (labels) for (const l of allowed) await labels.set(l.path, l.format, true).catch(() => {});
    throw err;
  }
}

// ---- copy -----------------------------------------------------------------------------------

interface CopyDest {
  type: 'file' | 'block';
  path: string;
  format?: string;
}

/** qemuDomainBlockCopy: the typed parameters checked, the destination parsed from `<disk>`'s source. */
export async function blockCopy(
  ctx: BlockJobContext,
  path: string,
  destxml: string,
  params: TypedParam[],
  flags: number,
): Promise<void> {
  const F = VIR_DOMAIN_BLOCK_COPY;
  virCheckFlags(
    flags,
    F.SHALLOW | F.REUSE_EXT | F.TRANSIENT_JOB | F.SYNCHRONOUS_WRITES,
    'qemuDomainBlockCopy',
  );
  const T = VIR_TYPED_PARAM;
  const types: Record<string, number> = {
    [VIR_DOMAIN_BLOCK_COPY_BANDWIDTH]: T.ULLONG,
    [VIR_DOMAIN_BLOCK_COPY_GRANULARITY]: T.UINT,
    [VIR_DOMAIN_BLOCK_COPY_BUF_SIZE]: T.ULLONG,
  };
  let bandwidth = 0;
  let granularity = 0;
  let bufSize = 0;
  for (const p of params) {
    // virTypedParamsValidate
    const want = types[p.field];
    if (want === undefined) throw invalidArg(`parameter '${p.field}' not supported`);
    if (p.type !== want)
      throw invalidArg(`invalid type '${p.type}' for parameter '${p.field}', expected '${want}'`);
    const v = Number(p.value);
    if (p.field === VIR_DOMAIN_BLOCK_COPY_BANDWIDTH) bandwidth = v;
    else if (p.field === VIR_DOMAIN_BLOCK_COPY_GRANULARITY) {
      if (v & (v - 1)) throw invalidArg('granularity must be power of 2');
      granularity = v;
    } else bufSize = v;
  }
  const { kind, dev } = parseDevice(destxml);
  const src = dev.source as { file?: string; dev?: string } | undefined;
  const type = (dev.type as string | undefined) ?? 'file';
  if (kind !== 'disk' || (type !== 'file' && type !== 'block'))
    throw virReportError('CONFIG_UNSUPPORTED', 'qemu', `copy to a '${type}' disk source is not supported`);
  const dest: CopyDest = {
    type: type as 'file' | 'block',
    path: (type === 'block' ? src?.dev : src?.file) ?? '',
    ...((dev.driver as { type?: string } | undefined)?.type
      ? { format: (dev.driver as { type: string }).type }
      : {}),
  };
  await blockCopyCommon(ctx, path, dest, bandwidth, granularity, bufSize, flags);
}

/** The format of an existing image (qemu-img's probe; QEMU may hold it open, hence -U). */
async function probeFormat(file: string): Promise<string> {
  const { stdout } = await run('qemu-img', ['info', '-U', '--output=json', file]).catch(
    (e: { stderr?: string }) => {
      throw virReportError('OPERATION_FAILED', 'qemu', String(e.stderr ?? e).trim());
    },
  );
  return (JSON.parse(stdout) as { format?: string }).format ?? 'raw';
}

/**
 * qemuDomainBlockCopyCommon: the destination made unless REUSE_EXT (`qemu-img create`, with the
 * chain below the top as its backing for SHALLOW; libvirt has QEMU's blockdev-create do it),
 * labelled, added with `blockdev-add` (a shallow copy's on the chain below the top), then
 * `blockdev-mirror` (sync `top` or `full`); `<mirror>` in the live XML until the job ends.
 */
async function blockCopyCommon(
  ctx: BlockJobContext,
  path: string,
  dest: CopyDest,
  speed: number,
  granularity: number,
  bufSize: number,
  copyFlags: number,
): Promise<void> {
  let flags = copyFlags;
  const labels = ctx.labels;
  const F = VIR_DOMAIN_BLOCK_COPY;
  if (!dest.path.startsWith('/')) throw invalidArg('absolute path must be used as block copy target');
  if (speed > Number.MAX_SAFE_INTEGER * 1024)
    throw invalidArg(`bandwidth must be less than '9223372036854775807' bytes/s (${MAX_MIB} MiB/s)`);
  requireActive(ctx.dom);
  const dd = diskByName(currentDef(ctx.dom), path);
  const dst = dd.target?.dev ?? '';
  checkNoJob(ctx, dd);
  checkSupported(dd);
  if (!(flags & F.TRANSIENT_JOB) && ctx.dom.persistent) throw operationInvalid('domain is not transient');
  const mon = await ctx.dom.monitor();
  const chain = await chainOf(mon, dd);
  // clear the _SHALLOW flag if there is only one layer
  if (chain.length < 2) flags &= ~F.SHALLOW;
  const shallow = (flags & F.SHALLOW) !== 0;
  const reuse = (flags & F.REUSE_EXT) !== 0;
  const st = await stat(dest.path).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'ENOENT')
      throw virReportSystemError(e, 'qemu', `unable to stat for disk ${dst}: ${dest.path}`);
    return undefined;
  });
  if (reuse && !st)
    throw virReportSystemError('ENOENT', 'qemu', `missing destination file for disk ${dst}: ${dest.path}`);
  if (st && !reuse) {
    if (!st.isBlockDevice() && st.size > 0)
      throw virReportError(
        'CONFIG_UNSUPPORTED',
        'qemu',
        `external destination file for disk ${dst} already exists and is not a block device: ${dest.path}`,
      );
    if (dest.type === 'block' && !st.isBlockDevice())
      throw virReportError(
        'CONFIG_UNSUPPORTED',
        'qemu',
        `blockdev flag requested for disk ${dst}, but file '${dest.path}' is not a block device`,
      );
  }
  const top = chain[0]!;
  // a new image takes the disk's format; an existing one is probed
  const format = dest.format ?? (reuse ? await probeFormat(dest.path) : top.format);
  const below = shallow ? chain[1] : undefined;
  let created = false;
  if (!reuse && !(dest.type === 'block' && format === 'raw')) {
    // qemuDomainBlockCopyCommon's qemuBlockStorageSourceCreate: the image, with the chain below
    // it as its backing for a shallow copy
    const size = (
      await mon.execute<Array<{ 'node-name': string; image?: { 'virtual-size'?: number } }>>(
        'query-named-block-nodes',
        { flat: true },
      )
    ).find((n) => n['node-name'] === top.node)?.image?.['virtual-size'];
    const args = ['create', '-q', '-f', format];
    if (below && format === 'qcow2') args.push('-F', below.format, '-b', below.path);
    args.push(dest.path);
    if (!below || format !== 'qcow2') args.push(String(size ?? 0));
    await run('qemu-img', args).catch((e: { stderr?: string }) => {
      throw virReportError('OPERATION_FAILED', 'qemu', String(e.stderr ?? e).trim());
    });
    created = dest.type === 'file';
  }
  const mirror: Layer[] = [
    { path: dest.path, format, type: dest.type, node: '' },
    ...(below ? chain.slice(1) : []),
  ];
  const id = await nextNodeId(mon as HotplugMon);
  const storage = `libvirt-${id}-storage`;
  mirror[0]!.node = `libvirt-${id}-format`;
  const undo: Array<() => Promise<unknown>> = [];
  try {
    if (labels) {
      await labels.set(dest.path, format, false);
      undo.push(() => labels.restore(dest.path, format));
    }
    await mon.execute('blockdev-add', {
      driver: dest.type === 'block' ? 'host_device' : 'file',
      filename: dest.path,
      'node-name': storage,
      'auto-read-only': true,
      discard: 'unmap',
    });
    undo.push(() => mon.execute('blockdev-del', { 'node-name': storage }));
    await mon.execute('blockdev-add', {
      'node-name': mirror[0]!.node,
      'read-only': false,
      driver: format,
      file: storage,
      // a shallow copy shares the chain below the top; a full one stands alone
      ...(format === 'qcow2' ? { backing: below ? below.node : null } : {}),
    });
    undo.push(() => mon.execute('blockdev-del', { 'node-name': mirror[0]!.node }));
    const job = ctx.jobs.start({
      name: jobName('copy', dst, top.node),
      disk: dst,
      type: VIR_DOMAIN_BLOCK_JOB_TYPE.COPY,
      chain,
      mirror,
      labelled: [mirror[0]!],
    });
    await startJob(ctx, job, mirrorElement(VIR_DOMAIN_BLOCK_JOB_TYPE.COPY, mirror), () =>
      mon.execute('blockdev-mirror', {
        'job-id': job.name,
        device: top.node,
        target: mirror[0]!.node,
        ...(speed ? { speed } : {}),
        ...(granularity ? { granularity } : {}),
        ...(bufSize ? { 'buf-size': bufSize } : {}),
        sync: shallow ? 'top' : 'full',
        ...(flags & F.SYNCHRONOUS_WRITES ? { 'copy-mode': 'write-blocking' } : {}),
        'auto-finalize': true,
        'auto-dismiss': false,
      }),
    );
  } catch (err) {
    for (const step of undo.reverse()) await step().catch(() => {});
    if (created) await unlink(dest.path).catch(() => {});
    throw err;
  }
}
