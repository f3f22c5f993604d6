// Integer constants from libvirt's public headers (include/libvirt/*.h): `# define NAME expr` and
// members of `typedef enum { ... }`. The .x files use a few of them (VIR_UUID_BUFLEN,
// VIR_SECURITY_*_BUFLEN, VIR_TYPED_PARAM_*), and the read-only flag checks name flags.
// Expressions are evaluated only when asked for, so macros we never need cannot break us.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Evaluates a C integer constant expression over + - * << >> | & ~ and parentheses, looking names
 * up with `lookup`. No eval: a small recursive-descent parser.
 * @param {string} expr
 * @param {(name: string) => number} lookup
 * @returns {number}
 */
export function evalCExpr(expr, lookup) {
  const tokens = expr.match(/0[xX][0-9a-fA-F]+[uUlL]*|[0-9]+[uUlL]*|[A-Za-z_]\w*|<<|>>|[-+*|&~()]/g) ?? [];
  if (tokens.join('') !== expr.replace(/\s+/g, '')) throw new Error(`cannot evaluate '${expr}'`);
  let i = 0;
  /** @returns {bigint} */
  function primary() {
    const t = tokens[i++];
    if (t === undefined) throw new Error(`cannot evaluate '${expr}': truncated`);
    if (t === '(') {
      const v = or();
      if (tokens[i++] !== ')') throw new Error(`cannot evaluate '${expr}': missing ')'`);
      return v;
    }
    if (t === '-') return -primary();
    if (t === '+') return primary();
    if (t === '~') return ~primary();
    if (/^[0-9]/.test(t)) return BigInt(t.replace(/[uUlL]+$/, ''));
    return BigInt(lookup(t));
  }
  /** @param {() => bigint} sub @param {Record<string, (a: bigint, b: bigint) => bigint>} ops */
  function binary(sub, ops) {
    return () => {
      let v = sub();
      for (;;) {
        const op = tokens[i];
        const f = op === undefined ? undefined : ops[op];
        if (!f) return v;
        i++;
        v = f(v, sub());
      }
    };
  }
  const mul = binary(primary, { '*': (a, b) => a * b });
  const add = binary(mul, { '+': (a, b) => a + b, '-': (a, b) => a - b });
  const shift = binary(add, { '<<': (a, b) => a << b, '>>': (a, b) => a >> b });
  const and = binary(shift, { '&': (a, b) => a & b });
  const or = binary(and, { '|': (a, b) => a | b });
  const v = or();
  if (i !== tokens.length) throw new Error(`cannot evaluate '${expr}': trailing '${tokens[i]}'`);
  return Number(v);
}

/**
 * Reads every header in `dir` and returns a resolver for integer constants.
 * @param {string} dir include/libvirt
 * @returns {(name: string) => number | undefined}
 */
export function loadHeaderConstants(dir) {
  /** @type {Map<string, {expr: string, prev: string | null}>} name -> raw expression; enum members
   * without '=' are the previous member + 1 */
  const raw = new Map();
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.h') || f.endsWith('.h.in'))
    .sort();
  for (const f of files) {
    const text = readFileSync(join(dir, f), 'utf8')
      .replace(/\/\*[\s\S]*?\*\//g, ' ')
      .replace(/\/\/[^\n]*/g, ' ');
    for (const m of text.matchAll(/^\s*#\s*define\s+([A-Za-z_]\w*)[ \t]+([^\n]+)$/gm)) {
      const [, name, expr] = /** @type {[string, string, string]} */ (/** @type {unknown} */ (m));
      if (!raw.has(name)) raw.set(name, { expr: expr.trim(), prev: null });
    }
    for (const m of text.matchAll(/typedef\s+enum\s*\w*\s*\{([\s\S]*?)\}/g)) {
      const body = /** @type {string} */ (m[1]).replace(/^\s*#.*$/gm, ' ');
      /** @type {string | null} */
      let prev = null;
      for (const item of body.split(',')) {
        const e = /^\s*([A-Za-z_]\w*)\s*(?:=\s*([\s\S]+?))?\s*$/.exec(item);
        if (!e) continue;
        const [, name, expr] = e;
        if (!name) continue;
        if (expr !== undefined) raw.set(name, { expr, prev: null });
        else raw.set(name, { expr: prev === null ? '0' : `${prev} + 1`, prev });
        prev = name;
      }
    }
  }
  /** @type {Map<string, number>} */
  const cache = new Map();
  /** @param {string} name @param {Set<string>} seen */
  function resolve(name, seen) {
    const hit = cache.get(name);
    if (hit !== undefined) return hit;
    const r = raw.get(name);
    if (!r) return undefined;
    if (seen.has(name)) throw new Error(`constant ${name} refers to itself`);
    seen.add(name);
    const v = evalCExpr(r.expr, (n) => {
      const x = resolve(n, seen);
      if (x === undefined) throw new Error(`unknown constant ${n} in the definition of ${name}`);
      return x;
    });
    cache.set(name, v);
    return v;
  }
  return (name) => resolve(name, new Set());
}
