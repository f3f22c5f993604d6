import { describe, expect, it } from 'vitest';
import { x86Model } from './map.js';
import type { GuestCpu, HostCpuDescription } from './types.js';
import { x86ExpandFeatures, x86FullHostCpu, x86UpdateGuest } from './update.js';

// A host-model CPU as domain capabilities give it.
const hostModel: HostCpuDescription = {
  model: 'Skylake-Client-IBRS',
  vendor: 'Intel',
  features: [
    { name: 'ss', policy: 'require' },
    { name: 'invtsc', policy: 'require' },
    { name: 'hle', policy: 'disable' },
  ],
};

describe('x86UpdateGuest', () => {
  it('turns a host-model CPU into the host model with the guest features on top', () => {
    const guest: GuestCpu = {
      mode: 'host-model',
      check: 'partial',
      features: [
        { name: 'ss', policy: 'disable' },
        { name: 'vmx', policy: 'require' },
      ],
    };
    expect(x86UpdateGuest(guest, hostModel)).toEqual({
      mode: 'custom',
      match: 'exact',
      check: 'partial',
      model: 'Skylake-Client-IBRS',
      vendor: 'Intel',
      features: [
        { name: 'ss', policy: 'disable' },
        { name: 'invtsc', policy: 'require' },
        { name: 'hle', policy: 'disable' },
        { name: 'vmx', policy: 'require' },
      ],
    });
    // the input is left alone
    expect(guest.mode).toBe('host-model');
  });

  it("keeps a minimum-match CPU's own vendor", () => {
    const out = x86UpdateGuest(
      { mode: 'custom', match: 'minimum', model: 'Penryn', features: [] },
      hostModel,
    );
    expect(out).toMatchObject({ model: 'Skylake-Client-IBRS', match: 'exact' });
    expect(out.vendor).toBeUndefined();
  });

  it('resolves optional features against the host and lists removed features as disabled', () => {
    const out = x86UpdateGuest(
      {
        mode: 'custom',
        match: 'exact',
        model: 'Icelake-Server',
        features: [
          { name: 'ss', policy: 'optional' },
          { name: 'avx512f', policy: 'optional' },
        ],
      },
      hostModel,
    );
    expect(out.model).toBe('Icelake-Server');
    expect(out.features).toEqual([
      { name: 'ss', policy: 'require' },
      { name: 'avx512f', policy: 'disable' },
      ...(x86Model('Icelake-Server')?.removedFeatures ?? []).map((name) => ({ name, policy: 'disable' })),
    ]);
  });

  it('leaves host-passthrough alone and needs a host for relative CPUs', () => {
    const pt: GuestCpu = { mode: 'host-passthrough', features: [] };
    expect(x86UpdateGuest(pt, undefined)).toEqual(pt);
    expect(() => x86UpdateGuest({ mode: 'host-model', features: [] }, undefined)).toThrow(
      'unsupported configuration: unknown host CPU model',
    );
  });
});

describe('x86ExpandFeatures', () => {
  it("lists the model's features, the CPU's own on top, sorted by name", () => {
    const out = x86ExpandFeatures({
      mode: 'custom',
      model: 'pentium',
      features: [
        { name: 'vmx', policy: 'require' },
        { name: 'fpu', policy: 'disable' },
        { name: 'ss', policy: 'optional' },
      ],
    });
    const names = out.features.map((f) => f.name);
    expect(names).toEqual([...names].sort());
    expect(out.features).toContainEqual({ name: 'fpu', policy: 'disable' });
    expect(out.features).toContainEqual({ name: 'vmx', policy: 'require' });
    expect(names).not.toContain('ss');
    expect(names).toEqual(expect.arrayContaining(x86Model('pentium')?.features ?? ['x']));
  });
});

describe('x86FullHostCpu', () => {
  it("adds what the host-model CPU requires to the host's own CPU", () => {
    const full = x86FullHostCpu(
      { model: 'Broadwell', vendor: 'Intel', features: [{ name: 'vmx' }] },
      hostModel,
    );
    expect(full.model).toBe('Broadwell');
    const names = full.features.map((f) => f.name);
    expect(names).toEqual(expect.arrayContaining(['vmx', 'ss', 'invtsc', 'mpx']));
    expect(names).not.toContain('hle');
  });
});
