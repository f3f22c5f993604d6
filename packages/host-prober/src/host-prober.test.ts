import { utimesSync } from 'node:fs';
import { parseQemuCapsXml, qemu72Caps } from '@qvirt/qemu-argv';
import { afterEach, describe, expect, it } from 'vitest';
import { capabilitiesXml, guestsFromProbe } from './capabilities.js';
import { formatQemuCapsXml } from './caps-xml.js';
import { discoverEmulators, kvmState } from './discover.js';
import { type HostProbeOptions, probeHost } from './host-prober.js';
import { FakeHost } from './test-support/fakes.js';

const REPLIES = '/work/shared/conformance/host/caps_7.2.0.x86_64.replies';
const QEMU_UID = 64055;

let host: FakeHost;
afterEach(() => {
  // every fake must be gone before the temp dir is removed
  expect(host.livePids()).toEqual([]);
  host.cleanup();
});

function opts(extra: Partial<HostProbeOptions> = {}): HostProbeOptions {
  return {
    path: host.bin,
    hostArch: 'x86_64',
    libexecQemuKvm: `${host.root}/no-qemu-kvm`,
    uid: QEMU_UID,
    gid: QEMU_UID,
    kvmDevice: `${host.root}/no-kvm`,
    cacheDir: host.cache,
    timeoutMs: 3000,
    dropPrivileges: false,
    progress: { isTTY: false, write: () => true },
    ...extra,
  };
}

describe('KVM detection', () => {
  it('no /dev/kvm: probes with accel=tcg and offers only qemu domains', async () => {
    host = new FakeHost();
    host.emulator('qemu-system-x86_64', { mode: 'ok' });
    const probe = await probeHost(opts());
    expect(probe.kvm).toMatchObject({ usable: false, reason: expect.stringContaining('does not exist') });
    expect(host.calls().map((c) => c.args[c.args.indexOf('-machine') + 1])).toEqual(['none,accel=tcg']);
    const [guest] = guestsFromProbe(probe);
    expect(guest?.domainTypes).toEqual(['qemu']);
    expect(guest?.machines.slice(0, 2)).toEqual([
      { name: 'pc-i440fx-7.2', maxCpus: 255, deprecated: false },
      { name: 'pc', canonical: 'pc-i440fx-7.2', maxCpus: 255, deprecated: false },
    ]);
  });

  it('read-write /dev/kvm: kvm:tcg probe, then a TCG-only probe, and both domain types', async () => {
    host = new FakeHost();
    host.emulator('qemu-system-x86_64', { mode: 'ok' });
    const probe = await probeHost(opts({ kvmDevice: host.kvmDevice(0o666) }));
    expect(probe.kvm.usable).toBe(true);
    expect(host.calls().map((c) => c.args[c.args.indexOf('-machine') + 1])).toEqual([
      'none,accel=kvm:tcg',
      'none,accel=tcg',
    ]);
    expect(guestsFromProbe(probe)[0]?.domainTypes).toEqual(['qemu', 'kvm']);
  });

  it('/dev/kvm the QEMU user may not open: not usable, yet QEMU is asked (libvirt probes kvm:tcg)', async () => {
    host = new FakeHost();
    host.emulator('qemu-system-x86_64', { mode: 'ok' });
    const dev = host.kvmDevice(0o600);
    expect(kvmState({ device: dev, uid: QEMU_UID, gid: QEMU_UID }).usable).toBe(false);
    const probe = await probeHost(opts({ kvmDevice: dev }));
    expect(probe.kvm).toMatchObject({ usable: false, reason: expect.stringContaining('not read-write') });
    // what QEMU answers decides the domain types, as in virQEMUCapsInitGuestFromBinary
    expect(host.calls().map((c) => c.args[c.args.indexOf('-machine') + 1])[0]).toBe('none,accel=kvm:tcg');
  });
});

describe('broken binaries', () => {
  const failing: [string, Parameters<FakeHost['emulator']>[1], RegExp][] = [
    [
      'an old version',
      { mode: 'ok', version: [2, 11, 0] },
      /qemu-system-aarch64: QEMU version >= 4\.2\.0 is required, but 2\.11\.0 found$/,
    ],
    [
      'one that hangs',
      { mode: 'hang' },
      /qemu-system-aarch64: gave no QMP greeting within 800 ms \(hung\?\); killed$/,
    ],
    [
      'one that exits at once',
      { mode: 'exit' },
      /qemu-system-aarch64: exited with status 1 before the QMP greeting .*: fake: could not initialize$/,
    ],
    [
      'one that is not QEMU',
      { mode: 'notqemu' },
      /qemu-system-aarch64: is not QEMU: it printed "Usage: frobnicate/,
    ],
    [
      'one that crashes mid-probe',
      { mode: 'crash' },
      /qemu-system-aarch64: was killed by SIGSEGV while being probed$/,
    ],
  ];
  for (const [what, cfg, message] of failing) {
    it(`${what}: one-line error, the others are still probed`, async () => {
      host = new FakeHost();
      host.emulator('qemu-system-aarch64', cfg);
      host.emulator('qemu-system-x86_64', { mode: 'ok' });
      const probe = await probeHost(opts({ timeoutMs: 800 }));
      expect(probe.errors).toHaveLength(1);
      expect(probe.errors[0]).toMatch(message);
      expect(probe.errors[0]).not.toContain('\n');
      // qemu-system-x86_64 also serves i686 (the native target)
      expect(guestsFromProbe(probe).map((g) => g.arch)).toEqual(['i686', 'x86_64']);
      // a failed probe is not cached: the next run tries again
      const again = await probeHost(opts({ timeoutMs: 800 }));
      expect(again.errors).toHaveLength(1);
    });
  }
});

describe('cache', () => {
  it('reuses a probe until the binary or qvirt version changes', async () => {
    host = new FakeHost();
    const bin = host.emulator('qemu-system-x86_64', { mode: 'ok' });
    const first = await probeHost(opts());
    expect(first.emulators[0]?.cached).toBe(false);
    const second = await probeHost(opts());
    expect(second.emulators[0]?.cached).toBe(true);
    expect(host.calls()).toHaveLength(1);
    expect([...second.emulators[0]!.result!.caps.flags]).toEqual([...first.emulators[0]!.result!.caps.flags]);
    expect(second.emulators[0]!.result!.caps.machines).toEqual(first.emulators[0]!.result!.caps.machines);

    utimesSync(bin, new Date(), new Date(Date.now() + 5000));
    expect((await probeHost(opts())).emulators[0]?.cached).toBe(false);
    expect((await probeHost(opts({ qvirtVersion: '99.0.0' }))).emulators[0]?.cached).toBe(false);
    // KVM becoming usable invalidates too (libvirt's virQEMUCapsIsValid)
    expect(
      (await probeHost(opts({ qvirtVersion: '99.0.0', kvmDevice: host.kvmDevice(0o666) }))).emulators[0]
        ?.cached,
    ).toBe(false);
    expect(host.calls().length).toBe(5);
  });
});

describe('discovery', () => {
  it('qemu-system-<arch>, the native target, /usr/libexec/qemu-kvm and the seed legacy names', () => {
    host = new FakeHost();
    const x86 = host.emulator('qemu-system-x86_64', { mode: 'ok' });
    const mips = host.emulator('qemu-system-mips', { mode: 'ok' });
    let found = discoverEmulators({ path: host.bin, hostArch: 'x86_64', libexecQemuKvm: '/nonexistent' });
    expect(found.map((f) => [f.arch, f.binary, f.via])).toEqual([
      ['i686', x86, 'target'],
      ['mips', mips, 'path'],
      ['x86_64', x86, 'path'],
    ]);
    // only /usr/libexec/qemu-kvm (RHEL): serves the native arches
    const h2 = new FakeHost();
    try {
      const kvm = h2.emulator('qemu-kvm', { mode: 'ok' });
      found = discoverEmulators({ path: `${host.root}/empty`, hostArch: 'x86_64', libexecQemuKvm: kvm });
      expect(found.map((f) => [f.arch, f.via])).toEqual([
        ['i686', 'libexec'],
        ['x86_64', 'libexec'],
      ]);
      // the seed's names: `qemu` for i686, `qemu-kvm` on PATH, and xenner guests with KVM
      h2.emulator('qemu', { mode: 'ok' });
      h2.emulator('xenner', { mode: 'ok' });
      found = discoverEmulators({
        path: h2.bin,
        hostArch: 'x86_64',
        libexecQemuKvm: '/nonexistent',
        kvmUsable: true,
      });
      expect(found.map((f) => [f.arch, f.osType, f.binary.split('/').pop(), f.via])).toEqual([
        ['i686', 'hvm', 'qemu', 'legacy'],
        ['x86_64', 'hvm', 'qemu-kvm', 'legacy'],
        ['x86_64', 'xen', 'xenner', 'legacy'],
      ]);
    } finally {
      h2.cleanup();
    }
  });
});

describe('progress', () => {
  it('is shown on a terminal and cleared at the end', async () => {
    host = new FakeHost();
    host.emulator('qemu-system-x86_64', { mode: 'ok' });
    const writes: string[] = [];
    await probeHost(opts({ progress: { isTTY: true, write: (s: string) => writes.push(s) } }));
    expect(writes.some((w) => w.includes('probing qemu-system-x86_64 (1/1)'))).toBe(true);
    expect(writes.at(-1)).toBe('\r\x1b[K');
  });
});

describe("libvirt's QMP exchange with QEMU 7.2 (caps_7.2.0.x86_64.replies)", () => {
  it('gives the flags, machines and CPU models of libvirt 9.0 test-suite cache', async () => {
    host = new FakeHost();
    host.emulator('qemu-system-x86_64', { mode: 'replay', replies: REPLIES });
    const probe = await probeHost(opts({ kvmDevice: host.kvmDevice(0o666) }));
    expect(probe.errors).toEqual([]);
    const live = probe.emulators[0]!.result!;
    const snap = qemu72Caps();
    expect([...live.caps.flags].sort()).toEqual([...snap.flags].sort());
    expect(live.caps.version).toBe(snap.version);
    expect(live.caps.machines).toEqual(snap.machines);
    expect(live.caps.cpuModels.kvm).toEqual(snap.cpuModels.kvm);
    expect(live.caps.cpuModels.tcg).toEqual(snap.cpuModels.tcg);
    // the cache format round-trips through qemu-argv's reader
    const again = parseQemuCapsXml(formatQemuCapsXml(live.caps, { package: live.package }));
    expect([...again.flags]).toEqual([...live.caps.flags]);
    expect(again.machines).toEqual(live.caps.machines);
    expect(again.cpuModels).toEqual(live.caps.cpuModels);
  });
});

describe('capabilitiesXml', () => {
  it("writes libvirt's layout", async () => {
    host = new FakeHost();
    host.emulator('qemu-system-x86_64', { mode: 'ok' });
    const probe = await probeHost(opts());
    const xml = capabilitiesXml({
      host: {
        uuid: 'ec7ce4ec-728b-4173-bb62-ca4361699eef',
        cpu: { arch: 'x86_64', vendor: 'AMD', pages: [4] },
      },
      guests: guestsFromProbe(probe).filter((g) => g.arch === 'x86_64'),
      secModels: [
        { model: 'none', doi: '0' },
        {
          model: 'dac',
          doi: '0',
          baseLabels: [
            ['kvm', '+64055:+64055'],
            ['qemu', '+64055:+64055'],
          ],
        },
      ],
    });
    expect(xml).toBe(`<capabilities>

  <host>
    <uuid>ec7ce4ec-728b-4173-bb62-ca4361699eef</uuid>
    <cpu>
      <arch>x86_64</arch>
      <vendor>AMD</vendor>
      <pages unit='KiB' size='4'/>
    </cpu>
    <power_management/>
    <iommu support='no'/>
    <migration_features>
      <live/>
      <uri_transports>
        <uri_transport>tcp</uri_transport>
        <uri_transport>rdma</uri_transport>
      </uri_transports>
    </migration_features>
    <secmodel>
      <model>none</model>
      <doi>0</doi>
    </secmodel>
    <secmodel>
      <model>dac</model>
      <doi>0</doi>
      <baselabel type='kvm'>+64055:+64055</baselabel>
      <baselabel type='qemu'>+64055:+64055</baselabel>
    </secmodel>
  </host>

  <guest>
    <os_type>hvm</os_type>
    <arch name='x86_64'>
      <wordsize>64</wordsize>
      <emulator>${host.bin}/qemu-system-x86_64</emulator>
      <machine maxCpus='255'>pc-i440fx-7.2</machine>
      <machine canonical='pc-i440fx-7.2' maxCpus='255'>pc</machine>
      <machine maxCpus='288'>pc-q35-7.2</machine>
      <machine canonical='pc-q35-7.2' maxCpus='288'>q35</machine>
      <machine maxCpus='1'>isapc</machine>
      <domain type='qemu'/>
    </arch>
    <features>
      <acpi default='on' toggle='yes'/>
      <apic default='on' toggle='no'/>
      <cpuselection/>
      <deviceboot/>
      <disksnapshot default='on' toggle='no'/>
    </features>
  </guest>

</capabilities>
`);
  });
});
