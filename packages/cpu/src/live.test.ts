import { describe, expect, it } from 'vitest';
import { x86DataFromFeatures } from './data.js';
import { x86Translate, x86UpdateLive } from './live.js';
import { x86Model } from './map.js';
import type { GuestCpu } from './types.js';

const westmere = (check: GuestCpu['check'], features: GuestCpu['features'] = []): GuestCpu => ({
  mode: 'custom',
  match: 'exact',
  check,
  model: 'Westmere',
  features,
});

describe('x86UpdateLive', () => {
  const modelFeatures = x86Model('Westmere')?.features ?? [];

  it('writes what the hypervisor changed into a partial-check CPU', () => {
    // QEMU enabled vmx on top and could not give aes
    const enabled = x86DataFromFeatures([...modelFeatures.filter((f) => f !== 'aes'), 'vmx']);
    const out = x86UpdateLive(westmere('partial'), enabled, x86DataFromFeatures(['aes']));
    // in the CPU map's order: vmx (leaf 1 ecx bit 5) before aes (bit 25)
    expect(out?.features).toEqual([
      { name: 'vmx', policy: 'require' },
      { name: 'aes', policy: 'disable' },
    ]);
  });

  it("refuses any difference with check='full'", () => {
    const enabled = x86DataFromFeatures([...modelFeatures.filter((f) => f !== 'aes'), 'vmx']);
    expect(() => x86UpdateLive(westmere('full'), enabled)).toThrow(
      "operation failed: guest CPU doesn't match specification: extra features: vmx, missing features: aes",
    );
    expect(x86UpdateLive(westmere('full'), x86DataFromFeatures(modelFeatures))?.features).toEqual([]);
  });

  it('leaves host-model and passthrough CPUs without full checks alone', () => {
    expect(x86UpdateLive({ mode: 'host-passthrough', check: 'none', features: [] })).toBeUndefined();
  });
});

describe('x86Translate', () => {
  it('replaces a model the hypervisor lacks by the closest one it offers', () => {
    const out = x86Translate(westmere('partial', [{ name: 'vmx', policy: 'require' }]), [
      'Nehalem',
      'Penryn',
    ]);
    expect(out.model).toBe('Nehalem');
    // what Westmere has beyond Nehalem is kept as features, the CPU's own on top
    expect(out.features).toContainEqual({ name: 'aes', policy: 'require' });
    expect(out.features).toContainEqual({ name: 'vmx', policy: 'require' });
  });

  it('keeps an offered model and refuses when fallback is forbidden', () => {
    const cpu = westmere('partial');
    expect(x86Translate(cpu, ['Westmere'])).toBe(cpu);
    expect(() => x86Translate({ ...cpu, fallback: 'forbid' }, ['Nehalem'])).toThrow(
      'unsupported configuration: CPU model Westmere is not supported by hypervisor',
    );
  });
});
