import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../index.js';
import { makeTestDir } from '../test-support/embed-root.js';
import {
  type CliTestDaemon,
  hasVirsh,
  qvirshOn,
  type Run,
  startCliTestDaemon,
  virshOn,
} from '../test-support/test-daemon.js';

let t: CliTestDaemon;
let dir: string;
let uri: string;

const virsh = virshOn(() => uri);
const qvirsh = qvirshOn(() => uri);

const A = '0f1e2d3c-4b5a-4697-8877-665544332211';
const B = '1f1e2d3c-4b5a-4697-8877-665544332211';

describe.skipIf(!hasVirsh)('secret commands: virsh and qvirsh through qvirtd', () => {
  beforeAll(async () => {
    t = await startCliTestDaemon('qvirt-cli-secret-');
    ({ dir, uri } = t);
    writeFileSync(
      path.join(dir, 'a.xml'),
      `<secret ephemeral='no' private='no'><uuid>${A}</uuid><description>disk &amp; key</description><usage type='volume'><volume>/images/a.qcow2</volume></usage></secret>`,
    );
    writeFileSync(
      path.join(dir, 'b.xml'),
      `<secret ephemeral='yes' private='yes'><uuid>${B}</uuid><usage type='ceph'><name>client.admin secret</name></usage></secret>`,
    );
    writeFileSync(
      path.join(dir, 'clash.xml'),
      `<secret><usage type='volume'><volume>/images/a.qcow2</volume></usage></secret>`,
    );
    writeFileSync(path.join(dir, 'bad.xml'), "<secret><usage type='nfs'/></secret>");
    writeFileSync(path.join(dir, 'value.b64'), Buffer.from('s3cret\x00\xff').toString('base64'));
    writeFileSync(path.join(dir, 'value.txt'), 'plain words');
  });
  afterAll(async () => {
    await t?.stop();
  });

  /** Runs one sequence with a tool; answers each command's result. */
  const sequence = async (tool: (...argv: string[]) => Promise<Run>) => {
    const f = (n: string) => path.join(dir, n);
    const steps: string[][] = [
      ['secret-define', f('a.xml')],
      ['secret-define', f('b.xml')],
      ['secret-define', f('clash.xml')],
      ['secret-define', f('bad.xml')],
      ['secret-list'],
      ['secret-list', '--ephemeral'],
      ['secret-list', '--no-private', '--no-ephemeral'],
      ['secret-dumpxml', A],
      ['secret-dumpxml', B],
      ['secret-get-value', A],
      ['secret-set-value', A, '--file', f('value.b64')],
      ['secret-get-value', A],
      ['secret-set-value', A, '--file', f('value.txt'), '--plain'],
      ['secret-get-value', A, '--plain'],
      ['secret-set-value', B, '--file', f('value.b64')],
      ['secret-get-value', B],
      ['secret-set-value', A],
      ['secret-set-value', A, '--file', f('value.txt'), '--base64', 'eA=='],
      ['secret-dumpxml', 'not-a-uuid'],
      ['secret-event', '--list'],
      ['secret-event', '--event', 'lifecycle', '--timeout', '1'],
      ['secret-event'],
      ['secret-event', '--event', 'nope'],
      ['secret-undefine', A],
      ['secret-undefine', B],
      ['secret-undefine', A],
      ['secret-list'],
    ];
    const out: Array<{ argv: string[] } & Run> = [];
    for (const argv of steps) out.push({ argv, ...(await tool(...argv)) });
    return out;
  };

  it('prints the same for define, list, dumpxml, set/get value, undefine and their errors', async () => {
    const real = await sequence(virsh);
    const ours = await sequence(qvirsh);
    for (const [i, r] of real.entries()) {
      const q = ours[i]!;
      expect(q.err, r.argv.join(' ')).toBe(r.err);
      expect(q.code, r.argv.join(' ')).toBe(r.code === 0 ? 0 : 1);
      // virsh ends even a failed command with a blank line; qvirsh prints nothing then
      if (r.code === 0 || r.out !== '\n') expect(q.out, r.argv.join(' ')).toBe(r.out);
    }
    expect(real.find((r) => r.argv[0] === 'secret-get-value' && r.argv[1] === B)?.err).toBe(
      'error: Invalid secret: secret is private\n',
    );
  });
});

describe('secret commands in process (qemu:///embed)', () => {
  it("open the instance's secret driver beside QemuDriver: define, set, get, list, undefine", async () => {
    const { dir: d, root } = makeTestDir('qvirt-cli-secret-embed-');
    const embed = `qemu:///embed?root=${root}`;
    const run = async (...argv: string[]) => {
      let out = '';
      let err = '';
      const code = await main(['-c', embed, ...argv], { out: (t) => (out += t), err: (t) => (err += t) });
      return { code, out, err };
    };
    try {
      const file = path.join(d, 's.xml');
      writeFileSync(
        file,
        `<secret private='yes'><uuid>${A}</uuid><usage type='tls'><name>t</name></usage></secret>`,
      );
      writeFileSync(path.join(d, 'v'), 'dGxz');
      expect(await run('secret-define', file)).toEqual({ code: 0, out: `Secret ${A} created\n\n`, err: '' });
      expect((await run('secret-set-value', A, '--file', path.join(d, 'v'))).out).toBe(
        'Secret value set\n\n',
      );
      expect((await run('secret-get-value', A)).err).toBe('error: Invalid secret: secret is private\n');
      expect((await run('secret-list', '--private')).out).toBe(
        ` UUID                                   Usage\n${'-'.repeat(47)}\n ${A}   tls t\n\n`,
      );
      expect(readdirSync(path.join(root, 'etc/secrets')).sort()).toEqual(
        [`${A}.aes256gcm`, `${A}.xml`, 'secrets-encryption-key'].sort(),
      );
      expect((await run('secret-undefine', A)).out).toBe(`Secret ${A} deleted\n\n`);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
