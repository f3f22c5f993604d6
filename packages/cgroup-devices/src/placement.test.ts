import { describe, expect, it } from 'vitest';
import { domainCgroupPath, machineName, partitionPath } from './placement.js';

describe('cgroup placement', () => {
  it('names machines as libvirt does (virDomainDriverGenerateMachineName)', () => {
    expect(machineName({ drivername: 'qemu', id: 1, name: 'research-probe', privileged: true })).toBe(
      'qemu-1-research-probe',
    );
    // Not hostname characters are dropped, runs of '-'/'.' collapse, trailing ones go.
    expect(machineName({ drivername: 'qemu', id: 7, name: 'a_b..c--d.-', privileged: true })).toBe(
      'qemu-7-ab.c-d',
    );
    expect(machineName({ drivername: 'qemu', id: 2, name: 'x', privileged: false, username: 'alice' })).toBe(
      'qemu-alice-2-x',
    );
    // At most 64 characters.
    expect(machineName({ drivername: 'qemu', id: 3, name: 'n'.repeat(100), privileged: true })).toHaveLength(
      64,
    );
  });

  it('names embed instances qemu-embed-<first 8 hex of sha256(root)>', () => {
    // printf %s /var/lib/embed | sha256sum → 9d1b4760…
    const name = machineName({
      drivername: 'qemu',
      embedRoot: '/var/lib/embed',
      id: 1,
      name: 'demo',
      privileged: true,
    });
    expect(name).toBe('qemu-embed-9d1b4760-1-demo');
  });

  it('places the group under /machine with the qvirt suffix', () => {
    expect(domainCgroupPath({ machineName: 'qemu-1-demo' })).toBe('/machine/qemu-1-demo.qvirt-qemu');
    expect(domainCgroupPath({ machineName: 'qemu-1-demo', partition: '/machine/prod' })).toBe(
      '/machine/prod.partition/qemu-1-demo.qvirt-qemu',
    );
  });

  it('suffixes and escapes partitions as libvirt does', () => {
    const ctrls = ['cpu', 'devices'];
    expect(partitionPath('/machine', ctrls)).toBe('/machine');
    expect(partitionPath('/a/b.x/cpu.y', ctrls)).toBe('/a.partition/b.x/_cpu.y');
    expect(partitionPath('/_x', ctrls)).toBe('/__x.partition');
    expect(() => partitionPath('machine', ctrls)).toThrow("Partition path 'machine' must start with '/'");
  });
});
