/**
 * libvirt's storage volume XML (virStorageVolDefParseXML / virStorageVolDefFormat). What the XML
 * carries in is the request (name, capacity, allocation, format, backing store, permissions);
 * what is printed is the volume as refresh found it.
 */
import { parseXml, virReportError, type XmlElement } from '@qvirt/core';
import { POOL_TYPE_INFO, type PoolType } from './formats.js';
import { child, formatPerms, type Perms, parsePerms, textAt } from './pool-xml.js';
import { escapeXml, scaleSize } from './util.js';

/** virStorageVolType names by number. */
export const VOL_TYPES = ['file', 'block', 'dir', 'network', 'netdir', 'ploop'] as const;
export type VolType = (typeof VOL_TYPES)[number];

export interface VolTarget {
  path?: string;
  format?: string;
  perms: Perms;
  timestamps?: { atime: string; mtime: string; ctime: string; btime: string };
  compat?: string;
  clusterSize?: number;
  nocow?: boolean;
  features?: string[];
  encryption?: VolEncryption;
}

/** `<encryption format=…>` with its `<secret type= uuid=|usage=/>`s (virStorageEncryption). */
export interface VolEncryption {
  format: string;
  secrets: Array<{ type: string; uuid?: string; usage?: string }>;
}

export interface VolDef {
  name: string;
  key?: string;
  type: VolType;
  capacity: number;
  allocation: number;
  /** The XML gave an allocation (else it follows the capacity). */
  hasAllocation: boolean;
  /** Given no capacity (vol-create-from may). */
  hasCapacity: boolean;
  physical?: number;
  target: VolTarget;
  backingStore?: { path: string; format?: string; perms: Perms };
  /** The encryption secret's value while the volume is created (never stored or printed). */
  passphrase?: Uint8Array;
  /** LVM extents (<source><device><extent/>). */
  extents?: Array<{ path: string; start: number; end: number }>;
}

const cfgErr = (msg: string) => virReportError('CONFIG_UNSUPPORTED', 'storage', msg);

function volFormat(type: PoolType, given: string | undefined): string | undefined {
  const info = POOL_TYPE_INFO[type];
  if (!info.volFormats) return undefined;
  if (given === undefined) return info.defaultVolFormat;
  if (!info.volFormats.includes(given)) throw cfgErr(`unknown volume format type ${given}`);
  return given;
}

/** virStorageVolDefParse; `optionalCapacity` for vol-create-from (VIR_VOL_XML_PARSE_OPT_CAPACITY). */
export function parseVolXml(
  poolType: PoolType,
  xml: string,
  opts: { optionalCapacity?: boolean } = {},
): VolDef {
  const root = parseXml(xml, '(storage_volume_definition)');
  if (root.name !== 'volume') {
    throw virReportError(
      'XML_ERROR',
      'storage',
      `unexpected root element <${root.name}>, expecting <volume>`,
    );
  }
  const name = textAt(root, 'name');
  if (name === undefined) throw virReportError('XML_ERROR', 'storage', 'missing volume name element');
  const def: VolDef = {
    name,
    type: 'file',
    capacity: 0,
    allocation: 0,
    hasAllocation: false,
    hasCapacity: false,
    target: { perms: {} },
  };
  const key = textAt(root, 'key');
  if (key !== undefined) def.key = key;
  const type = root.attributes.type;
  if (type !== undefined) {
    if (!(VOL_TYPES as readonly string[]).includes(type)) throw cfgErr(`unknown volume type '${type}'`);
    def.type = type as VolType;
  }
  const backing = textAt(root, 'backingStore', 'path');
  if (backing !== undefined) {
    const bs = child(root, 'backingStore')!;
    def.backingStore = {
      path: backing,
      format: volFormat(poolType, child(bs, 'format')?.attributes.type),
      perms: parsePerms(child(bs, 'permissions')),
    };
  }
  const cap = child(root, 'capacity');
  if (cap) {
    def.capacity = scaleSize(textAt(root, 'capacity') ?? '', cap.attributes.unit);
    def.hasCapacity = true;
  } else if (!(opts.optionalCapacity && def.backingStore) && !opts.optionalCapacity) {
    throw virReportError('XML_ERROR', 'storage', 'missing capacity element');
  }
  const alloc = child(root, 'allocation');
  if (alloc) {
    def.allocation = scaleSize(textAt(root, 'allocation') ?? '', alloc.attributes.unit, 'allocation');
    def.hasAllocation = true;
  } else def.allocation = def.capacity;
  const t = child(root, 'target');
  const path = textAt(root, 'target', 'path');
  if (path !== undefined) def.target.path = path;
  def.target.format = volFormat(poolType, t && child(t, 'format')?.attributes.type);
  def.target.perms = parsePerms(t && child(t, 'permissions'));
  if (t) {
    const enc = child(t, 'encryption');
    if (enc) {
      const format = enc.attributes.format;
      if (format !== 'default' && format !== 'qcow' && format !== 'luks') {
        throw virReportError(
          'XML_ERROR',
          'storage',
          `unknown volume encryption format type ${format ?? '(null)'}`,
        );
      }
      def.target.encryption = {
        format,
        secrets: enc.children
          .filter((c): c is XmlElement => typeof c !== 'string' && c.name === 'secret')
          .map((c) => ({
            type: c.attributes.type ?? 'passphrase',
            ...(c.attributes.uuid ? { uuid: c.attributes.uuid } : {}),
            ...(c.attributes.usage ? { usage: c.attributes.usage } : {}),
          })),
      };
    }
    const compat = textAt(t, 'compat');
    if (compat !== undefined) {
      if (!/^\d+\.\d+$/.test(compat)) throw cfgErr(`forbidden characters in 'compat' attribute`);
      def.target.compat = compat;
    }
    if (child(t, 'nocow')) def.target.nocow = true;
    const cs = child(t, 'clusterSize');
    if (cs)
      def.target.clusterSize = scaleSize(textAt(t, 'clusterSize') ?? '', cs.attributes.unit, 'clusterSize');
    const feats = child(t, 'features');
    if (feats) {
      def.target.compat ??= '1.1';
      def.target.features = [];
      for (const f of feats.children) {
        if (typeof f === 'string') continue;
        if (f.name !== 'lazy_refcounts' && f.name !== 'extended_l2')
          throw cfgErr(`unsupported feature ${f.name}`);
        def.target.features.push(f.name);
      }
    }
  }
  return def;
}

function formatTarget(
  poolType: PoolType,
  t: VolTarget | NonNullable<VolDef['backingStore']>,
  tag: string,
): string {
  let out = `  <${tag}>\n`;
  if (t.path !== undefined) out += `    <path>${escapeXml(t.path)}</path>\n`;
  if (POOL_TYPE_INFO[poolType].volFormats) out += `    <format type='${t.format ?? 'raw'}'/>\n`;
  out += formatPerms(t.perms, '    ');
  if ('timestamps' in t && t.timestamps) {
    out += '    <timestamps>\n';
    for (const k of ['atime', 'mtime', 'ctime', 'btime'] as const)
      out += `      <${k}>${t.timestamps[k]}</${k}>\n`;
    out += '    </timestamps>\n';
  }
  if ('encryption' in t && t.encryption) {
    out += `    <encryption format='${t.encryption.format}'>\n`;
    for (const sec of t.encryption.secrets) {
      const which = sec.uuid ? ` uuid='${escapeXml(sec.uuid)}'` : ` usage='${escapeXml(sec.usage ?? '')}'`;
      out += `      <secret type='${escapeXml(sec.type)}'${which}/>\n`;
    }
    out += '    </encryption>\n';
  }
  if ('compat' in t && t.compat !== undefined) out += `    <compat>${escapeXml(t.compat)}</compat>\n`;
  if ('clusterSize' in t && t.clusterSize)
    out += `    <clusterSize unit='B'>${t.clusterSize}</clusterSize>\n`;
  if ('features' in t && t.features) {
    if (t.features.length === 0) out += '    <features/>\n';
    else out += `    <features>\n${t.features.map((f) => `      <${f}/>\n`).join('')}    </features>\n`;
  }
  return `${out}  </${tag}>\n`;
}

/** virStorageVolDefFormat. */
export function formatVolXml(poolType: PoolType, def: VolDef): string {
  let out = `<volume type='${def.type}'>\n`;
  out += `  <name>${escapeXml(def.name)}</name>\n`;
  if (def.key !== undefined) out += `  <key>${escapeXml(def.key)}</key>\n`;
  if (def.extents?.length) {
    out += '  <source>\n';
    let cur: string | undefined;
    for (const e of def.extents) {
      if (e.path !== cur) {
        if (cur !== undefined) out += '    </device>\n';
        out += `    <device path='${escapeXml(e.path)}'>\n`;
        cur = e.path;
      }
      out += `      <extent start='${e.start}' end='${e.end}'/>\n`;
    }
    out += '    </device>\n  </source>\n';
  }
  out += `  <capacity unit='bytes'>${def.capacity}</capacity>\n`;
  out += `  <allocation unit='bytes'>${def.allocation}</allocation>\n`;
  if (def.physical) out += `  <physical unit='bytes'>${def.physical}</physical>\n`;
  out += formatTarget(poolType, def.target, 'target');
  if (def.backingStore) out += formatTarget(poolType, def.backingStore, 'backingStore');
  return `${out}</volume>\n`;
}
