// Facts about libvirt's public API entry points: which names are exported (libvirt_*.syms), how
// gendispatch.pl turns a procedure name into an API name, and whether an entry point refuses
// read-only connections (virCheckReadOnlyGoto) or only does so for some flags.

import { readFileSync } from 'node:fs';

/**
 * gendispatch.pl's fixup_name, applied to each capitalised word. The order and the anchoring
 * (some rules end in $, 'Pm', 'Scsi' and 'Nwfilter' do not) are libvirt's.
 * @type {[RegExp, string][]}
 */
const FIXUPS = [
  [/Nwfilter/, 'NWFilter'],
  [/Xml$/, 'XML'],
  [/Xml2$/, 'XML2'],
  [/Uri$/, 'URI'],
  [/Uuid$/, 'UUID'],
  [/Id$/, 'ID'],
  [/Mac$/, 'MAC'],
  [/Cpu$/, 'CPU'],
  [/Os$/, 'OS'],
  [/Nmi$/, 'NMI'],
  [/Pm/, 'PM'],
  [/Fstrim$/, 'FSTrim'],
  [/Fsfreeze$/, 'FSFreeze'],
  [/Fsthaw$/, 'FSThaw'],
  [/Fsinfo$/, 'FSInfo'],
  [/Iothread$/, 'IOThread'],
  [/Scsi/, 'SCSI'],
  [/Wwn$/, 'WWN'],
  [/Dhcp$/, 'DHCP'],
];

/**
 * DOMAIN_GET_XML_DESC -> DomainGetXMLDesc (gendispatch.pl name_to_ProcName).
 * @param {string} name procedure name without its PREFIX_PROC_
 */
export function procName(name) {
  return name
    .split('_')
    .map((w) => {
      let e = w.toLowerCase();
      e = e.charAt(0).toUpperCase() + e.slice(1);
      for (const [re, to] of FIXUPS) e = e.replace(re, to);
      return e;
    })
    .join('');
}

/**
 * The API name gendispatch.pl would call: vir + ProcName, with "Qemu" inserted after
 * (Connect)Domain for the QEMU program (its aclsym rule `s/(vir(Connect)?Domain)/${1}Qemu/`).
 * @param {'REMOTE' | 'QEMU'} program
 * @param {string} constName e.g. REMOTE_PROC_DOMAIN_GET_INFO
 */
export function candidateApiName(program, constName) {
  const prefix = `${program}_PROC_`;
  if (!constName.startsWith(prefix)) throw new Error(`${constName} does not start with ${prefix}`);
  const api = `vir${procName(constName.slice(prefix.length))}`;
  return program === 'QEMU' ? api.replace(/^(vir(Connect)?Domain)/, '$1Qemu') : api;
}

/**
 * Exported symbol names of a libvirt .syms version script.
 * @param {string} file
 * @returns {Set<string>}
 */
export function readSyms(file) {
  const text = readFileSync(file, 'utf8').replace(/#[^\n]*/g, '');
  const out = new Set();
  for (const m of text.matchAll(/^\s*(vir\w+)\s*;/gm)) out.add(/** @type {string} */ (m[1]));
  return out;
}

/**
 * Bodies of the functions defined in libvirt's C sources, keyed by name. libvirt's style puts
 * the name at the start of a line and the braces of a function body in column 0.
 * @param {string[]} files
 * @returns {Map<string, string>}
 */
export function readFunctionBodies(files) {
  /** @type {Map<string, string>} */
  const bodies = new Map();
  for (const file of files) {
    const lines = readFileSync(file, 'utf8').split('\n');
    for (let i = 0; i < lines.length; i++) {
      const m = /^(vir\w+)\(/.exec(lines[i] ?? '');
      if (!m) continue;
      let j = i;
      while (j < lines.length && lines[j] !== '{' && !/;\s*$/.test(lines[j] ?? '')) j++;
      if (lines[j] !== '{') continue; // a prototype, not a definition
      let k = j + 1;
      while (k < lines.length && lines[k] !== '}') k++;
      const name = /** @type {string} */ (m[1]);
      if (bodies.has(name)) throw new Error(`${file}:${i + 1}: ${name} defined twice`);
      bodies.set(name, lines.slice(j, k + 1).join('\n'));
      i = k;
    }
  }
  return bodies;
}

/**
 * How an entry point treats read-only connections.
 * - forbidden: it calls virCheckReadOnlyGoto, so any call on a read-only connection fails with
 *   VIR_ERR_OPERATION_DENIED "operation forbidden: read only access prevents <function>".
 * - flagCheck: it tests `conn->flags & VIR_CONNECT_RO` itself, together with some of its own
 *   flags (the flag names are returned), failing only when those are set.
 * @param {string} body
 * @returns {{forbidden: boolean, flagCheck: boolean, flags: string[]}}
 */
export function readonlyFacts(body) {
  /** @type {string[]} */
  const flags = [];
  let flagCheck = false;
  // virCheckReadOnlyGoto under an `if` on some of the call's own arguments refuses only then
  // (virDomainGetVcpusFlags with VIR_DOMAIN_VCPU_GUEST, virDomainInterfaceAddresses from the agent)
  let forbidden = false;
  for (const m of body.matchAll(/^(.*)\n\s*virCheckReadOnlyGoto\s*\(/gm)) {
    const guard = /^\s*if\s*\((.*)\)\s*$/.exec(/** @type {string} */ (m[1]));
    if (!guard) {
      forbidden = true;
      continue;
    }
    flagCheck = true;
    for (const f of (guard[1] ?? '').matchAll(/\bVIR_[A-Z0-9_]+\b/g))
      if (!flags.includes(f[0])) flags.push(f[0]);
  }
  // The conditional form: if ((conn->flags & VIR_CONNECT_RO) && (flags & (A | B))) { ... }
  for (const m of body.matchAll(/if\s*\(([^{]*\bVIR_CONNECT_RO\b[^{]*)\)\s*\{/g)) {
    flagCheck = true;
    const cond = /** @type {string} */ (m[1]);
    for (const f of cond.matchAll(/\bVIR_[A-Z0-9_]+\b/g)) {
      if (f[0] !== 'VIR_CONNECT_RO' && !flags.includes(f[0])) flags.push(f[0]);
    }
  }
  return { forbidden, flagCheck, flags };
}
