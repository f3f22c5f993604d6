/**
 * qvirsh's pool-* and vol-* commands against the real virsh (libvirt-clients 9.0), both talking
 * to one qvirtd: every step runs through virsh and through qvirsh, and their stdout, stderr and
 * exit status must be the same. virsh's uploads and downloads also prove the daemon's stream
 * packets are libvirt's own.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../index.js';
import { type CliTestDaemon, startCliTestDaemon } from '../test-support/test-daemon.js';

const VIRSH = '/usr/bin/virsh';
const hasVirsh = existsSync(VIRSH);

interface Out {
  code: number;
  out: string;
  err: string;
}

describe.skipIf(!hasVirsh)('qvirsh and virsh storage commands through qvirtd', () => {
  let t: CliTestDaemon;
  beforeAll(async () => {
    t = await startCliTestDaemon('qvirt-cli-storage-');
  }, 60_000);
  afterAll(async () => {
    await t?.stop();
  });

  const virsh = (...argv: string[]) =>
    new Promise<Out>((resolve) => {
      execFile(
        VIRSH,
        ['-c', t.uri, ...argv],
        { env: { ...process.env, LC_ALL: 'C' } },
        (err, stdout, stderr) => {
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout, err: stderr });
        },
      );
    });
  const qvirsh = async (...argv: string[]): Promise<Out> => {
    let out = '';
    let err = '';
    const code = await main(['-c', t.uri, ...argv], { out: (s) => (out += s), err: (s) => (err += s) });
    return { code, out, err };
  };
  /** Runs a command both ways and expects the same answer (a failed one ends with virsh's blank line too). */
  const same = async (...argv: string[]) => {
    const v = await virsh(...argv);
    const q = await qvirsh(...argv);
    expect(q, argv.join(' ')).toEqual(v);
    return v;
  };
  /** Runs a changing command one way, expecting what virsh prints (with the name substituted). */
  const printsLike = (q: Out, v: Out) => expect(q).toEqual(v);

  it('defines, builds and starts pools as virsh reports them', async () => {
    const dir = (n: string) => path.join(t.dir, n);
    printsLike(
      await qvirsh('pool-define-as', 'q1', 'dir', '--target', dir('q1')),
      await virsh('pool-define-as', 'v1', 'dir', '--target', dir('v1')).then((v) => ({
        ...v,
        out: v.out.replace('v1', 'q1'),
      })),
    );
    for (const [cmd, word] of [
      ['pool-build', 'built'],
      ['pool-start', 'started'],
      ['pool-autostart', 'marked as autostarted'],
      ['pool-refresh', 'refreshed'],
    ] as const) {
      const v = await virsh(cmd, 'v1');
      const q = await qvirsh(cmd, 'q1');
      expect(v.out).toBe(`Pool v1 ${word}\n\n`);
      expect(q.out).toBe(`Pool q1 ${word}\n\n`);
    }
    await same('pool-list');
    await same('pool-list', '--all', '--details');
    await same('pool-info', 'q1');
    await same('pool-info', 'v1', '--bytes');
    await same('pool-dumpxml', 'q1');
    await same('pool-dumpxml', '--inactive', 'v1');
    await same('pool-capabilities');
    await same('pool-info', 'nope');
    await same('pool-start', 'q1');
  }, 120_000);

  it('creates, lists, describes, resizes, clones, wipes and deletes volumes alike', async () => {
    for (const [tool, pool] of [
      [virsh, 'v1'],
      [qvirsh, 'q1'],
    ] as const) {
      expect((await tool('vol-create-as', pool, 'a', '1M')).out).toBe('Vol a created\n\n');
      expect(
        (
          await tool(
            'vol-create-as',
            pool,
            'b.qcow2',
            '8M',
            '--format',
            'qcow2',
            '--backing-vol',
            'a',
            '--backing-vol-format',
            'raw',
          )
        ).out,
      ).toBe('Vol b.qcow2 created\n\n');
      expect((await tool('vol-clone', 'a', 'c', '--pool', pool)).out).toBe('Vol c cloned from a\n\n');
      expect((await tool('vol-resize', 'c', '2M', '--pool', pool)).out).toBe(
        "Size of volume 'c' successfully changed to 2M\n\n",
      );
      expect((await tool('vol-wipe', 'c', '--pool', pool)).out).toBe('Vol c wiped\n\n');
    }
    for (const pool of ['q1', 'v1']) {
      await same('vol-list', pool);
      await same('vol-list', pool, '--details');
      await same('vol-info', 'a', '--pool', pool);
      await same('vol-info', 'c', '--pool', pool, '--bytes');
      await same('vol-key', 'a', '--pool', pool);
      await same('vol-path', 'b.qcow2', '--pool', pool);
      await same('vol-name', path.join(t.dir, pool, 'a'));
      await same('vol-pool', path.join(t.dir, pool, 'a'));
      await same('vol-create-as', pool, 'x/y', '1M');
      await same('vol-create-as', pool, '..', '1M');
      await same('vol-create-as', pool, 'a', '1M');
      await same('vol-resize', 'a', '10K', '--pool', pool);
      await same('vol-info', 'nope');
    }
    for (const [tool, pool] of [
      [virsh, 'v1'],
      [qvirsh, 'q1'],
    ] as const) {
      expect((await tool('vol-delete', 'c', '--pool', pool)).out).toBe('Vol c deleted\n\n');
    }
  }, 120_000);

  it('uploads with one and downloads with the other, byte for byte, sparse too', async () => {
    const data = randomBytes(700_000);
    const up = path.join(t.dir, 'up.bin');
    writeFileSync(up, data);
    for (const [tool, other, pool] of [
      [virsh, qvirsh, 'q1'],
      [qvirsh, virsh, 'v1'],
    ] as const) {
      expect(await tool('vol-upload', 'a', up, '--pool', pool)).toEqual({ code: 0, out: '\n', err: '' });
      const down = path.join(t.dir, `down-${pool}.bin`);
      expect(await other('vol-download', 'a', down, '--pool', pool, '--length', String(data.length))).toEqual(
        {
          code: 0,
          out: '\n',
          err: '',
        },
      );
      expect(readFileSync(down).equals(data)).toBe(true);
      // sparse: a file mostly hole
      const sparse = path.join(t.dir, `sparse-${pool}.bin`);
      writeFileSync(sparse, Buffer.concat([Buffer.from('start'), Buffer.alloc(600_000), Buffer.from('end')]));
      expect((await tool('vol-upload', 'a', sparse, '--pool', pool, '--sparse')).code).toBe(0);
      const back = path.join(t.dir, `sparse-back-${pool}.bin`);
      expect(
        (await other('vol-download', 'a', back, '--pool', pool, '--sparse', '--length', '600008')).code,
      ).toBe(0);
      expect(readFileSync(back).equals(readFileSync(sparse))).toBe(true);
    }
  }, 120_000);

  it('stops, deletes and undefines pools alike', async () => {
    await same('pool-undefine', 'q1');
    for (const [tool, pool] of [
      [virsh, 'v1'],
      [qvirsh, 'q1'],
    ] as const) {
      expect((await tool('pool-destroy', pool)).out).toBe(`Pool ${pool} destroyed\n\n`);
    }
    await same('pool-list', '--all');
    await same('vol-list', 'q1');
    await same('pool-delete', 'q1');
    for (const [tool, pool] of [
      [virsh, 'v1'],
      [qvirsh, 'q1'],
    ] as const) {
      expect((await tool('pool-undefine', pool)).out).toBe(`Pool ${pool} has been undefined\n\n`);
    }
    await same('pool-list', '--all');
  }, 120_000);
});
