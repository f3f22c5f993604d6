import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { DomainDef } from '@qvirt/core';
import { afterAll, describe, expect, it } from 'vitest';
import { DomainCgroups } from './domain-cgroup.js';

const v1 = (c: string) => existsSync(`/sys/fs/cgroup/${c}/cgroup.procs`);
const root = process.getuid?.() === 0 && v1('memory') && v1('cpu') && v1('cpuset');
const cat = (f: string) => readFileSync(f, 'utf8').trim();

describe('the domain cgroups', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'qvirt-cgroup-unit-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('names the groups as libvirt names machines, and makes none unprivileged', () => {
    const cgs = new DomainCgroups({ privileged: true, embedRoot: dir });
    const cg = cgs.of({ name: 'a.b_c' } as DomainDef, 3);
    if (cg) expect(cg.path).toMatch(/^\/machine\/qemu-embed-[0-9a-f]{8}-3-a\.bc\.qvirt-qemu$/);
    expect(new DomainCgroups({ privileged: false }).of({ name: 'x' } as DomainDef, 1)).toBeUndefined();
    expect(
      new DomainCgroups({ privileged: true, controllers: [] }).of({ name: 'x' } as DomainDef, 1),
    ).toBeUndefined();
  });

  it.skipIf(!root)('applies the tuning, moves threads into their groups and removes everything', async () => {
    const cgs = new DomainCgroups({ privileged: true, embedRoot: dir });
    const def = {
      name: 'unit',
      memtune: { hard_limit: { value: 65536, unit: 'KiB' } },
      cputune: { shares: 300, period: 50000 },
    } as unknown as DomainDef;
    const spec = { cgroupPaths: [] as string[] };
    await cgs.prepare(def, 7, spec);
    const cg = cgs.existing(def, 7)!;
    expect(spec.cgroupPaths).toContain(cg.dir('memory'));
    expect(Number(cat(`${cg.dir('memory')}/memory.limit_in_bytes`))).toBe(64 << 20);
    expect(cat(`${cg.dir('cpu')}/cpu.shares`)).toBe('300');
    expect(cat(`${cg.dir('cpuset')}/cpuset.cpus`)).not.toBe('');
    // a process joins as the launch chain makes QEMU join, then its thread becomes "vCPU 0"
    const sleeper = spawn('sleep', ['30']);
    const pid = sleeper.pid!;
    try {
      for (const p of spec.cgroupPaths) writeFileSync(`${p}/cgroup.procs`, String(pid));
      await cgs.placeThreads(def, 7, pid, new Map([[0, pid]]), new Map());
      expect(cat(`${cg.dir('cpu')}/vcpu0/tasks`)).toBe(String(pid));
      expect(cat(`${cg.dir('cpu')}/emulator/tasks`)).toBe('');
      expect(cat(`${cg.dir('cpu')}/vcpu0/cpu.cfs_period_us`)).toBe('50000');
    } finally {
      sleeper.kill('SIGKILL');
      await new Promise((r) => sleeper.once('exit', r));
    }
    await cgs.remove(def, 7);
    for (const d of cg.dirs.values()) expect(existsSync(d), d).toBe(false);
  });
});
