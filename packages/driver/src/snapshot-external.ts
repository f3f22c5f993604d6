/**
 * The disks' part of a snapshot (libvirt's virDomainSnapshotAlignDisks, qemuSnapshotPrepare and
 * the external cases of qemu_snapshot.c): which disks take part and where, the default overlay
 * names, the overlays made with `qemu-img create` for a stopped domain and with QEMU's
 * `blockdev-create` + `blockdev-snapshot` (one `transaction`) for a running one, and the
 * definitions pointed at the overlays.
 */
import { execFile } from 'node:child_process';
import { open, stat, unlink } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { DomainDef } from '@qvirt/core';
import { virReportError, virReportSystemError } from '@qvirt/core/errors';
import {
  configUnsupported,
  type SnapshotDisk,
  type SnapshotLocation,
  type SnapshotMeta,
} from './snapshot-metadata.js';

const run = promisify(execFile);

/** The parts of a domain disk the snapshot code reads (the schema's DiskDef, loosely). */
export interface DomDisk {
  type?: string;
  device?: string;
  snapshot?: SnapshotLocation;
  readonly?: unknown;
  driver?: { type?: string; name?: string };
  source?: { file?: string; dev?: string };
  target?: { dev?: string; bus?: string };
  alias?: { name?: string };
  backingStore?: unknown;
}

export const domDisks = (def: DomainDef): DomDisk[] => (def.devices?.disk ?? []) as DomDisk[];
const srcPath = (d: DomDisk) => d.source?.file ?? d.source?.dev;

/**
 * virDomainSnapshotAlignDisks: one entry per domain disk, in the domain's order, the requested
 * ones checked, the others given the disk's own `snapshot=` or `dflt`; then the default overlay
 * names (virDomainSnapshotDefAssignExternalNames).
 */
export async function alignDisks(
  meta: SnapshotMeta,
  def: DomainDef,
  dflt: 'internal' | 'external',
  uniformInternal: boolean,
): Promise<void> {
  const disks = domDisks(def);
  if (meta.disks.length > disks.length) throw configUnsupported('too many disk snapshot requests for domain');
  const requireMatch = uniformInternal && dflt === 'internal';
  if (disks.length === 0) return;
  const given = new Map<string, SnapshotDisk>();
  for (const sd of meta.disks) {
    const dd = disks.find(
      (d) => d.target?.dev === sd.name || (srcPath(d) !== undefined && srcPath(d) === sd.name),
    );
    if (!dd) throw configUnsupported(`no disk named '${sd.name}'`);
    const dst = dd.target?.dev ?? '';
    if (given.has(dst)) throw configUnsupported(`disk '${sd.name}' specified twice`);
    given.set(dst, sd);
    if (!sd.snapshot) {
      sd.snapshot = dd.snapshot && (!requireMatch || dd.snapshot === 'no') ? dd.snapshot : dflt;
    } else if (requireMatch && sd.snapshot !== dflt && !(sd.snapshot === 'no' && dd.snapshot === 'no')) {
      throw configUnsupported(`disk '${sd.name}' must use snapshot mode '${dflt}'`);
    }
    if (sd.source && sd.snapshot !== 'external')
      throw configUnsupported(
        `file '${sd.source}' for disk '${sd.name}' requires use of external snapshot mode`,
      );
    sd.name = dst;
  }
  meta.disks = disks.map((d) => {
    const dst = d.target?.dev ?? '';
    const g = given.get(dst);
    if (g) return g;
    return { name: dst, snapshot: !srcPath(d) ? 'no' : (d.snapshot ?? dflt) };
  });
  // virDomainSnapshotDefAssignExternalNames
  for (let i = 0; i < meta.disks.length; i++) {
    const sd = meta.disks[i]!;
    if (sd.snapshot !== 'external' || sd.source) continue;
    if ((sd.type ?? 'file') !== 'file')
      throw configUnsupported(
        `cannot generate external snapshot name for disk '${sd.name}' on a '${sd.type}' device`,
      );
    const orig = srcPath(disks[i]!);
    if (!orig)
      throw configUnsupported(`cannot generate external snapshot name for disk '${sd.name}' without source`);
    const st = await stat(orig).catch(() => undefined);
    if (!st?.isFile())
      throw configUnsupported(
        `source for disk '${sd.name}' is not a regular file; refusing to generate external snapshot name`,
      );
    const slash = orig.lastIndexOf('/');
    const dot = orig.lastIndexOf('.');
    sd.source = `${dot > slash ? orig.slice(0, dot) : orig}.${meta.name}`;
    const clash = meta.disks.slice(0, i).find((o) => o.source === sd.source);
    if (clash)
      throw configUnsupported(
        `cannot generate external snapshot name for disk '${sd.name}': collision with disk '${clash.name}'`,
      );
  }
}

/**
 * qemuSnapshotPrepare: the mix of locations libvirt accepts, each external overlay's file checked
 * (qemuSnapshotPrepareDiskExternal), each internal disk a qcow2. Returns whether the snapshot
 * is external (a stopped domain's external snapshot is then disk-only).
 */
export async function prepareDisks(
  meta: SnapshotMeta,
  def: DomainDef,
  active: boolean,
  reuse: boolean,
): Promise<{ external: number }> {
  const disks = domDisks(def);
  let foundInternal = false;
  let forbidInternal = false;
  let external = 0;
  for (let i = 0; i < meta.disks.length; i++) {
    const sd = meta.disks[i]!;
    const dd = disks[i]!;
    switch (sd.snapshot) {
      case 'internal': {
        foundInternal = true;
        if (meta.state === 'disk-snapshot' && active)
          throw configUnsupported(
            `active qemu domains require external disk snapshots; disk ${sd.name} requested internal`,
          );
        const fmt = dd.driver?.type;
        if (fmt && fmt !== 'qcow2')
          throw configUnsupported(
            `internal snapshot for disk ${sd.name} unsupported for storage type ${fmt}`,
          );
        break;
      }
      case 'external': {
        if (!sd.format) sd.format = 'qcow2';
        else if (sd.format !== 'qcow2' && sd.format !== 'qed')
          throw configUnsupported(
            `external snapshot format for disk ${sd.name} is unsupported: ${sd.format}`,
          );
        await checkOverlayFile(sd, dd, active, reuse);
        external++;
        break;
      }
      case 'manual':
        forbidInternal = true;
        break;
      default:
        if (srcPath(dd) && !dd.readonly) forbidInternal = true;
    }
  }
  if (!foundInternal && !external && meta.memory === 'no')
    throw configUnsupported('nothing selected for snapshot');
  if ((meta.memory === 'internal' && !foundInternal) || (foundInternal && forbidInternal))
    throw configUnsupported(
      'internal and full system snapshots require all disks to be selected for snapshot',
    );
  if (meta.state === 'disk-snapshot' && !external)
    throw configUnsupported('disk-only snapshots require at least one disk to be selected for snapshot');
  if (
    (foundInternal && external) ||
    (meta.memory === 'internal' && external) ||
    (meta.memory === 'external' && foundInternal)
  )
    throw configUnsupported('mixing internal and external targets for a snapshot is not yet supported');
  if (foundInternal && (def.os as { loader?: { type?: string } } | undefined)?.loader?.type === 'pflash')
    throw virReportError(
      'OPERATION_UNSUPPORTED',
      'qemu',
      'internal snapshots of a VM with pflash based firmware are not supported',
    );
  return { external };
}

async function checkOverlayFile(
  sd: SnapshotDisk,
  dd: DomDisk,
  active: boolean,
  reuse: boolean,
): Promise<void> {
  const domType = dd.type ?? 'file';
  const snapType = sd.type ?? 'file';
  if (!active) {
    if (domType !== 'file' && domType !== 'block')
      throw virReportError(
        'INTERNAL_ERROR',
        'qemu',
        `external inactive snapshots are not supported on '${domType}' disks`,
      );
    if (snapType !== 'file' && snapType !== 'block')
      throw virReportError(
        'INTERNAL_ERROR',
        'qemu',
        `external inactive snapshots are not supported on '${snapType}' disks`,
      );
  } else if (snapType !== 'file' && snapType !== 'block') {
    throw virReportError(
      'INTERNAL_ERROR',
      'qemu',
      `external active snapshots are not supported on '${snapType}' disks`,
    );
  }
  const file = sd.source!;
  let st: Awaited<ReturnType<typeof stat>> | undefined;
  try {
    st = await stat(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code !== 'ENOENT')
      throw virReportSystemError(e, 'qemu', `unable to stat for disk ${sd.name}: ${file}`);
    if (reuse) throw virReportSystemError(e, 'qemu', `missing existing file for disk ${sd.name}: ${file}`);
    if (snapType === 'block')
      throw virReportError(
        'OPERATION_UNSUPPORTED',
        'qemu',
        `block device snapshot target '${file}' doesn't exist`,
      );
    return;
  }
  if ((snapType === 'block' && !st.isBlockDevice()) || (snapType === 'file' && !st.isFile()))
    throw configUnsupported(
      `mismatch between configured type for snapshot disk '${sd.name}' and the type of existing file '${file}'`,
    );
  if (!reuse && snapType === 'file' && st.size > 0)
    throw configUnsupported(
      `external snapshot file for disk ${sd.name} already exists and is not a block device: ${file}`,
    );
}

/** The external disks of a snapshot with their domain disks. */
export function externalPairs(meta: SnapshotMeta, def: DomainDef): Array<{ sd: SnapshotDisk; dd: DomDisk }> {
  const disks = domDisks(def);
  return meta.disks
    .map((sd) => ({ sd, dd: disks.find((d) => d.target?.dev === sd.name)! }))
    .filter((p) => p.sd.snapshot === 'external' && p.dd);
}

/**
 * qemuSnapshotCreateInactiveExternal: `qemu-img create` of each overlay on its disk's image
 * (unless reused), undone if one fails.
 */
export async function createOfflineOverlays(
  meta: SnapshotMeta,
  def: DomainDef,
  reuse: boolean,
): Promise<void> {
  const created: string[] = [];
  try {
    for (const { sd, dd } of externalPairs(meta, def)) {
      if (reuse) continue;
      const base = srcPath(dd)!;
      const args = [
        'create',
        '-f',
        sd.format ?? 'qcow2',
        '-o',
        `backing_fmt=${dd.driver?.type ?? 'raw'},backing_file=${base}`,
        sd.source!,
      ];
      try {
        await run('qemu-img', args);
      } catch (err) {
        throw virReportError(
          'OPERATION_FAILED',
          'qemu',
          `operation failed: failed to run 'qemu-img ${args.join(' ')}': ${String((err as { stderr?: string }).stderr ?? err).trim()}`,
        );
      }
      created.push(sd.source!);
    }
  } catch (err) {
    for (const f of created) await unlink(f).catch(() => {});
    throw err;
  }
}

/** The disks of `def` pointed at their overlays (libvirt's offline update: the source only). */
export function pointAtOverlays(def: DomainDef, meta: SnapshotMeta, withBacking: boolean): DomainDef {
  const next = structuredClone(def);
  for (const { sd, dd } of externalPairs(meta, next)) {
    const oldType = dd.type ?? 'file';
    const oldSource = structuredClone(dd.source ?? {});
    const oldFormat = dd.driver?.type;
    const oldBacking = dd.backingStore;
    dd.type = sd.type ?? 'file';
    dd.source = sd.type === 'block' ? { dev: sd.source! } : { file: sd.source! };
    dd.driver = { ...(dd.driver ?? {}), type: sd.format ?? 'qcow2' };
    if (withBacking) {
      dd.backingStore = {
        type: oldType,
        ...(oldFormat ? { format: { type: oldFormat } } : {}),
        source: oldSource,
        ...(oldBacking ? { backingStore: oldBacking } : {}),
      };
    } else delete dd.backingStore;
  }
  return next;
}

interface Mon {
  execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T>;
}

/** The QOM name of a disk's frontend (what query-block calls `qdev`). */
function qomName(d: DomDisk): string | undefined {
  const alias = d.alias?.name;
  if (!alias) return undefined;
  if (d.target?.bus === 'virtio') return `/machine/peripheral/${alias}/virtio-backend`;
  return alias;
}

/** Labels the new overlay and lets it go again, as the run's security stack does for images. */
export interface OverlayLabels {
  set(path: string, format: string): Promise<void>;
  restore(path: string, format: string): Promise<void>;
}

/**
 * qemuSnapshotCreateActiveExternal's disk part: each overlay made (an empty file, labelled, then
 * formatted by QEMU's `blockdev-create` on its disk's current image) and added, then all of them
 * put on top in one `transaction` of `blockdev-snapshot` (so the disks switch together). What was
 * made is removed if a step fails.
 */
export async function liveOverlays(
  mon: Mon,
  meta: SnapshotMeta,
  live: DomainDef,
  reuse: boolean,
  labels: OverlayLabels | undefined,
): Promise<void> {
  const pairs = externalPairs(meta, live);
  const blocks =
    await mon.execute<
      Array<{ qdev?: string; device?: string; inserted?: { 'node-name'?: string; file?: string } }>
    >('query-block');
  const nodes = await mon.execute<Array<{ 'node-name'?: string; image?: { 'virtual-size'?: number } }>>(
    'query-named-block-nodes',
    { flat: true },
  );
  let nextId = 0;
  for (const n of nodes) {
    const m = /^libvirt-(\d+)-/.exec(n['node-name'] ?? '');
    if (m) nextId = Math.max(nextId, Number(m[1]));
  }
  const undo: Array<() => Promise<unknown>> = [];
  const actions: Array<Record<string, unknown>> = [];
  try {
    for (const { sd, dd } of pairs) {
      const qdev = qomName(dd);
      const block = blocks.find((b) => (qdev && b.qdev === qdev) || b.inserted?.file === srcPath(dd));
      const top = block?.inserted?.['node-name'];
      if (!top) throw virReportError('INTERNAL_ERROR', 'qemu', `failed to find disk '${sd.name}' in QEMU`);
      const size = nodes.find((n) => n['node-name'] === top)?.image?.['virtual-size'] ?? 0;
      const file = sd.source!;
      const format = sd.format ?? 'qcow2';
      if (!reuse && (sd.type ?? 'file') === 'file') {
        const fh = await open(file, 'wx', 0o600).catch((e: NodeJS.ErrnoException) => {
          throw virReportSystemError(e, 'qemu', `failed to create image file '${file}'`);
        });
        await fh.close();
        undo.push(() => unlink(file));
      }
      if (labels) {
        await labels.set(file, format);
        undo.push(() => labels.restore(file, format));
      }
      const id = ++nextId;
      const storage = `libvirt-${id}-storage`;
      const fmt = `libvirt-${id}-format`;
      await mon.execute('blockdev-add', {
        driver: sd.type === 'block' ? 'host_device' : 'file',
        filename: file,
        'node-name': storage,
        'auto-read-only': true,
        discard: 'unmap',
      });
      undo.push(() => mon.execute('blockdev-del', { 'node-name': storage }));
      if (!reuse) {
        const job = `create-${storage}`;
        await mon.execute('blockdev-create', {
          'job-id': job,
          options: {
            driver: format,
            file: storage,
            size,
            'backing-file': srcPath(dd),
            'backing-fmt': dd.driver?.type ?? 'raw',
          },
        });
        await waitJob(mon, job);
      }
      await mon.execute('blockdev-add', {
        'node-name': fmt,
        'read-only': false,
        driver: format,
        file: storage,
        backing: null,
      });
      undo.push(() => mon.execute('blockdev-del', { 'node-name': fmt }));
      actions.push({ type: 'blockdev-snapshot', data: { node: top, overlay: fmt } });
    }
    if (actions.length) await mon.execute('transaction', { actions });
  } catch (err) {
    for (const step of undo.reverse()) await step().catch(() => {});
    throw err;
  }
}

/** Waits for one of QEMU's jobs to conclude, dismisses it, and throws its error. */
async function waitJob(mon: Mon, id: string): Promise<void> {
  for (;;) {
    const jobs = await mon.execute<Array<{ id: string; status: string; error?: string }>>('query-jobs');
    const job = jobs.find((j) => j.id === id);
    if (!job || job.status === 'concluded') {
      if (job) await mon.execute('job-dismiss', { id });
      if (job?.error) throw virReportError('OPERATION_FAILED', 'qemu', job.error);
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
