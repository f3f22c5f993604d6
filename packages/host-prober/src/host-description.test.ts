import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseSysfsList, readHostDescription, readHostNuma } from './host-description.js';

let root: string | undefined;
afterEach(() => {
  if (root) rmSync(root, { recursive: true, force: true });
  root = undefined;
});

function sys(files: Record<string, string>): string {
  root = mkdtempSync(path.join(tmpdir(), 'qvirt-hostdesc-'));
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    writeFileSync(path.join(root, file), text);
  }
  return root;
}

describe('readHostNuma', () => {
  it('reads every node with its CPUs and memory, in id order', () => {
    const r = sys({
      'sys/devices/system/node/node1/cpulist': '2-3\n',
      'sys/devices/system/node/node1/meminfo': 'Node 1 MemTotal:       1024 kB\nNode 1 MemFree: 5 kB\n',
      'sys/devices/system/node/node0/cpulist': '0,1\n',
      'sys/devices/system/node/node0/meminfo': 'Node 0 MemTotal:       2048 kB\n',
      'sys/devices/system/node/online': '0-1\n',
    });
    expect(readHostNuma(r).nodes).toEqual([
      { id: 0, cpus: [0, 1], memoryKiB: 2048 },
      { id: 1, cpus: [2, 3], memoryKiB: 1024 },
    ]);
  });

  it('reports one node 0 with the online CPUs on a kernel without NUMA', () => {
    const r = sys({ 'sys/devices/system/cpu/online': '0-2\n' });
    expect(readHostNuma(r).nodes).toEqual([{ id: 0, cpus: [0, 1, 2] }]);
  });

  it('parses sysfs lists', () => {
    expect(parseSysfsList('0-2,5,7-8\n')).toEqual([0, 1, 2, 5, 7, 8]);
    expect(parseSysfsList('')).toEqual([]);
  });
});

describe('readHostDescription', () => {
  it('describes this machine: NUMA nodes and the host CPU, host-model CPUs left unknown', () => {
    const host = readHostDescription();
    expect(host.numa?.nodes.length).toBeGreaterThan(0);
    expect(host.numa?.nodes.some((n) => n.id === 0)).toBe(true);
    expect(host.cpu?.arch).toMatch(/^(x86_64|i686|aarch64|ppc64le|s390x|armv7l)$/);
    expect(host.hostModels).toBeUndefined();
  });

  it('takes the CPU from the given host info', () => {
    const r = sys({});
    const host = readHostDescription({ sysRoot: r, info: { cpu: { arch: 'x86_64', vendor: 'AMD' } } });
    expect(host.cpu).toEqual({ arch: 'x86_64', vendor: 'AMD', features: [] });
  });

  it("carries the host's TSC counter, which the TSC frequency check needs", () => {
    const r = sys({});
    const counter = { name: 'tsc' as const, frequency: 2793436000, scaling: false };
    const host = readHostDescription({ sysRoot: r, info: { cpu: { arch: 'x86_64', counter } } });
    expect(host.cpu?.tsc).toEqual({ frequency: 2793436000, scaling: 'no' });
  });
});
