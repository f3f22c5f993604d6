/**
 * qvirt's host `<topology>`/`<cache>` of the hosts in libvirt 9.0's own test data against the
 * documents libvirt expects of them (tests/vircaps2xmltest.c, copied into
 * test-fixtures/libvirt-vircaps2xml: see its README). That test redirects /sys/devices/system to
 * each host's recorded tree, builds capabilities with only the arch and the migration flags,
 * adds the NUMA cells and cache banks and formats them; so does this one, through the same host
 * readers `virsh capabilities` uses.
 *
 * Node memory, page pools and distances in libvirt's test come from its NUMA mock
 * (tests/virnumamock.c), not from the recorded tree: those three are put onto the cells by the
 * mock's rule, everything else (cells, CPUs, their socket/die/core/siblings, cache banks, the
 * document's shape) is read and rendered by qvirt.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { capabilitiesXml } from './capabilities.js';
import { prefixedHostFs } from './host-fs.js';
import { type HostCell, hostCacheBanks, hostNumaCells } from './host-topology.js';

const root = new URL('../test-fixtures/libvirt-vircaps2xml/', import.meta.url).pathname;

/** virnumamock.c: virNumaGetNodeMemory, virNumaGetPages, virNumaGetDistances. */
function withNumaMock(cell: HostCell): HostCell {
  const n = cell.id + 1;
  return {
    ...cell,
    memory: (2 ** 30 * n) / 1024,
    pages: [4, 2048, 1048576].map((size, i) => ({ size, avail: ((n + i) * 2) << 10, free: (n + i) << 10 })),
    distances: [],
  };
}

// vircaps2xmltest.c's DO_TEST_FULL rows (host, arch, offlineMigrate, liveMigrate) for the hosts
// copied here.
const cases: [string, string, boolean, boolean][] = [
  ['basic', 'x86_64', false, false],
  ['basic', 'aarch64', true, false],
  ['basic-dies', 'x86_64', false, false],
  ['caches', 'x86_64', true, true],
];

describe.each(cases)('libvirt test host linux-%s as %s', (name, arch, offline, live) => {
  it("renders libvirt's expected document byte for byte", () => {
    const fs = prefixedHostFs({ '/sys/devices/system': join(root, `linux-${name}`, 'system') });
    const ours = capabilitiesXml({
      host: {
        cpu: { arch },
        iommu: false,
        migration: { offline, live },
        migrationTransports: [],
        cells: hostNumaCells(fs, arch).map(withNumaMock),
        cache: hostCacheBanks(fs),
      },
      guests: [],
      secModels: [],
    });
    expect(ours).toBe(readFileSync(join(root, `vircaps-${arch}-${name}.xml`), 'utf8'));
  });
});
