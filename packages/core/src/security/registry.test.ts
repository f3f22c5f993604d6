import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultQemuConf, type QemuConf } from '../conf/qemu-conf.js';
import type { SecurityDriverFactory } from './driver.js';
import { recordingHost } from './recording-host.js';
import { isLibvirtMode, provideSecurityPackage, SecurityRegistry } from './registry.js';
import { fakeDriver } from './test-support/fake-driver.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const coreDir = path.resolve(here, '../..');
const dirs = { config: '/c', run: '/r', lib: '/l', cache: '/k', log: '/g' };

function conf(privileged: boolean, over: Partial<QemuConf> = {}): QemuConf {
  return { ...defaultQemuConf({ privileged, qemuUser: '+107', qemuGroup: '+108' }), ...over };
}

const factory = (name: string, probe: 'enable' | 'disable' = 'enable'): SecurityDriverFactory =>
  Object.assign(() => fakeDriver(name, [], { probe }), { driverName: name });

function registry(...factories: SecurityDriverFactory[]) {
  const r = new SecurityRegistry();
  for (const f of factories) r.register(f);
  return r;
}

const host = recordingHost();
// Resolve nothing from the workspace unless a test asks: an empty folder.
const empty = mkdtempSync(path.join(tmpdir(), 'qvirt-reg-'));
afterAll(() => rmSync(empty, { recursive: true, force: true }));
const ctx = (c: QemuConf, privileged: boolean, extra = {}) => ({
  conf: c,
  host,
  privileged,
  dirs,
  resolveFrom: [empty],
  // The workspace's own backends are on NODE_PATH under vitest: point them nowhere.
  packageNames: Object.fromEntries(
    ['dac', 'capng', 'cgroup-devices', 'selinux', 'apparmor'].map((n) => [n, `@qvirt-test-absent/${n}`]),
  ),
  warn: () => {},
  ...extra,
});
const names = async (r: SecurityRegistry, c: QemuConf, privileged: boolean, extra = {}) =>
  (await r.createManager(ctx(c, privileged, extra))).drivers.map((d) => d.name);

describe('security registry', () => {
  it('tells libvirt mode from explicit mode', () => {
    expect(isLibvirtMode(undefined)).toBe(true);
    expect(isLibvirtMode(['selinux'])).toBe(true);
    expect(isLibvirtMode(['none'])).toBe(true);
    expect(isLibvirtMode(['dac', 'capng'])).toBe(false);
    expect(isLibvirtMode(['apparmor', 'my-plugin'])).toBe(false);
  });

  describe('libvirt mode', () => {
    it('autoprobes to none when neither selinux nor apparmor is installed', async () => {
      const m = await registry().createManager(ctx(conf(false), false));
      expect(m.drivers.map((d) => d.name)).toEqual(['none']);
      expect(await m.secModels()).toEqual([{ model: 'none', doi: '0', baseLabels: [] }]);
      // none is never default-confined: no implicit label
      expect(m.entries[0]!.defaultConfined).toBe(false);
    });

    it('autoprobes selinux, then apparmor, then none', async () => {
      expect(
        await names(registry(factory('selinux', 'disable'), factory('apparmor')), conf(false), false),
      ).toEqual(['apparmor']);
      expect(await names(registry(factory('selinux'), factory('apparmor')), conf(false), false)).toEqual([
        'selinux',
      ]);
      expect(
        await names(
          registry(factory('selinux', 'disable'), factory('apparmor', 'disable')),
          conf(false),
          false,
        ),
      ).toEqual(['none']);
    });

    it('appends dac, capng and cgroup-devices when privileged, showing only dac as a secmodel', async () => {
      const r = registry(factory('dac'), factory('capng'), factory('cgroup-devices'));
      const m = await r.createManager(ctx(conf(true, { cgroupControllers: ['cpu', 'devices'] }), true));
      expect(m.drivers.map((d) => d.name)).toEqual(['none', 'dac', 'capng', 'cgroup-devices']);
      expect((await m.secModels()).map((s) => s.model)).toEqual(['none', 'dac']);
      expect(m.primary.name).toBe('none');
    });

    it('leaves cgroup-devices out when devices is not a wanted controller', async () => {
      const r = registry(factory('dac'), factory('capng'), factory('cgroup-devices'));
      expect(await names(r, conf(true, { cgroupControllers: ['cpu'] }), true)).toEqual([
        'none',
        'dac',
        'capng',
      ]);
      // unset: every available controller; the fake host has a v1 devices hierarchy
      expect(await names(r, conf(true), true)).toEqual(['none', 'dac', 'capng', 'cgroup-devices']);
    });

    it('fails like libvirt when dac is needed and not installed', async () => {
      await expect(registry().createManager(ctx(conf(true), true))).rejects.toThrow(
        'internal error: Security driver dac not found',
      );
    });

    it('says "not enabled" for a named driver whose probe fails', async () => {
      await expect(
        registry(factory('selinux', 'disable')).createManager(
          ctx(conf(false, { securityDriver: ['selinux'] }), false),
        ),
      ).rejects.toThrow('unsupported configuration: Security driver selinux not enabled');
    });

    it('says "not found" for a named driver that is not installed', async () => {
      await expect(
        registry().createManager(ctx(conf(false, { securityDriver: ['apparmor'] }), false)),
      ).rejects.toThrow('internal error: Security driver apparmor not found');
    });

    it('refuses duplicates', async () => {
      await expect(
        registry().createManager(ctx(conf(false, { securityDriver: ['none', 'none'] }), false)),
      ).rejects.toThrow('Duplicate security driver none');
    });

    it('refuses none with require_confined', async () => {
      await expect(
        registry().createManager(
          ctx(conf(false, { securityDriver: ['none'], securityRequireConfined: true }), false),
        ),
      ).rejects.toThrow('unsupported configuration: Security driver "none" cannot create confined guests');
    });

    it('passes qemu.conf and the resolved ids to the factories', async () => {
      let seen: Record<string, unknown> = {};
      const dac = Object.assign(
        (o: Record<string, unknown>) => {
          seen = o;
          return fakeDriver('dac');
        },
        { driverName: 'dac' },
      ) as unknown as SecurityDriverFactory;
      await registry(dac, factory('capng')).createManager(ctx(conf(true, { cgroupControllers: [] }), true));
      expect(seen).toMatchObject({
        virtDriver: 'QEMU',
        privileged: true,
        user: 107,
        group: 108,
        dynamicOwnership: true,
        mountNamespace: true,
        defaultConfined: true,
        requireConfined: false,
        dirs,
      });
    });
  });

  describe('explicit mode', () => {
    it('builds exactly the listed stack, in order, nothing implied', async () => {
      const r = registry(factory('dac'), factory('capng'), factory('cgroup-devices'), factory('apparmor'));
      const list = ['cgroup-devices', 'dac', 'capng'];
      const m = await r.createManager(ctx(conf(true, { securityDriver: list }), true));
      expect(m.drivers.map((d) => d.name)).toEqual(list);
      expect((await m.secModels()).map((s) => s.model)).toEqual(list);
      expect(await names(r, conf(false, { securityDriver: ['apparmor', 'dac'] }), false)).toEqual([
        'apparmor',
        'dac',
      ]);
    });

    it('reports an unknown name as not found', async () => {
      await expect(
        registry().createManager(ctx(conf(false, { securityDriver: ['dac', 'bogus'] }), false)),
      ).rejects.toThrow('internal error: Security driver dac not found');
      await expect(
        registry(factory('dac')).createManager(ctx(conf(false, { securityDriver: ['dac', 'bogus'] }), false)),
      ).rejects.toThrow('internal error: Security driver bogus not found');
    });

    it('finds a third-party plugin package from the application', async () => {
      const r = registry(factory('dac'));
      const m = await r.createManager(
        ctx(conf(false, { securityDriver: ['qvirt-security-example', 'dac'] }), false, {
          resolveFrom: [coreDir],
        }),
      );
      expect(m.drivers.map((d) => d.name)).toEqual(['qvirt-security-example', 'dac']);
      expect(r.resolved[0]!.source).toMatch(/\/qvirt-security-example\/index\.js$/);
      expect(await m.secModels(['kvm'])).toContainEqual({
        model: 'qvirt-security-example',
        doi: '0',
        baseLabels: [['kvm', 'example-kvm']],
      });
    });

    it("finds a plugin package from the config file's folder first", async () => {
      const etc = path.join(empty, 'etc');
      mkdirSync(path.join(etc, 'node_modules'), { recursive: true });
      symlinkSync(
        path.join(coreDir, 'test-fixtures/qvirt-security-example'),
        path.join(etc, 'node_modules/qvirt-security-example'),
      );
      const r = registry();
      const m = await r.createManager(
        ctx(conf(false, { securityDriver: ['qvirt-security-example'] }), false, {
          confPath: path.join(etc, 'qemu.conf'),
        }),
      );
      expect(m.primary.name).toBe('qvirt-security-example');
      expect(r.resolved[0]!.source).toBe(path.join(etc, 'node_modules/qvirt-security-example/index.js'));
    });

    it('prefers a registered factory, also one without a declared name', async () => {
      const bare = (() => fakeDriver('qvirt-security-example')) as unknown as SecurityDriverFactory;
      const r = registry(bare);
      const m = await r.createManager(
        ctx(conf(false, { securityDriver: ['qvirt-security-example'] }), false, { resolveFrom: [coreDir] }),
      );
      expect(r.resolved[0]!.source).toBe('registered');
      expect((m.primary as { log?: unknown }).log).toEqual([]);
    });

    it('refuses a package whose driver has another name', async () => {
      const wrong = Object.assign(() => fakeDriver('other'), {
        driverName: 'mine',
      }) as unknown as SecurityDriverFactory;
      await expect(
        registry(wrong).createManager(ctx(conf(false, { securityDriver: ['mine'] }), false)),
      ).rejects.toThrow('Security driver mine not found (registered provides driver other)');
    });
  });
});

describe('packages the application provides', () => {
  it('loads a provided package by its name, without looking on disk', async () => {
    const provided = Object.assign(() => fakeDriver('qvirt-provided-example'), {
      driverName: 'qvirt-provided-example',
    }) as unknown as SecurityDriverFactory;
    let loads = 0;
    provideSecurityPackage('qvirt-provided-example', async () => {
      loads++;
      return { default: provided };
    });
    const r = new SecurityRegistry();
    const m = await r.createManager(ctx(conf(false, { securityDriver: ['qvirt-provided-example'] }), false));
    expect(m.primary.name).toBe('qvirt-provided-example');
    expect(r.resolved[0]!.source).toBe('qvirt-provided-example');
    expect(loads).toBe(1);
  });

  it("still takes a package beside the config file first (the administrator's choice)", async () => {
    provideSecurityPackage('qvirt-security-example', async () => ({
      default: Object.assign(() => fakeDriver('qvirt-security-example'), {
        driverName: 'qvirt-security-example',
      }),
    }));
    const etc = path.join(empty, 'etc-provided');
    mkdirSync(path.join(etc, 'node_modules'), { recursive: true });
    symlinkSync(
      path.join(coreDir, 'test-fixtures/qvirt-security-example'),
      path.join(etc, 'node_modules/qvirt-security-example'),
    );
    const r = new SecurityRegistry();
    await r.createManager(
      ctx(conf(false, { securityDriver: ['qvirt-security-example'] }), false, {
        confPath: path.join(etc, 'qemu.conf'),
      }),
    );
    expect(r.resolved[0]!.source).toBe(path.join(etc, 'node_modules/qvirt-security-example/index.js'));
    // without one there, the provided copy, not the application's node_modules
    const r2 = new SecurityRegistry();
    await r2.createManager(
      ctx(conf(false, { securityDriver: ['qvirt-security-example'] }), false, { resolveFrom: [coreDir] }),
    );
    expect(r2.resolved[0]!.source).toBe('qvirt-security-example');
  });
});
