import { describe, expect, it } from 'vitest';
import { parseDomainXML } from '../domain/domain-xml.js';
import { baseLaunchSpec } from './launch-spec.js';
import { SecurityManager } from './manager.js';
import { fakeDriver } from './test-support/fake-driver.js';

const domain = (seclabels = '') =>
  parseDomainXML(
    `<domain type='qemu'><name>vm</name><memory>1024</memory><os><type>hvm</type></os>${seclabels}</domain>`,
  );

function manager(
  specs: Array<{
    name: string;
    defaultConfined?: boolean;
    requireConfined?: boolean;
    failAt?: never[];
    fail?: string[];
    omit?: string[];
    label?: string;
    visible?: boolean;
  }>,
  log: string[] = [],
) {
  return new SecurityManager(
    specs.map((s) => ({
      driver: fakeDriver(s.name, log, {
        failAt: (s.fail ?? []) as never[],
        omit: (s.omit ?? []) as never[],
        ...(s.label === undefined ? {} : { label: s.label }),
      }),
      defaultConfined: s.defaultConfined ?? true,
      requireConfined: s.requireConfined ?? false,
      ...(s.visible === undefined ? {} : { visible: s.visible }),
    })),
    { warn: () => {} },
  );
}

describe('security manager', () => {
  it('generates an implicit dynamic seclabel per default-confined model, before the hook', async () => {
    const log: string[] = [];
    const m = manager(
      [
        { name: 'none', defaultConfined: false },
        { name: 'dac', label: '+0:+0' },
      ],
      log,
    );
    const def = domain();
    await m.genLabel(def);
    expect(def.seclabel).toEqual([{ type: 'dynamic', model: 'dac', relabel: 'yes', label: '+0:+0' }]);
    // GenLabel reaches every stacked driver, not only the primary (virSecurityManagerGenLabel)
    expect(log).toEqual(['dac.domainGenSecurityLabel']);
  });

  it('removes the implicit label again when the driver fails', async () => {
    const m = manager([{ name: 'A' }, { name: 'B', fail: ['domainGenSecurityLabel'] }]);
    const def = domain();
    await expect(m.genLabel(def)).rejects.toThrow('B failed at domainGenSecurityLabel');
    expect(def.seclabel?.map((l) => l.model)).toEqual(['A']);
  });

  it('leaves no label for a driver without GenLabel', async () => {
    const m = manager([{ name: 'A' }, { name: 'capng', omit: ['domainGenSecurityLabel'] }]);
    const def = domain();
    await m.genLabel(def);
    expect(def.seclabel?.map((l) => l.model)).toEqual(['A']);
  });

  it('keeps an explicit label and fills in libvirt defaults', async () => {
    const m = manager([{ name: 'dac' }]);
    const def = domain(`<seclabel model='dac'/>`);
    await m.genLabel(def);
    expect(def.seclabel).toEqual([{ type: 'dynamic', model: 'dac', relabel: 'yes' }]);
    const def2 = domain(`<seclabel type='static' model='dac'><label>+1:+1</label></seclabel>`);
    await m.genLabel(def2);
    expect(def2.seclabel?.[0]).toMatchObject({ type: 'static', relabel: 'no', label: '+1:+1' });
  });

  it('refuses an unconfined label when confinement is required', async () => {
    const m = manager([{ name: 'dac', requireConfined: true }]);
    await expect(m.genLabel(domain(`<seclabel type='none' model='dac'/>`))).rejects.toThrow(
      'unsupported configuration: Unconfined guests are not allowed on this host',
    );
  });

  it('generates nothing when not default-confined', async () => {
    const m = manager([{ name: 'dac', defaultConfined: false }]);
    const def = domain();
    await m.genLabel(def);
    expect(def.seclabel).toBeUndefined();
  });

  it('checks that every model named in the domain is stacked', () => {
    const m = manager([{ name: 'dac' }]);
    expect(() => m.checkAllLabel(domain(`<seclabel type='none' model='none'/>`))).not.toThrow();
    expect(() => m.checkAllLabel(domain(`<seclabel type='dynamic' model='selinux'/>`))).toThrow(
      "unsupported configuration: Security driver model 'selinux' is not available",
    );
  });

  it('gives a lone model-less seclabel the primary model', () => {
    const m = manager([{ name: 'dac' }]);
    const def = domain(`<seclabel type='dynamic'/>`);
    m.assignDefaultModel(def);
    expect(def.seclabel?.[0]?.model).toBe('dac');
  });

  it('wraps SetAllLabel in a transaction, aborting in every case', async () => {
    const log: string[] = [];
    const m = manager([{ name: 'A' }, { name: 'B' }], log);
    await m.setAllLabel(domain(), {}, 123);
    expect(log).toEqual([
      'A.transactionStart',
      'B.transactionStart',
      'A.domainSetSecurityAllLabel',
      'B.domainSetSecurityAllLabel',
      'A.transactionCommit',
      'B.transactionCommit',
      'A.transactionAbort',
      'B.transactionAbort',
    ]);
  });

  it('rolls back a failed SetAllLabel and aborts the transaction', async () => {
    const log: string[] = [];
    const m = manager([{ name: 'A' }, { name: 'B', fail: ['domainSetSecurityAllLabel'] }], log);
    await expect(m.setAllLabel(domain())).rejects.toThrow('B failed at domainSetSecurityAllLabel');
    expect(log).toEqual([
      'A.transactionStart',
      'B.transactionStart',
      'A.domainSetSecurityAllLabel',
      'B.domainSetSecurityAllLabel',
      'A.domainRestoreSecurityAllLabel',
      'A.transactionAbort',
      'B.transactionAbort',
    ]);
  });

  it('restores every driver and reports all failures in one error', async () => {
    const log: string[] = [];
    const m = manager(
      [
        { name: 'A', fail: ['domainRestoreSecurityAllLabel'] },
        { name: 'B' },
        { name: 'C', fail: ['domainRestoreSecurityAllLabel'] },
      ],
      log,
    );
    await expect(m.restoreAllLabel(domain())).rejects.toThrow(
      'A failed at domainRestoreSecurityAllLabel; C failed at domainRestoreSecurityAllLabel',
    );
    expect(log.filter((l) => l.endsWith('RestoreSecurityAllLabel'))).toHaveLength(3);
    expect(log.at(-1)).toBe('C.transactionAbort');
  });

  it('lets every driver add to the launch spec', async () => {
    const m = new SecurityManager([
      {
        driver: { ...fakeDriver('A'), domainSetSecurityChildProcessLabel: async (_d, s) => void (s.uid = 5) },
        defaultConfined: true,
        requireConfined: false,
      },
      {
        driver: {
          ...fakeDriver('B'),
          domainSetSecurityChildProcessLabel: async (_d, s) => void (s.keepCaps = []),
        },
        defaultConfined: true,
        requireConfined: false,
      },
    ]);
    const spec = baseLaunchSpec({ binary: 'q', args: [], env: [], cwd: '/', logFd: 2 });
    await m.setChildProcessLabel(domain(), spec);
    expect(spec).toMatchObject({ uid: 5, keepCaps: [], cgroupPaths: [] });
  });

  it('describes every visible driver as a secmodel', async () => {
    const m = manager([{ name: 'none' }, { name: 'dac' }, { name: 'capng', visible: false }]);
    expect(await m.secModels(['kvm'])).toEqual([
      { model: 'none', doi: '0', baseLabels: [['kvm', 'none-base-kvm']] },
      { model: 'dac', doi: '0', baseLabels: [['kvm', 'dac-base-kvm']] },
    ]);
  });
});
