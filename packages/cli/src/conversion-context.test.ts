import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readHostNuma } from '@qvirt/host-prober';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from './index.js';

const dir = mkdtempSync(path.join(tmpdir(), 'qvirsh-host-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function domain(nodeset: string): string {
  const file = path.join(dir, `numa-${nodeset}.xml`);
  writeFileSync(
    file,
    `<domain type='qemu'><name>n</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>
      <memory unit='KiB'>219100</memory><vcpu placement='static'>1</vcpu>
      <numatune><memory mode='strict' nodeset='${nodeset}'/></numatune>
      <os><type arch='x86_64' machine='pc'>hvm</type></os>
      <devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices></domain>`,
  );
  return file;
}

async function run(file: string) {
  let out = '';
  let err = '';
  const code = await main(
    ['-c', `qemu:///embed?root=${dir}`, 'domxml-to-native', 'qemu-argv', file],
    { out: (t) => (out += t), err: (t) => (err += t) },
    { PATH: '/usr/bin:/bin' },
  );
  return { code, out, err };
}

describe("domxml-to-native against this host's NUMA nodes", () => {
  const nodes = readHostNuma().nodes.map((n) => n.id);
  const missing = Math.max(...nodes) + 1;

  it('binds memory to a node the host has', async () => {
    const r = await run(domain(String(nodes[0])));
    expect(r.err).toBe('');
    expect(r.out).toContain(`"host-nodes":[${nodes[0]}],"policy":"bind"`);
  });

  it('refuses a node the host lacks, as libvirt does', async () => {
    expect(await run(domain(String(missing)))).toMatchObject({
      code: 1,
      err: `error: unsupported configuration: NUMA node ${missing} is unavailable\n`,
    });
  });
});
