/**
 * Domain capabilities against libvirt 9.0's own output, rendered from the probe it came from.
 * Each folder of test-fixtures/domain-capabilities is one host: libvirt's capabilities cache of
 * the binary (`qemu-caps.xml`), the firmware descriptors, `host.json` (what is the host's, not
 * QEMU's: arch, KVM's vCPU limit, VFIO, swtpm, which loader files exist) and libvirt's output per
 * machine and virt type (`domcapabilities-<machine>-<virttype>.xml`). See the fixtures' README.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { VirError } from '@qvirt/core';
import { parseQemuCapsCache, readFirmwareDescriptors } from '@qvirt/host-prober';
import { describe, expect, it } from 'vitest';
import {
  checkDomainCapsArgs,
  type DomainCapsHost,
  domainCapabilitiesXml,
  hostModelCpu,
  resolveDomainCapsRequest,
} from './domain-capabilities.js';

const FIXTURES = new URL('../test-fixtures/domain-capabilities/', import.meta.url).pathname;

interface HostJson {
  hostArch: string;
  /** The `--arch` asked for (default: the host's). */
  arch?: string;
  /** qemu.conf's nvram list (libvirt's built-in default). */
  nvram: string[];
  kvmMaxVcpus: number;
  vfio: boolean;
  swtpm: { versions: Array<'1.2' | '2.0'> } | null;
  privileged: boolean;
  existingFiles: string[];
  /** libvirt's domaincapstest replaces the loader list after filling it; so do we. */
  loaderValuesOverride?: string[];
  /** The outputs were recorded with virsh (which prints a newline after the document). */
  virshOutput: boolean;
}

function loadHost(dir: string) {
  const json = JSON.parse(readFileSync(join(dir, 'host.json'), 'utf8')) as HostJson;
  // the host's search folders under root/ (qemuInteropFetchConfigs: usr/share, etc, the user's)
  const root = join(dir, 'root');
  const firmwares = readFirmwareDescriptors({
    privileged: json.privileged,
    dirs: [join(root, 'usr/share/qemu'), join(root, 'etc/qemu')],
    env: { XDG_CONFIG_HOME: join(root, 'home/user/.config') },
  });
  const existing = new Set(json.existingFiles);
  const host: DomainCapsHost = {
    hostArch: json.hostArch,
    firmwares,
    nvram: json.nvram,
    fileExists: (p) => existing.has(p),
    vfio: json.vfio,
    ...(json.swtpm ? { swtpm: json.swtpm } : {}),
    kvmMaxVcpus: () => json.kvmMaxVcpus,
  };
  return { json, host };
}

function overrideLoaders(xml: string, values: string[]): string {
  return xml.replace(
    /(<loader supported='yes'>\n)((?: {6}<value>[^<]*<\/value>\n)*)/,
    (_m, head: string) => head + values.map((v) => `      <value>${v}</value>\n`).join(''),
  );
}

const hosts = readdirSync(FIXTURES, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name);

describe.each(hosts)('domain capabilities of host %s', (name) => {
  const dir = join(FIXTURES, name);
  const probe = parseQemuCapsCache(readFileSync(join(dir, 'qemu-caps.xml'), 'utf8'), 'qemu-caps.xml');
  const { json, host } = loadHost(dir);
  const cases = readdirSync(dir)
    .map((f) => /^domcapabilities-(.+)-(qemu|kvm)\.xml$/.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => [m[1]!, m[2]!] as const);

  it('has recorded outputs', () => {
    expect(cases.length).toBeGreaterThan(0);
  });

  it('keeps a migratable host-model copy without what QEMU marks unmigratable', () => {
    const kvm = probe.hostCpu?.kvm;
    const unmigratable = (kvm?.props ?? []).filter(
      (p) => p.type === 'boolean' && p.value && p.migratable === false,
    );
    const full = hostModelCpu(probe, 'kvm', json.hostArch);
    const migratable = hostModelCpu(probe, 'kvm', json.hostArch, true);
    if (!full || unmigratable.length === 0) return; // this host's probe has none to leave out
    const required = (c: typeof full) =>
      new Set(c.features.filter((f) => f.policy === 'require').map((f) => f.name));
    // invtsc is the usual one: required by the reported CPU, absent from the one a guest gets
    if (unmigratable.some((p) => p.name === 'invtsc')) {
      expect(required(full).has('invtsc')).toBe(true);
      expect(required(migratable!).has('invtsc')).toBe(false);
    }
    expect(required(migratable!).size).toBeLessThan(required(full).size);
  });

  it.each(cases)('--machine %s --virttype %s equals libvirt', (machine, virttype) => {
    const req = resolveDomainCapsRequest(probe, {
      binary: probe.caps.emulator,
      hostArch: json.hostArch,
      arch: json.arch ?? null,
      virttype,
      machine,
    });
    let xml = domainCapabilitiesXml(probe, req, host);
    if (json.loaderValuesOverride) xml = overrideLoaders(xml, json.loaderValuesOverride);
    // live recordings are virsh's stdout: the document, the command's newline and the one virsh
    // prints after every command
    const expected = readFileSync(join(dir, `domcapabilities-${machine}-${virttype}.xml`), 'utf8');
    expect(json.virshOutput ? `${xml}\n\n` : xml).toBe(expected);
  });
});

describe('domain capabilities arguments', () => {
  const dir = join(FIXTURES, hosts[0]!);
  const probe = parseQemuCapsCache(readFileSync(join(dir, 'qemu-caps.xml'), 'utf8'), 'qemu-caps.xml');
  const resolve = (o: { arch?: string; virttype?: string; machine?: string }) =>
    resolveDomainCapsRequest(probe, {
      binary: probe.caps.emulator,
      hostArch: 'x86_64',
      arch: o.arch ?? null,
      virttype: o.virttype ?? null,
      machine: o.machine ?? null,
    });
  const message = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(VirError);
      return (err as Error).message;
    }
    throw new Error('no error');
  };

  it('resolves machine aliases and defaults as libvirt does', () => {
    expect(resolve({ machine: 'q35', virttype: 'qemu' }).machine).toMatch(/^pc-q35-/);
    expect(resolve({}).machine).toMatch(/^pc-i440fx-/);
    expect(resolve({ arch: 'i686' }).arch).toBe('i686');
  });

  it("refuses with libvirt's messages", () => {
    expect(message(() => checkDomainCapsArgs(null, 'xyz'))).toBe('invalid argument: unknown virttype: xyz');
    expect(message(() => checkDomainCapsArgs('foo', null))).toBe(
      'invalid argument: unknown architecture: foo',
    );
    expect(message(() => resolve({ machine: 'foo' }))).toBe(
      "invalid argument: the machine 'foo' is not supported by emulator '/usr/bin/qemu-system-x86_64'",
    );
    expect(message(() => resolve({ virttype: 'hvf' }))).toBe(
      "invalid argument: Emulator '/usr/bin/qemu-system-x86_64' does not support virt type 'hvf'",
    );
    expect(message(() => resolve({ arch: 'aarch64' }))).toBe(
      "invalid argument: architecture from emulator 'x86_64' doesn't match given architecture 'aarch64'",
    );
  });
});
