import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfError, VirError } from '../errors.js';
import { corpusDir, haveCorpus, plain, plainResult, runGetter } from './test-support/corpus.js';
import { MAX_LIST_DEPTH, parseVirConf, readVirConfFile, serializeVirConf, VirConf } from './vir-conf.js';

/** The message of what `fn` throws (fails the test when it does not throw). */
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

interface Expectation {
  values: Record<string, { type: string; value: unknown }>;
  getters: { getter: string; key: string; compat_string?: boolean; expect: unknown }[];
}

const corpusFiles = haveCorpus ? readdirSync(corpusDir) : [];
const inputs = corpusFiles.filter((f) => f.endsWith('.conf')).map((f) => f.slice(0, -'.conf'.length));

describe.skipIf(!haveCorpus)(`qemu-conf corpus (${corpusDir})`, () => {
  it('has cases', () => {
    expect(inputs.length).toBeGreaterThan(0);
  });

  for (const name of inputs) {
    const input = path.join(corpusDir, `${name}.conf`);
    if (corpusFiles.includes(`${name}.out`)) {
      it(`${name}: round trip is byte-for-byte`, () => {
        const conf = parseVirConf(readFileSync(input, 'utf8'), { file: input });
        expect(serializeVirConf(conf)).toBe(readFileSync(path.join(corpusDir, `${name}.out`), 'utf8'));
      });
    }
    if (corpusFiles.includes(`${name}.expect.json`)) {
      const expectation = JSON.parse(
        readFileSync(path.join(corpusDir, `${name}.expect.json`), 'utf8'),
      ) as Expectation;
      it(`${name}: stored types and values`, () => {
        const conf = parseVirConf(readFileSync(input, 'utf8'), { file: input });
        for (const [key, want] of Object.entries(expectation.values)) {
          const got = conf.getValue(key);
          expect(got, key).toBeDefined();
          expect({ type: got?.type, value: got && plain(got) }, key).toEqual(want);
        }
      });
      it(`${name}: typed getters`, () => {
        const conf = parseVirConf(readFileSync(input, 'utf8'), { file: input });
        for (const g of expectation.getters) {
          const call = () => runGetter(conf, g.getter, g.key, g.compat_string ?? false);
          if (g.expect === 'error') {
            const err = thrown(call);
            expect(err, `${g.getter}(${g.key})`).toBeInstanceOf(ConfError);
            expect(err.message).toContain(`'${g.key}'`);
            expect(err.message).toContain(input);
          } else {
            expect(plainResult(call()), `${g.getter}(${g.key})`).toEqual(g.expect);
          }
        }
      });
    }
  }
});

describe('virConf syntax', () => {
  it('reads entries, comments and every value kind', () => {
    const conf = parseVirConf(
      "# head\na=1\nb = -2 # neg\nc = 'x'\nd = \"y\"\ne = [ 1, [ 'z', ], \n  -3, ]\nf=+4; g = 5",
    );
    expect(conf.names()).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g']);
    expect(conf.getValue('a')).toEqual({ type: 'ullong', value: 1n, line: 2 });
    expect(conf.getValue('b')).toMatchObject({ type: 'llong', value: -2n });
    expect(conf.getEntry('b')?.comment).toBe(' neg');
    expect(plain(conf.getValue('e')!)).toEqual([1, ['z'], -3]);
    expect(conf.getValue('f')).toMatchObject({ type: 'ullong', value: 4n });
    expect(conf.entries[0]).toEqual({ kind: 'comment', comment: ' head', line: 1 });
  });

  it('writes values back the way libvirt does', () => {
    const text = 'a=-0\nb=\'it"s\'\nc="""two\nlines"""\nd=[]\ne = 1 #\n   # indented\n';
    expect(serializeVirConf(parseVirConf(text))).toBe(
      'a = 0\nb = \'it"s\'\nc = """two\nlines"""\nd = [  ]\ne = 1 #\n# indented\n',
    );
  });

  it('keeps 64-bit integers exactly', () => {
    const conf = parseVirConf(
      'big = 18446744073709551615\nsmall = -9223372036854775808\nz = 0000000000000000000000007',
    );
    expect(conf.getULLong('big')).toBe(2n ** 64n - 1n);
    expect(conf.getLLong('small')).toBe(-(2n ** 63n));
    expect(conf.getULLong('z')).toBe(7n);
    expect(serializeVirConf(conf)).toBe('big = 18446744073709551615\nsmall = -9223372036854775808\nz = 7\n');
  });

  it('accepts a last line without a newline', () => {
    expect(serializeVirConf(parseVirConf('log_level=1'))).toBe('log_level = 1\n');
    expect(serializeVirConf(parseVirConf('# only a comment'))).toBe('# only a comment\n');
  });

  it('treats whitespace-only and empty text as an empty file', () => {
    expect(parseVirConf('').entries).toEqual([]);
    expect(parseVirConf(' \n\t\n').entries).toEqual([]);
    expect(serializeVirConf(parseVirConf(''))).toBe('');
  });

  it('counts lines across lists and triple-quoted strings', () => {
    const err = thrown(() =>
      parseVirConf('a = [\n 1,\n 2\n]\nb = """x\ny"""\nc = \'oops\n', { file: 'f.conf' }),
    );
    expect(err.message).toBe('configuration file syntax error: f.conf:7: unterminated string');
  });

  it('sets values like virConfSetValue', () => {
    const conf = parseVirConf('a = 1\na = 2\n');
    expect(conf.getUInt('a')).toBe(1);
    conf.setValue('a', { type: 'string', value: 'x' });
    conf.setValue('b', { type: 'list', value: [{ type: 'llong', value: -1n }] });
    expect(conf.toString()).toBe('a = "x"\na = 2\nb = [ -1 ]\n');
  });
});

describe('virConf syntax errors', () => {
  const cases: [string, string][] = [
    ['name = "abc\n', 'configuration file syntax error: t.conf:1: unterminated string'],
    ["x = 1\nname = 'abc", 'configuration file syntax error: t.conf:2: unterminated string'],
    ['x = """abc\n\ndef\n', 'configuration file syntax error: t.conf:3: unterminated string'],
    ['l = [ "a" "b" ]', 'configuration file syntax error: t.conf:1: expecting a separator in list'],
    ['l = [ "a",\n  "b"\n', 'configuration file syntax error: t.conf:3: list is not closed with ]'],
    ['l = [ "a", , "b" ]', 'configuration file syntax error: t.conf:1: expecting a value'],
    ['l = [ "a",\n', 'configuration file syntax error: t.conf:2: expecting a value'],
    ['name "x"', 'configuration file syntax error: t.conf:1: expecting an assignment'],
    ['1name = 2', 'configuration file syntax error: t.conf:1: expecting a name'],
    ['a = 1 2', 'configuration file syntax error: t.conf:1: expecting a separator'],
    ['a = ', 'configuration file syntax error: t.conf:1: expecting a value'],
    ['a = yes', 'configuration file syntax error: t.conf:1: expecting a value'],
    ['a = -x', 'configuration file syntax error: t.conf:1: unterminated number'],
    ['a = 18446744073709551616', 'configuration file syntax error: t.conf:1: integer out of range'],
    ['a = -9223372036854775809', 'configuration file syntax error: t.conf:1: integer out of range'],
  ];
  for (const [text, message] of cases) {
    it(JSON.stringify(text), () => {
      const err = thrown(() => parseVirConf(text, { file: 't.conf' }));
      expect(err).toBeInstanceOf(ConfError);
      expect((err as ConfError).code).toBe('CONF_SYNTAX');
      expect(err.message).toBe(message);
    });
  }

  it('names libvirt\'s "memory conf" when no file is given', () => {
    expect(thrown(() => parseVirConf('a = "x')).message).toBe(
      'configuration file syntax error: memory conf:1: unterminated string',
    );
  });

  it('caps list nesting without exhausting the stack', () => {
    const ok = `a = ${'['.repeat(MAX_LIST_DEPTH)}${']'.repeat(MAX_LIST_DEPTH)}`;
    expect(parseVirConf(ok).getType('a')).toBe('list');
    const deep = `a = ${'['.repeat(1_000_000)}`;
    expect(thrown(() => parseVirConf(deep, { file: 't.conf' })).message).toBe(
      `configuration file syntax error: t.conf:1: lists nested deeper than ${MAX_LIST_DEPTH} levels`,
    );
  });

  it('stays linear on hostile input', () => {
    const started = Date.now();
    expect(thrown(() => parseVirConf(`a = ${'9'.repeat(2_000_000)}`)).message).toContain(
      'integer out of range',
    );
    expect(thrown(() => parseVirConf(`a = """${'"'.repeat(2)}${'x'.repeat(2_000_000)}`)).message).toContain(
      'unterminated string',
    );
    expect(parseVirConf(`a = [ ${'"x", '.repeat(200_000)} ]`).getStringList('a')).toHaveLength(200_000);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

describe('virConf typed getters', () => {
  const conf = parseVirConf(
    'u = 7\nn = -7\ns = "str"\nl = [ "a", "b" ]\nm = [ "a", 1 ]\nb2 = 2\nhuge = 4294967296\nmax = 18446744073709551615',
    { file: '/etc/x.conf' },
  );
  it('returns undefined for absent keys', () => {
    expect(conf.getString('nope')).toBeUndefined();
    expect(conf.getBool('nope')).toBeUndefined();
    expect(conf.getStringList('nope')).toBeUndefined();
    expect(conf.getInt('nope')).toBeUndefined();
  });
  it('accepts what libvirt accepts', () => {
    expect(conf.getInt('u')).toBe(7);
    expect(conf.getInt('n')).toBe(-7);
    expect(conf.getLLong('u')).toBe(7n);
    expect(conf.getSSizeT('n')).toBe(-7n);
    expect(conf.getSizeT('max')).toBe(2n ** 64n - 1n);
    expect(conf.getStringList('s', true)).toEqual(['str']);
    expect(conf.getStringList('l')).toEqual(['a', 'b']);
  });
  const failures: [string, () => unknown, string][] = [
    [
      'string on a number',
      () => conf.getString('u'),
      "internal error: /etc/x.conf:1: expected a string for 'u' parameter",
    ],
    [
      'bool on a string',
      () => conf.getBool('s'),
      "internal error: /etc/x.conf:3: expected a bool for 's' parameter",
    ],
    [
      'bool on a negative',
      () => conf.getBool('n'),
      "internal error: /etc/x.conf:2: expected a bool for 'n' parameter",
    ],
    [
      'bool on 2',
      () => conf.getBool('b2'),
      "internal error: /etc/x.conf:6: value for 'b2' parameter must be 0 or 1",
    ],
    [
      'int on a string',
      () => conf.getInt('s'),
      "internal error: /etc/x.conf:3: expected a signed integer for 's' parameter",
    ],
    [
      'int out of range',
      () => conf.getInt('huge'),
      "internal error: /etc/x.conf:7: value for 'huge' parameter must be in range -2147483648:2147483647",
    ],
    [
      'uint on a negative',
      () => conf.getUInt('n'),
      "internal error: /etc/x.conf:2: expected an unsigned integer for 'n' parameter",
    ],
    [
      'uint out of range',
      () => conf.getUInt('huge'),
      "internal error: /etc/x.conf:7: value for 'huge' parameter must be in range 0:4294967295",
    ],
    [
      'llong out of range',
      () => conf.getLLong('max'),
      "internal error: /etc/x.conf:8: value for 'max' parameter must be in range -9223372036854775808:9223372036854775807",
    ],
    [
      'ullong on a negative',
      () => conf.getULLong('n'),
      "internal error: /etc/x.conf:2: expected an unsigned integer for 'n' parameter",
    ],
    [
      'string list on a string',
      () => conf.getStringList('s'),
      "internal error: /etc/x.conf:3: expected a string list for 's' parameter",
    ],
    [
      'string list (compat) on a number',
      () => conf.getStringList('u', true),
      "internal error: /etc/x.conf:1: expected a string or string list for 'u' parameter",
    ],
    [
      'string list with a number in it',
      () => conf.getStringList('m'),
      "configuration file syntax error: /etc/x.conf:5: expected a string list for 'm' parameter",
    ],
  ];
  for (const [what, fn, message] of failures) {
    it(`rejects ${what}`, () => {
      const err = thrown(fn);
      expect(err).toBeInstanceOf(ConfError);
      expect(err.message).toBe(message);
    });
  }
  it('names only the file for values set in code', () => {
    const c = new VirConf([], 'mem');
    c.setValue('k', { type: 'ullong', value: 3n });
    expect(thrown(() => c.getString('k')).message).toBe(
      "internal error: mem: expected a string for 'k' parameter",
    );
  });
});

describe('readVirConfFile', () => {
  it('reads a file and reports read failures like libvirt', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'qvirt-virconf-'));
    try {
      const file = path.join(dir, 'a.conf');
      await writeFile(file, 'a = 1');
      expect((await readVirConfFile(file)).file).toBe(file);
      const missing = path.join(dir, 'missing.conf');
      const err = await readVirConfFile(missing).catch((e: unknown) => e as VirError);
      expect(err).toBeInstanceOf(VirError);
      expect((err as VirError).code).toBe('SYSTEM_ERROR');
      expect((err as VirError).message).toBe(`Failed to open file '${missing}': No such file or directory`);
      await expect(readVirConfFile(dir)).rejects.toThrow(`Failed to read file '${dir}': Is a directory`);
      const big = path.join(dir, 'big.conf');
      await writeFile(big, `#${'x'.repeat(10 * 1024 * 1024)}\n`);
      await expect(readVirConfFile(big)).rejects.toThrow(
        `Failed to read file '${big}': Value too large for defined data type`,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
