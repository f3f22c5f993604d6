// Builds the protocol facts (programs, constants, types, procedures) from a libvirt source tree
// and prints them as stable, reviewable JSON. See ../README.md for the format.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { candidateApiName, readFunctionBodies, readonlyFacts, readSyms } from './api-facts.mjs';
import { loadHeaderConstants } from './c-headers.mjs';
import { parseAnnotations, parseXdr } from './xdr-parser.mjs';

/** The three programs, in the order they are written out. */
export const PROGRAMS = /** @type {const} */ ([
  { id: 'REMOTE', file: 'src/remote/remote_protocol.x', structPrefix: 'remote' },
  { id: 'QEMU', file: 'src/remote/qemu_protocol.x', structPrefix: 'qemu' },
  { id: 'KEEPALIVE', file: 'src/rpc/virkeepaliveprotocol.x', structPrefix: 'keepalive' },
]);

/**
 * @typedef {import('./xdr-parser.mjs').RawType} RawType
 * @typedef {import('./xdr-parser.mjs').RawDefinition} RawDefinition
 * @typedef {import('./xdr-parser.mjs').ValueRef} ValueRef
 */

/** @param {string} src */
function libvirtVersion(src) {
  const m = /^project\(\s*'libvirt'\s*,\s*'c'\s*,\s*version:\s*'([^']+)'/m.exec(
    readFileSync(join(src, 'meson.build'), 'utf8'),
  );
  if (!m) throw new Error(`${src}/meson.build: no libvirt version found`);
  return /** @type {string} */ (m[1]);
}

/**
 * @param {string} src root of a libvirt source tree
 * @returns {Record<string, unknown>}
 */
export function buildFacts(src) {
  /** @type {{program: typeof PROGRAMS[number], defs: RawDefinition[]}[]} */
  const parsed = PROGRAMS.map((program) => ({
    program,
    defs: parseXdr(readFileSync(join(src, program.file), 'utf8'), program.file),
  }));
  const header = loadHeaderConstants(join(src, 'include/libvirt'));

  /** @type {Map<string, ValueRef>} */
  const constDefs = new Map();
  /** @type {Map<string, RawDefinition>} */
  const typeDefs = new Map();
  /** @type {Map<string, ValueRef>} enum members, usable as values (union arms) */
  const enumMembers = new Map();
  for (const { program, defs } of parsed) {
    for (const d of defs) {
      if (d.kind === 'const') {
        if (constDefs.has(d.name)) throw new Error(`${program.file}: constant ${d.name} defined twice`);
        constDefs.set(d.name, d.value);
        continue;
      }
      if (typeDefs.has(d.name)) throw new Error(`${program.file}: type ${d.name} defined twice`);
      typeDefs.set(d.name, d);
      if (d.kind === 'enum') {
        for (const m of d.members) {
          if (enumMembers.has(m.name) || constDefs.has(m.name)) {
            throw new Error(`${program.file}: ${m.name} defined twice`);
          }
          enumMembers.set(m.name, m.value);
        }
      }
    }
  }

  /** @type {Map<string, number>} constants taken from include/libvirt, reported for traceability */
  const headerUsed = new Map();
  /** @type {Map<string, number>} */
  const resolved = new Map();
  /**
   * @param {ValueRef} v
   * @param {string} context
   * @param {Set<string>} [seen]
   * @returns {number}
   */
  function resolve(v, context, seen = new Set()) {
    if ('literal' in v) return v.literal;
    const name = v.name;
    const hit = resolved.get(name);
    if (hit !== undefined) return hit;
    if (seen.has(name)) throw new Error(`${context}: ${name} refers to itself`);
    seen.add(name);
    const local = constDefs.get(name) ?? enumMembers.get(name);
    let value;
    if (local) value = resolve(local, context, seen);
    else {
      value = header(name);
      if (value === undefined) throw new Error(`${context}: unknown constant ${name}`);
      headerUsed.set(name, value);
    }
    resolved.set(name, value);
    return value;
  }

  /** @param {ValueRef | null | undefined} size @param {string} context */
  function sizeOf(size, context) {
    if (!size) return { max: null, maxName: null };
    return { max: resolve(size, context), maxName: 'name' in size ? size.name : null };
  }

  /**
   * @param {RawType} t
   * @param {string} context
   * @returns {Record<string, unknown>}
   */
  function typeOf(t, context) {
    switch (t.t) {
      case 'opaque':
        if (t.fixed) return { t: 'opaque', fixed: resolve(t.fixed, context) };
        return { t: 'opaque', ...sizeOf(t.size, context) };
      case 'string':
        return { t: 'string', ...sizeOf(t.size, context) };
      case 'array':
        return { t: 'array', of: typeOf(/** @type {RawType} */ (t.of), context), ...sizeOf(t.size, context) };
      case 'fixedArray':
        return {
          t: 'fixedArray',
          of: typeOf(/** @type {RawType} */ (t.of), context),
          len: resolve(/** @type {ValueRef} */ (t.fixed), context),
        };
      case 'optional':
        return { t: 'optional', of: typeOf(/** @type {RawType} */ (t.of), context) };
      case 'ref':
        if (!typeDefs.has(/** @type {string} */ (t.name)))
          throw new Error(`${context}: unknown type ${t.name}`);
        return { t: 'ref', name: t.name };
      default:
        return { t: t.t };
    }
  }

  /** @type {Record<string, unknown>} */
  const types = {};
  for (const name of [...typeDefs.keys()].sort()) {
    const d = /** @type {RawDefinition} */ (typeDefs.get(name));
    const ctx = `type ${name}`;
    if (d.kind === 'typedef') types[name] = { kind: 'typedef', type: typeOf(d.type, ctx) };
    else if (d.kind === 'struct') {
      types[name] = {
        kind: 'struct',
        fields: d.fields.map((f) => ({ name: f.name, type: typeOf(f.type, ctx) })),
      };
    } else if (d.kind === 'enum') {
      /** @type {Record<string, number>} */
      const values = {};
      for (const m of d.members) values[m.name] = resolve(m.value, ctx);
      types[name] = { kind: 'enum', values };
    } else if (d.kind === 'union') {
      if (d.default === null) {
        // 'default: void' cannot be told apart from "no default arm" in the output format.
        throw new Error(`${ctx}: 'default: void' is not representable`);
      }
      types[name] = {
        kind: 'union',
        discriminant: { name: d.discriminant.name, type: typeOf(d.discriminant.type, ctx) },
        cases: d.cases.map((c) => ({
          values: c.values.map((v) => resolve(v, ctx)),
          field: c.field ? { name: c.field.name, type: typeOf(c.field.type, ctx) } : null,
        })),
        default: d.default ? { name: d.default.name, type: typeOf(d.default.type, ctx) } : null,
      };
    }
  }

  /** @type {Record<string, number>} */
  const constants = {};
  for (const name of [...constDefs.keys()].sort()) {
    constants[name] = resolve(/** @type {ValueRef} */ (constDefs.get(name)), `const ${name}`);
  }

  /** @type {Record<string, {program: number, version: number}>} */
  const programs = {};
  for (const { id } of PROGRAMS) {
    const program = constants[`${id}_PROGRAM`];
    const version = constants[`${id}_PROTOCOL_VERSION`];
    if (program === undefined || version === undefined) throw new Error(`no ${id}_PROGRAM/_PROTOCOL_VERSION`);
    programs[id] = { program, version };
  }

  const syms = new Set([
    ...readSyms(join(src, 'src/libvirt_public.syms')),
    ...readSyms(join(src, 'src/libvirt_qemu.syms')),
  ]);
  /** @type {Map<string, string>} */
  const symsByLower = new Map();
  for (const name of syms) {
    const lower = name.toLowerCase();
    if (symsByLower.has(lower)) throw new Error(`${name} and ${symsByLower.get(lower)} differ only in case`);
    symsByLower.set(lower, name);
  }
  const cFiles = readdirSync(join(src, 'src'))
    .filter((f) => /^libvirt(-[a-z-]+)?\.c$/.test(f) && f !== 'libvirt-lxc.c' && f !== 'libvirt-admin.c')
    .sort()
    .map((f) => join(src, 'src', f));
  const bodies = readFunctionBodies(cFiles);

  /** @type {Record<string, unknown>[]} */
  const procedures = [];
  for (const { program, defs } of parsed) {
    const enumName = `${program.structPrefix}_procedure`;
    const procEnum = defs.find((d) => d.kind === 'enum' && d.name === enumName);
    if (procEnum?.kind !== 'enum') throw new Error(`${program.file}: no enum ${enumName}`);

    // gendispatch.pl pairs procedures with <prefix>_<name>_args/_ret/_msg structs by the name
    // lower-cased with its underscores removed.
    /** @type {Map<string, {args?: string, ret?: string, msg?: string}>} */
    const structs = new Map();
    const structRe = new RegExp(`^${program.structPrefix}_(.*)_(args|ret|msg)$`);
    for (const d of defs) {
      const m = d.kind === 'struct' ? structRe.exec(d.name) : null;
      if (!m) continue;
      const key = /** @type {string} */ (m[1]).toLowerCase().replace(/_/g, '');
      const role = /** @type {'args' | 'ret' | 'msg'} */ (m[2]);
      const entry = structs.get(key) ?? {};
      if (entry[role]) throw new Error(`${program.file}: ${d.name} and ${entry[role]} both match`);
      entry[role] = d.name;
      structs.set(key, entry);
    }

    /** @type {Set<number>} */
    const numbers = new Set();
    for (const m of procEnum.members) {
      const number = resolve(m.value, `${enumName}.${m.name}`);
      if (numbers.has(number)) throw new Error(`${program.file}: procedure number ${number} used twice`);
      numbers.add(number);
      const procPrefix = `${program.id}_PROC_`;
      if (!m.name.startsWith(procPrefix)) throw new Error(`${program.file}: ${m.name} lacks ${procPrefix}`);
      const key = m.name.slice(procPrefix.length).toLowerCase().replace(/_/g, '');
      const s = program.id === 'KEEPALIVE' ? {} : (structs.get(key) ?? {});
      const annotations = m.doc ? parseAnnotations(m.doc) : {};
      const priority = annotations.priority ?? 'low';
      if (priority !== 'high' && priority !== 'low') throw new Error(`${m.name}: bad @priority ${priority}`);

      let api = null;
      let ro = { forbidden: false, flagCheck: false, flags: /** @type {string[]} */ ([]) };
      if (program.id !== 'KEEPALIVE') {
        const candidate = candidateApiName(program.id, m.name);
        // gendispatch.pl's capitalisation fixups only cover what it generates; procedures with
        // '@generate: none' are hand-written against the real name (virDomainFDAssociate for
        // DOMAIN_FD_ASSOCIATE), so an exported name equal but for case counts as the API.
        api = syms.has(candidate) ? candidate : (symsByLower.get(candidate.toLowerCase()) ?? null);
        // Internal entry points (the migration steps, virConnectSupportsFeature...) live in the
        // same files and check read-only the same way, so they count even with api null.
        const body = bodies.get(api ?? candidate);
        if (body) ro = readonlyFacts(body);
      }
      /** @type {Record<string, unknown>} */
      const proc = {
        program: program.id,
        number,
        name: m.name,
        api,
        args: s.args ?? null,
        ret: s.ret ?? null,
        msg: s.msg ?? null,
        priority,
        annotations: sortKeys(annotations),
        readonlyForbidden: ro.forbidden,
      };
      if (ro.flagCheck) {
        proc.readonlyFlagCheck = true;
        /** @type {Record<string, number>} */
        const flags = {};
        for (const f of ro.flags) {
          const v = header(f);
          if (v === undefined) throw new Error(`${m.name}: unknown flag ${f}`);
          flags[f] = v;
        }
        proc.readonlyFlags = flags;
      }
      procedures.push(proc);
    }
  }
  procedures.sort(
    (a, b) =>
      PROGRAMS.findIndex((p) => p.id === a.program) - PROGRAMS.findIndex((p) => p.id === b.program) ||
      /** @type {number} */ (a.number) - /** @type {number} */ (b.number),
  );

  return {
    libvirt: libvirtVersion(src),
    programs,
    constants,
    headerConstants: sortKeys(Object.fromEntries(headerUsed)),
    types,
    procedures,
  };
}

/**
 * @template T
 * @param {Record<string, T>} o
 * @returns {Record<string, T>}
 */
function sortKeys(o) {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * JSON with two-space indentation, but any value whose one-line form fits in `width` columns
 * stays on one line, so a type descriptor or an annotation list reads as one line.
 * @param {unknown} value
 * @param {number} [width]
 */
export function stringifyFacts(value, width = 110) {
  /** @param {unknown} v @returns {string} */
  function flat(v) {
    if (Array.isArray(v)) return `[${v.map(flat).join(', ')}]`;
    if (v && typeof v === 'object') {
      return `{${Object.entries(v)
        .map(([k, x]) => `${JSON.stringify(k)}: ${flat(x)}`)
        .join(', ')}}`;
    }
    return JSON.stringify(v);
  }
  /**
   * @param {unknown} v
   * @param {string} indent
   * @param {number} used columns before v
   * @returns {string}
   */
  function pretty(v, indent, used) {
    const one = flat(v);
    if (used + one.length <= width || !v || typeof v !== 'object') return one;
    const inner = `${indent}  `;
    if (Array.isArray(v)) {
      if (!v.length) return '[]';
      return `[\n${v.map((x) => inner + pretty(x, inner, inner.length)).join(',\n')}\n${indent}]`;
    }
    const entries = Object.entries(v);
    if (!entries.length) return '{}';
    return `{\n${entries
      .map(([k, x]) => {
        const key = `${inner}${JSON.stringify(k)}: `;
        return key + pretty(x, inner, key.length);
      })
      .join(',\n')}\n${indent}}`;
  }
  return `${pretty(value, '', 0)}\n`;
}
