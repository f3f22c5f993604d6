/**
 * qvirt's node info (`virsh nodeinfo`) of the hosts in libvirt 9.0's own test data against what
 * libvirt expects of them (tests/virhostcputest.c, copied into test-fixtures/libvirt-virhostcpu:
 * see its README). That test redirects /sys/devices/system to each host's recorded tree, parses
 * the host's /proc/cpuinfo with virHostCPUGetInfoPopulateLinux and prints one line; so does this
 * one, through the reader `virsh nodeinfo` and the capabilities use.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type HostFs, prefixedHostFs } from './host-fs.js';
import { hostNodeInfo } from './host-topology.js';

const root = new URL('../test-fixtures/libvirt-virhostcpu/', import.meta.url).pathname;

// virhostcputest.c's nodeData rows (host, arch).
const cases: [string, string][] = [
  ['test1', 'x86_64'],
  ['test1', 'ppc'],
  ['test2', 'x86_64'],
  ['test3', 'x86_64'],
  ['test4', 'x86_64'],
  ['test5', 'x86_64'],
  ['test6', 'x86_64'],
  ['test7', 'x86_64'],
  ['test8', 'x86_64'],
  ['raspberrypi', 'armv6l'],
  ['f21-mustang', 'aarch64'],
  ['rhelsa-3.19.0-mustang', 'aarch64'],
  ['rhel74-moonshot', 'aarch64'],
  ['high-ids', 'aarch64'],
  ['deconf-cpus', 'ppc64'],
  ['subcores1', 'ppc64'],
  ['subcores2', 'ppc64'],
  ['subcores3', 'ppc64'],
  ['with-frequency', 's390x'],
  ['with-die', 'x86_64'],
];

describe.each(cases)('libvirt test host linux-%s as %s', (name, arch) => {
  it("gives libvirt's expected node info", () => {
    const sys = prefixedHostFs({ '/sys/devices/system': join(root, `linux-${name}`) });
    const cpuinfo = readFileSync(join(root, `linux-${arch}-${name}.cpuinfo`), 'utf8');
    // the test hands virHostCPUGetInfoPopulateLinux this host's cpuinfo in place of /proc's
    const fs: HostFs = {
      read: (path) => (path === '/proc/cpuinfo' ? cpuinfo : sys.read(path)),
      list: (path) => sys.list(path),
    };
    // virhostcpumock.c: SMT=8 on POWER (a real host asks KVM)
    const n = hostNodeInfo(fs, arch, arch === 'ppc64' || arch === 'ppc64le' ? 8 : 0);
    const line = `CPUs: ${n.cpus}/${n.nodes * n.sockets * n.cores * n.threads}, MHz: ${n.mhz}, Nodes: ${n.nodes}, Sockets: ${n.sockets}, Cores: ${n.cores}, Threads: ${n.threads}\n`;
    expect(line).toBe(readFileSync(join(root, `linux-${arch}-${name}.expected`), 'utf8'));
  });
});
