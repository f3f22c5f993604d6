import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { launchCommand } from './launch.js';
import { planPassedFds, stdioWithPassedFds } from './pass-fds.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('planPassedFds', () => {
  it('waits above every final number and moves in one exec', () => {
    const plan = planPassedFds(
      new Map([
        [4, 40],
        [3, 30],
      ]),
      5,
    );
    expect([...plan.waiting]).toEqual([
      [5, 30],
      [6, 40],
    ]);
    expect(plan.moves).toBe('exec 3<&5 4<&6 5<&- 6<&-');
    expect(planPassedFds(new Map([[9, 1]]), 5).moves).toBe('exec 9<&10 10<&-');
    expect(planPassedFds(undefined, 5)).toEqual({ waiting: new Map(), moves: '' });
    expect(() => planPassedFds(new Map([[2, 1]]), 5)).toThrow('invalid descriptor number 2');
  });

  it('a chain shell hands each descriptor to the exec’d program at its number, and no other', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'qvirt-passfds-'));
    dirs.push(dir);
    const fds = ['a', 'b', 'c'].map((n) => {
      writeFileSync(path.join(dir, n), n);
      return openSync(path.join(dir, n), 'r');
    });
    try {
      const plan = planPassedFds(
        new Map([
          [3, fds[0]!],
          [4, fds[1]!],
          [5, fds[2]!],
        ]),
        5,
      );
      const child = spawn(
        'sh',
        [
          '-c',
          `set -e\n${plan.moves}\nexec "$@"`,
          'x',
          'sh',
          '-c',
          'cat <&3; cat <&4; cat <&5; echo; ls /proc/self/fd',
        ],
        { stdio: stdioWithPassedFds(['ignore', 'pipe', 'inherit'], plan) },
      );
      let out = '';
      child.stdout!.on('data', (b: Buffer) => {
        out += b.toString();
      });
      await new Promise((r) => child.once('close', r));
      const [text, ...list] = out.split('\n');
      expect(text).toBe('abc');
      // the three at their numbers (6 is ls's own directory), none left at the waiting numbers
      const open = new Set(list.filter(Boolean).map(Number));
      expect([3, 4, 5].every((n) => open.has(n))).toBe(true);
      expect([...plan.waiting.keys()].filter((n) => n !== 6 && open.has(n))).toEqual([]);
    } finally {
      for (const fd of fds) closeSync(fd);
    }
  });

  it('launchCommand moves them after the handshake and the cgroups, as the last step before QEMU', () => {
    const spec = { binary: '/usr/bin/qemu', args: ['-S'], env: [], cgroupPaths: ['/cg'], logFd: 1, cwd: '/' };
    const argv = launchCommand(spec, { handshake: true, passFds: new Map([[3, 20]]) });
    const script = argv[2]!.split('\n');
    expect(script.slice(-3)).toEqual(["echo $$ > '/cg/cgroup.procs'", 'exec 3<&5 5<&-', 'exec "$@"']);
    expect(script.indexOf('exec 3<&5 5<&-')).toBeGreaterThan(script.indexOf('exec 3<&-'));
    // a spec asking for nothing else still gets a shell to move them
    expect(launchCommand({ ...spec, cgroupPaths: [] }, { passFds: new Map([[3, 20]]) })[0]).toMatch(/\/sh$/);
  });
});
