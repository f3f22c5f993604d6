/**
 * Targets for packages that are written after this one: qvirtd's XDR decoder
 * (`packages/remote`) and virt-aa-helper's CLI logic (`packages/apparmor-svirt`). Each is loaded
 * from the package's built `dist/index.js` when that exists, and looked up by the first export
 * found among a few names, so the target turns itself on once the package is built:
 *
 * - remote: `PacketFramer` (the stream split on length words), `decodePacket` (the header) and
 *   `XdrReader` (the body, read as a fuzzed sequence of XDR types, as a procedure's arguments
 *   are). A rejection is a thrown `VirError`.
 * - apparmor-svirt: `runHelper(io)` with `nodeHelperFs()` for reads; writes and
 *   apparmor_parser go nowhere, and `--dryrun` is always passed first. The CLI must not throw; a
 *   failure is a non-zero exit status with a message on stderr (`virt-aa-helper: error: …`, or
 *   the usage after a bad option, as libvirt's).
 *
 * A package whose exports change needs its adapter changed here, nowhere else.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { aaHelperXmls, REPO_ROOT } from './corpus.js';
import {
  applyDamage,
  damageArb,
  hostileValue,
  listOpArb,
  mutateList,
  mutateTree,
  parseSeeds,
  printTree,
  vocabulary,
  xmlOpArb,
} from './mutate.js';
import type { FuzzTarget } from './targets.js';

type AnyFn = (...args: any[]) => any;

/** The named exports of a package's built modules (the first module that has each), or why not. */
async function loadExports(
  pkg: string,
  modules: readonly string[],
  names: readonly string[],
): Promise<Record<string, AnyFn> | string> {
  const found: Record<string, AnyFn> = {};
  for (const m of modules) {
    const entry = path.join(REPO_ROOT, 'packages', pkg, 'dist', m);
    if (!existsSync(entry)) continue;
    try {
      const mod = (await import(pathToFileURL(entry).href)) as Record<string, unknown>;
      for (const n of names) if (!found[n] && typeof mod[n] === 'function') found[n] = mod[n] as AnyFn;
    } catch (err) {
      return `packages/${pkg}/dist/${m} does not load: ${(err as Error).message.split('\n')[0]}`;
    }
  }
  const missing = names.filter((n) => !found[n]);
  if (missing.length > 0) return `packages/${pkg} is not built or exports no ${missing.join(', ')}`;
  return found;
}

// ---- XDR (libvirt RPC packets) ------------------------------------------------------------------

const REMOTE_PROGRAM = 0x20008086;
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return [...b];
};

/** A libvirt RPC header (program, version, procedure, type, serial, status) and an XDR body. */
function packetArb(): fc.Arbitrary<Uint8Array> {
  const word = fc.oneof(
    fc.constantFrom(0, 1, 2, 3, 0x7fffffff, 0x80000000, 0xffffffff, 262144, 4194304, 33554432),
    fc.nat(),
    fc.integer({ min: 0, max: 0xffffffff }),
  );
  const xdrString = fc
    .tuple(fc.oneof(hostileValue, fc.string({ maxLength: 40 })), fc.option(word))
    .map(([s, len]) => {
      const b = Buffer.from(s);
      const pad = (4 - (b.length % 4)) % 4;
      return [...u32(len ?? b.length), ...b, ...new Array(pad).fill(0)];
    });
  const body = fc
    .array(
      fc.oneof(
        word.map(u32),
        xdrString,
        fc.uint8Array({ maxLength: 12 }).map((a) => [...a]),
      ),
      {
        maxLength: 12,
      },
    )
    .map((parts) => parts.flat());
  const header = fc.record({
    program: fc.oneof(fc.constant(REMOTE_PROGRAM), fc.constantFrom(0x20008087, 0x4b4c4d50), word),
    version: fc.oneof(fc.constant(1), word),
    procedure: fc.oneof(fc.integer({ min: 0, max: 450 }), word),
    type: fc.oneof(fc.integer({ min: 0, max: 4 }), word),
    serial: word,
    status: fc.oneof(fc.integer({ min: 0, max: 3 }), word),
    lengthDelta: fc.oneof(fc.constant(0), fc.integer({ min: -8, max: 8 }), word),
  });
  const structured = fc.tuple(header, body).map(([h, b]) => {
    const rest = [h.program, h.version, h.procedure, h.type, h.serial, h.status].flatMap(u32).concat(b);
    const len = h.lengthDelta > 16 ? h.lengthDelta : 4 + rest.length + h.lengthDelta;
    return Uint8Array.from([...u32(len), ...rest]);
  });
  return fc.oneof(
    { weight: 6, arbitrary: structured },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }) },
    {
      weight: 2,
      arbitrary: fc.tuple(structured, fc.nat(), fc.nat({ max: 255 })).map(([p, at, v]) => {
        const c = Uint8Array.from(p);
        if (c.length > 0) c[at % c.length] = v;
        return c;
      }),
    },
  );
}

type ReadOp =
  | 'int'
  | 'uint'
  | 'bool'
  | 'hyper'
  | 'uhyper'
  | 'string'
  | 'opaque'
  | 'optional'
  | 'array'
  | 'fixed';
const readOpArb: fc.Arbitrary<ReadOp[]> = fc.array(
  fc.constantFrom<ReadOp>(
    'int',
    'uint',
    'bool',
    'hyper',
    'uhyper',
    'string',
    'opaque',
    'optional',
    'array',
    'fixed',
  ),
  { maxLength: 10 },
);

/** Reads `ops` from an XdrReader the way generated procedure decoders do, bounded as libvirt's are. */
function readAll(reader: any, ops: readonly ReadOp[]): void {
  for (const op of ops) {
    switch (op) {
      case 'string':
        reader.string(4194304);
        break;
      case 'opaque':
        reader.opaque(262144);
        break;
      case 'optional':
        reader.optional((r: any) => r.string(4194304));
        break;
      case 'array':
        reader.array((r: any) => r.string(4194304), 16384);
        break;
      case 'fixed':
        reader.fixedOpaque(16);
        break;
      default:
        reader[op]();
    }
  }
  reader.done();
}

// ---- virt-aa-helper -------------------------------------------------------------------------------

const AA_UUID = 'libvirt-00000000-0000-0000-0000-0123456789ab';

function aaHelperArb(): fc.Arbitrary<{ argv: string[]; stdin: string }> {
  const texts = aaHelperXmls();
  const trees = parseSeeds(texts);
  const vocab = vocabulary(trees);
  const stdin = fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .tuple(fc.nat({ max: trees.length - 1 }), fc.array(xmlOpArb(vocab, trees.length), { maxLength: 5 }))
        .map(([i, ops]) => printTree(mutateTree(trees[i]!, ops, vocab, trees))),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.nat({ max: texts.length - 1 }), fc.array(damageArb, { minLength: 1, maxLength: 3 }))
        .map(([i, d]) => applyDamage(texts[i]!, d)),
    },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
  );
  const flag = fc.oneof(
    fc.constantFrom(
      '-c',
      '-r',
      '-R',
      '-p',
      '-h',
      '-u',
      '-f',
      '-F',
      '-a',
      '-z',
      '--create',
      '--replace',
      '--remove',
    ),
    fc.constantFrom('--uuid', '--add-file', '--append-file', '--probing', '-p0', '-p1', '--', '-', '-uu'),
    fc.constantFrom(AA_UUID, 'libvirt-00000000-0000-0000-0000-00000000000g', 'libvirt-', '/tmp/x.img'),
    hostileValue,
  );
  const bases: string[][] = [
    ['-c', '-u', AA_UUID],
    ['-r', '-u', AA_UUID],
    ['-R', '-u', AA_UUID],
    ['-r', '-u', AA_UUID, '-f', '/tmp/qvirt-fuzz/1.img'],
    ['-p'],
  ];
  const argv = fc
    .tuple(fc.nat({ max: bases.length - 1 }), fc.array(listOpArb(flag), { maxLength: 4 }))
    .map(([i, ops]) => ['--dryrun', ...mutateList(bases[i]!, ops)]);
  return fc.record({ argv, stdin });
}

export async function optionalTargets(): Promise<{ targets: FuzzTarget<any>[]; skipped: string[] }> {
  const targets: FuzzTarget<any>[] = [];
  const skipped: string[] = [];

  const xdr = await loadExports(
    'remote',
    ['index.js', 'rpc/index.js', 'xdr/index.js'],
    ['PacketFramer', 'decodePacket', 'XdrReader'],
  );
  if (typeof xdr === 'string') skipped.push(`xdr: ${xdr}`);
  else {
    const { PacketFramer, decodePacket, XdrReader } = xdr as Record<string, any>;
    targets.push({
      name: 'xdr',
      description: 'qvirtd: a byte stream through the packet framer, header decoder and XDR reader',
      arbitrary: () => fc.record({ packet: packetArb(), ops: readOpArb }),
      run: ({ packet, ops }: { packet: Uint8Array; ops: ReadOp[] }) => {
        const framer = new PacketFramer();
        for (const body of framer.push(Buffer.from(packet)) as Buffer[]) {
          const { payload } = decodePacket(body);
          readAll(new XdrReader(payload), ops);
        }
      },
      show: ({ packet, ops }: { packet: Uint8Array; ops: ReadOp[] }) =>
        `${Buffer.from(packet).toString('hex')} read as ${ops.join(',')}`,
    } satisfies FuzzTarget<{ packet: Uint8Array; ops: ReadOp[] }>);
  }

  const aa = await loadExports(
    'apparmor-svirt',
    ['index.js', 'cli.js', 'node-io.js'],
    ['runHelper', 'nodeHelperFs'],
  );
  if (typeof aa === 'string') skipped.push(`aa-helper: ${aa}`);
  else {
    const { runHelper, nodeHelperFs } = aa as Record<string, any>;
    targets.push({
      name: 'aa-helper',
      description:
        'virt-aa-helper --dryrun: fuzzed flags and domain XML on stdin (writes and apparmor_parser stubbed)',
      arbitrary: aaHelperArb,
      run: async ({ argv, stdin }: { argv: string[]; stdin: string }) => {
        const real = nodeHelperFs();
        let said = '';
        const status = await runHelper({
          args: argv,
          argv0: 'virt-aa-helper',
          readStdin: async (limit: number) => stdin.slice(0, limit + 1),
          // libvirt's helper prints its usage on stdout, its errors on stderr
          stdout: (t: string) => {
            said += t;
          },
          stderr: (t: string) => {
            said += t;
          },
          fs: { ...real, writeFile: async () => {}, unlink: async () => {} },
          runParser: async () => 0,
          apparmorDir: '/nonexistent/qvirt-fuzz/apparmor.d',
        });
        if (!Number.isInteger(status)) throw new Error(`no integer exit status: ${String(status)}`);
        // libvirt's helper prints its usage (several lines, on stdout) after a bad option: what is
        // checked is that a failure always says something, and that the helper never throws
        if (status !== 0 && said.trim() === '') throw new Error(`exit ${status} saying nothing`);
      },
      show: ({ argv, stdin }: { argv: string[]; stdin: string }) => `${JSON.stringify(argv)}\n${stdin}`,
    } satisfies FuzzTarget<{ argv: string[]; stdin: string }>);
  }
  return { targets, skipped };
}
