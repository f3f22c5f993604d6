/**
 * Internal snapshots of qcow2 disks (libvirt's qemu_snapshot.c, internal case): with the guest
 * running or paused, QEMU 7.2's `snapshot-save` / `snapshot-load` / `snapshot-delete` jobs keep
 * the disks' state and the memory inside the qcow2 images; with it shut off, `qemu-img snapshot`
 * does the disks. The snapshot metadata is ./snapshot-metadata.ts, the external case
 * ./snapshot-external.ts, the APIs ./snapshot-ops.ts.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { type DomainDef, VirError } from '@qvirt/core';
import type { QmpClient } from './qmp.js';

export { formatSnapshot, noSnapshot, SnapshotList, type SnapshotMeta } from './snapshot-metadata.js';

const run = promisify(execFile);

/** virDomainSnapshotCreateFlags. */
export const VIR_DOMAIN_SNAPSHOT_CREATE = {
  REDEFINE: 1 << 0,
  CURRENT: 1 << 1,
  NO_METADATA: 1 << 2,
  HALT: 1 << 3,
  DISK_ONLY: 1 << 4,
  REUSE_EXT: 1 << 5,
  QUIESCE: 1 << 6,
  ATOMIC: 1 << 7,
  LIVE: 1 << 8,
  VALIDATE: 1 << 9,
} as const;
/** virDomainSnapshotRevertFlags. */
export const VIR_DOMAIN_SNAPSHOT_REVERT = {
  RUNNING: 1 << 0,
  PAUSED: 1 << 1,
  FORCE: 1 << 2,
  RESET_NVRAM: 1 << 3,
} as const;
/** virDomainSnapshotDeleteFlags. */
export const VIR_DOMAIN_SNAPSHOT_DELETE = {
  CHILDREN: 1 << 0,
  METADATA_ONLY: 1 << 1,
  CHILDREN_ONLY: 1 << 2,
} as const;

const failed = (msg: string) =>
  new VirError('OPERATION_FAILED', 'domain_snapshot', `operation failed: ${msg}`);
const unsupported = (msg: string) =>
  new VirError('CONFIG_UNSUPPORTED', 'domain_snapshot', `unsupported configuration: ${msg}`);

interface DiskInfo {
  target: string;
  path?: string;
  format?: string;
  readonly: boolean;
}

/** The disks of a definition, as an internal snapshot sees them. */
export function snapshotDisks(def: DomainDef): DiskInfo[] {
  const disks = (def.devices?.disk ?? []) as Array<{
    device?: string;
    type?: string;
    target?: { dev?: string };
    source?: { file?: string; dev?: string };
    driver?: { type?: string };
    readonly?: unknown;
  }>;
  return disks
    .filter((d) => (d.device ?? 'disk') === 'disk')
    .map((d) => ({
      target: d.target?.dev ?? '',
      ...(d.source?.file ? { path: d.source.file } : d.source?.dev ? { path: d.source.dev } : {}),
      ...(d.driver?.type ? { format: d.driver.type } : {}),
      readonly: d.readonly !== undefined,
    }));
}

/** qemuSnapshotPrepare for internal snapshots: every writable disk must be a local qcow2. */
export function checkInternalDisks(disks: DiskInfo[]): DiskInfo[] {
  const writable = disks.filter((d) => !d.readonly);
  for (const d of writable) {
    if (d.format !== 'qcow2')
      throw unsupported(
        `internal snapshot for disk ${d.target} unsupported for storage type ${d.format ?? 'raw'}`,
      );
  }
  if (writable.length === 0) throw unsupported('internal snapshots require at least one qcow2 disk');
  return writable;
}

/** The format nodes QEMU holds the writable disks in (query-block), for the snapshot jobs. */
async function formatNodes(qmp: QmpClient): Promise<string[]> {
  const blocks =
    await qmp.execute<Array<{ inserted?: { 'node-name'?: string; drv?: string; ro?: boolean } }>>(
      'query-block',
    );
  return blocks
    .map((b) => b.inserted)
    .filter((i): i is NonNullable<typeof i> => !!i && i.drv === 'qcow2' && !i.ro && !!i['node-name'])
    .map((i) => i['node-name']!);
}

let jobCounter = 0;

/** Runs one of QEMU's snapshot jobs to its end (query-jobs, job-dismiss), with QEMU's reason on failure. */
async function runJob(
  qmp: QmpClient,
  command: 'snapshot-save' | 'snapshot-load' | 'snapshot-delete',
  tag: string,
): Promise<void> {
  const nodes = await formatNodes(qmp);
  if (nodes.length === 0) throw unsupported('internal snapshots require at least one qcow2 disk');
  const id = `${command.replace('-', '')}${++jobCounter}`;
  const args: Record<string, unknown> = { 'job-id': id, tag, devices: nodes };
  if (command !== 'snapshot-delete') args.vmstate = nodes[0];
  await qmp.execute(command, args);
  for (;;) {
    const jobs = await qmp.execute<Array<{ id: string; status: string; error?: string }>>('query-jobs');
    const job = jobs.find((j) => j.id === id);
    if (!job || job.status === 'concluded') {
      if (job) await qmp.execute('job-dismiss', { id });
      if (job?.error) throw failed(job.error);
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const saveInternal = (qmp: QmpClient, name: string) => runJob(qmp, 'snapshot-save', name);
export const loadInternal = (qmp: QmpClient, name: string) => runJob(qmp, 'snapshot-load', name);
export const deleteInternal = (qmp: QmpClient, name: string) => runJob(qmp, 'snapshot-delete', name);

/** `qemu-img snapshot` on the disks of a shut-off domain (-c create, -a apply, -d delete). */
export async function qemuImgSnapshot(
  disks: DiskInfo[],
  op: '-c' | '-a' | '-d',
  name: string,
): Promise<void> {
  for (const d of disks) {
    if (!d.path) continue;
    try {
      await run('qemu-img', ['snapshot', op, name, d.path]);
    } catch (err) {
      const why = String((err as { stderr?: string }).stderr ?? err).trim();
      throw failed(`qemu-img snapshot ${op} of disk ${d.target} failed: ${why}`);
    }
  }
}
