/**
 * libvirt's storage pool XML (virStoragePoolDefParseXML / virStoragePoolDefFormat): parse into a
 * {@link PoolDef} and print it canonically, as `pool-dumpxml` prints it after a define.
 */
import { randomUUID } from 'node:crypto';
import { parseXml, virReportError, type XmlElement } from '@qvirt/core';
import { POOL_TYPE_INFO, POOL_TYPES, type PoolType } from './formats.js';
import { escapeXml, sanitizePath } from './util.js';

export interface Perms {
  mode?: number;
  uid?: number;
  gid?: number;
  label?: string;
}

export interface PoolSource {
  hosts: Array<{ name: string; port?: number }>;
  devices: Array<{ path: string; partSeparator?: string }>;
  dir?: string;
  name?: string;
  format?: string;
  protocolVer?: string;
  vendor?: string;
  product?: string;
}

export interface PoolDef {
  type: PoolType;
  name: string;
  uuid: string;
  capacity: number;
  allocation: number;
  available: number;
  cow?: 'yes' | 'no';
  source: PoolSource;
  target: { path?: string; perms: Perms };
}

const xmlErr = (msg: string) => virReportError('XML_ERROR', 'storage', msg);

export const child = (el: XmlElement, name: string): XmlElement | undefined =>
  el.children.find((c): c is XmlElement => typeof c !== 'string' && c.name === name);
export const children = (el: XmlElement, name: string): XmlElement[] =>
  el.children.filter((c): c is XmlElement => typeof c !== 'string' && c.name === name);
/** string(./a/b): the text of the first match, undefined when absent. */
export function textAt(el: XmlElement, ...names: string[]): string | undefined {
  let cur: XmlElement | undefined = el;
  for (const n of names) {
    cur = cur && child(cur, n);
    if (!cur) return undefined;
  }
  const parts: string[] = [];
  const walk = (e: XmlElement) => {
    for (const c of e.children) typeof c === 'string' ? parts.push(c) : walk(c);
  };
  walk(cur!);
  return parts.join('');
}

/** virStorageDefParsePerms. */
export function parsePerms(el: XmlElement | undefined, defaultMode?: number): Perms {
  const perms: Perms = {};
  if (defaultMode !== undefined) perms.mode = defaultMode;
  if (!el) return perms;
  const mode = textAt(el, 'mode');
  if (mode !== undefined) {
    if (!/^[0-7]+$/.test(mode.trim())) throw xmlErr('malformed octal mode');
    perms.mode = Number.parseInt(mode.trim(), 8);
  }
  const id = (name: 'owner' | 'group') => {
    const v = textAt(el, name);
    if (v === undefined) return undefined;
    const n = Number.parseInt(v.trim(), 10);
    if (!/^-?\d+$/.test(v.trim()) || n < -1) throw xmlErr(`malformed ${name} element`);
    return n === -1 ? undefined : n;
  };
  const uid = id('owner');
  if (uid !== undefined) perms.uid = uid;
  const gid = id('group');
  if (gid !== undefined) perms.gid = gid;
  const label = textAt(el, 'label');
  if (label !== undefined) perms.label = label;
  return perms;
}

export function formatPerms(p: Perms, pad: string): string {
  if (p.mode === undefined && p.uid === undefined && p.gid === undefined && p.label === undefined) return '';
  let out = `${pad}<permissions>\n`;
  if (p.mode !== undefined) out += `${pad}  <mode>0${p.mode.toString(8)}</mode>\n`;
  if (p.uid !== undefined) out += `${pad}  <owner>${p.uid}</owner>\n`;
  if (p.gid !== undefined) out += `${pad}  <group>${p.gid}</group>\n`;
  if (p.label !== undefined) out += `${pad}  <label>${escapeXml(p.label)}</label>\n`;
  return `${out}${pad}</permissions>\n`;
}

/** virXMLPropEnum's wording for the pool's type attribute. */
function poolType(root: XmlElement): PoolType {
  const t = root.attributes.type;
  if (t === undefined) throw xmlErr(`Missing required attribute 'type' in element '${root.name}'`);
  if (!(POOL_TYPES as readonly string[]).includes(t)) {
    throw xmlErr(`Invalid value for attribute 'type' in element '${root.name}': '${t}'.`);
  }
  return t as PoolType;
}

/** virStoragePoolDefParseSource (the parts the pool type has). */
export function parsePoolSource(type: PoolType, el: XmlElement | undefined): PoolSource {
  const info = POOL_TYPE_INFO[type];
  const src: PoolSource = { hosts: [], devices: [] };
  if (!el) {
    if (info.sourceFormats) src.format = info.defaultSourceFormat;
    return src;
  }
  const name = textAt(el, 'name');
  if (name !== undefined) src.name = name;
  const format = child(el, 'format')?.attributes.type;
  if (info.sourceFormats) {
    if (format === undefined) src.format = info.defaultSourceFormat;
    else if (!info.sourceFormats.includes(format)) {
      throw virReportError('CONFIG_UNSUPPORTED', 'storage', `unknown pool format type ${format}`);
    } else src.format = format;
  }
  for (const h of children(el, 'host')) {
    const hn = h.attributes.name;
    if (!hn) throw xmlErr('missing storage pool host name');
    const host: { name: string; port?: number } = { name: hn };
    if (h.attributes.port) {
      const port = Number(h.attributes.port);
      if (!Number.isInteger(port) || port < 0) throw xmlErr(`Invalid port number: ${h.attributes.port}`);
      host.port = port;
    }
    src.hosts.push(host);
  }
  for (const d of children(el, 'device')) {
    const p = d.attributes.path;
    if (!p) throw xmlErr('missing storage pool source device path');
    const dev: { path: string; partSeparator?: string } = { path: p };
    if (d.attributes.part_separator) dev.partSeparator = d.attributes.part_separator;
    src.devices.push(dev);
  }
  const dir = child(el, 'dir')?.attributes.path;
  if (dir !== undefined) src.dir = sanitizePath(dir);
  const ver = child(el, 'protocol')?.attributes.ver;
  if (ver !== undefined) src.protocolVer = ver;
  const vendor = child(el, 'vendor')?.attributes.name;
  if (vendor !== undefined) src.vendor = vendor;
  const product = child(el, 'product')?.attributes.name;
  if (product !== undefined) src.product = product;
  return src;
}

/** virStoragePoolDefParseString. */
export function parsePoolXml(xml: string): PoolDef {
  const root = parseXml(xml, '(storage_pool_definition)');
  if (root.name !== 'pool') {
    throw xmlErr(`unexpected root element <${root.name}>, expecting <pool>`);
  }
  const type = poolType(root);
  const info = POOL_TYPE_INFO[type];
  const source = parsePoolSource(type, child(root, 'source'));
  let name = textAt(root, 'name');
  if (name === undefined && info.name) name = source.name;
  if (name === undefined) throw xmlErr('missing pool source name element');
  if (name.includes('/')) throw xmlErr(`name ${name} cannot contain '/'`);
  let uuid = textAt(root, 'uuid');
  if (uuid === undefined) uuid = randomUUID();
  else {
    const hex = uuid.trim().replace(/-/g, '');
    if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw xmlErr('malformed uuid element');
    uuid =
      `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`.toLowerCase();
  }
  if (info.host && source.hosts.length === 0) throw xmlErr('missing storage pool source host name');
  if (info.dir && source.dir === undefined) throw xmlErr('missing storage pool source path');
  if (info.name && source.name === undefined) source.name = name;
  if (
    info.device &&
    type !== 'logical' &&
    type !== 'zfs' &&
    type !== 'iscsi' &&
    source.devices.length === 0
  ) {
    throw xmlErr('missing storage pool source device name');
  }
  const target: PoolDef['target'] = { perms: {} };
  if (type !== 'rbd' && type !== 'sheepdog' && type !== 'gluster' && type !== 'iscsi-direct') {
    // a volume group's and a zpool's device directory is fixed, whatever the XML says
    let p = textAt(root, 'target', 'path');
    if (type === 'logical') p = `/dev/${source.name}`;
    if (type === 'zfs') p = `/dev/zvol/${source.name}`;
    if (p === undefined) throw xmlErr('missing storage pool target path');
    target.path = sanitizePath(p);
    const permsEl = child(root, 'target') && child(child(root, 'target')!, 'permissions');
    target.perms = parsePerms(permsEl);
  }
  const def: PoolDef = { type, name, uuid, capacity: 0, allocation: 0, available: 0, source, target };
  const cow = child(root, 'features') && child(child(root, 'features')!, 'cow')?.attributes.state;
  if (cow === 'yes' || cow === 'no') def.cow = cow;
  return def;
}

/** virStoragePoolSourceFormat. */
export function formatPoolSource(type: PoolType, src: PoolSource, pad: string): string {
  const info = POOL_TYPE_INFO[type];
  const p = `${pad}  `;
  let out = `${pad}<source>\n`;
  if (info.host) {
    for (const h of src.hosts)
      out += `${p}<host name='${escapeXml(h.name)}'${h.port ? ` port='${h.port}'` : ''}/>\n`;
  }
  if (info.device) {
    for (const d of src.devices) {
      out += `${p}<device path='${escapeXml(d.path)}'${d.partSeparator ? ` part_separator='${d.partSeparator}'` : ''}/>\n`;
    }
  }
  if (info.dir && src.dir !== undefined) out += `${p}<dir path='${escapeXml(src.dir)}'/>\n`;
  if (info.name && src.name !== undefined) out += `${p}<name>${escapeXml(src.name)}</name>\n`;
  if (info.sourceFormats) out += `${p}<format type='${src.format ?? info.defaultSourceFormat}'/>\n`;
  if (src.protocolVer !== undefined) out += `${p}<protocol ver='${escapeXml(src.protocolVer)}'/>\n`;
  if (src.vendor !== undefined) out += `${p}<vendor name='${escapeXml(src.vendor)}'/>\n`;
  if (src.product !== undefined) out += `${p}<product name='${escapeXml(src.product)}'/>\n`;
  return `${out}${pad}</source>\n`;
}

/** virStoragePoolDefFormat. */
export function formatPoolXml(def: PoolDef): string {
  let out = `<pool type='${def.type}'>\n`;
  out += `  <name>${escapeXml(def.name)}</name>\n`;
  out += `  <uuid>${def.uuid}</uuid>\n`;
  out += `  <capacity unit='bytes'>${def.capacity}</capacity>\n`;
  out += `  <allocation unit='bytes'>${def.allocation}</allocation>\n`;
  out += `  <available unit='bytes'>${def.available}</available>\n`;
  if (def.cow) out += `  <features>\n    <cow state='${def.cow}'/>\n  </features>\n`;
  out += formatPoolSource(def.type, def.source, '  ');
  if (def.target.path !== undefined) {
    out += '  <target>\n';
    out += `    <path>${escapeXml(def.target.path)}</path>\n`;
    out += formatPerms(def.target.perms, '    ');
    out += '  </target>\n';
  }
  return `${out}</pool>\n`;
}
