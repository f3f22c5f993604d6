#!/usr/bin/env node
/**
 * Records this host for a capabilities fixture: everything qvirt reads to describe the host
 * (the /proc and /sys files, the CPUID leaves, the MSR and TSC answers), libvirt's own
 * `virsh capabilities` of the same moment, and libvirt's QEMU capabilities cache (the probe its
 * `<guest>` sections come from). Run as root on a host with libvirtd (qemu:///system):
 *
 *   node packages/host-prober/scripts/capture-host.mjs packages/host-prober/test-fixtures/hosts/NAME
 *
 * The fixture test (src/capabilities-fixtures.test.ts) renders the recording with qvirt and
 * compares it with libvirt's document, apart from the host UUID.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  hostArch,
  hostInfoFrom,
  hostNodeInfo,
  readHostCpu,
  realHostFs,
  recordingHostFs,
} from '../dist/index.js';

const out = process.argv[2];
if (!out) {
  console.error('usage: capture-host.mjs FIXTURE_DIR');
  process.exit(2);
}
mkdirSync(out, { recursive: true });

const virsh = (...args) => execFileSync('virsh', ['-c', 'qemu:///system', ...args], { encoding: 'utf8' });
// libvirt first, so its probe and ours see the same free memory as nearly as may be
const libvirt = virsh('capabilities');
const nodeinfo = virsh('nodeinfo');
const arch = hostArch();
const fs = recordingHostFs(realHostFs());
const cpu = readHostCpu({ arch });
hostInfoFrom({ fs, arch, ...(cpu ? { cpu } : {}) });
hostNodeInfo(fs, arch);

const secModels = [...libvirt.matchAll(/<secmodel>([\s\S]*?)<\/secmodel>/g)].map(([, body]) => ({
  model: /<model>(.*)<\/model>/.exec(body)[1],
  doi: /<doi>(.*)<\/doi>/.exec(body)[1],
  baseLabels: [...body.matchAll(/<baselabel type='([^']*)'>([^<]*)<\/baselabel>/g)].map((m) => [m[1], m[2]]),
}));

// the host's identity stays out of the fixture (the comparison leaves the UUID out anyway)
const snapshot = fs.snapshot();
for (const id of ['/etc/machine-id', '/sys/devices/virtual/dmi/id/product_uuid']) delete snapshot.files[id];
writeFileSync(
  join(out, 'host.json'),
  `${JSON.stringify({ arch, cpu: cpu ?? null, secModels, fs: snapshot }, null, 1)}\n`,
);
// virsh prints the document, a newline and its blank line after a command; the API's answer is the document
writeFileSync(join(out, 'capabilities.xml'), libvirt.replace(/\n\n$/, ''));
writeFileSync(join(out, 'nodeinfo.txt'), nodeinfo);
const cacheDir = '/var/cache/libvirt/qemu/capabilities';
mkdirSync(join(out, 'qemu-caps'), { recursive: true });
for (const f of readdirSync(cacheDir).filter((f) => f.endsWith('.xml'))) {
  const xml = readFileSync(join(cacheDir, f), 'utf8');
  const emulator = /<emulator>([^<]*)<\/emulator>/.exec(xml)?.[1] ?? f;
  const name = emulator.split('/').pop();
  writeFileSync(join(out, 'qemu-caps', `${name}.xml.gz`), gzipSync(xml));
}
console.log(`recorded ${arch} host into ${out}`);
