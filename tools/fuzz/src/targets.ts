/**
 * The fuzz targets: what each one feeds, and to which entry point. A target's `run` throws for a
 * rejection (checked by `classify`); `check` adds a property beyond "no untyped exception" where
 * there is one to state (a URI that parses prints back to one that parses the same).
 *
 * Targets whose package is not built yet (`@qvirt/apparmor-svirt`'s virt-aa-helper, qvirtd's XDR
 * decoder) are listed but skipped until the package's `dist/` is there: see optional-targets.ts.
 */
import {
  formatConnectionUri,
  parseConnectionUri,
  parseDomainXML,
  parseQemuConf,
  QEMU_CONF_KEYS,
  VirError,
} from '@qvirt/core';
import {
  buildCommandLine,
  canonicalizeDomain,
  domxmlFromNative,
  domxmlFromNativeWords,
  formatCommandLine,
  referenceContext,
} from '@qvirt/qemu-argv';
import fc from 'fast-check';
import { commandLines, confTexts, domainXmls } from './corpus.js';
import {
  applyDamage,
  damageArb,
  HOSTILE_VALUES,
  hostileValue,
  listOpArb,
  mutateList,
  mutateTree,
  parseSeeds,
  printTree,
  syntaxString,
  vocabulary,
  xmlOpArb,
} from './mutate.js';
import { optionalTargets } from './optional-targets.js';

export interface FuzzTarget<T = unknown> {
  name: string;
  /** What it feeds and to what, for the report. */
  description: string;
  arbitrary(): fc.Arbitrary<T>;
  run(input: T): unknown;
  /** How a failing input is printed (default: JSON). */
  show?(input: T): string;
}

/** Damaged text: the seed's own text with byte-level edits. */
function damagedText(seeds: readonly string[]): fc.Arbitrary<string> {
  return fc
    .tuple(fc.nat({ max: seeds.length - 1 }), fc.array(damageArb, { minLength: 1, maxLength: 4 }))
    .map(([i, d]) => applyDamage(seeds[i]!, d));
}

function rawText(maxLength: number): fc.Arbitrary<string> {
  return fc.oneof(
    fc.string({ unit: 'binary', maxLength }),
    fc.string({ unit: 'grapheme-ascii', maxLength }),
    syntaxString,
  );
}

// ---- domain XML -------------------------------------------------------------------------------

function domainXmlArb(): fc.Arbitrary<string> {
  const texts = domainXmls();
  const trees = parseSeeds(texts);
  const vocab = vocabulary(trees);
  const mutated = fc
    .tuple(
      fc.nat({ max: trees.length - 1 }),
      fc.array(xmlOpArb(vocab, trees.length), { minLength: 1, maxLength: 6 }),
      fc.array(damageArb, { maxLength: 1 }),
    )
    .map(([i, ops, damage]) => applyDamage(printTree(mutateTree(trees[i]!, ops, vocab, trees)), damage));
  const wrapped = fc
    .tuple(fc.constantFrom(...vocab.elements), hostileValue, syntaxString)
    .map(([el, v, junk]) => `<domain type='qemu'><name>n</name><${el} a='x'>${v}</${el}>${junk}</domain>`);
  return fc.oneof(
    { weight: 12, arbitrary: mutated },
    { weight: 2, arbitrary: damagedText(texts) },
    { weight: 1, arbitrary: wrapped },
    { weight: 1, arbitrary: rawText(400) },
  );
}

const ctx = referenceContext();

const domainXml: FuzzTarget<string> = {
  name: 'domain-xml',
  description:
    'parseDomainXML then canonicalizeDomain (libvirt post-parse) of strings and mutated corpus XML',
  arbitrary: domainXmlArb,
  run: (xml) => canonicalizeDomain(parseDomainXML(xml), ctx),
  show: (xml) => xml,
};

const domainArgv: FuzzTarget<string> = {
  name: 'domain-xml-argv',
  description: 'the same inputs on through buildCommandLine and formatCommandLine (domxml-to-native)',
  arbitrary: domainXmlArb,
  run: (xml) => formatCommandLine(buildCommandLine(canonicalizeDomain(parseDomainXML(xml), ctx), ctx)),
  show: (xml) => xml,
};

// ---- qemu.conf --------------------------------------------------------------------------------

const confValue: fc.Arbitrary<string> = fc.letrec<{ value: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.integer().map(String),
    fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }).map(String),
    fc.constantFrom('0', '1', '-1', '0x10', '010', '1e5', '9223372036854775808', '+5'),
    hostileValue.map((v) => JSON.stringify(v)),
    hostileValue.map((v) => `"${v}"`),
    fc.array(tie('value'), { maxLength: 4 }).map((vs) => `[ ${vs.join(', ')} ]`),
    fc.constantFrom('[', ']', '"', '[ "a", ]', '[,]', '""', "'x'", 'yes', 'true'),
  ),
})).value;

function qemuConfArb(): fc.Arbitrary<string> {
  const keys = [...QEMU_CONF_KEYS.map((k) => k.key), 'unknown_key', 'user', 'group', 'security_driver'];
  const line = fc.oneof(
    { weight: 8, arbitrary: fc.tuple(fc.constantFrom(...keys), confValue).map(([k, v]) => `${k} = ${v}`) },
    { weight: 1, arbitrary: syntaxString },
    { weight: 1, arbitrary: hostileValue.map((v) => `# ${v}`) },
    { weight: 1, arbitrary: fc.tuple(hostileValue, confValue).map(([k, v]) => `${k}=${v}`) },
  );
  const generated = fc
    .tuple(fc.array(line, { maxLength: 12 }), fc.constantFrom('\n', '\r\n', ''))
    .map(([ls, end]) => ls.join('\n') + end);
  const seeds = confTexts().map((t) => t.split('\n'));
  const mutated = fc
    .tuple(fc.nat({ max: seeds.length - 1 }), fc.array(listOpArb(line), { minLength: 1, maxLength: 6 }))
    .map(([i, ops]) => mutateList(seeds[i]!, ops).join('\n'));
  return fc.oneof(
    { weight: 5, arbitrary: generated },
    { weight: 4, arbitrary: mutated },
    { weight: 2, arbitrary: damagedText(confTexts()) },
    { weight: 1, arbitrary: rawText(300) },
  );
}

const qemuConf: FuzzTarget<{ text: string; privileged: boolean }> = {
  name: 'qemu-conf',
  description: 'parseQemuConf (virConf syntax, types and libvirt 9.0 checks), privileged and not',
  arbitrary: () => fc.record({ text: qemuConfArb(), privileged: fc.boolean() }),
  run: ({ text, privileged }) => parseQemuConf(text, { privileged, userConfigDir: '/nonexistent/qvirt' }),
  show: ({ text, privileged }) => `privileged=${privileged}\n${text}`,
};

/** encodeURIComponent, with lone surrogates (which it refuses) written as U+FFFD first. */
function percentEncode(v: string): string {
  let out = '';
  for (const ch of v) {
    try {
      out += encodeURIComponent(ch);
    } catch {
      out += '%EF%BF%BD';
    }
  }
  return out;
}

// ---- connection URIs --------------------------------------------------------------------------

const PARAMS = [
  'root',
  'socket',
  'no_verify',
  'no_tty',
  'no_sanity',
  'pkipath',
  'keyfile',
  'name',
  'command',
  'netcat',
  'mode',
  'proxy',
  'sshauth',
  'known_hosts',
  'known_hosts_verify',
  'tls_priority',
  'auth',
  'authfile',
  'transport',
];

function uriArb(): fc.Arbitrary<string> {
  const scheme = fc.oneof(
    fc.constantFrom(
      'qemu',
      'qemu+ssh',
      'qemu+tcp',
      'qemu+tls',
      'qemu+unix',
      'qemu+ext',
      'qemu+libssh',
      'qemu+libssh2',
      'QEMU',
      'qemu+',
      'qemu+foo',
      'test',
      'xen',
      'remote',
      '',
    ),
    fc.string({ maxLength: 8 }),
  );
  const authority = fc.record({
    user: fc.option(
      fc.oneof(fc.constantFrom('root', 'a:b', '%40', ''), hostileValue, hostileValue.map(percentEncode)),
      {
        nil: undefined,
      },
    ),
    host: fc.option(
      fc.oneof(
        fc.constantFrom('localhost', 'example.com', '[::1]', '[fe80::1%25eth0]', '::1', '[', '127.0.0.1', ''),
        fc.domain(),
        hostileValue,
      ),
      { nil: undefined },
    ),
    port: fc.option(
      fc.oneof(
        fc.integer({ min: -2, max: 70_000 }).map(String),
        fc.constantFrom('', 'x', '0x16', '99999999999'),
      ),
      { nil: undefined },
    ),
  });
  const pathArb = fc.oneof(
    fc.constantFrom('/system', '/session', '/embed', '//system', '/system/', '', '/', '/foo'),
    hostileValue.map((v) => `/${v}`),
  );
  const query = fc.array(
    fc.tuple(
      fc.oneof(fc.constantFrom(...PARAMS), hostileValue),
      fc.option(fc.oneof(hostileValue, hostileValue.map(percentEncode)), { nil: undefined }),
    ),
    { maxLength: 4 },
  );
  const structured = fc
    .tuple(scheme, fc.option(authority, { nil: undefined }), pathArb, query, fc.option(hostileValue))
    .map(([s, a, p, q, frag]) => {
      let uri = `${s}:`;
      if (a)
        uri += `//${a.user !== undefined ? `${a.user}@` : ''}${a.host ?? ''}${a.port !== undefined ? `:${a.port}` : ''}`;
      else uri += '//';
      uri += p;
      if (q.length > 0) uri += `?${q.map(([k, v]) => (v === undefined ? k : `${k}=${v}`)).join('&')}`;
      if (frag !== null) uri += `#${frag}`;
      return uri;
    });
  const seeds = [
    'qemu:///system',
    'qemu:///session',
    'qemu:///embed?root=/tmp/x',
    'qemu+ssh://root@example.com/system?keyfile=/root/.ssh/id&no_verify=1',
    'qemu+tls://host.example.com:16514/system?pkipath=/etc/pki',
    'qemu+unix:///system?socket=/run/libvirt/libvirt-sock',
    'qemu+ext:///system?command=/bin/true',
    'qemu+tcp://[::1]:16509/session?name=qemu:///session',
  ];
  // mostly well-formed: a known scheme, host and instance, parameters with plausible values and
  // one hostile part, so the checks after the syntax get inputs too
  const good: Record<string, string[]> = {
    root: ['/tmp/x', '/var/lib/x y', 'rel'],
    socket: ['/run/x.sock'],
    no_verify: ['0', '1'],
    no_tty: ['1'],
    pkipath: ['/etc/pki'],
    keyfile: ['/root/.ssh/id_rsa'],
    name: ['qemu:///system'],
    command: ['/bin/true'],
    netcat: ['nc'],
    mode: ['auto', 'direct', 'legacy'],
    proxy: ['auto', 'native', 'netcat'],
    sshauth: ['agent,privkey', 'password'],
    known_hosts: ['/root/.ssh/known_hosts'],
    known_hosts_verify: ['normal', 'auto', 'ignore'],
    tls_priority: ['NORMAL'],
  };
  const plausible = fc
    .tuple(
      fc.constantFrom('qemu', 'qemu+ssh', 'qemu+tcp', 'qemu+tls', 'qemu+unix', 'qemu+ext', 'qemu+libssh'),
      fc.constantFrom('', 'localhost', 'root@example.com', 'example.com:2222', '[::1]'),
      fc.constantFrom('system', 'session', 'embed'),
      fc.array(
        fc
          .constantFrom(...Object.keys(good))
          .chain((k) =>
            fc.tuple(
              fc.constant(k),
              fc.oneof(
                { weight: 4, arbitrary: fc.constantFrom(...good[k]!) },
                hostileValue.map(percentEncode),
              ),
            ),
          ),
        { maxLength: 3 },
      ),
    )
    .map(
      ([scheme, host, inst, q]) =>
        `${scheme}://${host}/${inst}${q.length ? `?${q.map(([k, v]) => `${k}=${v}`).join('&')}` : ''}`,
    );
  return fc.oneof(
    { weight: 5, arbitrary: plausible },
    { weight: 4, arbitrary: structured },
    { weight: 3, arbitrary: damagedText(seeds) },
    { weight: 1, arbitrary: rawText(120) },
  );
}

const uris: FuzzTarget<string> = {
  name: 'uri',
  description: 'parseConnectionUri (strict and lax); an accepted URI formats to one that parses the same',
  arbitrary: uriArb,
  run: (text) => {
    for (const strict of [true, false]) {
      let parsed: ReturnType<typeof parseConnectionUri>;
      try {
        parsed = parseConnectionUri(text, { strict });
      } catch (err) {
        if (err instanceof VirError && strict) continue;
        throw err;
      }
      const printed = formatConnectionUri(parsed);
      const again = parseConnectionUri(printed, { strict: false });
      if (formatConnectionUri(again) !== printed) {
        throw new Error(
          `round trip changed ${JSON.stringify(printed)} into ${JSON.stringify(formatConnectionUri(again))}`,
        );
      }
    }
  },
};

// ---- argv import ------------------------------------------------------------------------------

function argvWords(line: string): string[] {
  // the corpus lines are shell words as virsh prints them: a simple split of the unquoted ones is
  // enough to get options and values apart for mutation
  return line
    .replace(/\\\n/g, ' ')
    .split(/\s+/)
    .filter(Boolean)
    .map((w) => w.replace(/^'(.*)'$/, '$1'));
}

function argvArb(): fc.Arbitrary<{ words?: string[]; text?: string }> {
  const lines = commandLines();
  const seeds = lines.map(argvWords);
  const options = [...new Set(seeds.flat().filter((w) => w.startsWith('-')))].sort();
  const values = [...new Set(seeds.flat().filter((w) => !w.startsWith('-') && w.length < 200))].sort();
  const subValue = fc.tuple(fc.constantFrom(...values), fc.nat(), hostileValue).map(([v, at, h]) => {
    // replace one comma-separated part, or the value of one key=value
    const parts = v.split(',');
    const i = at % parts.length;
    const eq = parts[i]!.indexOf('=');
    parts[i] = eq >= 0 && at % 2 === 0 ? `${parts[i]!.slice(0, eq + 1)}${h}` : h;
    return parts.join(',');
  });
  const word = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...options) },
    { weight: 4, arbitrary: subValue },
    { weight: 2, arbitrary: fc.constantFrom(...values) },
    { weight: 2, arbitrary: hostileValue },
  );
  const mutated = fc
    .tuple(fc.nat({ max: seeds.length - 1 }), fc.array(listOpArb(word), { minLength: 1, maxLength: 6 }))
    .map(([i, ops]) => ({ words: mutateList(seeds[i]!, ops) }));
  const generated = fc
    .tuple(
      fc.constantFrom('/usr/bin/qemu-system-x86_64', '/usr/bin/qemu-kvm', 'qemu', ''),
      fc.array(word, { maxLength: 16 }),
    )
    .map(([bin, ws]) => ({ words: ['LC_ALL=C', bin, ...ws] }));
  return fc.oneof(
    { weight: 8, arbitrary: mutated },
    { weight: 3, arbitrary: generated },
    { weight: 2, arbitrary: damagedText(lines).map((text) => ({ text })) },
    { weight: 1, arbitrary: rawText(300).map((text) => ({ text })) },
  );
}

const argvImport: FuzzTarget<{ words?: string[]; text?: string }> = {
  name: 'argv-import',
  description: 'domxmlFromNative (text) and domxmlFromNativeWords (mutated corpus command lines)',
  arbitrary: argvArb,
  run: (input) => (input.words ? domxmlFromNativeWords(input.words) : domxmlFromNative(input.text ?? '')),
  show: (input) => (input.words ? JSON.stringify(input.words) : (input.text ?? '')),
};

export const HOSTILE_SAMPLE = HOSTILE_VALUES;

/** Every target, the optional ones only when their package is built. */
export async function allTargets(): Promise<{ targets: FuzzTarget<any>[]; skipped: string[] }> {
  const optional = await optionalTargets();
  return {
    targets: [domainXml, domainArgv, qemuConf, uris, argvImport, ...optional.targets],
    skipped: optional.skipped,
  };
}
