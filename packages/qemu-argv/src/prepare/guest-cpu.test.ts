import { type HostDescription, parseDomainXML } from '@qvirt/core';
import { describe, expect, it } from 'vitest';
import { referenceContext } from '../context.js';
import { domxmlToNative } from '../native.js';
import { canonicalizeDomain } from '../post-parse/index.js';
import { prepareDomain } from './index.js';

// Our own host: SandyBridge, TSC at 2 GHz without scaling; KVM's host-model CPU the same.
const host = (scaling?: 'yes' | 'no'): HostDescription => ({
  cpu: {
    arch: 'x86_64',
    model: 'SandyBridge',
    vendor: 'Intel',
    features: [{ name: 'vmx' }, { name: 'invtsc' }],
    tsc: { frequency: 2_000_000_000, ...(scaling ? { scaling } : {}) },
  },
  hostModels: [
    {
      arch: 'x86_64',
      virtType: 'kvm',
      model: 'SandyBridge',
      vendor: 'Intel',
      features: [
        { name: 'vmx', policy: 'require' },
        { name: 'invtsc', policy: 'require' },
      ],
    },
  ],
});

const domain = (cpu: string, clock = '') => `<domain type='kvm'>
  <name>g</name><memory>65536</memory><vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  ${cpu}${clock}
  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices>
</domain>`;

describe('the guest CPU checked against the host at start', () => {
  it('refuses a model needing features the host lacks, in CPU map order', () => {
    const xml = domain(
      `<cpu mode='custom' match='exact'><model>SandyBridge</model><feature policy='require' name='xtpr'/><feature policy='require' name='ds'/></cpu>`,
    );
    expect(() => domxmlToNative(xml, referenceContext({ host: host() }))).toThrow(
      'the CPU is incompatible with host CPU: Host CPU does not provide required features: ds, xtpr',
    );
  });

  it('accepts a fitting model, and skips the check with check=none', () => {
    const fits = domain(`<cpu mode='custom' match='exact'><model>Westmere</model></cpu>`);
    expect(domxmlToNative(fits, referenceContext({ host: host() }))).toContain('-cpu Westmere');
    const unchecked = domain(`<cpu mode='custom' match='exact' check='none'><model>Haswell</model></cpu>`);
    expect(domxmlToNative(unchecked, referenceContext({ host: host() }))).toContain('-cpu Haswell');
  });

  it('refuses a forbidden feature the host has', () => {
    const xml = domain(
      `<cpu mode='custom' match='exact'><model>Westmere</model><feature policy='forbid' name='vmx'/></cpu>`,
    );
    expect(() => domxmlToNative(xml, referenceContext({ host: host() }))).toThrow(
      "the CPU is incompatible with host CPU: Host CPU provides forbidden feature 'vmx'",
    );
  });
});

describe('the TSC frequency tolerance', () => {
  const tsc = (hz: number) => `<clock offset='utc'><timer name='tsc' frequency='${hz}'/></clock>`;
  const prepare = (hz: number, scaling?: 'yes' | 'no') => {
    const ctx = referenceContext({ host: host(scaling) });
    const def = canonicalizeDomain(parseDomainXML(domain('', tsc(hz))), ctx);
    return () => prepareDomain(def, ctx, { startNew: true });
  };

  it('accepts 250 ppm around the host frequency', () => {
    expect(prepare(2_000_500_000, 'no')).not.toThrow();
    expect(prepare(1_999_500_000, 'no')).not.toThrow();
  });

  it('refuses beyond it without TSC scaling', () => {
    expect(prepare(2_000_500_001, 'no')).toThrow(
      'unsupported configuration: Requested TSC frequency 2000500001 Hz is outside tolerance range ([1999500000, 2000500000] Hz) around host frequency 2000000000 Hz and TSC scaling is not supported by the host CPU',
    );
  });

  it('leaves it to QEMU with scaling or when scaling is unknown', () => {
    expect(prepare(3_000_000_000, 'yes')).not.toThrow();
    expect(prepare(3_000_000_000)).not.toThrow();
  });
});
