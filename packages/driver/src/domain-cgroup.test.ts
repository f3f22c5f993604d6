import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import type { DomainDef } from '@qvirt/core';
import { afterAll, describe, expect, it } from 'vitest';
import { DomainCgroups } from './domain-cgroup.js';

const v1 = (c: string) => existsSync(`/sys/fs/cgroup/${c}/cgroup.procs`);
const root = process.getuid?.() === 0 && v1('memory') && v1('cpu') && v1('cpuset');
const cat = (f: string) => readFileSync(f, 'utf8').trim();
/** Pins need a second CPU to differ from the default (every CPU). */
const twoCpus = availableParallelism() >= 2 && cat('/sys/devices/system/cpu/online').startsWith('0-');
const affinity = (pid: number) => /^Cpus_allowed_list:\s*(\S+)/m.exec(cat(`/proc/${pid}/status`))?.[1];

async function withSleeper(run: (pid: number) => Promise<void>): Promise<void> {
  const sleeper = spawn('sleep', ['30']);
  try {
    await run(sleeper.pid!);
  } finally {
    sleeper.kill('SIGKILL');
    await new Promise((r) => sleeper.once('exit', r));
  }
}

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
      cputune: {
        shares: 300,
        period: 50000,
        ...(twoCpus ? { emulatorpin: { cpuset: '0' }, vcpupin: [{ vcpu: 0, cpuset: '1' }] } : {}),
      },
    } as unknown as DomainDef;
    const spec = { cgroupPaths: [] as string[] };
    await cgs.prepare(def, 7, spec);
    const cg = cgs.existing(def, 7)!;
    // QEMU joins the domain's memory group and the emulator/ thread group (qemuProcessSetupEmulator)
    expect(spec.cgroupPaths).toContain(cg.dir('memory'));
    expect(spec.cgroupPaths).toContain(`${cg.dir('cpu')}/emulator`);
    expect(spec.cgroupPaths).not.toContain(cg.dir('cpu'));
    expect(Number(cat(`${cg.dir('memory')}/memory.limit_in_bytes`))).toBe(64 << 20);
    expect(cat(`${cg.dir('cpu')}/cpu.shares`)).toBe('300');
    expect(cat(`${cg.dir('cpuset')}/cpuset.cpus`)).not.toBe('');
    if (twoCpus) expect(cat(`${cg.dir('cpuset')}/emulator/cpuset.cpus`)).toBe('0');
    // a process joins as the launch chain makes QEMU join, then its thread becomes "vCPU 0"
    await withSleeper(async (pid) => {
      for (const p of spec.cgroupPaths) writeFileSync(`${p}/cgroup.procs`, String(pid));
      if (twoCpus) expect(affinity(pid)).toBe('0');
      await cgs.placeThreads(def, 7, pid, new Map([[0, pid]]), new Map());
      expect(cat(`${cg.dir('cpu')}/vcpu0/tasks`)).toBe(String(pid));
      expect(cat(`${cg.dir('cpu')}/emulator/tasks`)).toBe('');
      expect(cat(`${cg.dir('cpu')}/vcpu0/cpu.cfs_period_us`)).toBe('50000');
      if (twoCpus) {
        expect(cat(`${cg.dir('cpuset')}/vcpu0/cpuset.cpus`)).toBe('1');
        expect(affinity(pid)).toBe('1');
      }
    });
    await cgs.remove(def, 7);
    for (const d of cg.dirs.values()) expect(existsSync(d), d).toBe(false);
  });

  it.skipIf(!twoCpus)(
    'without thread groups, still gives each thread its affinity (qemuProcessSetupPid)',
    async () => {
      const cgs = new DomainCgroups({ privileged: false });
      const def = { name: 'unit', vcpu: { value: 2, cpuset: '1' } } as unknown as DomainDef;
      const online = cat('/sys/devices/system/cpu/online');
      await withSleeper(async (pid) => {
        // <vcpu cpuset> for a vCPU without its own pin
        await cgs.placeThreads(def, 8, pid, new Map([[0, pid]]), new Map());
        expect(affinity(pid)).toBe('1');
        // its own pin wins over <vcpu cpuset>
        const pinned = { ...def, cputune: { vcpupin: [{ vcpu: 0, cpuset: '0' }] } } as unknown as DomainDef;
        await cgs.placeThreads(pinned, 8, pid, new Map([[0, pid]]), new Map());
        expect(affinity(pid)).toBe('0');
        // neither: every online CPU
        await cgs.placeThreads({ name: 'unit' } as DomainDef, 8, pid, new Map([[0, pid]]), new Map());
        expect(affinity(pid)).toBe(online);
      });
    },
  );
});
