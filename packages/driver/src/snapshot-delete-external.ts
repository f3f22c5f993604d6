/**
 * Deleting an external snapshot as libvirt 9.0 does (qemuSnapshotDeleteExternal*): each overlay
 * the snapshot made is committed into the image below it and removed, so the disk's chain loses
 * that layer. A running domain commits with QEMU's `block-commit` (an active commit, pivoted with
 * `job-complete`, when the overlay is the disk's top); a stopped one with `qemu-img commit`, the
 * image above it (if any) rebased onto the one below.
 */
import { execFile } from 'node:child_process';
import { unlink } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { DomainDef } from '@qvirt/core';
import { virReportError } from '@qvirt/core/errors';
import { type DomDisk, domDisks } from './snapshot-external.js';
import { isExternal, type SnapshotList, type SnapshotMeta } from './snapshot-metadata.js';
import type { SnapshotHost } from './snapshot-ops.js';

const run = promisify(execFile);

interface Layer {
  type?: string;
  format?: { type?: string };
  source?: { file?: string; dev?: string };
  backingStore?: Layer;
}

const pathOf = (s: { source?: { file?: string; dev?: string } } | undefined) =>
  s?.source?.file ?? s?.source?.dev;

interface Step {
  disk: string;
  overlay: string;
  base: string;
  baseFormat: string;
}

/** qemuSnapshotDeleteExternalPrepare: what each disk commits, with libvirt's refusals. */
async function prepare(h: SnapshotHost, list: SnapshotList, s: SnapshotMeta): Promise<Step[]> {
  const snapDef = s.domainXml ? await h.parseDomain(s.domainXml) : undefined;
  const current = h.state() === 'shutoff' ? h.config() : h.live()!;
  const steps: Step[] = [];
  for (const sd of s.disks) {
    if (sd.snapshot === 'no' || !sd.source) continue;
    const dd = domDisks(current).find((d) => d.target?.dev === sd.name);
    if (!dd || !inChain(dd, sd.source))
      throw virReportError(
        'INVALID_ARG',
        'qemu',
        `could not find image '${sd.source}' in chain for '${sd.name}'`,
      );
    const parentDisk = snapDef && domDisks(snapDef).find((d) => d.target?.dev === sd.name);
    if (!parentDisk)
      throw virReportError('OPERATION_FAILED', 'qemu', `failed to find disk '${sd.name}' in snapshot VM XML`);
    // qemuSnapshotFindParentSnapForDisk: the nearest ancestor that snapshotted this disk
    for (
      let p = s.parent ? list.byName.get(s.parent) : undefined;
      p;
      p = p.parent ? list.byName.get(p.parent) : undefined
    ) {
      const pd = p.disks.find((d) => d.name === sd.name && d.snapshot !== 'no');
      if (!pd) continue;
      if (!isExternal(p))
        throw virReportError(
          'OPERATION_UNSUPPORTED',
          'qemu',
          'deleting external snapshot that has internal snapshot as parent not supported',
        );
      break;
    }
    steps.push({
      disk: sd.name,
      overlay: sd.source,
      base: pathOf(parentDisk as DomDisk)!,
      baseFormat: parentDisk.driver?.type ?? 'raw',
    });
  }
  return steps;
}

function inChain(dd: DomDisk, file: string): boolean {
  if (pathOf(dd) === file) return true;
  for (let l = dd.backingStore as Layer | undefined; l; l = l.backingStore)
    if (pathOf(l) === file) return true;
  return false;
}

/** The disk of `def` without the `overlay` layer (the layer below takes its place). */
function dropLayer(def: DomainDef, step: Step): DomainDef {
  const next = structuredClone(def);
  const dd = domDisks(next).find((d) => d.target?.dev === step.disk);
  if (!dd) return next;
  if (pathOf(dd) === step.overlay) {
    const below = dd.backingStore as Layer | undefined;
    dd.type = below?.type ?? 'file';
    dd.source = { ...(below?.source ?? {}), ...(below?.source ? {} : { file: step.base }) };
    dd.driver = { ...(dd.driver ?? {}), type: below?.format?.type ?? step.baseFormat };
    if (below?.backingStore) dd.backingStore = below.backingStore;
    else delete dd.backingStore;
    return next;
  }
  for (let l = dd.backingStore as Layer | undefined; l?.backingStore; l = l.backingStore) {
    if (pathOf(l.backingStore) === step.overlay) {
      const gone = l.backingStore;
      if (gone.backingStore) l.backingStore = gone.backingStore;
      else delete l.backingStore;
      break;
    }
  }
  return next;
}

interface Mon {
  execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T>;
}

/** Waits for a block job to reach `status`; a job that ends with an error fails the delete. */
async function waitJob(mon: Mon, id: string, disk: string, until: 'ready' | 'concluded'): Promise<void> {
  for (;;) {
    const jobs = await mon.execute<Array<{ id: string; status: string; error?: string }>>('query-jobs');
    const job = jobs.find((j) => j.id === id);
    if (job?.error || (!job && until === 'ready'))
      throw virReportError(
        'INTERNAL_ERROR',
        'qemu',
        `block commit failed while deleting disk '${disk}' snapshot: '${job?.error ?? 'job vanished'}'`,
      );
    if (!job || job.status === until || job.status === 'concluded') return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function commitLive(mon: Mon, step: Step): Promise<void> {
  const nodes = await mon.execute<Array<{ 'node-name': string; drv: string; file: string }>>(
    'query-named-block-nodes',
    { flat: true },
  );
  const fmtNode = (file: string) =>
    nodes.find((n) => n.file === file && n.drv !== 'file' && n.drv !== 'host_device')?.['node-name'];
  const top = fmtNode(step.overlay);
  const base = fmtNode(step.base);
  if (!top || !base)
    throw virReportError('OPERATION_FAILED', 'qemu', 'failed to find parent disk source in backing chain');
  type Image = { filename?: string; 'backing-image'?: Image };
  const blocks =
    await mon.execute<Array<{ inserted?: { 'node-name'?: string; image?: Image } }>>('query-block');
  const holds = (img: Image | undefined): boolean =>
    !!img && (img.filename === step.overlay || holds(img['backing-image']));
  const root = blocks.find((b) => holds(b.inserted?.image))?.inserted?.['node-name'];
  if (!root)
    throw virReportError(
      'OPERATION_FAILED',
      'qemu',
      'VM disk source and snapshot disk source are not the same',
    );
  const activeCommit = root === top;
  const id = `commit-${step.disk}`;
  const device = root;
  await mon.execute('block-commit', {
    'job-id': id,
    device,
    ...(activeCommit ? {} : { 'top-node': top }),
    'base-node': base,
    'auto-finalize': true,
    'auto-dismiss': false,
  });
  if (activeCommit) {
    await waitJob(mon, id, step.disk, 'ready');
    await mon.execute('job-complete', { id });
  }
  await waitJob(mon, id, step.disk, 'concluded');
  await mon.execute('job-dismiss', { id }).catch(() => {});
}

async function commitOffline(def: DomainDef, step: Step): Promise<void> {
  const fail = (err: unknown) =>
    virReportError(
      'INTERNAL_ERROR',
      'qemu',
      `block commit failed while deleting disk '${step.disk}' snapshot: '${String((err as { stderr?: string }).stderr ?? err).trim()}'`,
    );
  await run('qemu-img', ['commit', '-q', step.overlay]).catch((e) => {
    throw fail(e);
  });
  // the image above the overlay (if it is not the top) now backs onto the base
  const dd = domDisks(def).find((d) => d.target?.dev === step.disk);
  if (!dd || pathOf(dd) === step.overlay) return;
  let above: { path: string; format: string } = { path: pathOf(dd)!, format: dd.driver?.type ?? 'qcow2' };
  const info = await run('qemu-img', ['info', '--output=json', '--backing-chain', '-U', above.path]).catch(
    () => undefined,
  );
  if (info) {
    const chain = JSON.parse(info.stdout) as Array<{
      filename: string;
      format: string;
      'full-backing-filename'?: string;
    }>;
    const hit = chain.find((c) => c['full-backing-filename'] === step.overlay);
    if (hit) above = { path: hit.filename, format: hit.format };
  }
  await run('qemu-img', [
    'rebase',
    '-u',
    '-f',
    above.format,
    '-F',
    step.baseFormat,
    '-b',
    step.base,
    above.path,
  ]).catch((e) => {
    throw fail(e);
  });
}

/** qemuSnapshotDeleteExternal: commit, fix the definitions, remove the overlay files. */
export async function deleteExternal(h: SnapshotHost, list: SnapshotList, s: SnapshotMeta): Promise<void> {
  const steps = await prepare(h, list, s);
  for (const step of steps) {
    if (h.state() !== 'shutoff') {
      await commitLive(await h.monitor(), step);
      await h.saveLive(dropLayer(h.live()!, step));
      const cfg = h.config();
      if (h.persistent && domDisks(cfg).some((d) => d.target?.dev === step.disk && inChain(d, step.overlay)))
        await h.saveConfig(dropLayer(cfg, step));
    } else {
      const cfg = h.config();
      await commitOffline(cfg, step);
      await h.saveConfig(dropLayer(cfg, step));
    }
    await unlink(step.overlay).catch(() => {});
  }
}
