/**
 * One API suite, two ways: every test here runs against the QEMU driver in this process and
 * against a RemoteClient talking to a real qvirtd. Both are the hypervisor contract; a test that
 * passes one way and fails the other is a bug in the side that differs.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  VIR_DOMAIN_EVENT_DETAIL as D,
  type DomainEvent,
  type HypervisorDriver,
  VIR_CONNECT_LIST_DOMAINS as L,
  VIR_CONNECT_COMPARE_CPU,
  VIR_CPU_COMPARE,
  VIR_DOMAIN_AFFECT,
  VIR_DOMAIN_EVENT,
  VIR_DOMAIN_EVENT_ID,
  VIR_DOMAIN_START,
  VIR_DOMAIN_STATE,
  VIR_DOMAIN_VCPU,
  VIR_DOMAIN_XML,
} from '@qvirt/core/hypervisor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guestXml } from '../test-support/harness.js';
import { bothWays, type Way } from '../test-support/ways.js';

const Q35_EFI = `<domain type='qemu'>
  <name>efi</name>
  <uuid>0c8f1e2a-6a7b-4f1d-9a51-3d0b8f3c9e11</uuid>
  <memory unit='KiB'>65536</memory>
  <vcpu>1</vcpu>
  <os firmware='efi'><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os>
  <features><acpi/></features>
  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices>
</domain>`;

describe.each(bothWays('qvirt-contract-'))('the hypervisor contract %s', (_label, open) => {
  let way: Way;
  let c: HypervisorDriver;
  beforeAll(async () => {
    way = await open();
    c = way.conn;
  });
  afterAll(() => way?.close());

  it('describes the connection as libvirt 9.0 does', async () => {
    expect(await c.connectGetType()).toBe('QEMU');
    expect(await c.connectGetLibVersion()).toBe(9_000_000);
    expect(await c.connectGetVersion()).toBeGreaterThanOrEqual(7_002_000);
    expect(await c.connectGetHostname()).toMatch(/\S/);
    expect(await c.connectGetMaxVcpus(null)).toBe(16);
    expect(await c.connectGetMaxVcpus('qemu')).toBe(16);
    await expect(c.connectGetMaxVcpus('xen')).rejects.toThrow("invalid argument: unknown type 'xen'");
    expect(await c.connectIsSecure()).toBe(1);
    expect(await c.connectIsEncrypted()).toBe(0);
    const node = await c.nodeGetInfo();
    expect(node.model).toBe('x86_64');
    expect(node.cpus).toBeGreaterThan(0);
    expect(node.memory).toBeGreaterThan(0);
    expect((await c.nodeGetSecurityModel()).model).toMatch(/^(none|dac)$/);
  });

  it('gives the capabilities of this host', async () => {
    const caps = await c.connectGetCapabilities();
    expect(caps).toMatch(/^<capabilities>/);
    expect(caps).toContain("<domain type='qemu'/>");
  });

  it("gives the host's SMBIOS, or libvirt's refusal where dmidecode cannot read it", async () => {
    await expect(c.connectGetSysinfo(1)).rejects.toThrow(
      'unsupported flags (0x1) in function qemuConnectGetSysinfo',
    );
    let readable = true;
    try {
      execFileSync('dmidecode', ['-q', '-t', '0,1,2,3,4,11,17'], { stdio: 'ignore' });
    } catch {
      readable = false;
    }
    if (readable) expect(await c.connectGetSysinfo(0)).toMatch(/^<sysinfo type='smbios'>\n {2}<bios>\n/);
    else
      await expect(c.connectGetSysinfo(0)).rejects.toThrow(
        'unsupported configuration: Host SMBIOS information is not available',
      );
  });

  it("gives domain capabilities as libvirt's virsh domcapabilities does", async () => {
    const xml = await c.connectGetDomainCapabilities(null, null, 'q35', 'qemu', 0);
    expect(xml).toMatch(
      /^<domainCapabilities>\n {2}<path>[^<]*qemu-system-x86_64<\/path>\n {2}<domain>qemu<\/domain>/,
    );
    expect(xml).toMatch(/<machine>pc-q35-[0-9.]+<\/machine>/);
    expect(xml).toContain("<mode name='host-passthrough' supported='no'/>");
    // the same QEMU as libvirt's, when libvirt runs here: the same document
    if (existsSync('/usr/bin/virsh') && existsSync('/run/libvirt/libvirt-sock')) {
      let libvirt: string | undefined;
      try {
        libvirt = execFileSync(
          'virsh',
          ['-c', 'qemu:///system', 'domcapabilities', '--machine', 'q35', '--virttype', 'qemu'],
          {
            encoding: 'utf8',
            stdio: ['ignore', 'pipe', 'ignore'],
          },
        );
      } catch {
        libvirt = undefined;
      }
      if (libvirt !== undefined) expect(`${xml}\n\n`).toBe(libvirt);
    }
    await expect(c.connectGetDomainCapabilities(null, null, null, 'xyz', 0)).rejects.toThrow(
      'invalid argument: unknown virttype: xyz',
    );
    await expect(c.connectGetDomainCapabilities(null, null, 'foo', 'qemu', 0)).rejects.toThrow(
      /^invalid argument: the machine 'foo' is not supported by emulator '.*qemu-system-x86_64'$/,
    );
  });

  it("lists the CPU map's models and compares and baselines CPUs as libvirt does", async () => {
    const names = await c.connectGetCPUModelNames('x86_64', 1, 0);
    expect(names.ret).toBe(names.models.length);
    expect(names.models).toEqual(expect.arrayContaining(['qemu64', 'Westmere', 'Skylake-Client']));
    expect(await c.connectGetCPUModelNames('x86_64', 0, 0)).toEqual({ models: [], ret: names.ret });
    expect(await c.connectGetCPUModelNames('aarch64', 1, 0)).toEqual({ models: [], ret: 0 });
    await expect(c.connectGetCPUModelNames('foo', 1, 0)).rejects.toThrow(
      'invalid argument: cannot find architecture foo',
    );

    // the host-model CPU is what the hypervisor offers: identical; an older model: a subset of it
    const domcaps = await c.connectGetDomainCapabilities(null, null, null, 'qemu', 0);
    const hostModel = /<mode name='host-model' supported='yes'>\n([\s\S]*?)\n {4}<\/mode>/.exec(domcaps)?.[1];
    expect(hostModel).toBeDefined();
    const cpu = `<cpu>\n${hostModel}\n</cpu>\n`;
    expect(await c.connectCompareHypervisorCPU(null, null, null, 'qemu', cpu, 0)).toBe(
      VIR_CPU_COMPARE.IDENTICAL,
    );
    const old = '<cpu><model>qemu64</model></cpu>';
    expect(await c.connectCompareHypervisorCPU(null, null, null, 'qemu', old, 0)).toBe(
      VIR_CPU_COMPARE.SUPERSET,
    );
    const future = "<cpu><model>qemu64</model><feature policy='require' name='amx-tile'/></cpu>";
    expect(await c.connectCompareHypervisorCPU(null, null, null, 'qemu', future, 0)).toBe(
      VIR_CPU_COMPARE.INCOMPATIBLE,
    );
    await expect(
      c.connectCompareHypervisorCPU(
        null,
        null,
        null,
        'qemu',
        future,
        VIR_CONNECT_COMPARE_CPU.FAIL_INCOMPATIBLE,
      ),
    ).rejects.toThrow(
      'the CPU is incompatible with host CPU: Host CPU does not provide required features: amx-tile',
    );

    // the baseline of one CPU the hypervisor offers is that CPU
    const baseline = await c.connectBaselineHypervisorCPU(null, null, null, 'qemu', [cpu], 0);
    expect(baseline).toMatch(/^<cpu mode='custom' match='exact'>\n {2}<model fallback='forbid'>/);
    expect(await c.connectCompareHypervisorCPU(null, null, null, 'qemu', baseline, 0)).toBe(
      VIR_CPU_COMPARE.IDENTICAL,
    );
    await expect(c.connectBaselineCPU([], 0)).rejects.toThrow('invalid argument: no CPUs given');
    const host = '<cpu><arch>x86_64</arch><model>Westmere</model><vendor>Intel</vendor></cpu>';
    const older = '<cpu><arch>x86_64</arch><model>Nehalem</model><vendor>Intel</vendor></cpu>';
    expect(await c.connectBaselineCPU([host, older], 0)).toBe(
      "<cpu mode='custom' match='exact'>\n  <model fallback='allow'>Nehalem</model>\n  <vendor>Intel</vendor>\n</cpu>\n",
    );
  });

  it('describes the node as libvirt does: topology, free memory, memory and CPU stats, CPU map', async () => {
    const info = await c.nodeGetInfo();
    // virHostCPUGetInfo's topology multiplies out to the CPUs (or is reported flat)
    expect(info.nodes * info.sockets * info.cores * info.threads).toBeGreaterThanOrEqual(info.cpus);
    expect(info.mhz).toBeGreaterThanOrEqual(0);
    const map = await c.nodeGetCPUMap(1, 1, 0);
    const bits = [...map.cpumap].reduce((n, b) => n + b.toString(2).replaceAll('0', '').length, 0);
    expect(map.online).toBe(bits);
    expect(map.online).toBe(info.cpus);
    expect(map.ret).toBeGreaterThanOrEqual(map.online);
    expect(await c.nodeGetCPUMap(0, 0, 0)).toMatchObject({ online: 0, ret: map.ret });

    const cells = await c.nodeGetCellsFreeMemory(0, 1024);
    expect(cells.length).toBeGreaterThanOrEqual(1);
    for (const free of cells) expect(free).toBeLessThanOrEqual(info.memory * 1024);
    const last = cells.length - 1;
    await expect(c.nodeGetCellsFreeMemory(last + 1, 1)).rejects.toThrow(
      `internal error: start cell ${last + 1} out of range (0-${last})`,
    );
    const free = await c.nodeGetFreeMemory();
    expect(free).toBeGreaterThan(0);
    expect(free).toBeLessThanOrEqual(info.memory * 1024);

    expect(await c.nodeGetMemoryStats(0, -1, 0)).toEqual({ params: [], nparams: 4 });
    const mem = await c.nodeGetMemoryStats(4, -1, 0);
    expect(mem.params.map((p) => p.field)).toEqual(['total', 'free', 'buffers', 'cached']);
    expect(mem.params[0]!.value).toBeGreaterThanOrEqual(mem.params[1]!.value);
    const cell = await c.nodeGetMemoryStats(0, 0, 0);
    const cellStats = await c.nodeGetMemoryStats(cell.nparams, 0, 0);
    expect(cellStats.params.map((p) => p.field)).toEqual(
      cell.nparams === 2 ? ['total', 'free'] : ['total', 'free', 'buffers', 'cached'],
    );
    await expect(c.nodeGetMemoryStats(0, last + 1, 0)).rejects.toThrow(
      `cellNum in virHostMemGetStats must be less than or equal to ${last}`,
    );

    expect(await c.nodeGetCPUStats(-1, 0, 0)).toEqual({ params: [], nparams: 4 });
    const all = await c.nodeGetCPUStats(-1, 4, 0);
    expect(all.params.map((p) => p.field)).toEqual(['kernel', 'user', 'idle', 'iowait']);
    const one = await c.nodeGetCPUStats(0, 4, 0);
    expect(one.params[1]!.value).toBeLessThanOrEqual(all.params[1]!.value);
    await expect(c.nodeGetCPUStats(map.ret, 4, 0)).rejects.toThrow(
      'Invalid cpuNum in virHostCPUGetStatsLinux',
    );

    expect(await c.nodeGetMemoryParameters(0, 0)).toEqual({ params: [], nparams: 8 });
    const ksm = await c.nodeGetMemoryParameters(8, 0);
    for (const p of ksm.params) expect(p.field).toMatch(/^shm_/);
    if (existsSync('/sys/kernel/mm/ksm/pages_to_scan')) {
      expect(ksm.params[0]).toMatchObject({ field: 'shm_pages_to_scan', type: 2 });
    }
  });

  it("reports the host emulator's version with QEMU's micro version, and KVM's vCPU limit", async () => {
    const text = execFileSync('qemu-system-x86_64', ['--version'], { encoding: 'utf8' });
    const [, major, minor, micro] = /version (\d+)\.(\d+)\.(\d+)/.exec(text)!;
    expect(await c.connectGetVersion()).toBe(
      Number(major) * 1_000_000 + Number(minor) * 1000 + Number(micro),
    );
    if (existsSync('/dev/kvm')) expect(await c.connectGetMaxVcpus('kvm')).toBeGreaterThan(0);
    else await expect(c.connectGetMaxVcpus('kvm')).rejects.toThrow('Unable to open /dev/kvm');
  });

  it('converts with the host: firmware autoselection fills the pflash pair', async () => {
    const argv = await c.connectDomainXMLToNative('qemu-argv', Q35_EFI, 0);
    expect(argv).toMatch(
      /"filename":"\/usr\/share\/OVMF\/OVMF_CODE[^"]*\.fd","node-name":"libvirt-pflash0-storage"/,
    );
    expect(argv).toContain('pflash0=libvirt-pflash0-format,pflash1=libvirt-pflash1-format');
    await expect(c.connectDomainXMLToNative('xen-xm', Q35_EFI, 0)).rejects.toThrow(
      'invalid argument: unsupported config type xen-xm',
    );
    const back = await c.connectDomainXMLFromNative(
      'qemu-argv',
      '/usr/bin/qemu-system-x86_64 -name g -m 64',
      0,
    );
    expect(back).toContain('<name>g</name>');
  });

  it('defines, finds and lists a domain with libvirt numbers', async () => {
    const xml = readFileSync(guestXml(way.dir, 'k1'), 'utf8').replace(
      '<vcpu>1</vcpu>',
      "<vcpu current='1'>2</vcpu>",
    );
    const dom = await c.domainDefineXML(xml);
    expect(dom).toMatchObject({ name: 'k1', id: -1 });
    expect(await c.domainLookupByName('k1')).toEqual(dom);
    expect(await c.domainLookupByUUID(dom.uuid)).toEqual(dom);
    await expect(c.domainLookupByName('nope')).rejects.toThrow(
      "Domain not found: no domain with matching name 'nope'",
    );
    await expect(c.domainLookupByID(4242)).rejects.toThrow(
      'Domain not found: no domain with matching id 4242',
    );
    expect((await c.connectListAllDomains(L.INACTIVE | L.PERSISTENT)).map((d) => d.name)).toEqual(['k1']);
    expect(await c.connectListAllDomains(L.ACTIVE)).toEqual([]);
    expect(await c.connectNumOfDefinedDomains()).toBe(1);
    expect(await c.connectListDefinedDomains(10)).toEqual(['k1']);
    expect(await c.domainGetState(dom, 0)).toEqual({ state: VIR_DOMAIN_STATE.shutoff, reason: 0 });
    const info = await c.domainGetInfo(dom);
    // virDomainGetInfo counts the vCPUs the domain has, not its maximum
    expect(info).toMatchObject({
      state: VIR_DOMAIN_STATE.shutoff,
      maxMem: 65536,
      memory: 65536,
      nrVirtCpu: 1,
    });
    expect(await c.domainGetVcpusFlags(dom, VIR_DOMAIN_AFFECT.CONFIG)).toBe(1);
    expect(await c.domainGetVcpusFlags(dom, VIR_DOMAIN_AFFECT.CONFIG | VIR_DOMAIN_VCPU.MAXIMUM)).toBe(2);
    await expect(c.domainGetVcpusFlags(dom, VIR_DOMAIN_AFFECT.LIVE)).rejects.toThrow(
      'Requested operation is not valid: domain is not running',
    );
    expect(await c.domainIsActive(dom)).toBe(0);
    expect(await c.domainIsPersistent(dom)).toBe(1);
    expect(await c.domainGetOSType(dom)).toBe('hvm');
    expect(await c.domainGetMaxMemory(dom)).toBe(65536);
    expect(await c.domainGetAutostart(dom)).toBe(0);
    await c.domainSetAutostart(dom, 1);
    expect(await c.domainGetAutostart(dom)).toBe(1);
    expect((await c.connectListAllDomains(L.AUTOSTART)).map((d) => d.name)).toEqual(['k1']);
    await c.domainSetAutostart(dom, 0);
    expect(await c.domainGetXMLDesc(dom, VIR_DOMAIN_XML.INACTIVE)).toContain('<name>k1</name>');
    await expect(c.domainGetXMLDesc(dom, 1 << 20)).rejects.toThrow(
      'unsupported flags (0x100000) in function qemuDomainGetXMLDesc',
    );
  });

  it('answers virDomainIsUpdated as libvirt 9.0 (never set by its QEMU driver)', async () => {
    const dom = await c.domainLookupByName('k1');
    expect(await c.domainIsUpdated(dom)).toBe(0);
    await expect(c.domainIsUpdated({ ...dom, uuid: '00000000-0000-0000-0000-000000000001' })).rejects.toThrow(
      "Domain not found: no domain with matching uuid '00000000-0000-0000-0000-000000000001' (k1)",
    );
  });

  it('refuses the same event callback twice, and an unknown callback id', async () => {
    const cb = () => {};
    const id = await c.connectDomainEventRegisterAny(null, VIR_DOMAIN_EVENT_ID.LIFECYCLE, cb);
    await expect(c.connectDomainEventRegisterAny(null, VIR_DOMAIN_EVENT_ID.LIFECYCLE, cb)).rejects.toThrow(
      'invalid argument: event callback already tracked',
    );
    // another callback, or the same one for another event, is its own registration
    const other = await c.connectDomainEventRegisterAny(null, VIR_DOMAIN_EVENT_ID.LIFECYCLE, () => {});
    const reboot = await c.connectDomainEventRegisterAny(null, VIR_DOMAIN_EVENT_ID.REBOOT, cb);
    for (const i of [id, other, reboot]) await c.connectDomainEventDeregisterAny(i);
    await expect(c.connectDomainEventDeregisterAny(id)).rejects.toThrow(
      `invalid argument: could not find event callback ${id} for deletion`,
    );
  });

  it("runs a guest, with libvirt's lifecycle events in libvirt's order", async () => {
    const events: DomainEvent[] = [];
    const id = await c.connectDomainEventRegisterAny(null, VIR_DOMAIN_EVENT_ID.LIFECYCLE, (e) =>
      events.push(e),
    );
    const dom = await c.domainLookupByName('k1');
    const running = await c.domainCreateWithFlags(dom, 0);
    expect(running.id).toBeGreaterThan(0);
    expect(await c.domainLookupByID(running.id)).toEqual(running);
    expect(await c.domainGetState(dom, 0)).toEqual({ state: VIR_DOMAIN_STATE.running, reason: 1 });
    expect(await c.domainIsActive(dom)).toBe(1);
    expect(await c.connectNumOfDomains()).toBe(1);
    expect(await c.connectListDomains(10)).toEqual([running.id]);
    expect(await c.domainGetVcpusFlags(dom, VIR_DOMAIN_AFFECT.LIVE)).toBe(1);
    await c.domainSuspend(dom);
    expect((await c.domainGetState(dom, 0)).state).toBe(VIR_DOMAIN_STATE.paused);
    expect((await c.connectListAllDomains(L.PAUSED)).map((d) => d.name)).toEqual(['k1']);
    await c.domainResume(dom);
    await expect(c.domainCreateWithFlags(dom, 0)).rejects.toThrow(
      'Requested operation is not valid: domain is already running',
    );
    await c.domainDestroy(dom);
    expect(await c.domainGetState(dom, 0)).toEqual({ state: VIR_DOMAIN_STATE.shutoff, reason: 2 });
    // a paused start reports the boot, then the pause
    await c.domainCreateWithFlags(dom, VIR_DOMAIN_START.PAUSED);
    await c.domainDestroy(dom);
    await new Promise((r) => setTimeout(r, 200));
    await c.connectDomainEventDeregisterAny(id);
    const seen = events.map((e) => [e.dom.name, e.event, e.detail]);
    const E = VIR_DOMAIN_EVENT;
    // as libvirt 9.0 with QEMU 7.2 sends them (recorded against libvirtd on Debian 12): QEMU's
    // SHUTDOWN at SIGTERM (guest: false) is "Shutdown Finished after host request"
    expect(seen).toEqual([
      ['k1', E.RESUMED, D.RESUMED.UNPAUSED],
      ['k1', E.STARTED, D.STARTED.BOOTED],
      ['k1', E.SUSPENDED, D.SUSPENDED.PAUSED],
      ['k1', E.RESUMED, D.RESUMED.UNPAUSED],
      ['k1', E.SHUTDOWN, D.SHUTDOWN.HOST],
      ['k1', E.STOPPED, D.STOPPED.DESTROYED],
      ['k1', E.STARTED, D.STARTED.BOOTED],
      ['k1', E.SUSPENDED, D.SUSPENDED.PAUSED],
      ['k1', E.SHUTDOWN, D.SHUTDOWN.HOST],
      ['k1', E.STOPPED, D.STOPPED.DESTROYED],
    ]);
  });

  it('undefines, with events and errors as libvirt', async () => {
    const events: DomainEvent[] = [];
    const dom = await c.domainLookupByName('k1');
    const id = await c.connectDomainEventRegisterAny(dom, VIR_DOMAIN_EVENT_ID.LIFECYCLE, (e) =>
      events.push(e),
    );
    await expect(c.domainUndefineFlags(dom, 1 << 20)).rejects.toThrow(
      'unsupported flags (0x100000) in function qemuDomainUndefineFlags',
    );
    await c.domainUndefine(dom);
    await new Promise((r) => setTimeout(r, 100));
    expect(events.map((e) => [e.event, e.detail])).toEqual([
      [VIR_DOMAIN_EVENT.UNDEFINED, D.UNDEFINED.REMOVED],
    ]);
    await c.connectDomainEventDeregisterAny(id);
    await expect(c.domainGetInfo(dom)).rejects.toThrow(
      `Domain not found: no domain with matching uuid '${dom.uuid}' (k1)`,
    );
    expect(await c.connectListAllDomains(0)).toEqual([]);
  });

  it('starts a host-model guest with the expanded CPU in its live XML, as libvirt does', async () => {
    // TCG here (the type of the guest): the host model of QEMU's `max` CPU, decoded to a model
    const xml = readFileSync(guestXml(way.dir, 'hm1'), 'utf8').replace(
      '<devices>',
      "<cpu mode='host-model'/>\n  <devices>",
    );
    const dom = await c.domainDefineXML(xml);
    expect(await c.domainGetXMLDesc(dom, VIR_DOMAIN_XML.INACTIVE)).toContain("<cpu mode='host-model'");
    await c.domainCreateWithFlags(dom, 0);
    try {
      const live = await c.domainGetXMLDesc(dom, 0);
      expect(live).toMatch(
        /<cpu mode='custom' match='exact' check='(partial|full)'>\n\s+<model fallback='forbid'>[\w-]+<\/model>/,
      );
      expect(live).toMatch(/<feature policy='(require|disable)' name='[\w-]+'\/>/);
      // the stored definition keeps host-model
      expect(await c.domainGetXMLDesc(dom, VIR_DOMAIN_XML.INACTIVE)).toContain("<cpu mode='host-model'");
    } finally {
      await c.domainDestroy(dom);
      await c.domainUndefine(dom);
    }
  });

  it('refuses what libvirt refuses at define, with its message', async () => {
    const file = path.join(way.dir, 'bad.xml');
    writeFileSync(file, '<domain type="qemu"><name>bad</name>');
    await expect(c.domainDefineXML(readFileSync(file, 'utf8'))).rejects.toThrow(/XML error/);
    await expect(c.domainDefineXMLFlags('<domain/>', 1 << 5)).rejects.toThrow(
      'unsupported flags (0x20) in function qemuDomainDefineXMLFlags',
    );
  });
});
