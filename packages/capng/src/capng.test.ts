/**
 * capng on its own (what it writes into the spec), then with dac on a real process: the spec
 * the two drivers produce, run through setpriv in a private /dev, gives QEMU the QEMU user, no
 * capability in any set and no_new_privs, seen in /proc/PID/status.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import {
  baseLaunchSpec,
  defaultQemuConf,
  nodeHost,
  parseDomainXML,
  type SecurityDriverOptions,
} from '@qvirt/core';
import dac from '@qvirt/dac';
import { afterEach, describe, expect, it } from 'vitest';
import capng from './capng.js';
import { chainArgv } from './test-support/chain.js';

const UID = 64123;
const GID = 64124;

function options(user = UID, group = GID, mountNamespace = false): SecurityDriverOptions {
  return {
    virtDriver: 'QEMU',
    conf: defaultQemuConf({ privileged: true }),
    privileged: true,
    user,
    group,
    defaultConfined: true,
    requireConfined: false,
    dynamicOwnership: true,
    mountNamespace,
    dirs: { config: '/x', run: '/x', lib: '/x', cache: '/x', log: '/x' },
  };
}

const def = () =>
  parseDomainXML(
    "<domain type='qemu'><name>caps</name><memory>32768</memory><os><type>hvm</type></os></domain>",
  );
const spec = (binary: string, args: string[]) =>
  baseLaunchSpec({ binary, args, env: [], cwd: '/', logFd: 2 });

describe('capng spec', () => {
  it('clears every capability and sets no_new_privs for a non-root QEMU', async () => {
    const s = spec('/bin/true', []);
    s.uid = UID;
    await capng(options(), nodeHost()).domainSetSecurityChildProcessLabel!(def(), s);
    expect(s.keepCaps).toEqual([]);
    expect(s.noNewPrivs).toBe(true);
  });

  it('a root QEMU keeps its capabilities, or only rootCaps', async () => {
    const s = spec('/bin/true', []);
    await capng(options(0, 0), nodeHost()).domainSetSecurityChildProcessLabel!(def(), s);
    expect(s.keepCaps).toBeUndefined();
    const t = spec('/bin/true', []);
    await capng({ ...options(0, 0), rootCaps: ['CAP_SYS_RAWIO'] }, nodeHost())
      .domainSetSecurityChildProcessLabel!(def(), t);
    expect(t.keepCaps).toEqual(['sys_rawio']);
  });

  it('model capng, DOI 0, always enabled', () => {
    const d = capng(options(), nodeHost());
    expect([d.name, d.getModel(), d.getDOI(), d.probe('QEMU')]).toEqual(['capng', 'capng', '0', 'enable']);
  });
});

describe('a real process started from the spec', () => {
  let child: ChildProcess | undefined;
  afterEach(async () => {
    if (child?.pid && child.exitCode === null) {
      const gone = new Promise((r) => child!.once('exit', r));
      child.kill('SIGKILL');
      await gone;
    }
    child = undefined;
  });

  async function statusOf(pid: number, want: RegExp): Promise<string> {
    for (let i = 0; i < 100; i++) {
      const text = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
      if (want.test(text)) return text;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`process ${pid} never matched ${want}`);
  }

  for (const [what, binary, args] of [
    ['sleep', '/bin/sleep', ['30']],
    [
      'QEMU (TCG, paused)',
      'qemu-system-x86_64',
      ['-machine', 'pc', '-accel', 'tcg', '-nodefaults', '-display', 'none', '-m', '32', '-S'],
    ],
  ] as const) {
    it(`${what} runs as the QEMU user with 0 capabilities, NoNewPrivs and a private /dev`, async () => {
      const host = nodeHost();
      const s = spec(binary, [...args]);
      const d = def();
      const dacDriver = dac(options(UID, GID, true), host);
      await dacDriver.domainGenSecurityLabel!(d);
      await dacDriver.domainSetSecurityChildProcessLabel!(d, s);
      await capng(options(UID, GID, true), host).domainSetSecurityChildProcessLabel!(d, s);
      const [cmd, ...rest] = chainArgv(s);
      child = spawn(cmd!, rest, { stdio: ['ignore', 'ignore', 'inherit'] });
      // setpriv changes ids before it drops capabilities: wait for the exec of the binary itself
      // (the kernel keeps 15 characters of its name)
      const name = binary.split('/').pop()!.slice(0, 15);
      const status = await statusOf(child.pid!, new RegExp(`^Name:\\s+${name}\\n`, 'm'));
      expect(status).toMatch(new RegExp(`Uid:\\s+${UID}\\s+${UID}\\s+${UID}\\s+${UID}`));
      expect(status).toMatch(new RegExp(`Gid:\\s+${GID}\\s+${GID}\\s+${GID}\\s+${GID}`));
      for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) {
        expect(status).toMatch(new RegExp(`${set}:\\s+0000000000000000`));
      }
      expect(status).toMatch(/NoNewPrivs:\s+1/);
      const dev = (await readdir(`/proc/${child.pid}/root/dev`)).sort();
      expect(dev).toEqual(
        expect.arrayContaining(['full', 'null', 'ptmx', 'pts', 'random', 'urandom', 'zero']),
      );
      expect(
        dev.filter(
          (n) =>
            ![
              'full',
              'null',
              'ptmx',
              'pts',
              'random',
              'urandom',
              'zero',
              'kvm',
              'shm',
              'mqueue',
              'hugepages',
            ].includes(n),
        ),
      ).toEqual([]);
    });
  }
});
