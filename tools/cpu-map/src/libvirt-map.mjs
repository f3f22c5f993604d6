// Reads libvirt's x86 CPU map (src/cpu_map/index.xml and the files it includes) the way
// cpu_map.c and cpu_x86.c load it: per file vendors, then features, then models, in include
// order; a model starts from its ancestor (`<model name='…'/>`: vendor, signatures, features),
// its own `<signature>`s replace the inherited ones, its `<vendor>` replaces the inherited one,
// its `<feature>`s are added unless `removed='yes'`.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseXml } from './xml.mjs';

/** @typedef {import('./xml.mjs').XmlNode} XmlNode */
/** @typedef {'eax' | 'ebx' | 'ecx' | 'edx'} Reg */
/**
 * @typedef {{ name: string, string: string }} Vendor
 * @typedef {{ leaf: number, subleaf: number, register: Reg, bit: number }} CpuidBit
 * @typedef {{ index: number, register: 'eax' | 'edx', bit: number }} MsrBit
 * @typedef {{ name: string, cpuid?: CpuidBit, msr?: MsrBit, migratable?: false,
 *             aliases?: { name: string, source: string }[] }} Feature
 * @typedef {{ family: number, model: number, stepping?: string }} Signature
 * @typedef {{ name: string, vendor?: string, decode: { host: boolean, guest: boolean },
 *             signatures: Signature[], features: string[], removedFeatures?: string[] }} Model
 * @typedef {{ vendors: Vendor[], features: Feature[], models: Model[] }} X86Map
 */

/** @param {string | undefined} v @param {string} what */
function uint(v, what) {
  if (v === undefined || !/^(0x[0-9a-fA-F]+|\d+)$/.test(v)) throw new Error(`invalid ${what} '${v}'`);
  return Number(v);
}

/** The single set bit of a mask (the map gives every feature exactly one bit). */
function singleBit(/** @type {number} */ mask, /** @type {string} */ what) {
  if (mask === 0 || (mask & (mask - 1)) !== 0)
    throw new Error(`${what}: expected exactly one bit, got 0x${mask.toString(16)}`);
  return 31 - Math.clz32(mask);
}

/**
 * One feature element: its `<cpuid>` or `<msr>` bit and its aliases.
 * @param {XmlNode} node @param {string} file @returns {Feature}
 */
function parseFeature(node, file) {
  const name = node.attrs.name;
  if (!name) throw new Error(`${file}: feature without a name`);
  const data = node.children.filter((c) => c.name !== 'alias');
  if (data.length !== 1)
    throw new Error(`${file}: feature ${name} has ${data.length} data items, expected 1`);
  const item = /** @type {XmlNode} */ (data[0]);
  /** @type {Feature} */
  const feature = { name };
  const where = `${file}: feature ${name}`;
  if (item.name === 'cpuid') {
    const regs = /** @type {Reg[]} */ (['eax', 'ebx', 'ecx', 'edx']).filter(
      (r) => uint(item.attrs[r] ?? '0', where) !== 0,
    );
    if (regs.length !== 1) throw new Error(`${where}: expected one register bit`);
    const register = /** @type {Reg} */ (regs[0]);
    feature.cpuid = {
      leaf: uint(item.attrs.eax_in, `${where} eax_in`),
      subleaf: uint(item.attrs.ecx_in ?? '0', `${where} ecx_in`),
      register,
      bit: singleBit(uint(item.attrs[register], where), where),
    };
  } else if (item.name === 'msr') {
    const regs = /** @type {('eax' | 'edx')[]} */ (['eax', 'edx']).filter(
      (r) => uint(item.attrs[r], where) !== 0,
    );
    if (regs.length !== 1) throw new Error(`${where}: expected one register bit`);
    const register = /** @type {'eax' | 'edx'} */ (regs[0]);
    feature.msr = {
      index: uint(item.attrs.index, `${where} index`),
      register,
      bit: singleBit(uint(item.attrs[register], where), where),
    };
  } else {
    throw new Error(`${where}: unknown data element <${item.name}>`);
  }
  if (node.attrs.migratable === 'no') feature.migratable = false;
  const aliases = node.children
    .filter((c) => c.name === 'alias')
    .map((c) => ({ name: c.attrs.name ?? '', source: c.attrs.source ?? '' }));
  if (aliases.length) feature.aliases = aliases;
  return feature;
}

/**
 * @param {XmlNode} node @param {string} file @param {Map<string, Model>} models
 * @param {Map<string, Feature>} features @param {Map<string, Vendor>} vendors @returns {Model}
 */
function parseModel(node, file, models, features, vendors) {
  const name = /** @type {string} */ (node.attrs.name);
  const where = `${file}: model ${name}`;
  if (models.has(name)) throw new Error(`${where}: defined twice`);
  const decode = node.children.find((c) => c.name === 'decode');
  if (!decode) throw new Error(`${where}: missing decode element`);
  const onOff = (/** @type {string | undefined} */ v) => {
    if (v !== 'on' && v !== 'off') throw new Error(`${where}: invalid decode value '${v}'`);
    return v === 'on';
  };
  /** @type {Set<string>} */
  const have = new Set();
  /** @type {Model} */
  const model = {
    name,
    decode: { host: onOff(decode.attrs.host), guest: onOff(decode.attrs.guest) },
    signatures: [],
    features: [],
  };
  const ancestorEl = node.children.find((c) => c.name === 'model');
  if (ancestorEl) {
    const ancestor = models.get(ancestorEl.attrs.name ?? '');
    if (!ancestor) throw new Error(`${where}: ancestor model ${ancestorEl.attrs.name} not found`);
    if (ancestor.vendor) model.vendor = ancestor.vendor;
    model.signatures = ancestor.signatures.map((s) => ({ ...s }));
    for (const f of ancestor.features) have.add(f);
  }
  const sigs = node.children.filter((c) => c.name === 'signature');
  if (sigs.length) {
    model.signatures = sigs.map((s) => {
      const family = uint(s.attrs.family, `${where} signature family`);
      if (family === 0) throw new Error(`${where}: invalid signature family`);
      /** @type {Signature} */
      const sig = { family, model: uint(s.attrs.model, `${where} signature model`) };
      if (s.attrs.stepping !== undefined) sig.stepping = s.attrs.stepping;
      return sig;
    });
  }
  const vendorEl = node.children.find((c) => c.name === 'vendor');
  if (vendorEl) {
    if (!vendors.has(vendorEl.attrs.name ?? ''))
      throw new Error(`${where}: unknown vendor ${vendorEl.attrs.name}`);
    model.vendor = vendorEl.attrs.name;
  }
  /** @type {string[]} */
  const removed = [];
  for (const f of node.children.filter((c) => c.name === 'feature')) {
    const fname = f.attrs.name ?? '';
    if (!features.has(fname)) throw new Error(`${where}: feature ${fname} not found`);
    if (f.attrs.removed === 'yes') removed.push(fname);
    else have.add(fname);
  }
  // A model is a set of CPUID bits in libvirt: list its features in the map's order.
  model.features = [...features.keys()].filter((f) => have.has(f));
  // stable key order in the generated file
  return {
    name,
    ...(model.vendor ? { vendor: model.vendor } : {}),
    decode: model.decode,
    signatures: model.signatures,
    features: model.features,
    ...(removed.length ? { removedFeatures: removed } : {}),
  };
}

/**
 * Loads the x86 part of a CPU map directory (libvirt's src/cpu_map).
 * @param {string} dir
 * @returns {X86Map}
 */
export function loadX86Map(dir) {
  /** @type {Map<string, Vendor>} */
  const vendors = new Map();
  /** @type {Map<string, Feature>} */
  const features = new Map();
  /** @type {Map<string, Model>} */
  const models = new Map();
  /** @param {XmlNode} node @param {string} file */
  const load = (node, file) => {
    for (const v of node.children.filter((c) => c.name === 'vendor')) {
      const { name, string } = v.attrs;
      if (!name || !string) throw new Error(`${file}: vendor without name or string`);
      if (string.length !== 12) throw new Error(`${file}: invalid CPU vendor string '${string}'`);
      if (vendors.has(name)) throw new Error(`${file}: CPU vendor ${name} already defined`);
      vendors.set(name, { name, string });
    }
    for (const f of node.children.filter((c) => c.name === 'feature')) {
      const feature = parseFeature(f, file);
      if (features.has(feature.name)) throw new Error(`${file}: CPU feature ${feature.name} already defined`);
      features.set(feature.name, feature);
    }
    for (const m of node.children.filter((c) => c.name === 'model')) {
      const model = parseModel(m, file, models, features, vendors);
      models.set(model.name, model);
    }
  };
  const index = parseXml(readFileSync(join(dir, 'index.xml'), 'utf8'), 'index.xml');
  const arch = index.children.find((c) => c.name === 'arch' && c.attrs.name === 'x86');
  if (!arch) throw new Error('index.xml: cannot find CPU map for x86 architecture');
  load(arch, 'index.xml');
  for (const inc of arch.children.filter((c) => c.name === 'include')) {
    const file = inc.attrs.filename;
    if (!file) throw new Error("index.xml: Missing 'filename' in CPU map include");
    load(parseXml(readFileSync(join(dir, file), 'utf8'), file), file);
  }
  return { vendors: [...vendors.values()], features: [...features.values()], models: [...models.values()] };
}
