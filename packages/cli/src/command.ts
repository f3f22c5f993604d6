/**
 * Commands and options the way virsh declares and parses them: `--name value`, `--name=value`,
 * booleans, and positional words filling the data options in order.
 */
import { readFile } from 'node:fs/promises';
import { VirError, virReportSystemError } from '@qvirt/core/errors';

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

export interface OptDef {
  name: string;
  /** `data`: may be given positionally; `string`: only as `--name`; `bool`: a flag. */
  type: 'data' | 'string' | 'bool';
  required?: boolean;
  help: string;
  /** virsh's VSH_OT_ARGV (a `data` option taking every remaining word) or a repeatable `--name`: the values are a list. */
  multiple?: boolean;
}

export interface Session {
  io: Io;
  /** The connection URI from `-c` / `--connect` or the environment. */
  uri: string | undefined;
  env: NodeJS.ProcessEnv;
  /** Set when the connection could not be made (virsh then ends without its blank line). */
  connectFailed?: boolean;
}

export interface CommandDef {
  name: string;
  help: string;
  desc: string;
  options: OptDef[];
  /** Resolves false for a command that fails without an error of its own (virsh's handler returning false). */
  // biome-ignore lint/suspicious/noConfusingVoidType: most commands are async functions that return nothing
  run(session: Session, opts: ParsedOpts): Promise<void | boolean>;
}

export type ParsedOpts = Record<string, string | boolean | undefined>;

/**
 * The words of a `multiple` option, in order. (They are kept NUL-separated in its string: no
 * argument word can hold a NUL, and ParsedOpts keeps one value type for every command.)
 */
export function optionList(opts: ParsedOpts, name: string): string[] {
  const v = opts[name];
  return typeof v === 'string' ? v.split('\0') : [];
}
const appendWord = (prev: string | boolean | undefined, w: string) =>
  typeof prev === 'string' ? `${prev}\0${w}` : w;

/**
 * A command that failed after saying why (virsh's `return false`) and printing all it had to,
 * virsh's blank line included: exit 1, nothing more.
 */
export class CommandFailed extends Error {}

export function usageError(message: string): VirError {
  return new VirError('INVALID_ARG', 'none', message);
}

/**
 * vshCommandOptULongLong and friends: an integer option in base 10, undefined when absent, virsh's
 * refusal when malformed, negative (unsigned) or beyond `max`.
 */
export function integerOption(
  opts: ParsedOpts,
  name: string,
  { unsigned = true, max = Number.MAX_SAFE_INTEGER }: { unsigned?: boolean; max?: number } = {},
): number | undefined {
  const v = opts[name];
  if (v === undefined || typeof v === 'boolean') return undefined;
  const text = String(v);
  const n = (unsigned ? /^\s*\+?\d+$/ : /^\s*[-+]?\d+$/).test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || Math.abs(n) > max)
    throw usageError(`Numeric value '${text}' for <${name}> option is malformed or out of range`);
  return n;
}

export function parseOptions(cmd: CommandDef, words: string[]): ParsedOpts {
  const out: ParsedOpts = {};
  const positional = cmd.options.filter((o) => o.type === 'data');
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (w.startsWith('--')) {
      const eq = w.indexOf('=');
      const name = eq < 0 ? w.slice(2) : w.slice(2, eq);
      const opt = cmd.options.find((o) => o.name === name);
      if (!opt) throw usageError(`command '${cmd.name}' doesn't support option --${name}`);
      if (opt.type === 'bool') {
        out[name] = true;
        continue;
      }
      const value = eq < 0 ? words[++i] : w.slice(eq + 1);
      if (value === undefined) throw usageError(`expected syntax: --${name} <string>`);
      if (opt.multiple) out[name] = appendWord(out[name], value);
      else out[name] = value;
      continue;
    }
    const next = positional.find((o) => out[o.name] === undefined || o.multiple);
    if (!next) throw usageError(`unexpected data '${w}'`);
    if (next.multiple) out[next.name] = appendWord(out[next.name], w);
    else out[next.name] = w;
  }
  for (const o of cmd.options) {
    if (o.required && out[o.name] === undefined) {
      throw usageError(`command '${cmd.name}' requires <${o.name}> option`);
    }
  }
  return out;
}

/** virsh's `help COMMAND` layout. */
export function commandHelp(cmd: CommandDef): string {
  const synopsis = cmd.options
    .map((o) => {
      if (o.type === 'bool') return `[--${o.name}]`;
      const word = o.type === 'data' ? `<${o.name}>` : `--${o.name} <string>`;
      return o.required ? word : `[${word}]`;
    })
    .join(' ');
  const options = cmd.options
    .map((o) => {
      const left =
        o.type === 'bool'
          ? `--${o.name}`
          : o.type === 'data'
            ? `[--${o.name}] <string>`
            : `--${o.name} <string>`;
      return `    ${left}  ${o.help}`;
    })
    .join('\n');
  return `  NAME\n    ${cmd.name} - ${cmd.help}\n\n  SYNOPSIS\n    ${cmd.name} ${synopsis}\n\n  DESCRIPTION\n    ${cmd.desc}\n\n  OPTIONS\n${options}\n\n`;
}

/** virFileReadAll as virsh reports its failure ("Failed to open file 'F': <strerror>"). */
export async function virFileReadAll(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw virReportSystemError(err, 'none', `Failed to open file '${file}'`);
  }
}

/** A file argument's text (an XML or native config file), read as virsh reads it. */
export async function readFileArg(file: string): Promise<string> {
  return (await virFileReadAll(file)).toString('utf8');
}
