import { describe, expect, it } from 'vitest';
import type { SecurityHookName } from './driver.js';
import { SecurityStackError, STACK_RULES, securityStack } from './stack.js';
import { ALL_HOOKS, fakeDriver } from './test-support/fake-driver.js';

const UNDO: Partial<Record<SecurityHookName, SecurityHookName>> = {
  transactionStart: 'transactionAbort',
  transactionCommit: 'transactionAbort',
  domainSetSecurityAllLabel: 'domainRestoreSecurityAllLabel',
  domainSetSecurityImageLabel: 'domainRestoreSecurityImageLabel',
  domainSetSecurityHostdevLabel: 'domainRestoreSecurityHostdevLabel',
  domainSetSecurityMemoryLabel: 'domainRestoreSecurityMemoryLabel',
  domainSetSecurityInputLabel: 'domainRestoreSecurityInputLabel',
  domainSetSecurityChardevLabel: 'domainRestoreSecurityChardevLabel',
  domainSetSecurityTPMLabels: 'domainRestoreSecurityTPMLabels',
  domainSetSecurityNetdevLabel: 'domainRestoreSecurityNetdevLabel',
  domainSetSavedStateLabel: 'domainRestoreSavedStateLabel',
  domainSetSecurityDaemonSocketLabel: 'domainClearSecuritySocketLabel',
  domainSetSecuritySocketLabel: 'domainClearSecuritySocketLabel',
};

const def = { type: 'qemu', name: 'vm' };
const args = (hook: SecurityHookName): unknown[] => (hook === 'getBaseLabel' ? ['kvm'] : [def, {}, {}]);

function three(failing: Partial<Record<'A' | 'B' | 'C', SecurityHookName[]>> = {}) {
  const log: string[] = [];
  const warnings: string[] = [];
  const drivers = (['A', 'B', 'C'] as const).map((n) => fakeDriver(n, log, { failAt: failing[n] ?? [] }));
  const stack = securityStack(drivers, { warn: (m) => warnings.push(m) });
  const call = (hook: SecurityHookName) =>
    (stack[hook] as (...a: unknown[]) => Promise<unknown>)(...args(hook));
  return { log, warnings, stack, call };
}

describe('security stack', () => {
  it('has a rule for every hook of the contract', () => {
    expect(ALL_HOOKS.length).toBeGreaterThan(40);
    for (const hook of ALL_HOOKS) expect(STACK_RULES[hook], hook).toBeDefined();
    for (const [set, undo] of Object.entries(UNDO)) {
      expect(STACK_RULES[set as SecurityHookName]).toBe('rollback');
      expect(STACK_RULES[undo], undo).toBe('all');
    }
  });

  it('answers model, DOI and base label from the primary', async () => {
    const { stack } = three();
    expect(stack.getModel()).toBe('A');
    expect(stack.getDOI()).toBe('0');
    expect(await stack.getBaseLabel!('kvm')).toBe('A-base-kvm');
    expect(stack.nested.map((d) => d.name)).toEqual(['A', 'B', 'C']);
  });

  const byRule = (rule: string) => ALL_HOOKS.filter((h) => STACK_RULES[h] === rule);

  describe.each(byRule('primary'))('%s: the primary only', (hook) => {
    it('calls only the first driver', async () => {
      const { log, call } = three();
      await call(hook);
      expect(log).toEqual([`A.${hook}`]);
    });
    it('reports the primary failing', async () => {
      const { log, call } = three({ A: [hook] });
      await expect(call(hook)).rejects.toThrow(`A failed at ${hook}`);
      expect(log).toEqual([`A.${hook}`]);
    });
    it('ignores a secondary that would fail', async () => {
      const { call } = three({ B: [hook] });
      await expect(call(hook)).resolves.not.toThrow();
    });
  });

  describe.each(byRule('rollback'))('%s: forward, reverse rollback', (hook) => {
    const undo = UNDO[hook]!;
    it('runs every driver in order', async () => {
      const { log, call } = three();
      await call(hook);
      expect(log).toEqual([`A.${hook}`, `B.${hook}`, `C.${hook}`]);
    });
    it('undoes the drivers that succeeded, in reverse, when the third fails', async () => {
      const { log, warnings, call } = three({ C: [hook] });
      await expect(call(hook)).rejects.toThrow(`C failed at ${hook}`);
      expect(log).toEqual([`A.${hook}`, `B.${hook}`, `C.${hook}`, `B.${undo}`, `A.${undo}`]);
      expect(warnings).toEqual([]);
    });
    it('stops at the second and undoes the first', async () => {
      const { log, call } = three({ B: [hook] });
      await expect(call(hook)).rejects.toThrow(`B failed at ${hook}`);
      expect(log).toEqual([`A.${hook}`, `B.${hook}`, `A.${undo}`]);
    });
    it('undoes nothing when the first fails', async () => {
      const { log, call } = three({ A: [hook] });
      await expect(call(hook)).rejects.toThrow(`A failed at ${hook}`);
      expect(log).toEqual([`A.${hook}`]);
    });
    it('warns about a failed rollback and still reports the original error', async () => {
      const { log, warnings, call } = three({ A: [undo], C: [hook] });
      await expect(call(hook)).rejects.toThrow(`C failed at ${hook}`);
      expect(log).toEqual([`A.${hook}`, `B.${hook}`, `C.${hook}`, `B.${undo}`, `A.${undo}`]);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain('driver=A');
      expect(warnings[0]).toContain(`A failed at ${undo}`);
    });
  });

  describe.each(byRule('all'))('%s: every driver, failures together', (hook) => {
    it('visits all drivers past a failure', async () => {
      const { log, call } = three({ B: [hook] });
      await expect(call(hook)).rejects.toThrow(`B failed at ${hook}`);
      expect(log).toEqual([`A.${hook}`, `B.${hook}`, `C.${hook}`]);
    });
    it('reports several failures in one error', async () => {
      const { log, call } = three({ A: [hook], C: [hook] });
      const err = await call(hook).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SecurityStackError);
      expect((err as Error).message).toBe(`A failed at ${hook}; C failed at ${hook}`);
      expect((err as SecurityStackError).errors).toHaveLength(2);
      expect(log).toEqual([`A.${hook}`, `B.${hook}`, `C.${hook}`]);
    });
  });

  describe.each(byRule('first-error'))('%s: stops at the first error', (hook) => {
    it('does not reach the drivers after a failure', async () => {
      const { log, call } = three({ B: [hook] });
      await expect(call(hook)).rejects.toThrow(`B failed at ${hook}`);
      expect(log).toEqual([`A.${hook}`, `B.${hook}`]);
    });
  });

  it('skips drivers without a hook (a NULL entry)', async () => {
    const log: string[] = [];
    const stack = securityStack([
      fakeDriver('A', log),
      fakeDriver('B', log, { omit: ['domainSetSecurityAllLabel', 'domainRestoreSecurityAllLabel'] }),
      fakeDriver('C', log, { failAt: ['domainSetSecurityAllLabel'] }),
    ]);
    await expect(stack.domainSetSecurityAllLabel!(def as never, {})).rejects.toThrow('C failed');
    expect(log).toEqual([
      'A.domainSetSecurityAllLabel',
      'C.domainSetSecurityAllLabel',
      'A.domainRestoreSecurityAllLabel',
    ]);
  });

  it('passes the restore arguments libvirt passes when rolling SetAllLabel back', async () => {
    const seen: unknown[] = [];
    const a = {
      ...fakeDriver('A'),
      domainRestoreSecurityAllLabel: async (...x: unknown[]) => void seen.push(x),
    };
    const stack = securityStack([a, fakeDriver('B', [], { failAt: ['domainSetSecurityAllLabel'] })]);
    await expect(
      stack.domainSetSecurityAllLabel!(def as never, {
        incomingPath: '/x',
        migrated: true,
        chardevStdioLogd: false,
      }),
    ).rejects.toThrow();
    expect(seen).toEqual([[def, { migrated: true, chardevStdioLogd: false }]]);
  });
});
