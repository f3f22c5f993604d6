/**
 * qvirt's capabilities of recorded hosts against libvirt 9.0's on the same hosts: each fixture
 * (test-fixtures/hosts/NAME, made by scripts/capture-host.mjs) holds what the host's files and
 * CPU answered, libvirt's QEMU capabilities cache (its probe of each emulator) and libvirt's
 * `virsh capabilities` of that moment. The documents must be equal apart from the host UUID.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parseQemuCapsXml } from '@qvirt/qemu-argv';
import { describe, expect, it } from 'vitest';
import { capabilitiesXml, guestFromCaps, hostInfoFrom, type SecModel } from './capabilities.js';
import { ARCHES } from './discover.js';
import type { HostCpuidProbe } from './host-cpu.js';
import { type HostFsSnapshot, snapshotHostFs } from './host-fs.js';
import { hostNodeInfo } from './host-topology.js';

const root = new URL('../test-fixtures/hosts/', import.meta.url).pathname;
const hosts = readdirSync(root);
const withoutUuid = (xml: string) => xml.replace(/^ *<uuid>.*<\/uuid>\n/m, '');

describe.each(hosts)('capabilities of recorded host %s', (name) => {
  const dir = join(root, name);
  const rec = JSON.parse(readFileSync(join(dir, 'host.json'), 'utf8')) as {
    arch: string;
    cpu: HostCpuidProbe | null;
    secModels: SecModel[];
    fs: HostFsSnapshot;
  };
  const libvirt = readFileSync(join(dir, 'capabilities.xml'), 'utf8');

  it("equals libvirt's document apart from the host UUID", () => {
    const host = hostInfoFrom({
      fs: snapshotHostFs(rec.fs),
      arch: rec.arch,
      ...(rec.cpu ? { cpu: rec.cpu } : {}),
    });
    const guests = readdirSync(join(dir, 'qemu-caps'))
      .map((f) => parseQemuCapsXml(gunzipSync(readFileSync(join(dir, 'qemu-caps', f))).toString('utf8'), f))
      .sort((a, b) => ARCHES.findIndex(([x]) => x === a.arch) - ARCHES.findIndex(([x]) => x === b.arch))
      .map((caps) => guestFromCaps(caps.arch, caps.emulator, caps));
    const ours = capabilitiesXml({ host, guests, secModels: rec.secModels });
    expect(withoutUuid(ours)).toBe(withoutUuid(libvirt));
  });

  it("gives libvirt's node info (virsh nodeinfo)", () => {
    const text = readFileSync(join(dir, 'nodeinfo.txt'), 'utf8');
    const field = (label: string) => new RegExp(`^${label}\\s+(\\S+)`, 'm').exec(text)?.[1];
    const info = hostNodeInfo(snapshotHostFs(rec.fs), rec.arch);
    expect({
      model: field('CPU model:'),
      cpus: Number(field('CPU\\(s\\):')),
      mhz: Number(field('CPU frequency:') ?? 0),
      sockets: Number(field('CPU socket\\(s\\):')),
      cores: Number(field('Core\\(s\\) per socket:')),
      threads: Number(field('Thread\\(s\\) per core:')),
      nodes: Number(field('NUMA cell\\(s\\):')),
      memory: Number(field('Memory size:')),
    }).toEqual(info);
  });
});
