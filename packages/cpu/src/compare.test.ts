import { describe, expect, it } from 'vitest';
import { x86CheckForbiddenFeatures, x86Compare } from './compare.js';
import type { CpuFeatureRef, GuestCpu, HostCpuDescription } from './types.js';

// Our own host: SandyBridge with a few extras.
const host: HostCpuDescription = {
  arch: 'x86_64',
  model: 'SandyBridge',
  vendor: 'Intel',
  features: [{ name: 'vmx' }, { name: 'ss' }, { name: 'invtsc' }],
};

const guest = (match: GuestCpu['match'], model: string, features: CpuFeatureRef[] = []): GuestCpu => ({
  mode: 'custom',
  match,
  model,
  features,
});

describe('x86Compare', () => {
  it('says identical for the host CPU itself and superset for less', () => {
    expect(x86Compare(host, guest('exact', 'SandyBridge', host.features), false)).toEqual({
      result: 'identical',
    });
    expect(x86Compare(host, guest('exact', 'SandyBridge'), false)).toEqual({ result: 'superset' });
    expect(x86Compare(host, guest('minimum', 'Westmere'), false)).toEqual({ result: 'superset' });
  });

  it('lists required features the host lacks in the CPU map order', () => {
    const out = x86Compare(
      host,
      guest('exact', 'SandyBridge', [
        { name: 'xtpr', policy: 'require' },
        { name: 'ds', policy: 'require' },
        { name: 'vmx', policy: 'require' },
      ]),
      false,
    );
    expect(out).toEqual({
      result: 'incompatible',
      missing: ['ds', 'xtpr'],
      message: 'Host CPU does not provide required features: ds, xtpr',
    });
    // a newer model's own features count as required
    expect(x86Compare(host, guest('exact', 'Haswell-noTSX'), false).missing).toEqual(
      expect.arrayContaining(['avx2', 'fma', 'movbe']),
    );
  });

  it('does not require forced, optional or disabled features', () => {
    for (const policy of ['force', 'optional', 'disable'] as const) {
      expect(x86Compare(host, guest('exact', 'SandyBridge', [{ name: 'avx2', policy }]), false).result).toBe(
        'superset',
      );
    }
    // disabling what the newer model has that the host lacks makes it fit
    const missing = x86Compare(host, guest('exact', 'Haswell-noTSX'), false).missing ?? [];
    const fits = guest(
      'exact',
      'Haswell-noTSX',
      missing.map((name) => ({ name, policy: 'disable' })),
    );
    expect(x86Compare(host, fits, false).result).not.toBe('incompatible');
  });

  it('refuses forbidden features the host has (map order: leaf 1 edx before ecx)', () => {
    expect(
      x86Compare(
        host,
        guest('exact', 'SandyBridge', [
          { name: 'ss', policy: 'forbid' },
          { name: 'vmx', policy: 'forbid' },
        ]),
        false,
      ),
    ).toEqual({ result: 'incompatible', message: 'Host CPU provides forbidden features: ss, vmx' });
    expect(
      x86Compare(host, guest('exact', 'SandyBridge', [{ name: 'avx2', policy: 'forbid' }]), false).result,
    ).toBe('superset');
  });

  it('refuses a strict match with host features the guest does not name', () => {
    expect(x86Compare(host, guest('strict', 'SandyBridge', [{ name: 'vmx' }]), false)).toEqual({
      result: 'incompatible',
      message: 'Host CPU does not strictly match guest CPU: Extra features: ss, invtsc',
    });
    expect(x86Compare(host, guest('strict', 'SandyBridge', host.features), false).result).toBe('identical');
    // a host CPU compared with the host is never held to strict
    expect(x86Compare(host, { ...guest('strict', 'SandyBridge'), type: 'host' }, false).result).toBe(
      'superset',
    );
  });

  it('checks vendor and arch first', () => {
    expect(x86Compare(host, { ...guest('exact', 'Opteron_G1'), vendor: 'AMD' }, false)).toEqual({
      result: 'incompatible',
      message: 'host CPU vendor does not match required CPU vendor AMD',
    });
    expect(x86Compare(host, { ...guest('exact', 'SandyBridge'), arch: 'aarch64' }, false).message).toBe(
      'CPU arch aarch64 does not match host arch',
    );
  });

  it("throws libvirt's error when asked to fail", () => {
    expect(() => x86Compare(host, guest('exact', 'SandyBridge', [{ name: 'ds' }]), true)).toThrow(
      'the CPU is incompatible with host CPU: Host CPU does not provide required features: ds',
    );
    expect(() => x86Compare(undefined, guest('exact', 'SandyBridge'), true)).toThrow(
      'the CPU is incompatible with host CPU: unknown host CPU',
    );
    expect(x86Compare({ features: [] }, guest('exact', 'SandyBridge'), false).result).toBe('incompatible');
    expect(() => x86Compare(host, guest('exact', 'NoSuchModel'), false)).toThrow(
      'internal error: Unknown CPU model NoSuchModel',
    );
    expect(() => x86Compare(host, guest('exact', 'SandyBridge', [{ name: 'bogus' }]), false)).toThrow(
      'internal error: Unknown CPU feature bogus',
    );
  });

  it('honours disabled features of a host-model CPU used as host', () => {
    const hostModel: HostCpuDescription = {
      model: 'SandyBridge',
      vendor: 'Intel',
      features: [{ name: 'avx', policy: 'disable' }],
    };
    expect(x86Compare(hostModel, guest('exact', 'SandyBridge'), false).missing).toEqual(['avx']);
  });
});

describe('x86CheckForbiddenFeatures', () => {
  it('refuses a forbidden feature the host lists', () => {
    expect(() =>
      x86CheckForbiddenFeatures(guest('exact', 'SandyBridge', [{ name: 'vmx', policy: 'forbid' }]), host),
    ).toThrow("the CPU is incompatible with host CPU: Host CPU provides forbidden feature 'vmx'");
    expect(() =>
      x86CheckForbiddenFeatures(guest('exact', 'SandyBridge', [{ name: 'vmx', policy: 'forbid' }]), {
        ...host,
        features: [{ name: 'vmx', policy: 'disable' }],
      }),
    ).not.toThrow();
  });
});
