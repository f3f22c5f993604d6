import { describe, expect, it } from 'vitest';
import { x86Baseline } from './baseline.js';
import { x86Model } from './map.js';
import type { AnyCpu } from './model-data.js';

const hostCpu = (model: string, vendor: string | undefined, ...features: string[]): AnyCpu => ({
  type: 'host',
  arch: 'x86_64',
  model,
  ...(vendor ? { vendor } : {}),
  features: features.map((name) => ({ name })),
});

describe('x86Baseline', () => {
  it('finds the richest CPU both CPUs run', () => {
    // the same answers `virsh cpu-baseline` gives for these two CPUs (libvirt 9.0)
    const cpus = [
      hostCpu('Haswell-noTSX', 'Intel', 'vmx', 'pdpe1gb', 'invtsc'),
      hostCpu('SandyBridge', 'Intel', 'vmx', 'invtsc', 'rdrand'),
    ];
    expect(x86Baseline(cpus)).toEqual({
      type: 'guest',
      mode: 'custom',
      match: 'exact',
      fallback: 'allow',
      model: 'SandyBridge',
      vendor: 'Intel',
      features: [
        { name: 'vmx', policy: 'require' },
        { name: 'invtsc', policy: 'require' },
      ],
    });
    expect(x86Baseline(cpus, { migratable: true }).features).toEqual([{ name: 'vmx', policy: 'require' }]);
  });

  it('keeps a model both CPUs name, forbidding fallback, and drops a vendor not all give', () => {
    const out = x86Baseline([hostCpu('Haswell', undefined, 'vmx'), hostCpu('Haswell', undefined)]);
    expect(out).toMatchObject({ model: 'Haswell', fallback: 'forbid', features: [] });
    expect(out.vendor).toBeUndefined();
  });

  it('limits the result to the given features, keeping the single named model', () => {
    const keep = ['fpu', 'de', 'pse', 'tsc', 'msr'];
    const out = x86Baseline([hostCpu('Haswell-noTSX', 'Intel')], { features: keep });
    expect(out.model).toBe('Haswell-noTSX');
    const disabled = (x86Model('Haswell-noTSX')?.features ?? []).filter((f) => !keep.includes(f));
    expect(out.features).toEqual(disabled.map((name) => ({ name, policy: 'disable' })));
  });

  it("refuses libvirt's way", () => {
    expect(() => x86Baseline([hostCpu('Opteron_G3', 'AMD'), hostCpu('Haswell', 'Intel')])).toThrow(
      'operation failed: CPU vendors do not match',
    );
    expect(() => x86Baseline([hostCpu('Haswell', 'Intel'), hostCpu('Haswell', 'AMD')])).toThrow(
      'operation failed: CPU vendor Intel of model Haswell differs from vendor AMD',
    );
    expect(() => x86Baseline([])).toThrow('invalid argument: no CPUs given');
    expect(() => x86Baseline([{ type: 'host', features: [] }])).toThrow(
      'invalid argument: no CPU model specified at index 0',
    );
    expect(() => x86Baseline([hostCpu('Haswell', 'Intel')], { features: ['svm'] })).toThrow(
      'operation failed: CPUs are incompatible',
    );
  });
});
