import { describe, expect, it } from 'vitest';
import { x86DataFromFeatures, x86DataToFeatures } from './data.js';
import { x86DataFromCpu, x86Decode } from './decode.js';
import { x86Model } from './map.js';

const features = (model: string): string[] => x86Model(model)?.features ?? [];
const req = (...names: string[]) => names.map((name) => ({ name, policy: 'require' }));

describe('x86Decode', () => {
  it('describes a host CPU as its closest model plus extra features', () => {
    const data = x86DataFromCpu({
      vendor: 'Intel',
      signature: { family: 6, model: 60, stepping: 3 },
      features: [...features('Haswell-noTSX'), 'vmx', 'invtsc'],
    });
    expect(x86Decode(data)).toEqual({
      model: 'Haswell-noTSX',
      vendor: 'Intel',
      features: req('vmx', 'invtsc'),
      signature: { family: 6, model: 60, stepping: 3 },
    });
    // migratable drops the features that block migration
    expect(x86Decode(data, { migratable: true }).features).toEqual(req('vmx'));
  });

  it('drops TSX of Haswell steppings whose TSX is broken', () => {
    const cpu = (stepping: number) =>
      x86DataFromCpu({
        vendor: 'Intel',
        signature: { family: 6, model: 63, stepping },
        features: features('Haswell'),
      });
    expect(x86Decode(cpu(2)).model).toBe('Haswell-noTSX');
    expect(x86Decode(cpu(4))).toMatchObject({ model: 'Haswell', features: [] });
  });

  it('prefers a model whose signature matches over fewer extra features', () => {
    // Haswell-noTSX's features, but SandyBridge's family/model
    const data = x86DataFromCpu({
      vendor: 'Intel',
      signature: { family: 6, model: 42 },
      features: features('Haswell-noTSX'),
    });
    const out = x86Decode(data);
    expect(out.model).toBe('SandyBridge');
    const extra = x86DataFromFeatures(features('Haswell-noTSX')).subtract(
      x86DataFromFeatures(features('SandyBridge')),
    );
    expect(out.features).toEqual(req(...x86DataToFeatures(extra)));
    // without a signature the model with nothing extra wins
    expect(x86Decode(x86DataFromCpu({ vendor: 'Intel', features: features('Haswell-noTSX') })).model).toBe(
      'Haswell-noTSX',
    );
  });

  it('lets a guest CPU disable model features, never a host CPU', () => {
    const data = x86DataFromCpu({
      vendor: 'Intel',
      features: features('Haswell-noTSX').filter((f) => f !== 'fma'),
    });
    expect(x86Decode(data, { type: 'guest' })).toEqual({
      model: 'Haswell-noTSX',
      vendor: 'Intel',
      features: [{ name: 'fma', policy: 'disable' }],
    });
    const host = x86Decode(data);
    expect(host.model).not.toBe('Haswell-noTSX');
    expect(host.features.every((f) => f.policy === 'require')).toBe(true);
  });

  it('lists removed model features as disabled for a guest', () => {
    const data = x86DataFromCpu({ vendor: 'Intel', features: features('Icelake-Server') });
    expect(x86Decode(data, { type: 'guest' })).toEqual({
      model: 'Icelake-Server',
      vendor: 'Intel',
      features: (x86Model('Icelake-Server')?.removedFeatures ?? []).map((name) => ({
        name,
        policy: 'disable',
      })),
    });
  });

  it('keeps to models of the CPU vendor', () => {
    const data = x86DataFromCpu({ vendor: 'AMD', features: features('Opteron_G3') });
    expect(x86Decode(data)).toMatchObject({ model: 'Opteron_G3', vendor: 'AMD', features: [] });
  });

  it('uses only models the hypervisor offers and disables their blockers', () => {
    const data = x86DataFromCpu({
      vendor: 'Intel',
      features: features('Haswell-noTSX').filter((f) => f !== 'avx2'),
    });
    expect(
      x86Decode(data, { type: 'guest', models: [{ name: 'Haswell-noTSX', blockers: ['avx2'] }, 'Westmere'] }),
    ).toMatchObject({ model: 'Haswell-noTSX', features: [{ name: 'avx2', policy: 'disable' }] });
    const out = x86Decode(data, { models: ['Westmere', 'Nehalem'] });
    expect(['Westmere', 'Nehalem']).toContain(out.model);
  });

  it('honours a single preferred model, refusing it when not offered', () => {
    const data = x86DataFromCpu({ vendor: 'Intel', features: features('Haswell-noTSX') });
    expect(x86Decode(data, { type: 'guest', preferred: ['SandyBridge'] }).model).toBe('SandyBridge');
    expect(() => x86Decode(data, { preferred: ['SandyBridge'], models: ['Westmere'] })).toThrow(
      'unsupported configuration: CPU model SandyBridge is not supported by hypervisor',
    );
    expect(
      x86Decode(data, { preferred: ['SandyBridge'], models: ['Westmere'], fallback: 'allow' }).model,
    ).toBe('Westmere');
  });

  it('fails when no model fits', () => {
    expect(() => x86Decode(x86DataFromFeatures(['vmx']))).toThrow(
      'internal error: Cannot find suitable CPU model for given data',
    );
  });
});

describe('x86Decode against libvirt', () => {
  it('describes a recorded host CPU as libvirt 9.0 did', () => {
    // `virsh capabilities` of libvirt 9.0 on a KVM guest of an Ice Lake server (CPUID signature
    // 6/106/6): Broadwell plus these features, in this order. Icelake-Server matches the
    // signature but needs features the CPU lacks, which a host CPU cannot disable.
    const extra = (
      'vme ss ht osxsave f16c rdrand hypervisor arat tsc_adjust avx512f avx512dq avx512ifma clflushopt ' +
      'clwb avx512cd sha-ni avx512bw avx512vl avx512vbmi umip avx512vbmi2 gfni vaes vpclmulqdq ' +
      'avx512vnni avx512bitalg avx512-vpopcntdq la57 rdpid fsrm arch-capabilities xsaveopt xsavec ' +
      'xgetbv1 xsaves pdpe1gb abm invtsc rdctl-no rsba skip-l1dfl-vmentry mds-no pschange-mc-no taa-no'
    ).split(' ');
    const data = x86DataFromCpu({
      vendor: 'Intel',
      signature: { family: 6, model: 106, stepping: 6 },
      features: [...features('Broadwell'), ...extra],
    });
    const out = x86Decode(data);
    expect(out.model).toBe('Broadwell');
    expect(out.features.map((f) => f.name)).toEqual(extra);
    // as a guest CPU the signature's model wins, with what it lacks disabled
    const guest = x86Decode(data, { type: 'guest' });
    expect(guest.model).toBe('Icelake-Server');
    expect(guest.features.filter((f) => f.policy === 'disable').map((f) => f.name)).toEqual(
      expect.arrayContaining(['pku', 'intel-pt']),
    );
  });
});
