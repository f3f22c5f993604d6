/**
 * The block jobs of a running domain as libvirt 9.0 tracks them with -blockdev (qemu_blockjob.c):
 * at most one job per disk, named as libvirt names them (`pull-vda-libvirt-1-format`, …), driven
 * by QEMU's JOB_STATUS_CHANGE events. `ready` marks the disk's mirror ready and sends the READY
 * events; `concluded` fetches the job's error (query-jobs), dismisses it, brings the disk's chain
 * in the live definition to what QEMU now has open, lets go of the images that left the chain
 * (their nodes, their labels, with VIR_DOMAIN_BLOCK_COMMIT_DELETE their files), and sends the
 * BLOCK_JOB and BLOCK_JOB_2 events (qemuBlockJobEventProcessConcluded, qemuBlockJobEmitEvents).
 *
 * The events are handled outside the domain's job queue, as libvirt's event thread does, so a
 * synchronous virDomainBlockJobAbort (which holds the domain's job) can wait for them.
 */
import { unlink } from 'node:fs/promises';
import type { DomainDef } from '@qvirt/core';
import {
  type DomainEvent,
  VIR_DOMAIN_BLOCK_JOB,
  VIR_DOMAIN_BLOCK_JOB_TYPE,
  VIR_DOMAIN_EVENT_ID,
} from '@qvirt/core/hypervisor';
import type { Dev } from './hotplug-device.js';
import { type DomDisk, domDisks } from './snapshot-external.js';

export interface Mon {
  execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T>;
}

/** One image of a disk's chain as QEMU has it open, top first. */
export interface Layer {
  path: string;
  /** `qcow2`, `raw`, … */
  format: string;
  type: 'file' | 'block';
  /** The image's format node. */
  node: string;
  /** The name the image above references it by, when relative (virStorageSource's relPath). */
  relPath?: string;
}

export const srcPath = (d: { source?: { file?: string; dev?: string } } | undefined) =>
  d?.source?.file ?? d?.source?.dev;

/** The QOM name of a disk's frontend (what query-block calls `qdev`). */
function qomName(d: DomDisk): string | undefined {
  const alias = d.alias?.name;
  if (!alias) return undefined;
  if (d.target?.bus === 'virtio') return `/machine/peripheral/${alias}/virtio-backend`;
  return alias;
}

interface Img {
  filename?: string;
  format?: string;
  'backing-filename'?: string;
  'backing-image'?: Img;
}

/**
 * The chain QEMU has open for `disk` (libvirt keeps it in virStorageSource; QEMU's own view is
 * the truth here, whether the definition spelled the chain out or QEMU opened the backing files).
 */
export async function queryChain(mon: Mon, disk: DomDisk): Promise<Layer[]> {
  const blocks =
    await mon.execute<
      Array<{ qdev?: string; inserted?: { 'node-name'?: string; file?: string; image?: Img } }>
    >('query-block');
  const qdev = qomName(disk);
  const src = srcPath(disk);
  const ins = (
    blocks.find((b) => qdev !== undefined && b.qdev === qdev) ??
    blocks.find((b) => src !== undefined && b.inserted?.file === src)
  )?.inserted;
  if (!ins?.image) return [];
  const nodes = await mon.execute<Array<{ 'node-name': string; drv: string; file: string }>>(
    'query-named-block-nodes',
    { flat: true },
  );
  const out: Layer[] = [];
  let rel: string | undefined;
  for (let img: Img | undefined = ins.image; img; img = img['backing-image']) {
    const path = img.filename ?? '';
    const format = img.format ?? 'raw';
    const node =
      nodes.find((n) => n.file === path && n.drv === format)?.['node-name'] ??
      (out.length === 0 ? ins['node-name'] : undefined);
    if (!node) break;
    out.push({
      path,
      format,
      node,
      type: path.startsWith('/dev/') ? 'block' : 'file',
      ...(rel !== undefined ? { relPath: rel } : {}),
    });
    const name = img['backing-filename'];
    rel = name !== undefined && !name.startsWith('/') ? name : undefined;
  }
  return out;
}

/** The `<backingStore>` chain of the layers below the top, terminated as libvirt prints it. */
function backingOf(layers: Layer[]): Record<string, unknown> {
  let bs: Record<string, unknown> = {};
  for (const l of [...layers].reverse()) {
    bs = {
      type: l.type,
      format: { type: l.format },
      source: l.type === 'block' ? { dev: l.path } : { file: l.path },
      backingStore: bs,
    };
  }
  return bs;
}

/** `dd` pointed at `chain` (its top the source, the rest its backing chain). */
export function setDiskChain(dd: DomDisk, chain: Layer[]): void {
  const top = chain[0];
  if (!top) return;
  dd.type = top.type;
  dd.source = { ...(dd.source ?? {}), ...(top.type === 'block' ? { dev: top.path } : { file: top.path }) };
  if (top.type === 'block') delete dd.source.file;
  else delete dd.source.dev;
  dd.driver = { ...(dd.driver ?? {}), type: top.format };
  dd.backingStore = backingOf(chain.slice(1));
}

/** The live job states of qemuBlockjobState that matter here. */
export type BlockJobState = 'running' | 'ready' | 'aborting' | 'pivoting';

/** virDomainBlockJobType names as the `<mirror job=>` attribute spells them. */
const JOB_TYPE_NAMES = ['', 'pull', 'copy', 'commit', 'active-commit', 'backup'];

export interface BlockJob {
  /** QEMU's job id. */
  name: string;
  /** The disk's target (`vda`). */
  disk: string;
  /** virDomainBlockJobType */
  type: number;
  state: BlockJobState;
  /** The chain when the job started; with the mirror's, what may leave the disk at the end. */
  chain: Layer[];
  /** Copy and active commit: the image the disk moves to at the pivot (`<mirror>`), its chain. */
  mirror?: Layer[];
  /** Images made read-write for the job, read-only again at its end (commit's base, top's parent). */
  madeWritable: Layer[];
  /** VIR_DOMAIN_BLOCK_COMMIT_DELETE: the committed images are removed. */
  deleteCommitted: boolean;
  /** Images labelled for the job (a copy's destination), restored if they do not stay. */
  labelled: Layer[];
  /** The QEMU error of a failed job. */
  errmsg?: string;
  /** The final state once the job is over (the virConnectDomainEventBlockJobStatus). */
  outcome?: number;
  done: Promise<void>;
  settle: () => void;
}

/** What the registry needs of the driver: the definitions, the monitor, events, labels. */
export interface BlockJobHost {
  active(): boolean;
  persistent(): boolean;
  live(): DomainDef | undefined;
  config(): DomainDef;
  /** Replaces the live definition (and the run's labels' view of the disks) and saves the status. */
  saveLive(def: DomainDef): Promise<void>;
  saveConfig(def: DomainDef): Promise<void>;
  monitor(): Promise<Mon>;
  emit(event: Omit<DomainEvent, 'dom'>): void;
  /** The run's security labels, when they were applied. */
  labels?: {
    set(path: string, format: string, readonly: boolean): Promise<void>;
    restore(path: string, format: string): Promise<void>;
  };
  warn(message: string): void;
}

export class BlockJobs {
  readonly #jobs = new Map<string, BlockJob>();
  #serial: Promise<void> = Promise.resolve();

  constructor(readonly host: BlockJobHost) {}

  /** qemuBlockJobDiskGetJob */
  byDisk(dst: string): BlockJob | undefined {
    return this.#jobs.get(dst);
  }

  /** qemuBlockJobDiskNew + qemuBlockJobStarted. */
  start(
    fields: Omit<BlockJob, 'state' | 'done' | 'settle' | 'madeWritable' | 'labelled' | 'deleteCommitted'> &
      Partial<Pick<BlockJob, 'madeWritable' | 'labelled' | 'deleteCommitted'>>,
  ): BlockJob {
    let settle!: () => void;
    const done = new Promise<void>((r) => {
      settle = r;
    });
    const job: BlockJob = {
      madeWritable: [],
      labelled: [],
      deleteCommitted: false,
      ...fields,
      state: 'running',
      done,
      settle,
    };
    this.#jobs.set(job.disk, job);
    return job;
  }

  /** Forgets a job QEMU never started (qemuBlockJobStartupFinalize). */
  forget(job: BlockJob): void {
    if (this.#jobs.get(job.disk) === job) this.#jobs.delete(job.disk);
    job.settle();
  }

  /** The domain stopped: every job is gone with QEMU, their waiters let go. */
  dispose(): void {
    for (const job of this.#jobs.values()) job.settle();
    this.#jobs.clear();
  }

  /** qemuProcessHandleJobStatusChange: QEMU's JOB_STATUS_CHANGE of a job of ours. */
  statusChanged(id: string, status: string): void {
    const job = [...this.#jobs.values()].find((j) => j.name === id);
    if (!job) return;
    if (status === 'ready') this.#queue(() => this.#ready(job));
    else if (status === 'concluded') this.#queue(() => this.#concluded(job));
  }

  #queue(fn: () => Promise<void>): void {
    this.#serial = this.#serial.then(fn).catch((err) => this.host.warn(`block job: ${String(err)}`));
  }

  /** qemuBlockJobEventProcess, READY: only from `running` (QEMU blips into ready again while pivoting). */
  async #ready(job: BlockJob): Promise<void> {
    if (job.state !== 'running' || this.#jobs.get(job.disk) !== job) return;
    job.state = 'ready';
    await this.editLive(job.disk, (dd) => {
      if (dd.mirror) dd.mirror.ready = 'yes';
    });
    this.#emit(job, VIR_DOMAIN_BLOCK_JOB.READY);
  }

  /** qemuBlockJobEventProcessConcluded and the transitions of its job type. */
  async #concluded(job: BlockJob): Promise<void> {
    if (this.#jobs.get(job.disk) !== job) return;
    const mon = await this.host.monitor();
    let outcome: number = VIR_DOMAIN_BLOCK_JOB.COMPLETED;
    try {
      const jobs = await mon.execute<Array<{ id: string; error?: string }>>('query-jobs');
      const info = jobs.find((j) => j.id === job.name);
      if (info?.error) {
        job.errmsg = info.error;
        outcome = VIR_DOMAIN_BLOCK_JOB.FAILED;
      }
      await mon.execute('job-dismiss', { id: job.name }).catch(() => {});
    } catch (err) {
      this.host.warn(`failed to refresh job '${job.name}': ${String(err)}`);
    }
    if (job.state === 'aborting') outcome = VIR_DOMAIN_BLOCK_JOB.CANCELED;
    const success = outcome === VIR_DOMAIN_BLOCK_JOB.COMPLETED;
    // a copy that was not pivoted keeps its source: the job "completed" only in QEMU's eyes
    const moved = success && (job.type !== VIR_DOMAIN_BLOCK_JOB_TYPE.COPY || job.state === 'pivoting');
    const dd = domDisks(this.host.live() ?? this.host.config()).find((d) => d.target?.dev === job.disk);
    const chain = dd ? await queryChain(mon, dd).catch(() => [] as Layer[]) : [];
    const keep = new Set(chain.map((l) => l.path));
    await this.editLive(job.disk, (d) => {
      delete d.mirror;
      if (moved && chain.length) setDiskChain(d as DomDisk, chain);
    });
    if (moved && chain.length) await this.#updateConfig(job, chain);
    // the images that are no longer the disk's: their nodes (QEMU's own go by themselves) and labels
    const leaving = [...job.chain, ...(job.mirror ?? [])].filter((l) => !keep.has(l.path));
    for (const l of leaving) await this.#removeNodes(mon, l.node);
    const labels = this.host.labels;
    if (labels) {
      for (const l of job.madeWritable)
        if (keep.has(l.path) && l.path !== chain[0]?.path)
          await labels.set(l.path, l.format, true).catch(() => {});
      for (const l of leaving) await labels.restore(l.path, l.format).catch(() => {});
    }
    // qemuBlockJobDeleteImages: the committed images, top to (not including) the base
    if (moved && job.deleteCommitted)
      for (const l of leaving.filter((x) => job.chain.includes(x)))
        await unlink(l.path).catch((e) => this.host.warn(`Unable to remove ${l.path}: ${String(e)}`));
    this.#jobs.delete(job.disk);
    job.outcome = outcome;
    this.#emit(job, outcome);
    job.settle();
  }

  /**
   * The persistent definition follows an active commit or a pivot when its disk is the one that
   * moved (qemuBlockJobRewriteConfigDiskSource); a pull or commit inside the chain changes only
   * a chain the definition spelled out.
   */
  async #updateConfig(job: BlockJob, chain: Layer[]): Promise<void> {
    if (!this.host.persistent()) return;
    const cfg = structuredClone(this.host.config());
    const cd = domDisks(cfg).find((d) => d.target?.dev === job.disk);
    if (!cd || srcPath(cd) !== job.chain[0]?.path) return;
    const topMoved = chain[0]!.path !== job.chain[0]!.path;
    if (!topMoved && !cd.backingStore) return;
    const hadChain = cd.backingStore !== undefined;
    setDiskChain(cd, chain);
    if (!hadChain) delete cd.backingStore;
    await this.host.saveConfig(cfg);
  }

  async #removeNodes(mon: Mon, node: string): Promise<void> {
    // qemuBlockStorageSourceDetachPrepare: the format node, then what it sits on
    if (!node.startsWith('libvirt-')) return;
    const id = /^libvirt-(\d+)-/.exec(node)?.[1];
    for (const n of [node, `libvirt-${id}-slice-sto`, `libvirt-${id}-storage`])
      await mon.execute('blockdev-del', { 'node-name': n }).catch(() => {});
  }

  /**
   * The live disk `dst` changed by `edit` and saved (read, changed and stored in one synchronous
   * step, so the API's changes and the events' never overwrite each other).
   */
  async editLive(dst: string, edit: (dd: Dev) => void): Promise<void> {
    const live = this.host.live();
    if (!live || !this.host.active()) return;
    const next = structuredClone(live);
    const dd = domDisks(next).find((d) => d.target?.dev === dst);
    if (!dd) return;
    edit(dd as Dev);
    await this.host.saveLive(next);
  }

  /** qemuBlockJobEmitEvents: BLOCK_JOB with the disk's source (local, not empty), BLOCK_JOB_2 with its target. */
  #emit(job: BlockJob, status: number): void {
    const dd = domDisks(this.host.live() ?? this.host.config()).find((d) => d.target?.dev === job.disk);
    const path = dd ? srcPath(dd) : undefined;
    const local = !dd?.type || dd.type === 'file' || dd.type === 'block' || dd.type === 'dir';
    if (path && local)
      this.host.emit({ eventID: VIR_DOMAIN_EVENT_ID.BLOCK_JOB, disk: path, blockJobType: job.type, status });
    this.host.emit({
      eventID: VIR_DOMAIN_EVENT_ID.BLOCK_JOB_2,
      disk: job.disk,
      blockJobType: job.type,
      status,
    });
  }
}

/** The `<mirror>` of a copy or an active commit (virDomainDiskDefFormatMirror). */
export function mirrorElement(type: number, target: Layer[]): Record<string, unknown> {
  const top = target[0]!;
  return {
    type: top.type,
    ...(type === VIR_DOMAIN_BLOCK_JOB_TYPE.COPY && top.type === 'file'
      ? { file: top.path, formatAttr: top.format }
      : {}),
    job: JOB_TYPE_NAMES[type],
    format: { type: top.format },
    // libvirt prints no chain below the mirror's image (a shallow copy's included)
    source: top.type === 'block' ? { dev: top.path } : { file: top.path },
  };
}
