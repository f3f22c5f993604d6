/**
 * Splitting a command line into environment assignments, the binary and its arguments. Accepts
 * libvirt's one-line `qemu-argv` form (shell quoting as virsh prints it), backslash-newline
 * continuations, and one word per line.
 */
import { VirError } from '@qvirt/core';

export interface SplitArgv {
  env: Array<[string, string]>;
  binary: string;
  args: string[];
}

function fail(message: string): never {
  throw new VirError('INVALID_ARG', 'qemu', message);
}

/** Shell-like words: single quotes literal, double quotes with backslash escapes, backslash escapes. */
export function shellWords(text: string): string[] {
  // Continuation lines join with no added space, as libvirt's test loader joined them.
  const src = text.replace(/\\\r?\n/g, '');
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (c === "'") {
      const end = src.indexOf("'", i + 1);
      if (end < 0) fail(`unbalanced single quote at character ${i + 1}`);
      word = (word ?? '') + src.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      let value = '';
      for (; j < src.length && src[j] !== '"'; j++) {
        if (src[j] === '\\' && j + 1 < src.length && '"\\$`'.includes(src[j + 1]!)) j++;
        value += src[j];
      }
      if (j >= src.length) fail(`unbalanced double quote at character ${i + 1}`);
      word = (word ?? '') + value;
      i = j;
    } else if (c === '\\') {
      if (i + 1 >= src.length) fail('a backslash ends the command line');
      word = (word ?? '') + src[++i];
    } else word = (word ?? '') + c;
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** Leading `NAME=value` words are the environment; the first other word is the binary. */
export function splitCommandLine(text: string): SplitArgv {
  const words = shellWords(text);
  const env: Array<[string, string]> = [];
  let i = 0;
  for (; i < words.length; i++) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(words[i]!);
    if (!m) break;
    // libvirt wrote the old rbd monitor list unquoted, `CEPH_ARGS=-m host:port,…`, space and all.
    if (words[i] === 'CEPH_ARGS=-m' && words[i + 1] !== undefined) {
      env.push(['CEPH_ARGS', `-m ${words[++i]}`]);
      continue;
    }
    env.push([m[1]!, m[2]!]);
  }
  const binary = words[i];
  if (binary === undefined) fail('no emulator binary found in the command line');
  if (binary.startsWith('-'))
    fail(`no emulator binary found: the command line starts with the option '${binary}'`);
  return { env, binary, args: words.slice(i + 1) };
}

/** QEMU's `key=value,…` syntax, `,,` standing for a literal comma. A word without `=` has value undefined. */
export function parseKeywords(text: string): Array<[string, string | undefined]> {
  const out: Array<[string, string | undefined]> = [];
  let cur = '';
  const items: string[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] === ',') {
      if (text[i + 1] === ',') {
        cur += ',';
        i++;
        continue;
      }
      items.push(cur);
      cur = '';
    } else cur += text[i];
  }
  items.push(cur);
  for (const item of items) {
    const eq = item.indexOf('=');
    out.push(eq < 0 ? [item, undefined] : [item.slice(0, eq), item.slice(eq + 1)]);
  }
  return out;
}
