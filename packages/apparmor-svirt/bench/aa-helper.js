#!/usr/bin/env node
// pnpm bench (apparmor-svirt): one `virt-aa-helper --dryrun -c` process per invocation against
// `node -e 0` (the floor: what any node binary costs to start), as a ratio; and in-process
// profile generation per domain (what the driver does on each start). Medians of BENCH_RUNS
// (default 15) runs each, for the template domain of libvirt's tests/virt-aa-helper-test.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseDomainXML } from '@qvirt/core';
import { generateRules, nodeHelperFs } from '../dist/index.js';

const runs = Number(process.env.BENCH_RUNS ?? 15);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const bin = fileURLToPath(new URL('../bin/virt-aa-helper.js', import.meta.url));
const root = mkdtempSync(path.join(tmpdir(), 'aa-bench-'));
const uuid = '00000000-0000-0000-0000-0123456789ab';
const disk = path.join(root, '1.img');
writeFileSync(disk, '');
const xml = `<domain type='kvm'><name>bench</name><uuid>${uuid}</uuid><memory>524288</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os><features><acpi/></features>
<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>
<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${disk}'/><target dev='hda' bus='ide'/></disk>
<interface type='network'><mac address='52:54:00:50:4b:26'/><source network='default'/><model type='virtio'/></interface>
<input type='tablet' bus='usb'/><graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'/>
<video><model type='cirrus' vram='16384' heads='1'/></video></devices></domain>`;

function time(cmd, args, input) {
  const t = performance.now();
  const r = spawnSync(cmd, args, { input, encoding: 'utf8' });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
  return ms;
}

try {
  const helper = [];
  const floor = [];
  time(process.execPath, [bin, '--dryrun', '-c', '-u', `libvirt-${uuid}`], xml); // warm the page cache
  for (let i = 0; i < runs; i++) {
    floor.push(time(process.execPath, ['-e', '0']));
    helper.push(time(process.execPath, [bin, '--dryrun', '-c', '-u', `libvirt-${uuid}`], xml));
  }
  const h = median(helper);
  const f = median(floor);
  console.log(
    `virt-aa-helper --dryrun -c: ${h.toFixed(1)} ms median of ${runs}; node -e 0: ${f.toFixed(1)} ms; ratio ${(h / f).toFixed(2)}x`,
  );

  const fs = nodeHelperFs();
  const inproc = [];
  const iterations = 200;
  for (let i = 0; i < 20; i++)
    await generateRules(parseDomainXML(xml), { profileName: `libvirt-${uuid}` }, fs);
  for (let r = 0; r < runs; r++) {
    const t = performance.now();
    for (let i = 0; i < iterations; i++) {
      const out = await generateRules(parseDomainXML(xml), { profileName: `libvirt-${uuid}` }, fs);
      if (!out.ok) throw new Error('generation failed');
    }
    inproc.push((performance.now() - t) / iterations);
  }
  console.log(
    `in-process profile generation (parse XML + rules): ${(median(inproc) * 1000).toFixed(0)} µs per domain, median of ${runs}x${iterations}`,
  );
} finally {
  rmSync(root, { recursive: true, force: true });
}
