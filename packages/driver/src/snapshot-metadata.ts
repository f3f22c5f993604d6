/**
 * libvirt's `<domainsnapshot>` (conf/snapshot_conf.c) and a domain's snapshot tree
 * (virdomainsnapshotobjlist.c): the record qvirt keeps per snapshot, its parse with libvirt's
 * refusals, its format, and the listing filters. The metadata lives one file per snapshot under
 * `lib/qemu/snapshot/DOMAIN/` (cfg->snapshotDir), the current one marked `<active>1</active>`,
 * so it survives a daemon restart.
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type VirErrorCode, virReportError } from '@qvirt/core/errors';
import { escapeXml, formatXml, parseXml, type XmlElement } from '@qvirt/core/xml';

/** virDomainSnapshotLocation. */
export type SnapshotLocation = 'internal' | 'external' | 'no' | 'manual';
/** virDomainSnapshotState's words. */
export type SnapshotState =
  | 'running'
  | 'blocked'
  | 'paused'
  | 'shutdown'
  | 'shutoff'
  | 'crashed'
  | 'pmsuspended'
  | 'disk-snapshot';
const STATES: SnapshotState[] = [
  'running',
  'blocked',
  'paused',
  'shutdown',
  'shutoff',
  'crashed',
  'pmsuspended',
  'disk-snapshot',
];
const LOCATIONS: SnapshotLocation[] = ['no', 'internal', 'external', 'manual'];

/** virDomainSnapshotDiskDef: a disk's part in a snapshot (the overlay of an external one). */
export interface SnapshotDisk {
  name: string;
  snapshot?: SnapshotLocation;
  /** The storage type of the overlay (`file`, `block`, …). */
  type?: string;
  /** The overlay's format (`<driver type=…>`). */
  format?: string;
  /** The overlay's path. */
  source?: string;
}

export interface SnapshotMeta {
  name: string;
  description?: string;
  state: SnapshotState;
  parent?: string;
  creationTime: number;
  memory?: SnapshotLocation;
  memoryFile?: string;
  disks: SnapshotDisk[];
  /** The domain's definition at the time, formatted inactive (no indentation). */
  domainXml?: string;
  /** The persistent definition when it differed from the running one (`<inactiveDomain>`). */
  inactiveDomainXml?: string;
  /** QEMU's save cookie (`<cookie>`), kept as written. */
  cookieXml?: string;
}

/** virDomainSnapshotListFlags. */
export const VIR_DOMAIN_SNAPSHOT_LIST = {
  ROOTS: 1 << 0,
  DESCENDANTS: 1 << 0,
  METADATA: 1 << 1,
  LEAVES: 1 << 2,
  NO_LEAVES: 1 << 3,
  NO_METADATA: 1 << 4,
  INACTIVE: 1 << 5,
  ACTIVE: 1 << 6,
  DISK_ONLY: 1 << 7,
  INTERNAL: 1 << 8,
  EXTERNAL: 1 << 9,
  TOPOLOGICAL: 1 << 10,
} as const;

const snapErr = (code: VirErrorCode, msg: string) => virReportError(code, 'domain_snapshot', msg);
export const xmlError = (msg: string) => snapErr('XML_ERROR', msg);
export const configUnsupported = (msg: string) => snapErr('CONFIG_UNSUPPORTED', msg);
export const noSnapshot = (name: string) =>
  snapErr('NO_DOMAIN_SNAPSHOT', `no domain snapshot with matching name '${name}'`);

/** virDomainSnapshotIsExternal. */
export const isExternal = (s: Pick<SnapshotMeta, 'memory' | 'disks'>) =>
  s.memory === 'external' || s.disks.some((d) => d.snapshot === 'external');

const indent = (text: string, pad: string) =>
  text
    .replace(/\n$/, '')
    .split('\n')
    .map((l) => `${pad}${l}`)
    .join('\n');

/** virDomainSnapshotDefFormat (`active`: VIR_DOMAIN_SNAPSHOT_FORMAT_INTERNAL, for the stored file). */
export function formatSnapshot(s: SnapshotMeta, active?: boolean): string {
  const lines = ['<domainsnapshot>', `  <name>${escapeXml(s.name)}</name>`];
  if (s.description !== undefined) lines.push(`  <description>${escapeXml(s.description)}</description>`);
  lines.push(`  <state>${s.state}</state>`);
  if (s.parent) lines.push('  <parent>', `    <name>${escapeXml(s.parent)}</name>`, '  </parent>');
  if (s.creationTime) lines.push(`  <creationTime>${s.creationTime}</creationTime>`);
  if (s.memory)
    lines.push(
      `  <memory snapshot='${s.memory}'${s.memoryFile ? ` file='${escapeXml(s.memoryFile)}'` : ''}/>`,
    );
  if (s.disks.length) {
    lines.push('  <disks>');
    for (const d of s.disks) {
      const attrs = `name='${escapeXml(d.name)}'${d.snapshot ? ` snapshot='${d.snapshot}'` : ''}`;
      if (d.source || d.format) {
        const type = d.type ?? 'file';
        lines.push(`    <disk ${attrs} type='${type}'>`);
        lines.push(d.format ? `      <driver type='${escapeXml(d.format)}'/>` : '      <driver/>');
        if (d.source)
          lines.push(`      <source ${type === 'block' ? 'dev' : 'file'}='${escapeXml(d.source)}'/>`);
        lines.push('    </disk>');
      } else lines.push(`    <disk ${attrs}/>`);
    }
    lines.push('  </disks>');
  }
  if (s.domainXml) lines.push(indent(s.domainXml, '  '));
  if (s.inactiveDomainXml)
    lines.push(
      indent(
        s.inactiveDomainXml
          .replace(/^<domain\b/, '<inactiveDomain')
          .replace(/<\/domain>\s*$/, '</inactiveDomain>'),
        '  ',
      ),
    );
  if (s.cookieXml) lines.push(indent(s.cookieXml, '  '));
  if (active !== undefined) lines.push(`  <active>${active ? 1 : 0}</active>`);
  lines.push('</domainsnapshot>');
  return `${lines.join('\n')}\n`;
}

const elements = (el: XmlElement | undefined, name?: string): XmlElement[] =>
  (el?.children ?? []).filter(
    (c): c is XmlElement => typeof c !== 'string' && (name === undefined || c.name === name),
  );
const child = (el: XmlElement | undefined, name: string) => elements(el, name)[0];
const text = (el: XmlElement | undefined): string | undefined =>
  el ? el.children.filter((c): c is string => typeof c === 'string').join('') : undefined;

const TOP_LEVEL = new Set([
  'name',
  'description',
  'state',
  'creationTime',
  'parent',
  'memory',
  'disks',
  'domain',
  'inactiveDomain',
  'active',
  'cookie',
]);

/** What virDomainSnapshotDefParse reads: the record, and the `<domain>` elements still as XML. */
export interface ParsedSnapshot {
  meta: SnapshotMeta;
  /** The snapshot named no name (a create picks one). */
  unnamed: boolean;
  domain?: XmlElement;
  inactiveDomain?: XmlElement;
  /** `<active>` of a stored file. */
  active?: boolean;
}

/**
 * virDomainSnapshotDefParseString: `redefine` (VIR_DOMAIN_SNAPSHOT_PARSE_REDEFINE) reads the
 * whole record; `offline` (a disk-only or inactive create) refuses a memory state.
 */
export function parseSnapshotXml(
  xml: string,
  opts: { redefine?: boolean; offline?: boolean; internal?: boolean; validate?: boolean } = {},
): ParsedSnapshot {
  const root = parseXml(xml, '(domain_snapshot)');
  if (root.name !== 'domainsnapshot')
    throw xmlError(`expected root element 'domainsnapshot', but found '${root.name}'`);
  // VIR_DOMAIN_SNAPSHOT_PARSE_VALIDATE: domainsnapshot.rng's top level (the elements inside are
  // checked by the parse itself)
  const extra = opts.validate && elements(root).find((e) => !TOP_LEVEL.has(e.name));
  if (extra)
    throw snapErr(
      'XML_INVALID_SCHEMA',
      `Unable to validate doc against /usr/share/libvirt/schemas/domainsnapshot.rng\nElement domainsnapshot has extra content: ${extra.name}`,
    );
  const redefine = opts.redefine || opts.internal;
  let offline = opts.offline ?? false;
  const name = text(child(root, 'name'));
  if (name === undefined && redefine) throw xmlError('a redefined snapshot must have a name');
  const meta: SnapshotMeta = {
    name: name ?? '',
    state: 'shutoff',
    creationTime: 0,
    disks: [],
  };
  const description = text(child(root, 'description'));
  if (description !== undefined) meta.description = description;
  const out: ParsedSnapshot = { meta, unnamed: name === undefined };
  if (redefine) {
    const time = text(child(root, 'creationTime'));
    if (time === undefined || !/^-?\d+$/.test(time.trim()))
      throw snapErr('INTERNAL_ERROR', 'missing creationTime from existing snapshot');
    meta.creationTime = Number(time);
    const parent = text(child(child(root, 'parent'), 'name'));
    if (parent) meta.parent = parent;
    const state = text(child(root, 'state'));
    if (state === undefined) throw xmlError('missing state from existing snapshot');
    if (!STATES.includes(state as SnapshotState))
      throw configUnsupported(`Invalid state '${state}' in domain snapshot XML`);
    meta.state = state as SnapshotState;
    offline = state === 'shutoff' || state === 'disk-snapshot';
    const dom = child(root, 'domain');
    if (dom?.attributes.type) out.domain = dom;
    const inactive = child(root, 'inactiveDomain');
    if (inactive) out.inactiveDomain = { ...inactive, name: 'domain' };
    const cookie = child(root, 'cookie');
    if (cookie && !offline) meta.cookieXml = formatXml(cookie);
  }
  const memory = child(root, 'memory');
  if (memory) {
    const file = memory.attributes.file;
    if (file !== undefined) meta.memoryFile = file;
    const loc = memory.attributes.snapshot;
    if (loc !== undefined) {
      if (!LOCATIONS.includes(loc as SnapshotLocation) || loc === '')
        throw xmlError(`Invalid value for attribute 'snapshot' in element 'memory': '${loc}'.`);
      if (loc === 'manual') throw xmlError("'manual' memory snapshot mode not supported");
      meta.memory = loc as SnapshotLocation;
    }
  }
  if (!meta.memory) {
    if (meta.memoryFile) meta.memory = 'external';
    else if (redefine) meta.memory = offline ? 'no' : 'internal';
  }
  if (meta.memoryFile && meta.memory !== 'external')
    throw xmlError(`memory filename '${meta.memoryFile}' requires external snapshot`);
  if (!meta.memoryFile && meta.memory === 'external')
    throw xmlError('external memory snapshots require a filename');
  if (offline && meta.memory && meta.memory !== 'no')
    throw xmlError('memory state cannot be saved with offline or disk-only snapshot');
  if (meta.memoryFile && !meta.memoryFile.startsWith('/'))
    throw xmlError(`memory snapshot file path (${meta.memoryFile}) must be absolute`);
  for (const d of elements(child(root, 'disks'))) meta.disks.push(parseDisk(d));
  if (opts.internal) out.active = text(child(root, 'active'))?.trim() === '1';
  return out;
}

/** virDomainSnapshotDiskDefParseXML. */
function parseDisk(d: XmlElement): SnapshotDisk {
  const name = d.attributes.name;
  if (name === undefined) throw snapErr('INTERNAL_ERROR', 'missing name from disk snapshot element');
  const disk: SnapshotDisk = { name };
  const loc = d.attributes.snapshot;
  if (loc !== undefined) {
    if (!LOCATIONS.includes(loc as SnapshotLocation))
      throw xmlError(`Invalid value for attribute 'snapshot' in element 'disk': '${loc}'.`);
    disk.snapshot = loc as SnapshotLocation;
  }
  const type = d.attributes.type ?? 'file';
  if (type === 'volume' || type === 'dir') throw xmlError(`unsupported disk snapshot type '${type}'`);
  if (d.attributes.type) disk.type = type;
  const src = child(d, 'source');
  const p = src?.attributes.file ?? src?.attributes.dev;
  if (p !== undefined) disk.source = p;
  const driver = child(d, 'driver')?.attributes.type;
  if (driver !== undefined) {
    if (
      ![
        'raw',
        'qcow2',
        'qed',
        'qcow',
        'vmdk',
        'vdi',
        'vpc',
        'vhdx',
        'luks',
        'iso',
        'dir',
        'bochs',
        'cloop',
        'dmg',
        'cow',
        'fat',
        'ploop',
        'vvfat',
        'none',
      ].includes(driver)
    )
      throw configUnsupported(`unknown disk snapshot driver '${driver}'`);
    disk.format = driver;
  }
  if (disk.source !== undefined && !disk.source.startsWith('/') && (type === 'file' || type === 'block'))
    throw xmlError(`disk snapshot image path '${disk.source}' must be absolute`);
  if (!disk.snapshot && (disk.source || disk.format)) disk.snapshot = 'external';
  return disk;
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
      const xml = await readFile(path.join(dir, f), 'utf8');
      const parsed = parseStored(xml);
      if (!parsed) continue;
      list.byName.set(parsed.meta.name, parsed.meta);
      if (parsed.active) list.current = parsed.meta.name;
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

  /** Every descendant of `name`, depth first. */
  descendants(name: string): SnapshotMeta[] {
    const out: SnapshotMeta[] = [];
    const walk = (n: string) => {
      for (const c of this.children(n)) {
        out.push(c);
        walk(c.name);
      }
    };
    walk(name);
    return out;
  }

  get(name: string): SnapshotMeta {
    const s = this.byName.get(name);
    if (!s) throw noSnapshot(name);
    return s;
  }

  /**
   * virDomainListSnapshots / virDomainSnapshotListAllChildren with virDomainSnapshotObjListGetNames'
   * filters: `from` undefined lists the whole tree (ROOTS: the roots only), a snapshot lists its
   * children (DESCENDANTS: all below it).
   */
  filter(flags: number, from?: string): SnapshotMeta[] {
    const L = VIR_DOMAIN_SNAPSHOT_LIST;
    let f = flags;
    let picked: SnapshotMeta[];
    if (from === undefined) picked = f & L.ROOTS ? this.children(undefined) : this.all();
    else picked = f & L.DESCENDANTS ? this.descendants(from) : this.children(from);
    const pair = (a: number, b: number) => {
      if ((f & (a | b)) === (a | b)) f &= ~(a | b);
    };
    pair(L.LEAVES, L.NO_LEAVES);
    pair(L.METADATA, L.NO_METADATA);
    pair(L.INTERNAL, L.EXTERNAL);
    const status = L.INACTIVE | L.ACTIVE | L.DISK_ONLY;
    if ((f & status) === status) f &= ~status;
    // every snapshot qvirt knows has metadata
    if (f & L.NO_METADATA) return [];
    const leaf = (s: SnapshotMeta) => this.children(s.name).length === 0;
    if (f & L.LEAVES) picked = picked.filter(leaf);
    if (f & L.NO_LEAVES) picked = picked.filter((s) => !leaf(s));
    if (f & status) {
      picked = picked.filter((s) => {
        if (s.state === 'shutoff') return (f & L.INACTIVE) !== 0;
        if (s.state === 'disk-snapshot') return (f & L.DISK_ONLY) !== 0;
        return (f & L.ACTIVE) !== 0;
      });
    }
    if (f & L.INTERNAL) picked = picked.filter((s) => !isExternal(s));
    if (f & L.EXTERNAL) picked = picked.filter((s) => isExternal(s));
    if (flags & L.TOPOLOGICAL) {
      const depth = (s: SnapshotMeta) => {
        let n = 0;
        for (let p = s.parent; p && n < this.byName.size; p = this.byName.get(p)?.parent) n++;
        return n;
      };
      picked = [...picked].sort((a, b) => depth(a) - depth(b));
    }
    return picked;
  }

  async save(s: SnapshotMeta): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFile(path.join(this.dir, `${s.name}.xml`), formatSnapshot(s, this.current === s.name), {
      mode: 0o600,
    });
  }

  /** Adds (or replaces) a record and writes it. */
  async put(s: SnapshotMeta): Promise<void> {
    this.byName.set(s.name, s);
    await this.save(s);
  }

  async setCurrent(name: string | undefined): Promise<void> {
    const old = this.current;
    this.current = name;
    if (old && old !== name && this.byName.has(old)) await this.save(this.byName.get(old)!);
    if (name) await this.save(this.get(name));
  }

  /** qemuSnapshotDiscard's metadata part: the children go to the parent, the current to the parent. */
  async remove(name: string): Promise<void> {
    const s = this.get(name);
    for (const c of this.children(name)) {
      if (s.parent) c.parent = s.parent;
      else delete c.parent;
      await this.save(c);
    }
    this.byName.delete(name);
    if (this.current === name) {
      this.current = undefined;
      if (s.parent && this.byName.has(s.parent)) await this.setCurrent(s.parent);
    }
    await rm(path.join(this.dir, `${name}.xml`), { force: true });
  }

  async removeAll(): Promise<void> {
    this.byName.clear();
    this.current = undefined;
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** A stored metadata file back into its record; the domain XML is kept as written. */
function parseStored(xml: string): { meta: SnapshotMeta; active: boolean } | undefined {
  let parsed: ParsedSnapshot;
  try {
    parsed = parseSnapshotXml(xml, { internal: true });
  } catch {
    // libvirt skips a file it cannot parse (with a warning)
    return undefined;
  }
  const block = (tag: string) => {
    const m = xml.match(new RegExp(`\\n {2}<${tag}[\\s>][\\s\\S]*?\\n {2}</${tag}>\\n`));
    return m ? m[0].slice(1).replace(/^ {2}/gm, '') : undefined;
  };
  const domainXml = block('domain');
  const inactive = block('inactiveDomain');
  if (domainXml) parsed.meta.domainXml = domainXml;
  if (inactive)
    parsed.meta.inactiveDomainXml = inactive
      .replace(/^<inactiveDomain\b/, '<domain')
      .replace(/<\/inactiveDomain>\n$/, '</domain>\n');
  return { meta: parsed.meta, active: parsed.active ?? false };
}

/** qemuSnapshotCreateXMLValidateDef's name rules (the name becomes a file name). */
export function checkSnapshotName(name: string): void {
  if (name.includes('/'))
    throw snapErr('XML_DETAIL', `invalid snapshot name '${name}': name can't contain '/'`);
  if (name.startsWith('.'))
    throw snapErr('XML_DETAIL', `invalid snapshot name '${name}': name can't start with '.'`);
}
