/**
 * GNU getopt_long as virt-aa-helper uses it: options are found anywhere (arguments are permuted),
 * `--` ends them, short options cluster (`-cd`), a required argument is the rest of the cluster
 * or the next word, long options take unique prefixes and `--name=value`. Errors are glibc's
 * messages, reported as option `?`.
 */

export interface LongOption {
  name: string;
  hasArg: boolean;
  val: string;
}

export type GetoptItem = { opt: string; arg?: string } | { opt: '?'; error: string };

export function* getoptLong(
  argv: readonly string[],
  shortSpec: string,
  longOptions: readonly LongOption[],
  progname: string,
): Generator<GetoptItem> {
  const takesArg = (c: string): boolean | undefined => {
    const i = shortSpec.indexOf(c);
    if (i < 0 || c === ':') return undefined;
    return shortSpec[i + 1] === ':';
  };
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--') return;
    if (!word.startsWith('-') || word === '-') continue; // a non-option: permuted away
    if (word.startsWith('--')) {
      const body = word.slice(2);
      const eq = body.indexOf('=');
      const name = eq < 0 ? body : body.slice(0, eq);
      const value = eq < 0 ? undefined : body.slice(eq + 1);
      let found = longOptions.find((o) => o.name === name);
      if (!found) {
        const candidates = longOptions.filter((o) => o.name.startsWith(name));
        const distinct = candidates.filter(
          (o) => o.hasArg !== candidates[0]!.hasArg || o.val !== candidates[0]!.val,
        );
        if (candidates.length > 1 && distinct.length > 0) {
          yield {
            opt: '?',
            error: `${progname}: option '--${name}' is ambiguous; possibilities:${candidates.map((o) => ` '--${o.name}'`).join('')}`,
          };
          continue;
        }
        found = candidates[0];
      }
      if (!found) {
        yield { opt: '?', error: `${progname}: unrecognized option '--${name}'` };
        continue;
      }
      if (!found.hasArg) {
        if (value !== undefined) {
          yield { opt: '?', error: `${progname}: option '--${found.name}' doesn't allow an argument` };
          continue;
        }
        yield { opt: found.val };
        continue;
      }
      if (value !== undefined) {
        yield { opt: found.val, arg: value };
      } else if (i + 1 < argv.length) {
        yield { opt: found.val, arg: argv[++i]! };
      } else {
        yield { opt: '?', error: `${progname}: option '--${found.name}' requires an argument` };
      }
      continue;
    }
    for (let k = 1; k < word.length; k++) {
      const c = word[k]!;
      const needs = takesArg(c);
      if (needs === undefined) {
        yield { opt: '?', error: `${progname}: invalid option -- '${c}'` };
        continue;
      }
      if (!needs) {
        yield { opt: c };
        continue;
      }
      if (k + 1 < word.length) {
        yield { opt: c, arg: word.slice(k + 1) };
      } else if (i + 1 < argv.length) {
        yield { opt: c, arg: argv[++i]! };
      } else {
        yield { opt: '?', error: `${progname}: option requires an argument -- '${c}'` };
      }
      break;
    }
  }
}
