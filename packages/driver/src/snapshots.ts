/**
 * Internal snapshots of qcow2 disks (libvirt's qemu_snapshot.c, internal case): with the guest
 * running or paused, QEMU 7.2's `snapshot-save` / `snapshot-load` / `snapshot-delete` jobs keep
 * the disks' state and the memory inside the qcow2 images; with it shut off, `qemu-img snapshot`
 * does the disks. The metadata is libvirt's `<domainsnapshot>` XML, one file per snapshot under
 * `lib/qemu/snapshot/DOMAIN/` (cfg->snapshotDir), the current one marked `<active>1</active>`, so
 * it survives a daemon restart.
 */
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { type DomainDef, parseXml, VirError, type XmlElement } from '@qvirt/core';
import type { QmpClient } from './qmp.js';

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

export interface SnapshotMeta {
  name: string;
  description?: string;
  state: 'running' | 'paused' | 'shutoff';
  parent?: string;
  creationTime: number;
  memory: 'internal' | 'no';
  disks: Array<{ name: string; snapshot: 'internal' }>;
  /** The domain's XML at the time, as libvirt embeds it. */
  domainXml: string;
}

const failed = (msg: string) =>
  new VirError('OPERATION_FAILED', 'domain_snapshot', `operation failed: ${msg}`);
const unsupported = (msg: string) =>
  new VirError('CONFIG_UNSUPPORTED', 'domain_snapshot', `unsupported configuration: ${msg}`);
export const noSnapshot = (name: string) =>
  new VirError(
    'NO_DOMAIN_SNAPSHOT',
    'domain_snapshot',
    `Domain snapshot not found: no domain snapshot with matching name '${name}'`,
  );

const escapeXml = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&apos;');

/** virDomainSnapshotDefFormat (with VIR_DOMAIN_SNAPSHOT_FORMAT_INTERNAL: `active`). */
export function formatSnapshot(s: SnapshotMeta, active?: boolean): string {
  const lines = ['<domainsnapshot>', `  <name>${escapeXml(s.name)}</name>`];
  if (s.description) lines.push(`  <description>${escapeXml(s.description)}</description>`);
  lines.push(`  <state>${s.state}</state>`);
  if (s.parent) lines.push('  <parent>', `    <name>${escapeXml(s.parent)}</name>`, '  </parent>');
  lines.push(`  <creationTime>${s.creationTime}</creationTime>`);
  lines.push(`  <memory snapshot='${s.memory}'/>`);
  if (s.disks.length) {
    lines.push('  <disks>');
    for (const d of s.disks) lines.push(`    <disk name='${escapeXml(d.name)}' snapshot='${d.snapshot}'/>`);
    lines.push('  </disks>');
  }
  for (const l of s.domainXml.replace(/\n$/, '').split('\n')) lines.push(`  ${l}`);
  if (active !== undefined) lines.push(`  <active>${active ? 1 : 0}</active>`);
  lines.push('</domainsnapshot>');
  return `${lines.join('\n')}\n`;
}

const textOf = (el: XmlElement | undefined): string | undefined => {
  if (!el) return undefined;
  return el.children.filter((c): c is string => typeof c === 'string').join('');
};
const child = (el: XmlElement, name: string) =>
  el.children.find((c): c is XmlElement => typeof c !== 'string' && c.name === name);

/** The user's `<domainsnapshot>`: what a create reads of it (name, description, memory, disks). */
export function parseSnapshotInput(xml: string): {
  name?: string;
  description?: string;
  memory?: string;
  disks: Array<{ name: string; snapshot?: string }>;
} {
  const root = parseXml(xml, 'domainsnapshot');
  if (root.name !== 'domainsnapshot')
    throw new VirError('XML_ERROR', 'domain_snapshot', "XML error: expected root element 'domainsnapshot'");
  const disks = child(root, 'disks');
  return {
    ...(textOf(child(root, 'name')) ? { name: textOf(child(root, 'name'))! } : {}),
    ...(textOf(child(root, 'description')) ? { description: textOf(child(root, 'description'))! } : {}),
    ...(child(root, 'memory')?.attributes.snapshot
      ? { memory: child(root, 'memory')!.attributes.snapshot! }
      : {}),
    disks: (disks?.children ?? [])
      .filter((c): c is XmlElement => typeof c !== 'string' && c.name === 'disk')
      .map((d) => ({
        name: d.attributes.name ?? '',
        ...(d.attributes.snapshot ? { snapshot: d.attributes.snapshot } : {}),
      })),
  };
}

/** A stored metadata file back into its record (and whether it was the current one). */
function parseStored(xml: string): { meta: SnapshotMeta; active: boolean } {
  const root = parseXml(xml, 'domainsnapshot');
  const dom = xml.match(/\n {2}<domain[\s\S]*\n {2}<\/domain>\n/);
  const domainXml = dom ? dom[0].slice(1).replace(/^ {2}/gm, '') : '';
  const disks = child(root, 'disks');
  return {
    meta: {
      name: textOf(child(root, 'name')) ?? '',
      ...(textOf(child(root, 'description')) ? { description: textOf(child(root, 'description'))! } : {}),
      state: (textOf(child(root, 'state')) ?? 'shutoff') as SnapshotMeta['state'],
      ...(child(root, 'parent') ? { parent: textOf(child(child(root, 'parent')!, 'name')) ?? '' } : {}),
      creationTime: Number(textOf(child(root, 'creationTime')) ?? 0),
      memory: child(root, 'memory')?.attributes.snapshot === 'internal' ? 'internal' : 'no',
      disks: (disks?.children ?? [])
        .filter((c): c is XmlElement => typeof c !== 'string' && c.name === 'disk')
        .map((d) => ({ name: d.attributes.name ?? '', snapshot: 'internal' as const })),
      domainXml,
    },
    active: textOf(child(root, 'active')) === '1',
  };
}

/** One domain's snapshots: the records, the current one, and their files. */
export class SnapshotList {
  readonly byName = new Map<string, SnapshotMeta>();
  current: string | undefined;

  constructor(readonly dir: string) {}

  static async load(dir: string): Promise<SnapshotList> {
    const list = new SnapshotList(dir);
    let files: string[] = [];
    try {
      files = (await readdir(dir)).filter((f) => f.endsWith('.xml'));
    } catch {
      return list;
    }
    for (const f of files) {
      const { meta, active } = parseStored(await readFile(path.join(dir, f), 'utf8'));
      list.byName.set(meta.name, meta);
      if (active) list.current = meta.name;
    }
    return list;
  }

  /** In creation order (libvirt lists by its hash table; virsh sorts by name itself). */
  all(): SnapshotMeta[] {
    return [...this.byName.values()];
  }

  children(name: string | undefined): SnapshotMeta[] {
    return this.all().filter((s) => s.parent === name);
  }

  get(name: string): SnapshotMeta {
    const s = this.byName.get(name);
    if (!s) throw noSnapshot(name);
    return s;
  }

  async save(s: SnapshotMeta): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFile(path.join(this.dir, `${s.name}.xml`), formatSnapshot(s, this.current === s.name), {
      mode: 0o600,
    });
  }

  async setCurrent(name: string | undefined): Promise<void> {
    const old = this.current;
    this.current = name;
    if (old && old !== name && this.byName.has(old)) await this.save(this.byName.get(old)!);
    if (name) await this.save(this.get(name));
  }

  async remove(name: string): Promise<void> {
    const s = this.get(name);
    // its children go to its parent (virDomainMomentDropParent / qemuSnapshotDiscard)
    for (const c of this.children(name)) {
      if (s.parent) c.parent = s.parent;
      else delete c.parent;
      await this.save(c);
    }
    this.byName.delete(name);
    if (this.current === name) {
      this.current = undefined;
      if (s.parent) await this.setCurrent(s.parent);
    }
    await rm(path.join(this.dir, `${name}.xml`), { force: true });
  }

  async removeAll(): Promise<void> {
    this.byName.clear();
    this.current = undefined;
    await rm(this.dir, { recursive: true, force: true });
  }
}

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
