// A parser for the XDR language (RFC 4506 section 6) as libvirt's .x files use it, plus the
// rpcgen extensions they rely on (char, short, bool, '%' pass-through lines). It keeps the doc
// comments in front of enum members, because libvirt puts each procedure's @annotations there.

/**
 * @typedef {{kind: 'comment', text: string, line: number}
 *   | {kind: 'ident', text: string, line: number}
 *   | {kind: 'number', text: string, value: number, line: number}
 *   | {kind: 'punct', text: string, line: number}} Token
 *
 * A size or value as written: a literal, or a name resolved later.
 * @typedef {{literal: number} | {name: string}} ValueRef
 *
 * Unresolved type: sizes still ValueRefs.
 * @typedef {{t: string, of?: RawType, name?: string, size?: ValueRef | null, fixed?: ValueRef}} RawType
 * @typedef {{name: string, type: RawType}} RawDecl
 * @typedef {{name: string, value: ValueRef, doc: string | null}} RawEnumMember
 * @typedef {{kind: 'const', name: string, value: ValueRef}
 *   | {kind: 'typedef', name: string, type: RawType}
 *   | {kind: 'struct', name: string, fields: RawDecl[]}
 *   | {kind: 'enum', name: string, members: RawEnumMember[]}
 *   | {kind: 'union', name: string, discriminant: RawDecl,
 *      cases: {values: ValueRef[], field: RawDecl | null}[], default: RawDecl | null | undefined}} RawDefinition
 */

// Sticky, so each match starts exactly at the cursor without slicing the text.
const NUMBER = /-?(0x[0-9a-fA-F]+|[0-9]+)/y;
const IDENT = /[A-Za-z_][A-Za-z0-9_]*/y;
const PUNCT = new Set(['{', '}', '(', ')', '[', ']', '<', '>', ';', ',', '=', ':', '*']);

/**
 * @param {string} text
 * @param {string} file for error messages
 * @returns {Token[]}
 */
export function tokenize(text, file) {
  /** @type {Token[]} */
  const tokens = [];
  let i = 0;
  let line = 1;
  let atLineStart = true;
  while (i < text.length) {
    const c = /** @type {string} */ (text[i]);
    if (c === '\n') {
      line++;
      i++;
      atLineStart = true;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r' || c === '\f') {
      i++;
      continue;
    }
    // rpcgen copies '%' lines verbatim into the C output; they are not XDR.
    if (c === '%' && atLineStart) {
      while (i < text.length && text[i] !== '\n') i++;
      continue;
    }
    atLineStart = false;
    if (text.startsWith('/*', i)) {
      const end = text.indexOf('*/', i + 2);
      if (end < 0) throw new Error(`${file}:${line}: unterminated comment`);
      const body = text.slice(i, end + 2);
      tokens.push({ kind: 'comment', text: body, line });
      line += body.split('\n').length - 1;
      i = end + 2;
      continue;
    }
    NUMBER.lastIndex = i;
    const num = NUMBER.exec(text);
    if (num) {
      const raw = num[0];
      const neg = raw.startsWith('-');
      const digits = neg ? raw.slice(1) : raw;
      const value =
        digits.startsWith('0x') || digits.startsWith('0X') ? Number.parseInt(digits, 16) : Number(digits);
      tokens.push({ kind: 'number', text: raw, value: neg ? -value : value, line });
      i += raw.length;
      continue;
    }
    IDENT.lastIndex = i;
    const id = IDENT.exec(text);
    if (id) {
      tokens.push({ kind: 'ident', text: id[0], line });
      i += id[0].length;
      continue;
    }
    if (PUNCT.has(c)) {
      tokens.push({ kind: 'punct', text: c, line });
      i++;
      continue;
    }
    throw new Error(`${file}:${line}: unexpected character '${c}'`);
  }
  return tokens;
}

/**
 * Parses one .x file into its definitions, in source order.
 * @param {string} text
 * @param {string} file for error messages
 * @returns {RawDefinition[]}
 */
export function parseXdr(text, file) {
  const tokens = tokenize(text, file);
  let pos = 0;

  /** Comments skipped since the last call, so enum members can find their doc block. */
  function skipComments() {
    /** @type {string[]} */
    const skipped = [];
    for (let t = tokens[pos]; t?.kind === 'comment'; t = tokens[++pos]) skipped.push(t.text);
    return skipped;
  }
  function peek() {
    skipComments();
    return tokens[pos];
  }
  function where() {
    const t = tokens[Math.min(pos, tokens.length - 1)];
    return `${file}:${t ? t.line : '?'}`;
  }
  function next() {
    const t = peek();
    if (!t) throw new Error(`${file}: unexpected end of file`);
    pos++;
    return t;
  }
  /** @param {string} text */
  function isPunct(text) {
    const t = peek();
    return t !== undefined && t.kind === 'punct' && t.text === text;
  }
  /** @param {string} text */
  function isWord(text) {
    const t = peek();
    return t !== undefined && t.kind === 'ident' && t.text === text;
  }
  /** @param {string} text */
  function expect(text) {
    const t = next();
    if (t.text !== text) throw new Error(`${file}:${t.line}: expected '${text}', found '${t.text}'`);
  }
  function ident() {
    const t = next();
    if (t.kind !== 'ident') throw new Error(`${file}:${t.line}: expected a name, found '${t.text}'`);
    return t.text;
  }
  /** @returns {ValueRef} */
  function value() {
    const t = next();
    if (t.kind === 'number') return { literal: t.value };
    if (t.kind === 'ident') return { name: t.text };
    throw new Error(`${file}:${t.line}: expected a constant, found '${t.text}'`);
  }

  /** @returns {RawType} */
  function typeSpecifier() {
    const t = next();
    if (t.kind !== 'ident') throw new Error(`${file}:${t.line}: expected a type, found '${t.text}'`);
    switch (t.text) {
      case 'unsigned': {
        // 'unsigned' alone is 'unsigned int' (RFC 4506 4.2).
        const n = peek();
        if (n && n.kind === 'ident' && ['int', 'hyper', 'char', 'short', 'long'].includes(n.text)) {
          pos++;
          return { t: n.text === 'int' || n.text === 'long' ? 'uint' : `u${n.text}` };
        }
        return { t: 'uint' };
      }
      case 'int':
      case 'long':
        return { t: 'int' };
      case 'hyper':
      case 'bool':
      case 'float':
      case 'double':
      case 'char':
      case 'short':
      case 'opaque':
      case 'string':
        return { t: t.text };
      case 'struct':
      case 'union':
      case 'enum':
        // libvirt's files never declare a type inline; refuse rather than guess.
        throw new Error(`${file}:${t.line}: inline '${t.text}' types are not supported`);
      case 'quadruple':
        throw new Error(`${file}:${t.line}: quadruple is not supported`);
      default:
        return { t: 'ref', name: t.text };
    }
  }

  /** @returns {RawDecl | null} null for 'void' */
  function declaration() {
    if (isWord('void')) {
      pos++;
      return null;
    }
    const base = typeSpecifier();
    if (isPunct('*')) {
      pos++;
      if (base.t === 'opaque' || base.t === 'string') throw new Error(`${where()}: pointer to ${base.t}`);
      return { name: ident(), type: { t: 'optional', of: base } };
    }
    const name = ident();
    if (isPunct('[')) {
      pos++;
      const size = value();
      expect(']');
      if (base.t === 'string') throw new Error(`${where()}: string ${name} needs <N>, not [N]`);
      if (base.t === 'opaque') return { name, type: { t: 'opaque', fixed: size } };
      return { name, type: { t: 'fixedArray', of: base, fixed: size } };
    }
    if (isPunct('<')) {
      pos++;
      const size = isPunct('>') ? null : value();
      expect('>');
      if (base.t === 'opaque' || base.t === 'string') return { name, type: { t: base.t, size } };
      return { name, type: { t: 'array', of: base, size } };
    }
    if (base.t === 'opaque' || base.t === 'string')
      throw new Error(`${where()}: ${base.t} ${name} needs a size`);
    return { name, type: base };
  }

  /** @type {RawDefinition[]} */
  const defs = [];
  for (;;) {
    const t = peek();
    if (!t) break;
    const keyword = ident();
    if (keyword === 'const') {
      const name = ident();
      expect('=');
      defs.push({ kind: 'const', name, value: value() });
    } else if (keyword === 'typedef') {
      const decl = declaration();
      if (!decl) throw new Error(`${where()}: typedef of void`);
      defs.push({ kind: 'typedef', name: decl.name, type: decl.type });
    } else if (keyword === 'enum') {
      const name = ident();
      expect('{');
      /** @type {RawEnumMember[]} */
      const members = [];
      for (;;) {
        const comments = skipComments();
        const docs = comments.filter((c) => c.startsWith('/**'));
        const member = ident();
        expect('=');
        members.push({ name: member, value: value(), doc: docs.at(-1) ?? null });
        if (isPunct(',')) {
          pos++;
          continue;
        }
        break;
      }
      expect('}');
      defs.push({ kind: 'enum', name, members });
    } else if (keyword === 'struct') {
      const name = ident();
      expect('{');
      /** @type {RawDecl[]} */
      const fields = [];
      while (!isPunct('}')) {
        const decl = declaration();
        if (!decl) throw new Error(`${where()}: void member in struct ${name}`);
        fields.push(decl);
        expect(';');
      }
      expect('}');
      defs.push({ kind: 'struct', name, fields });
    } else if (keyword === 'union') {
      const name = ident();
      expect('switch');
      expect('(');
      const discriminant = declaration();
      if (!discriminant) throw new Error(`${where()}: void discriminant in union ${name}`);
      expect(')');
      expect('{');
      /** @type {{values: ValueRef[], field: RawDecl | null}[]} */
      const cases = [];
      /** @type {RawDecl | null | undefined} undefined when the union has no default arm */
      let dflt;
      while (!isPunct('}')) {
        if (isWord('default')) {
          pos++;
          expect(':');
          dflt = declaration();
          expect(';');
          continue;
        }
        /** @type {ValueRef[]} */
        const values = [];
        while (isWord('case')) {
          pos++;
          values.push(value());
          expect(':');
        }
        if (!values.length) throw new Error(`${where()}: expected 'case' or 'default' in union ${name}`);
        cases.push({ values, field: declaration() });
        expect(';');
      }
      expect('}');
      defs.push({ kind: 'union', name, discriminant, cases, default: dflt });
    } else {
      throw new Error(`${file}:${t.line}: unexpected '${keyword}' at top level`);
    }
    expect(';');
  }
  return defs;
}

/**
 * The @annotations of one doc comment, as gendispatch.pl reads them: `@name: value` lines,
 * acl and aclfilter always lists (they may repeat), anything else a string (a list if repeated).
 * @param {string} doc
 * @returns {Record<string, string | string[]>}
 */
export function parseAnnotations(doc) {
  /** @type {Record<string, string | string[]>} */
  const out = {};
  for (const line of doc.split('\n')) {
    const m = /^\s*(?:\/\*\*)?\s*\*?\s*@(\w+)\s*:\s*(\S.*?)\s*(?:\*\/)?\s*$/.exec(line);
    if (!m) continue;
    const [, key, val] = /** @type {[string, string, string]} */ (/** @type {unknown} */ (m));
    const prev = out[key];
    if (key === 'acl' || key === 'aclfilter') out[key] = [...(Array.isArray(prev) ? prev : []), val];
    else if (prev === undefined) out[key] = val;
    else out[key] = [...(Array.isArray(prev) ? prev : [prev]), val];
  }
  return out;
}
