/**
 * vCPUs, memory, metadata, renaming and statistics of a domain, in the contract suite's style:
 * every test runs against the QEMU driver in this process and through a real qvirtd.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import {
  VIR_DOMAIN_AFFECT as A,
  VIR_DOMAIN_EVENT_DETAIL as D,
  type Domain,
  type DomainEvent,
  VIR_DOMAIN_EVENT as E,
  type HypervisorDriver,
  VIR_CONNECT_LIST_DOMAINS as L,
  VIR_DOMAIN_METADATA as M,
  VIR_DOMAIN_STATS as S,
  VIR_TYPED_PARAM as T,
  type TypedParam,
  VIR_DOMAIN_EVENT_ID,
  VIR_DOMAIN_MEM,
  VIR_DOMAIN_VCPU,
  VIR_DOMAIN_XML,
  VIR_VCPU,
} from '@qvirt/core/hypervisor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guestXml } from '../test-support/harness.js';
import { bothWays, type Way } from '../test-support/ways.js';

const bits = (map: Uint8Array) => {
  const out: number[] = [];
  for (let c = 0; c < map.length * 8; c++) if (map[c >> 3]! & (1 << (c & 7))) out.push(c);
  return out;
};
const byField = (params: TypedParam[]) => new Map(params.map((p) => [p.field, p]));
const settle = () => new Promise((r) => setTimeout(r, 200));
const cat = (f: string) => readFileSync(f, 'utf8').trim();
const affinity = (pid: number, tid = pid) =>
  /^Cpus_allowed_list:\s*(\S+)/m.exec(cat(`/proc/${pid}/task/${tid}/status`))?.[1];

/** The running domain's QEMU pid, from its pid file under the instance. */
function qemuPid(root: string, name: string): number {
  const find = (d: string): string | undefined => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isFile() && e.name === `${name}.pid`) return p;
      const f = e.isDirectory() ? find(p) : undefined;
      if (f) return f;
    }
    return undefined;
  };
  return Number(cat(find(root)!));
}

/** A thread's group directory in the v1 cpuset hierarchy (undefined without one). */
function cpusetGroup(pid: number, tid: number): string | undefined {
  const line = cat(`/proc/${pid}/task/${tid}/cgroup`)
    .split('\n')
    .find((l) => l.split(':')[1]!.split(',').includes('cpuset'));
  const dir = line && `/sys/fs/cgroup/cpuset${line.split(':')[2]}`;
  return dir && existsSync(`${dir}/cpuset.cpus`) ? dir : undefined;
}

describe.each(bothWays('qvirt-resources-'))('vCPUs, memory, metadata and statistics %s', (_label, open) => {
  let way: Way;
  let c: HypervisorDriver;
  let dom: Domain;
  let hostCpus: number;
  let maplen: number;
  beforeAll(async () => {
    way = await open();
    c = way.conn;
    const xml = readFileSync(guestXml(way.dir, 'r1'), 'utf8').replace(
      '<vcpu>1</vcpu>',
      "<vcpu current='1'>2</vcpu>",
    );
    dom = await c.domainDefineXML(xml);
    hostCpus = (await c.nodeGetCPUMap(0, 0, 0)).ret;
    maplen = Math.ceil(hostCpus / 8);
  });
  afterAll(() => way?.close());

  it('answers vCPU pinning of the config as libvirt: every host CPU, then the pinned set', async () => {
    const all = [...Array(hostCpus).keys()];
    const info = await c.domainGetVcpuPinInfo(dom, 2, maplen, A.CONFIG);
    expect(info.num).toBe(2);
    expect(bits(info.cpumaps.subarray(0, maplen))).toEqual(all);
    expect(bits(info.cpumaps.subarray(maplen))).toEqual(all);
    await c.domainPinVcpuFlags(dom, 1, Uint8Array.of(1), A.CONFIG);
    const pinned = await c.domainGetVcpuPinInfo(dom, 2, maplen, 0);
    expect(bits(pinned.cpumaps.subarray(maplen))).toEqual([0]);
    expect(await c.domainGetXMLDesc(dom, VIR_DOMAIN_XML.INACTIVE)).toContain(
      "<vcpupin vcpu='1' cpuset='0'/>",
    );
    await expect(c.domainPinVcpuFlags(dom, 5, Uint8Array.of(1), A.CONFIG)).rejects.toThrow(
      'invalid argument: vcpu 5 is out of range of persistent cpu count 1',
    );
    await expect(c.domainPinVcpuFlags(dom, 0, Uint8Array.of(0), A.CONFIG)).rejects.toThrow(
      'invalid argument: Empty cpu list for pinning',
    );
    await expect(c.domainGetVcpuPinInfo(dom, 2, maplen, A.LIVE)).rejects.toThrow(
      'Requested operation is not valid: domain is not running',
    );
    await c.domainPinEmulator(dom, Uint8Array.of(1), A.CONFIG);
    expect(bits((await c.domainGetEmulatorPinInfo(dom, maplen, 0)).cpumaps)).toEqual([0]);
    await expect(c.domainGetVcpus(dom, 2, maplen)).rejects.toThrow(/inactive domain/);
  });

  it('changes the config: vCPU count, memory and maximum, with libvirt refusals', async () => {
    await c.domainSetVcpusFlags(dom, 2, A.CONFIG);
    expect(await c.domainGetVcpusFlags(dom, A.CONFIG)).toBe(2);
    await expect(c.domainSetVcpusFlags(dom, 3, A.CONFIG)).rejects.toThrow(
      'invalid argument: requested vcpus is greater than max allowable vcpus for the persistent domain: 3 > 2',
    );
    await c.domainSetVcpusFlags(dom, 1, A.CONFIG);
    await c.domainSetMemoryFlags(dom, 32768, A.CONFIG);
    expect(await c.domainGetInfo(dom)).toMatchObject({ maxMem: 65536, memory: 32768, nrVirtCpu: 1 });
    await expect(c.domainSetMemoryFlags(dom, 131072, A.CONFIG)).rejects.toThrow(
      'invalid argument: cannot set memory higher than max memory',
    );
    await c.domainSetMaxMemory(dom, 98304);
    expect(await c.domainGetMaxMemory(dom)).toBe(98304);
    await c.domainSetMemoryFlags(dom, 65536, A.CONFIG | VIR_DOMAIN_MEM.MAXIMUM);
    await c.domainSetMemoryFlags(dom, 65536, A.CONFIG);
    expect(await c.domainGetInfo(dom)).toMatchObject({ maxMem: 65536, memory: 65536 });
  });

  it("refuses live and config together in the getters, in libvirt-domain.c's words", async () => {
    const both = A.LIVE | A.CONFIG;
    const message = "Flags 'VIR_DOMAIN_AFFECT_LIVE' and 'VIR_DOMAIN_AFFECT_CONFIG' are mutually exclusive";
    for (const call of [
      () => c.domainGetVcpusFlags(dom, both),
      () => c.domainGetVcpuPinInfo(dom, 2, maplen, both),
      () => c.domainGetEmulatorPinInfo(dom, maplen, both),
      () => c.domainGetMemoryParameters(dom, 0, both),
      () => c.domainGetBlkioParameters(dom, 0, both),
      () => c.domainGetSchedulerParametersFlags(dom, 0, both),
      () => c.domainGetIOThreadInfo(dom, both),
      () => c.domainGetMetadata(dom, M.DESCRIPTION, null, both),
      () => c.domainGetBlockIoTune(dom, null, 0, both),
    ]) {
      await expect(call()).rejects.toThrow(message);
    }
  });

  it('keeps metadata as libvirt does, with the METADATA_CHANGE event', async () => {
    const events: DomainEvent[] = [];
    const id = await c.connectDomainEventRegisterAny(dom, VIR_DOMAIN_EVENT_ID.METADATA_CHANGE, (e) =>
      events.push(e),
    );
    await c.domainSetMetadata(dom, M.DESCRIPTION, 'a test guest', null, null, 0);
    expect(await c.domainGetMetadata(dom, M.DESCRIPTION, null, 0)).toBe('a test guest');
    await expect(c.domainSetMetadata(dom, M.TITLE, 'two\nlines', null, null, 0)).rejects.toThrow(
      "metadata title can't contain newlines",
    );
    await c.domainSetMetadata(dom, M.ELEMENT, '<app><x>1</x></app>', 'q', 'http://qvirt.example/app/', 0);
    expect(await c.domainGetMetadata(dom, M.ELEMENT, 'http://qvirt.example/app/', 0)).toBe(
      '<q:app xmlns:q="http://qvirt.example/app/">\n  <q:x>1</q:x>\n</q:app>',
    );
    expect(await c.domainGetXMLDesc(dom, 0)).toContain('<metadata>');
    await c.domainSetMetadata(dom, M.ELEMENT, null, null, 'http://qvirt.example/app/', 0);
    await expect(c.domainGetMetadata(dom, M.ELEMENT, 'http://qvirt.example/app/', 0)).rejects.toThrow(
      'metadata not found: Requested metadata element is not present',
    );
    await settle();
    await c.connectDomainEventDeregisterAny(id);
    expect(events.map((e) => [e.type, e.nsuri ?? null])).toEqual([
      [M.DESCRIPTION, null],
      [M.ELEMENT, 'http://qvirt.example/app/'],
      [M.ELEMENT, 'http://qvirt.example/app/'],
    ]);
  });

  it('renames a stopped domain with the UNDEFINED/DEFINED RENAMED events', async () => {
    const events: DomainEvent[] = [];
    const id = await c.connectDomainEventRegisterAny(null, VIR_DOMAIN_EVENT_ID.LIFECYCLE, (e) =>
      events.push(e),
    );
    await expect(c.domainRename(dom, 'r1', 0)).rejects.toThrow(
      "Requested operation is not valid: Can't rename domain to itself",
    );
    expect(await c.domainRename(dom, 'r2', 0)).toBe(0);
    const renamed = await c.domainLookupByName('r2');
    expect(renamed.uuid).toBe(dom.uuid);
    await expect(c.domainLookupByName('r1')).rejects.toThrow("no domain with matching name 'r1'");
    await c.domainRename(renamed, 'r1', 0);
    await settle();
    await c.connectDomainEventDeregisterAny(id);
    expect(events.map((e) => [e.dom.name, e.event, e.detail])).toEqual([
      ['r1', E.UNDEFINED, D.UNDEFINED.RENAMED],
      ['r2', E.DEFINED, D.DEFINED.RENAMED],
      ['r2', E.UNDEFINED, D.UNDEFINED.RENAMED],
      ['r1', E.DEFINED, D.DEFINED.RENAMED],
    ]);
  });

  it('reports the stats groups of a stopped domain as libvirt 9.0', async () => {
    const [rec] = await c.connectGetAllDomainStats([dom], 0, 0);
    const f = byField(rec!.params);
    expect(rec!.dom.name).toBe('r1');
    expect(f.get('state.state')).toMatchObject({ type: T.INT, value: 5 });
    expect(f.get('balloon.maximum')).toMatchObject({ type: T.ULLONG, value: 65536 });
    expect(f.get('vcpu.current')).toMatchObject({ type: T.UINT, value: 1 });
    expect(f.get('vcpu.maximum')).toMatchObject({ type: T.UINT, value: 2 });
    expect(f.get('block.count')).toMatchObject({ type: T.UINT, value: 1 });
    expect(f.get('block.0.name')).toMatchObject({ type: T.STRING, value: 'hda' });
    expect(f.get('block.0.capacity')?.value).toBe(512);
    expect(f.has('net.count')).toBe(false);
    expect(await c.connectGetAllDomainStats([], S.STATE, L.ACTIVE)).toEqual([]);
    await expect(c.connectGetAllDomainStats([], 1 << 20, 2 ** 31)).rejects.toThrow(
      'Stats types bits 0x100000 are not supported by this daemon',
    );
    expect(await c.domainGetBlockInfo(dom, 'hda', 0)).toMatchObject({ capacity: 512, physical: 512 });
    await expect(c.domainGetBlockInfo(dom, 'vdz', 0)).rejects.toThrow(
      'invalid argument: invalid path vdz not assigned to domain',
    );
    await expect(c.domainGetJobInfo(dom)).rejects.toThrow('domain is not running');
    await expect(c.domainGetControlInfo(dom, 0)).rejects.toThrow('domain is not running');
  });

  it('starts a guest on its pinned CPUs and moves them live, cgroup cpuset and affinity alike', async (ctx) => {
    if (hostCpus < 2) ctx.skip();
    // qemuProcessSetupEmulator / SetupVcpu: the emulator on <emulatorpin>, vCPU 0 on its
    // <vcpupin>, vCPU 1 on <vcpu cpuset>
    const xml = readFileSync(guestXml(way.dir, 'r2'), 'utf8').replace(
      '<vcpu>1</vcpu>',
      "<vcpu cpuset='1'>2</vcpu><cputune><vcpupin vcpu='0' cpuset='0'/><emulatorpin cpuset='1'/></cputune>",
    );
    const r2 = await c.domainCreateXML(xml, 0);
    try {
      const pid = qemuPid(way.root, 'r2');
      const vcpus = await c.domainGetVcpus(r2, 2, maplen);
      expect(vcpus.info.map((v) => v.number)).toEqual([0, 1]);
      expect(bits(vcpus.cpumaps.subarray(0, maplen))).toEqual([0]);
      expect(bits(vcpus.cpumaps.subarray(maplen, 2 * maplen))).toEqual([1]);
      expect(affinity(pid)).toBe('1');
      const group = cpusetGroup(pid, pid);
      if (group) {
        expect(path.basename(group)).toBe('emulator');
        expect(cat(`${group}/cpuset.cpus`)).toBe('1');
        expect(cat(`${path.dirname(group)}/vcpu0/cpuset.cpus`)).toBe('0');
      }
      // live: qemuDomainPinVcpuLive and qemuDomainPinEmulator change the group and the thread
      await c.domainPinVcpuFlags(r2, 0, Uint8Array.of(2), A.LIVE);
      await c.domainPinEmulator(r2, Uint8Array.of(1), A.LIVE);
      expect(bits((await c.domainGetVcpus(r2, 2, maplen)).cpumaps.subarray(0, maplen))).toEqual([1]);
      expect(affinity(pid)).toBe('0');
      if (group) {
        expect(cat(`${group}/cpuset.cpus`)).toBe('0');
        expect(cat(`${path.dirname(group)}/vcpu0/cpuset.cpus`)).toBe('1');
      }
    } finally {
      await c.domainDestroy(r2);
    }
  });

  it('runs the guest: live vCPUs, pinning, balloon, statistics and refusals', async () => {
    // the balloon's statistics period: in the config, set on QEMU's balloon at the start
    await c.domainSetMemoryStatsPeriod(dom, 4, A.CONFIG);
    expect(await c.domainGetXMLDesc(dom, VIR_DOMAIN_XML.INACTIVE)).toContain("<stats period='4'/>");
    await c.domainCreateWithFlags(dom, 0);
    const polling = async () =>
      JSON.parse(
        await c.domainQemuMonitorCommand(
          dom,
          JSON.stringify({
            execute: 'qom-get',
            arguments: { path: '/machine/peripheral/balloon0', property: 'guest-stats-polling-interval' },
          }),
          0,
        ),
      ).return;
    expect(await polling()).toBe(4);
    await c.domainSetMemoryStatsPeriod(dom, 2, A.LIVE);
    expect(await polling()).toBe(2);
    expect(await c.domainGetXMLDesc(dom, 0)).toContain("<stats period='2'/>");
    const vcpus = await c.domainGetVcpus(dom, 2, maplen);
    expect(vcpus.info.map((v) => [v.number, v.state])).toEqual([[0, VIR_VCPU.RUNNING]]);
    const tunables: DomainEvent[] = [];
    const tid = await c.connectDomainEventRegisterAny(dom, VIR_DOMAIN_EVENT_ID.TUNABLE, (e) =>
      tunables.push(e),
    );
    await c.domainPinVcpuFlags(dom, 0, Uint8Array.of(1), A.LIVE);
    await settle();
    await c.connectDomainEventDeregisterAny(tid);
    expect(tunables.map((e) => e.params)).toEqual([
      [{ field: 'cputune.vcpupin0', type: T.STRING, value: '0' }],
    ]);
    const after = await c.domainGetVcpus(dom, 2, maplen);
    expect(bits(after.cpumaps.subarray(0, maplen))).toEqual([0]);
    expect(bits((await c.domainGetVcpuPinInfo(dom, 2, maplen, A.LIVE)).cpumaps.subarray(0, maplen))).toEqual([
      0,
    ]);
    await expect(c.domainPinVcpuFlags(dom, 7, Uint8Array.of(1), A.LIVE)).rejects.toThrow(
      'invalid argument: vcpu 7 is out of range of live cpu count 2',
    );
    await expect(c.domainSetMemoryFlags(dom, 32768, A.LIVE | VIR_DOMAIN_MEM.MAXIMUM)).rejects.toThrow(
      'Requested operation is not valid: cannot resize the maximum memory on an active domain',
    );
    await expect(c.domainSetVcpusFlags(dom, 3, A.LIVE)).rejects.toThrow(
      'invalid argument: requested vcpus is greater than max allowable vcpus for the live domain: 3 > 2',
    );
    await c.domainSetMemory(dom, 49152); // no guest balloon driver: QEMU's balloon stays where it was
    expect(await c.domainGetJobInfo(dom)).toMatchObject({ type: 0 });
    expect(await c.domainGetControlInfo(dom, 0)).toEqual({ state: 0, details: 0, stateTime: 0 });
    const [rec] = await c.connectGetAllDomainStats([], 0, L.ACTIVE);
    const f = byField(rec!.params);
    expect(f.get('state.state')?.value).toBe(1);
    expect(f.get('vcpu.0.state')).toMatchObject({ type: T.INT, value: 1 });
    expect(f.get('vcpu.0.time')?.type).toBe(T.ULLONG);
    expect(f.get('net.count')).toMatchObject({ type: T.UINT, value: 0 });
    expect(f.get('block.0.rd.reqs')?.type).toBe(T.ULLONG);
    expect(f.get('block.0.backingIndex')?.type).toBe(T.UINT);
    expect(f.get('block.0.capacity')?.value).toBe(512);
    expect(f.get('dirtyrate.calc_mode')).toMatchObject({ type: T.STRING, value: 'page-sampling' });
    expect(f.get('balloon.maximum')?.value).toBe(65536);
    const info = await c.domainGetBlockInfo(dom, 'hda', 0);
    expect(info.capacity).toBe(512);
    expect(await c.domainGetVcpusFlags(dom, A.LIVE | VIR_DOMAIN_VCPU.MAXIMUM)).toBe(2);
    // a vCPU hotplugged (QEMU's device_add of the next hotpluggable slot): QEMU runs its thread
    await c.domainSetVcpusFlags(dom, 2, A.LIVE);
    expect((await c.domainGetVcpus(dom, 2, maplen)).info.map((v) => v.number)).toEqual([0, 1]);
    expect(await c.domainGetVcpusFlags(dom, A.LIVE)).toBe(2);
    expect(await c.domainGetVcpusFlags(dom, A.CONFIG)).toBe(1);
    expect(await c.domainGetXMLDesc(dom, 0)).toContain(
      "<vcpu id='1' enabled='yes' hotpluggable='yes' order='2'/>",
    );
    // virDomainGetMaxVcpus: the live maximum
    expect(await c.domainGetMaxVcpus(dom)).toBe(2);
    // virDomainSetVcpu: qemuDomainSetVcpu's refusals, in its order
    await expect(c.domainSetVcpu(dom, '1', 2, A.LIVE)).rejects.toThrow('unsupported state value');
    await expect(c.domainSetVcpu(dom, '1', 1, 8)).rejects.toThrow(
      'unsupported flags (0x8) in function qemuDomainSetVcpu',
    );
    await expect(c.domainSetVcpu(dom, '1-0', 1, A.LIVE)).rejects.toThrow(
      "invalid argument: Failed to parse bitmap '1-0'",
    );
    await expect(c.domainSetVcpu(dom, '0,^0', 1, A.LIVE)).rejects.toThrow(
      'invalid argument: no vcpus selected for modification',
    );
    await expect(c.domainSetVcpu(dom, '2', 1, A.LIVE)).rejects.toThrow(
      'invalid argument: vcpu 2 is not present in live config',
    );
    await expect(c.domainSetVcpu(dom, '1', 1, A.LIVE)).rejects.toThrow(
      "invalid argument: vcpu '1' is already in requested state",
    );
    // (as libvirtd: vCPU 0, marked not hotpluggable, is refused as having nothing to unplug)
    await expect(c.domainSetVcpu(dom, '0', 0, A.LIVE)).rejects.toThrow(
      "Operation not supported: vcpu '0' can't be unplugged",
    );
    // the config: every vCPU listed, the chosen one hotpluggable; vCPU 0 stays
    await c.domainSetVcpu(dom, '1', 1, A.CONFIG);
    expect(await c.domainGetVcpusFlags(dom, A.CONFIG)).toBe(2);
    const inactive = await c.domainGetXMLDesc(dom, VIR_DOMAIN_XML.INACTIVE);
    expect(inactive).toContain("<vcpu id='0' enabled='yes' hotpluggable='no'/>");
    expect(inactive).toContain("<vcpu id='1' enabled='yes' hotpluggable='yes'/>");
    await expect(c.domainSetVcpu(dom, '0', 0, A.CONFIG)).rejects.toThrow(
      "invalid argument: vCPU '0' can't be modified",
    );
    await c.domainSetVcpu(dom, '1', 0, A.CONFIG);
    expect(await c.domainGetVcpusFlags(dom, A.CONFIG)).toBe(1);
    await c.domainDestroy(dom);
    await expect(c.domainGetMaxVcpus(dom)).rejects.toThrow(
      'Requested operation is not valid: domain is not running',
    );
  });
});
