/**
 * libvirt's configuration-file syntax (`virConf`, as used by qemu.conf, libvirtd.conf, …):
 * a parser that keeps comments, a serialiser that writes what libvirt 9.0's virConfWriteMem
 * writes, and typed getters with libvirt's semantics and messages.
 *
 * The grammar (libvirt 9.0 src/util/virconf.c, read for behaviour, not copied):
 *
 *   file      := (statement separator)*
 *   statement := blanks-and-newlines ( '#' comment | name blanks '=' blanks value blanks ['#' comment] )
 *   separator := blanks ( end | newline blanks-and-newlines | ';' blanks-and-newlines )
 *   name      := alpha (alnum | '_')*
 *   value     := string | number | '[' [value (',' value)* [',']] ']'   (newlines allowed in lists)
 *   string    := '…' | "…" (single line) | """…""" (may span lines)
 *   number    := ['-' | '+'] digit+     a leading '-' makes it signed (llong), otherwise unsigned (ullong)
 *
 * Differences from libvirt, all on input libvirt mishandles: a file holding only blank lines is
 * empty (libvirt reports "expecting a name"); integers outside the 64-bit range are a syntax error
 * (libvirt silently wraps them); lists nested deeper than {@link MAX_LIST_DEPTH} are a syntax error
 * (libvirt recurses without bound).
 */

import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import type { ConfError, VirError } from '../errors.js';
import { confError, location, systemError } from './errors.js';

/** The name libvirt's virConfReadString gives a configuration that did not come from a file. */
export const MEMORY_CONF_NAME = 'memory conf';
/** libvirt refuses to read configuration files larger than this (10 MiB). */
export const MAX_CONFIG_FILE_SIZE = 10 * 1024 * 1024;
/** Deepest list nesting the parser accepts (`[[…]]` is depth 2). */
export const MAX_LIST_DEPTH = 64;

export type VirConfType = 'llong' | 'ullong' | 'string' | 'list';

/**
 * A value as the parser stores it. Integers are `bigint` because libvirt keeps 64-bit values.
 * `line` is where the value starts in the parsed text (absent for values built in code).
 */
export type VirConfValue =
  | { type: 'llong'; value: bigint; line?: number }
  | { type: 'ullong'; value: bigint; line?: number }
  | { type: 'string'; value: string; line?: number }
  | { type: 'list'; value: VirConfValue[]; line?: number };

/** A full-line comment (`comment` is the text after `#`). */
export interface VirConfComment {
  kind: 'comment';
  comment: string;
  line?: number;
}

/** `name = value`, with the text after a trailing `#` if there was one. */
export interface VirConfSetting {
  kind: 'setting';
  name: string;
  value: VirConfValue;
  comment?: string;
  line?: number;
}

export type VirConfEntry = VirConfComment | VirConfSetting;

export interface VirConfParseOptions {
  /** Name used in messages; defaults to libvirt's {@link MEMORY_CONF_NAME}. */
  file?: string;
}

const INT_MIN = -(2n ** 31n);
const INT_MAX = 2n ** 31n - 1n;
const UINT_MAX = 2n ** 32n - 1n;
const LLONG_MIN = -(2n ** 63n);
const LLONG_MAX = 2n ** 63n - 1n;
const ULLONG_MAX = 2n ** 64n - 1n;

/** A parsed configuration: its entries in file order, comments included. */
export class VirConf {
  /** The name used in messages: the file path, or {@link MEMORY_CONF_NAME}. */
  readonly file: string;
  readonly entries: VirConfEntry[];

  constructor(entries: VirConfEntry[] = [], file: string = MEMORY_CONF_NAME) {
    this.entries = entries;
    this.file = file;
  }

  /** Parses `text`; throws a one-line `ConfError` (code CONF_SYNTAX) naming `file:line`. */
  static parse(text: string, options: VirConfParseOptions = {}): VirConf {
    return new Parser(text, options.file ?? MEMORY_CONF_NAME).parse();
  }

  /** Setting names in file order (a name set twice appears twice). */
  names(): string[] {
    const out: string[] = [];
    for (const e of this.entries) if (e.kind === 'setting') out.push(e.name);
    return out;
  }

  /** The setting libvirt would use for `name`: the first one in the file. */
  getEntry(name: string): VirConfSetting | undefined {
    for (const e of this.entries) if (e.kind === 'setting' && e.name === name) return e;
    return undefined;
  }

  has(name: string): boolean {
    return this.getEntry(name) !== undefined;
  }

  getValue(name: string): VirConfValue | undefined {
    return this.getEntry(name)?.value;
  }

  getType(name: string): VirConfType | undefined {
    return this.getValue(name)?.type;
  }

  /** `file:line` of the setting `name` (just `file` if it has no line or is absent). */
  where(name: string): string {
    return location(this.file, this.getEntry(name)?.line);
  }

  /** virConfGetValueString: a string, or undefined when absent. */
  getString(name: string): string | undefined {
    const v = this.getValue(name);
    if (v === undefined) return undefined;
    if (v.type !== 'string') throw this.internal(name, `expected a string for '${name}' parameter`);
    return v.value;
  }

  /**
   * virConfGetValueStringList: a list of strings, or undefined when absent. With `compatString`
   * a single string is accepted as a one-element list.
   */
  getStringList(name: string, compatString = false): string[] | undefined {
    const v = this.getValue(name);
    if (v === undefined) return undefined;
    if (v.type === 'list') {
      const out: string[] = [];
      for (const item of v.value) {
        if (item.type !== 'string') {
          throw confError(
            'CONF_SYNTAX',
            `${this.where(name)}: expected a string list for '${name}' parameter`,
            this.where(name),
          );
        }
        out.push(item.value);
      }
      return out;
    }
    if (v.type === 'string' && compatString) return [v.value];
    throw this.internal(
      name,
      compatString
        ? `expected a string or string list for '${name}' parameter`
        : `expected a string list for '${name}' parameter`,
    );
  }

  /** virConfGetValueBool: only the unsigned values 0 and 1 are booleans. */
  getBool(name: string): boolean | undefined {
    const v = this.getValue(name);
    if (v === undefined) return undefined;
    if (v.type !== 'ullong') throw this.internal(name, `expected a bool for '${name}' parameter`);
    if (v.value > 1n) throw this.internal(name, `value for '${name}' parameter must be 0 or 1`);
    return v.value === 1n;
  }

  /** virConfGetValueInt: a signed or unsigned integer within C `int` range. */
  getInt(name: string): number | undefined {
    const v = this.integer(name, 'signed');
    if (v === undefined) return undefined;
    if (v < INT_MIN || v > INT_MAX) {
      throw this.internal(name, `value for '${name}' parameter must be in range ${INT_MIN}:${INT_MAX}`);
    }
    return Number(v);
  }

  /** virConfGetValueUInt: an unsigned integer within C `unsigned int` range. */
  getUInt(name: string): number | undefined {
    const v = this.integer(name, 'unsigned');
    if (v === undefined) return undefined;
    if (v > UINT_MAX)
      throw this.internal(name, `value for '${name}' parameter must be in range 0:${UINT_MAX}`);
    return Number(v);
  }

  /** virConfGetValueSizeT (64-bit `size_t`): an unsigned integer. */
  getSizeT(name: string): bigint | undefined {
    return this.integer(name, 'unsigned');
  }

  /** virConfGetValueSSizeT (64-bit `ssize_t`): a signed or unsigned integer within `long long`. */
  getSSizeT(name: string): bigint | undefined {
    return this.getLLong(name);
  }

  /** virConfGetValueLLong: a signed or unsigned integer within `long long`. */
  getLLong(name: string): bigint | undefined {
    const v = this.integer(name, 'signed');
    if (v === undefined) return undefined;
    if (v > LLONG_MAX) {
      throw this.internal(name, `value for '${name}' parameter must be in range ${LLONG_MIN}:${LLONG_MAX}`);
    }
    return v;
  }

  /** virConfGetValueULLong: an unsigned integer. */
  getULLong(name: string): bigint | undefined {
    return this.integer(name, 'unsigned');
  }

  /**
   * virConfSetValue: replaces the value of the first setting called `name`, or appends a new
   * setting at the end.
   */
  setValue(name: string, value: VirConfValue): void {
    const entry = this.getEntry(name);
    if (entry) entry.value = value;
    else this.entries.push({ kind: 'setting', name, value });
  }

  /** The text libvirt's virConfWriteMem produces: one line per entry, blank lines dropped. */
  toString(): string {
    return serializeVirConf(this);
  }

  private integer(name: string, want: 'signed' | 'unsigned'): bigint | undefined {
    const v = this.getValue(name);
    if (v === undefined) return undefined;
    if (want === 'unsigned' ? v.type !== 'ullong' : v.type !== 'llong' && v.type !== 'ullong') {
      const what = want === 'unsigned' ? 'an unsigned integer' : 'a signed integer';
      throw this.internal(name, `expected ${what} for '${name}' parameter`);
    }
    return v.value as bigint;
  }

  private internal(name: string, detail: string): ConfError {
    return confError('INTERNAL_ERROR', `${this.where(name)}: ${detail}`, this.where(name));
  }
}

/** Parses libvirt config text (see {@link VirConf.parse}). */
export function parseVirConf(text: string, options: VirConfParseOptions = {}): VirConf {
  return VirConf.parse(text, options);
}

/** Serialises one value the way libvirt's virConfSaveValue does. */
export function formatVirConfValue(value: VirConfValue): string {
  switch (value.type) {
    case 'llong':
    case 'ullong':
      return value.value.toString();
    case 'string': {
      const s = value.value;
      if (s.includes('\n')) return `"""${s}"""`;
      if (!s.includes('"')) return `"${s}"`;
      if (!s.includes("'")) return `'${s}'`;
      return `"""${s}"""`;
    }
    case 'list':
      return `[ ${value.value.map(formatVirConfValue).join(', ')} ]`;
  }
}

/** Serialises a configuration like libvirt's virConfWriteMem. Always ends in a newline when non-empty. */
export function serializeVirConf(conf: VirConf): string {
  let out = '';
  for (const e of conf.entries) {
    if (e.kind === 'setting') {
      out += `${e.name} = ${formatVirConfValue(e.value)}`;
      if (e.comment !== undefined) out += ` #${e.comment}`;
    } else {
      out += `#${e.comment}`;
    }
    out += '\n';
  }
  return out;
}

/**
 * Reads and parses a configuration file like libvirt's virConfReadFile. Read failures are a
 * `VirError` with code SYSTEM_ERROR ("Failed to open file '…': No such file or directory"; the
 * Node error, with its `code`, is the `cause`); files over {@link MAX_CONFIG_FILE_SIZE} are refused.
 */
export async function readVirConfFile(path: string): Promise<VirConf> {
  return VirConf.parse(await readConfigText(path), { file: path });
}

/** Reads at most MAX_CONFIG_FILE_SIZE bytes of `path` as UTF-8, with libvirt's messages. */
export async function readConfigText(path: string): Promise<string> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw systemError(`Failed to open file '${path}'`, err, path);
  }
  try {
    const limit = MAX_CONFIG_FILE_SIZE + 1;
    const buf = Buffer.alloc(Math.min(limit, 64 * 1024));
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      let n: number;
      try {
        ({ bytesRead: n } = await handle.read(buf, 0, Math.min(buf.length, limit - total), null));
      } catch (err) {
        throw systemError(`Failed to read file '${path}'`, err, path);
      }
      if (n === 0) break;
      chunks.push(Buffer.from(buf.subarray(0, n)));
      total += n;
      if (total > MAX_CONFIG_FILE_SIZE) {
        const tooLarge = Object.assign(new Error('file too large'), { code: 'EOVERFLOW' });
        throw systemError(`Failed to read file '${path}'`, tooLarge, path);
      }
    }
    return Buffer.concat(chunks, total).toString('utf8');
  } finally {
    await handle.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Parser: a hand-written scanner (no regular expressions), linear in the input size.

const NUL = 0;
const TAB = 9;
const LF = 10;
const CR = 13;
const SPACE = 32;
const DQUOTE = 34;
const HASH = 35;
const SQUOTE = 39;
const PLUS = 43;
const COMMA = 44;
const MINUS = 45;
const SEMICOLON = 59;
const EQUALS = 61;
const LBRACKET = 91;
const RBRACKET = 93;
const UNDERSCORE = 95;

function isBlank(c: number): boolean {
  return c === SPACE || c === TAB;
}
function isEol(c: number): boolean {
  return c === LF || c === CR;
}
function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
function isAlpha(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/** Longest digit run (leading zeros excluded) that can still be a 64-bit value. */
const MAX_SIGNIFICANT_DIGITS = 20;

class Parser {
  private pos = 0;
  private line = 1;
  private readonly end: number;
  private readonly entries: VirConfEntry[] = [];

  constructor(
    private readonly text: string,
    private readonly file: string,
  ) {
    this.end = text.length;
  }

  parse(): VirConf {
    while (this.pos < this.end) {
      this.statement();
      this.separator();
    }
    return new VirConf(this.entries, this.file);
  }

  /** The current character code, or NUL past the end (libvirt reads the terminating NUL). */
  private cur(): number {
    return this.pos < this.end ? this.text.charCodeAt(this.pos) : NUL;
  }

  private next(): void {
    if (this.pos < this.end) this.pos++;
  }

  private skipBlanks(): void {
    while (this.pos < this.end && isBlank(this.text.charCodeAt(this.pos))) this.pos++;
  }

  private skipBlanksAndEol(): void {
    while (this.pos < this.end) {
      const c = this.text.charCodeAt(this.pos);
      if (!isBlank(c) && !isEol(c)) break;
      if (c === LF) this.line++;
      this.pos++;
    }
  }

  private error(detail: string): VirError {
    const where = location(this.file, this.line);
    return confError('CONF_SYNTAX', `${where}: ${detail}`, where);
  }

  /** Text from the current position to the end of the line (not consuming the newline). */
  private restOfLine(): string {
    const base = this.pos;
    while (this.pos < this.end && !isEol(this.text.charCodeAt(this.pos))) this.pos++;
    return this.text.slice(base, this.pos);
  }

  private statement(): void {
    this.skipBlanksAndEol();
    if (this.pos >= this.end) return;
    if (this.cur() === HASH) {
      const line = this.line;
      this.next();
      this.entries.push({ kind: 'comment', comment: this.restOfLine(), line });
      return;
    }
    const line = this.line;
    const name = this.name();
    this.skipBlanks();
    if (this.cur() !== EQUALS) throw this.error('expecting an assignment');
    this.next();
    this.skipBlanks();
    const value = this.value(0);
    this.skipBlanks();
    const setting: VirConfSetting = { kind: 'setting', name, value, line };
    if (this.cur() === HASH) {
      this.next();
      setting.comment = this.restOfLine();
    }
    this.entries.push(setting);
  }

  private separator(): void {
    this.skipBlanks();
    if (this.pos >= this.end) return;
    const c = this.cur();
    if (isEol(c)) {
      this.skipBlanksAndEol();
    } else if (c === SEMICOLON) {
      this.next();
      this.skipBlanksAndEol();
    } else {
      throw this.error('expecting a separator');
    }
  }

  private name(): string {
    this.skipBlanks();
    const base = this.pos;
    if (!isAlpha(this.cur())) throw this.error('expecting a name');
    while (this.pos < this.end) {
      const c = this.text.charCodeAt(this.pos);
      if (!isAlpha(c) && !isDigit(c) && c !== UNDERSCORE) break;
      this.pos++;
    }
    return this.text.slice(base, this.pos);
  }

  private value(depth: number): VirConfValue {
    this.skipBlanks();
    if (this.pos >= this.end) throw this.error('expecting a value');
    const line = this.line;
    const c = this.cur();
    if (c === DQUOTE || c === SQUOTE) return { type: 'string', value: this.string(), line };
    if (c === LBRACKET) return { type: 'list', value: this.list(depth + 1), line };
    if (isDigit(c) || c === MINUS || c === PLUS) {
      const signed = c === MINUS;
      const value = this.number();
      return signed ? { type: 'llong', value, line } : { type: 'ullong', value, line };
    }
    throw this.error('expecting a value');
  }

  private list(depth: number): VirConfValue[] {
    if (depth > MAX_LIST_DEPTH) throw this.error(`lists nested deeper than ${MAX_LIST_DEPTH} levels`);
    const items: VirConfValue[] = [];
    this.next(); // '['
    this.skipBlanksAndEol();
    if (this.pos < this.end && this.cur() !== RBRACKET) {
      items.push(this.value(depth));
      this.skipBlanksAndEol();
    }
    while (this.pos < this.end && this.cur() !== RBRACKET) {
      if (this.cur() !== COMMA) throw this.error('expecting a separator in list');
      this.next();
      this.skipBlanksAndEol();
      if (this.cur() === RBRACKET) break;
      items.push(this.value(depth));
      this.skipBlanksAndEol();
    }
    if (this.cur() !== RBRACKET) throw this.error('list is not closed with ]');
    this.next();
    return items;
  }

  private string(): string {
    const quote = this.cur();
    // A triple-quoted string needs room for both delimiters plus one character, as in libvirt.
    if (quote === DQUOTE && this.pos + 6 < this.end && this.text.startsWith('"""', this.pos)) {
      this.pos += 3;
      const base = this.pos;
      while (this.pos + 2 < this.end && !this.text.startsWith('"""', this.pos)) {
        if (this.text.charCodeAt(this.pos) === LF) this.line++;
        this.pos++;
      }
      if (!this.text.startsWith('"""', this.pos)) throw this.error('unterminated string');
      const s = this.text.slice(base, this.pos);
      this.pos += 3;
      return s;
    }
    this.next();
    const base = this.pos;
    while (this.pos < this.end) {
      const c = this.text.charCodeAt(this.pos);
      if (c === quote || isEol(c)) break;
      this.pos++;
    }
    if (this.cur() !== quote) throw this.error('unterminated string');
    const s = this.text.slice(base, this.pos);
    this.next();
    return s;
  }

  private number(): bigint {
    const negative = this.cur() === MINUS;
    if (negative || this.cur() === PLUS) this.next();
    if (this.pos >= this.end || !isDigit(this.cur())) throw this.error('unterminated number');
    const base = this.pos;
    while (this.pos < this.end && isDigit(this.text.charCodeAt(this.pos))) this.pos++;
    let first = base;
    while (first < this.pos - 1 && this.text.charCodeAt(first) === 48) first++;
    if (this.pos - first > MAX_SIGNIFICANT_DIGITS) throw this.error('integer out of range');
    const magnitude = BigInt(this.text.slice(first, this.pos));
    const value = negative ? -magnitude : magnitude;
    if (negative ? value < LLONG_MIN : value > ULLONG_MAX) throw this.error('integer out of range');
    return value;
  }
}

/** One of libvirt's typed getters by its name in virconf.h (`int`, `bool`, `string_list`, …). */
export function virConfGet(conf: VirConf, getter: string, key: string, compatString = false): unknown {
  switch (getter) {
    case 'int':
      return conf.getInt(key);
    case 'uint':
      return conf.getUInt(key);
    case 'llong':
      return conf.getLLong(key);
    case 'ullong':
      return conf.getULLong(key);
    case 'size_t':
      return conf.getSizeT(key);
    case 'ssize_t':
      return conf.getSSizeT(key);
    case 'bool':
      return conf.getBool(key);
    case 'string':
      return conf.getString(key);
    case 'string_list':
      return conf.getStringList(key, compatString);
    default:
      throw new Error(`unknown getter '${getter}'`);
  }
}
