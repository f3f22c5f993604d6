import { type HostDescription, parseDomainXML } from '@qvirt/core';
import { describe, expect, it } from 'vitest';
import { nonMigratableHostCpuFeatures } from '../../caps/host-cpu-migratability.js';
import { referenceContext } from '../../context.js';
import { canonicalizeDomain } from '../../post-parse/index.js';
import { prepareDomain } from '../../prepare/index.js';
import { buildCommandLine } from '../index.js';

const HOST: HostDescription = {
  numa: { nodes: [{ id: 0, cpus: [0, 1] }] },
  // the host CPU must provide what the guests below require (virCPUCompare at start)
  cpu: { arch: 'x86_64', model: 'EPYC-Milan', vendor: 'AMD', features: [] },
  hostModels: [
    {
      arch: 'x86_64',
      virtType: 'kvm',
      emulator: '/usr/bin/qemu-system-x86_64',
      model: 'EPYC-Milan',
      vendor: 'AMD',
      features: [
        { name: 'x2apic', policy: 'require' },
        { name: 'tsc_adjust', policy: 'require' },
        { name: 'invtsc', policy: 'require' },
        { name: 'pni', policy: 'disable' },
        { name: 'svm', policy: 'disable' },
      ],
    },
  ],
  nonMigratableFeatures: ['invtsc'],
};

function domain(opts: {
  type?: string;
  cpu?: string;
  numa?: string;
  numatune?: string;
  devices?: string;
}): string {
  return (
    `<domain type='${opts.type ?? 'kvm'}'><name>g</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>` +
    `<memory unit='KiB'>1048576</memory><vcpu placement='static'>2</vcpu>${opts.numatune ?? ''}` +
    `<os><type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type></os>` +
    (opts.cpu ?? (opts.numa ? `<cpu><numa>${opts.numa}</numa></cpu>` : '')) +
    `<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>${opts.devices ?? ''}</devices></domain>`
  );
}

/** `null`: no host description. */
function args(xml: string, host: HostDescription | null = HOST): string[] {
  const ctx = referenceContext(host ? { host } : {});
  return buildCommandLine(canonicalizeDomain(parseDomainXML(xml), ctx), ctx).args;
}

const cpuArg = (words: string[]) => words[words.indexOf('-cpu') + 1];

describe('host NUMA availability (virNumaNodesetIsAvailable)', () => {
  const twoCells = "<cell id='0' cpus='0' memory='524288'/><cell id='1' cpus='1' memory='524288'/>";

  it('refuses a domain nodeset naming a node the host lacks, first missing node named', () => {
    const xml = domain({ numatune: "<numatune><memory mode='strict' nodeset='0-5,^4'/></numatune>" });
    expect(() => args(xml)).toThrow('unsupported configuration: NUMA node 1 is unavailable');
  });

  it('checks restrictive mode too, although QEMU gets no host-nodes then', () => {
    const xml = domain({ numatune: "<numatune><memory mode='restrictive' nodeset='999'/></numatune>" });
    expect(() => args(xml)).toThrow('NUMA node 999 is unavailable');
  });

  it('checks the domain nodeset before the cells', () => {
    const xml = domain({
      numa: twoCells,
      numatune:
        "<numatune><memory mode='strict' nodeset='0-7'/><memnode cellid='0' mode='preferred' nodeset='3'/></numatune>",
    });
    expect(() => args(xml)).toThrow('NUMA node 1 is unavailable');
  });

  it("checks each cell's memnode", () => {
    const xml = domain({
      numa: twoCells,
      numatune: "<numatune><memnode cellid='1' mode='strict' nodeset='0-8'/></numatune>",
    });
    expect(() => args(xml)).toThrow('NUMA node 1 is unavailable');
  });

  it('accepts nodes the host has, and checks nothing without a host description', () => {
    const ok = domain({ numatune: "<numatune><memory mode='strict' nodeset='0'/></numatune>" });
    expect(args(ok)).toContain('-object');
    const missing = domain({ numatune: "<numatune><memory mode='strict' nodeset='3'/></numatune>" });
    expect(args(missing, null).join(' ')).toContain('"host-nodes":[3]');
    expect(args(missing, { numa: undefined, hostModels: [] }).join(' ')).toContain('"host-nodes":[3]');
  });
});

describe('host-model CPU (qemuProcessUpdateGuestCPU)', () => {
  it('starts from the migratable copy of the host model when the host has one', () => {
    const model = HOST.hostModels![0]!;
    const host: HostDescription = {
      ...HOST,
      nonMigratableFeatures: [],
      hostModels: [
        {
          ...model,
          migratable: { model: 'EPYC-Milan', features: model.features.filter((f) => f.name !== 'invtsc') },
        },
      ],
    };
    const cpu = cpuArg(args(domain({ cpu: "<cpu mode='host-model'/>" }), host))!;
    expect(cpu).not.toContain('invtsc');
    expect(cpu).toContain('x2apic=on');
  });

  it('becomes the migratable host model: non-migratable required features dropped, QEMU names', () => {
    expect(cpuArg(args(domain({ cpu: "<cpu mode='host-model'/>" })))).toBe(
      'EPYC-Milan,x2apic=on,tsc-adjust=on,pni=off,svm=off',
    );
  });

  it("applies the guest's vendor_id and features on the host model (x86UpdateHostModel)", () => {
    const cpu =
      "<cpu mode='host-model'><model vendor_id='Libvirt QEMU'/><feature policy='require' name='svm'/><feature policy='disable' name='lm'/></cpu>";
    expect(cpuArg(args(domain({ cpu })))).toBe(
      'EPYC-Milan,vendor=Libvirt QEMU,x2apic=on,tsc-adjust=on,pni=off,svm=on,lm=off',
    );
  });

  it('replaces the model of a minimum-match CPU by the host model', () => {
    const cpu = "<cpu match='minimum'><model>qemu64</model><feature policy='disable' name='nx'/></cpu>";
    expect(cpuArg(args(domain({ cpu })))).toBe('EPYC-Milan,x2apic=on,tsc-adjust=on,pni=off,svm=off,nx=off');
  });

  it('refuses as libvirt does when the host has no host model for the virt type', () => {
    expect(() => args(domain({ type: 'qemu', cpu: "<cpu mode='host-model'/>" }))).toThrow(
      "unsupported configuration: CPU mode 'host-model' for x86_64 qemu domain on x86_64 host is not supported by hypervisor",
    );
    const cpu = "<cpu match='minimum'><model>qemu64</model></cpu>";
    expect(() => args(domain({ type: 'qemu', cpu }))).toThrow(
      'unsupported configuration: unknown host CPU model',
    );
  });

  it('keeps the old refusal and the plain minimum model when host-model CPUs are unknown', () => {
    expect(() => args(domain({ cpu: "<cpu mode='host-model'/>" }), null)).toThrow(
      "CPU mode 'host-model' needs the host CPU description",
    );
    const cpu = "<cpu match='minimum'><model>qemu64</model></cpu>";
    expect(cpuArg(args(domain({ cpu }), { numa: HOST.numa }))).toBe('qemu64');
  });

  it('is written into the running definition at prepare, and the line is built from it', () => {
    const ctx = referenceContext({ host: HOST });
    const cpu = "<cpu match='minimum'><model>qemu64</model><feature policy='disable' name='nx'/></cpu>";
    const def = canonicalizeDomain(parseDomainXML(domain({ cpu })), ctx);
    prepareDomain(def, ctx);
    expect(def.cpu).toMatchObject({
      mode: 'custom',
      match: 'exact',
      model: { value: 'EPYC-Milan', fallback: 'forbid' },
    });
    expect(def.cpu?.feature?.map((f) => `${f.name}:${f.policy}`)).toEqual([
      'x2apic:require',
      'tsc_adjust:require',
      'pni:disable',
      'svm:disable',
      'nx:disable',
    ]);
    expect(cpuArg(buildCommandLine(def, ctx).args)).toBe(
      'EPYC-Milan,x2apic=on,tsc-adjust=on,pni=off,svm=off,nx=off',
    );
    // no host model for the virt type: left for the builder to refuse with libvirt's message
    const tcg = canonicalizeDomain(
      parseDomainXML(domain({ type: 'qemu', cpu: "<cpu mode='host-model'/>" })),
      ctx,
    );
    prepareDomain(tcg, ctx);
    expect(tcg.cpu?.mode).toBe('host-model');
  });

  it('never passes the features QEMU does not know (virQEMUCapsCPUFilterFeatures)', () => {
    const cpu =
      "<cpu mode='custom' match='exact' check='none'><model>qemu64</model><feature policy='require' name='osxsave'/><feature policy='require' name='vme'/></cpu>";
    expect(cpuArg(args(domain({ cpu }), null))).toBe('qemu64,vme=on');
  });
});

describe('nonMigratableHostCpuFeatures', () => {
  it("lists host CPU properties QEMU marks migratable='no', in libvirt's names", () => {
    const xml = `<qemuCaps><hostCPU type='kvm' model='base' migratability='yes'>
      <property name='invtsc' type='boolean' value='true' migratable='no'/>
      <property name='tsc-adjust' type='boolean' value='true' migratable='no'/>
      <property name='vme' type='boolean' value='true'/>
    </hostCPU></qemuCaps>`;
    expect(nonMigratableHostCpuFeatures(xml)).toEqual(['invtsc', 'tsc_adjust']);
  });
});
