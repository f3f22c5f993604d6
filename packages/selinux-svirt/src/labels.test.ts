/**
 * Labels and MCS pairs: GenLabel / ReserveLabel / ReleaseLabel and the policy's context files.
 * SELinux enforcement is faked (this kernel has none): the daemon's context and the processes'
 * contexts come from `fakeSELinux`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { baseLaunchSpec, nodeHost, recordingHost } from '@qvirt/core';
import { describe, expect, it } from 'vitest';
import { contextAddRange, genNewContext, parseContext } from './context.js';
import { fakeSELinux, hostSELinux } from './kernel.js';
import { mcsPool, processRange } from './mcs.js';
import { fileContextLookup, loadVirtContexts } from './policy.js';
import { DYNAMIC, domain, driver, scriptedRandom, tempDir } from './test-support/fixture.js';

const host = recordingHost();

describe('the daemon range (libvirt tests/securityselinuxtest.c)', () => {
  it.each([
    ['unconfined_u:unconfined_r:unconfined_t:s0', 's0', 0, 1023],
    ['unconfined_u:unconfined_r:unconfined_t:s0-s0', 's0', 0, 1023],
    ['unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023', 's0', 0, 1023],
    ['system_u:system_r:virtd_t:s0-s0:c0.c1023', 's0', 0, 1023],
    ['system_u:system_r:virtd_t:s0-s0:c0.c10', 's0', 0, 10],
    ['system_u:system_r:virtd_t:s2-s3:c0.c1023', 's2', 0, 1023],
    ['system_u:system_r:virtd_t', 's0', 0, 1023],
  ])('%s', (ctx, sens, catMin, catMax) => {
    expect(processRange(ctx)).toEqual({ sens, catMin, catMax });
  });

  it("refuses ranges libvirt refuses, with libvirt's messages", () => {
    expect(() => processRange('a:b:c:s0:c5')).toThrow('internal error: No category range available');
    expect(() => processRange('a:b:c:s0:x5')).toThrow('internal error: Cannot parse category in x5');
    expect(() => processRange('a:b:c:s0:c0,c3')).toThrow('internal error: Cannot parse category in c0,c3');
    expect(() => mcsPool().find({ sens: 's0', catMin: 0, catMax: 6 })).toThrow(
      'internal error: Category range c0-c6 too small',
    );
  });

  it('generates labels like libvirt for each daemon context', async () => {
    for (const [daemon, user, role, sens, max] of [
      ['unconfined_u:unconfined_r:unconfined_t:s0', 'unconfined_u', 'unconfined_r', 's0', 1023],
      ['system_u:system_r:virtd_t:s0-s0:c0.c10', 'system_u', 'system_r', 's0', 10],
      ['system_u:system_r:virtd_t:s2-s3:c0.c1023', 'system_u', 'system_r', 's2', 1023],
    ] as const) {
      const { driver: d } = driver(host, {}, { currentContext: daemon });
      const def = domain('g', '', DYNAMIC);
      await d.domainGenSecurityLabel!(def);
      const label = parseContext(def.seclabel![0]!.label!)!;
      const image = parseContext(def.seclabel![0]!.imagelabel!)!;
      expect([label.user, label.role, label.type]).toEqual([user, role, 'svirt_t']);
      expect([image.user, image.role, image.type]).toEqual([user, 'object_r', 'svirt_image_t']);
      const m = /^(s\d+):c(\d+),c(\d+)$/.exec(label.range!)!;
      expect(m[1]).toBe(sens);
      expect(Number(m[2])).toBeLessThan(Number(m[3]));
      expect(Number(m[3])).toBeLessThanOrEqual(max);
      expect(image.range).toBe(label.range);
    }
  });
});

describe('GenLabel', () => {
  it('dynamic: svirt_t (svirt_tcg_t for TCG) with a fresh pair, images svirt_image_t with the same pair', async () => {
    const { driver: d } = driver(host, { random: scriptedRandom([264, 41, 7, 7, 3, 9]) });
    const kvm = domain('kvm', '', DYNAMIC);
    await d.domainGenSecurityLabel!(kvm);
    expect(kvm.seclabel).toEqual([
      {
        type: 'dynamic',
        model: 'selinux',
        relabel: 'yes',
        label: 'system_u:system_r:svirt_t:s0:c41,c264',
        imagelabel: 'system_u:object_r:svirt_image_t:s0:c41,c264',
      },
    ]);
    // 7,7 is rejected (equal categories), then 3,9.
    const tcg = domain('tcg', '', DYNAMIC, 'qemu');
    await d.domainGenSecurityLabel!(tcg);
    expect(tcg.seclabel![0]!.label).toBe('system_u:system_r:svirt_tcg_t:s0:c3,c9');
    expect(await d.getBaseLabel!('kvm')).toBe('system_u:system_r:svirt_t:s0');
    expect(await d.getBaseLabel!('qemu')).toBe('system_u:system_r:svirt_tcg_t:s0');
  });

  it('uses only the type of a baselabel, and the policy files when present', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      await writeFile(join(dir, 'virtual_domain_context'), 'system_u:system_r:svirt_t:s0\n');
      await writeFile(
        join(dir, 'virtual_image_context'),
        'system_u:object_r:svirt_image_t:s0\nsystem_u:object_r:virt_content_t:s0\n',
      );
      const { driver: d, warnings } = driver(nodeHost(), {
        contextsDir: dir,
        random: scriptedRandom([1, 2]),
      });
      const def = domain(
        'b',
        '',
        "<seclabel type='dynamic' model='selinux'><baselabel>other_u:other_r:my_qemu_t:s9</baselabel></seclabel>",
      );
      await d.domainGenSecurityLabel!(def);
      expect(def.seclabel![0]!.label).toBe('system_u:system_r:my_qemu_t:s0:c1,c2');
      // The policy has no TCG type: the KVM one, and libvirt's warning once.
      const tcg = domain('t', '', DYNAMIC, 'qemu');
      await d.domainGenSecurityLabel!(tcg);
      await d.domainGenSecurityLabel!(domain('t2', '', DYNAMIC, 'qemu'));
      expect(tcg.seclabel![0]!.label).toMatch(/^system_u:system_r:svirt_t:s0:c\d+,c\d+$/);
      expect(warnings.filter((w) => w.includes('does not define a domain type for QEMU TCG'))).toHaveLength(
        1,
      );
    } finally {
      await cleanup();
    }
  });

  it('static keeps its label and takes its categories for images; none takes the sensitivity', async () => {
    const { driver: d } = driver(host);
    const st = domain(
      's',
      '',
      "<seclabel type='static' model='selinux' relabel='yes'><label>system_u:system_r:svirt_t:s0:c1,c2</label></seclabel>",
    );
    await d.domainGenSecurityLabel!(st);
    expect(st.seclabel![0]!.imagelabel).toBe('system_u:object_r:svirt_image_t:s0:c1,c2');
    const none = domain('n', '', "<seclabel type='none' model='selinux'/>");
    await d.domainGenSecurityLabel!(none);
    expect(none.seclabel![0]!.label).toBeUndefined();
    expect(none.seclabel![0]!.imagelabel).toBe('system_u:object_r:svirt_image_t:s0');
  });

  it("refuses what libvirt refuses, with libvirt's messages", async () => {
    const { driver: d } = driver(host);
    const labelled = domain(
      'l',
      '',
      "<seclabel type='dynamic' model='selinux'><label>system_u:system_r:svirt_t:s0:c1,c2</label></seclabel>",
    );
    await expect(d.domainGenSecurityLabel!(labelled)).rejects.toThrow(
      'internal error: security label already defined for VM',
    );
    const img = domain('i', '', DYNAMIC);
    img.seclabel![0]!.imagelabel = 'system_u:object_r:svirt_image_t:s0:c1,c2';
    await expect(d.domainGenSecurityLabel!(img)).rejects.toThrow(
      'internal error: security image label already defined for VM',
    );
    const small = driver(host, {}, { currentContext: 'system_u:system_r:virtd_t:s0-s0:c0.c6' }).driver;
    const def = domain('small', '', DYNAMIC);
    await expect(small.domainGenSecurityLabel!(def)).rejects.toThrow(
      'internal error: Category range c0-c6 too small',
    );
    expect(def.seclabel![0]!.label).toBeUndefined();
    await expect(
      d.domainSecurityVerify!(
        domain('v', '', "<seclabel type='static' model='selinux'><label>bogus</label></seclabel>"),
      ),
    ).rejects.toThrow('XML error: Invalid security label bogus');
  });
});

describe('MCS pairs', () => {
  it('never hands a pair out twice while reserved, and gives it back on release', async () => {
    // c0.c7 holds 28 pairs.
    const { driver: d } = driver(host, {}, { currentContext: 'system_u:system_r:virtd_t:s0-s0:c0.c7' });
    const defs = Array.from({ length: 28 }, (_, i) => domain(`g${i}`, '', DYNAMIC));
    for (const def of defs) await d.domainGenSecurityLabel!(def);
    const ranges = defs.map((def) => def.seclabel![0]!.label!.split(':').slice(3).join(':'));
    expect(new Set(ranges).size).toBe(28);
    for (const r of ranges) {
      const [, a, b] = /c(\d+),c(\d+)/.exec(r)!.map(Number);
      expect(a).toBeLessThan(b!);
      expect(b).toBeLessThanOrEqual(7);
    }
    await expect(d.domainGenSecurityLabel!(domain('full', '', DYNAMIC))).rejects.toThrow(
      'No free MCS category pair left in s0:c0.c7',
    );
    const freed = ranges[5]!;
    await d.domainReleaseSecurityLabel!(defs[5]!);
    expect(defs[5]!.seclabel![0]!.label).toBeUndefined();
    const again = domain('again', '', DYNAMIC);
    await d.domainGenSecurityLabel!(again);
    expect(again.seclabel![0]!.label).toBe(`system_u:system_r:svirt_t:${freed}`);
  });

  it("reserves a running guest's pair on reconnect, with libvirt's error when it is taken", async () => {
    const { driver: d, kernel } = driver(host, { random: scriptedRandom([5, 6]) });
    kernel.options.pids = {
      100: 'system_u:system_r:svirt_t:s0:c5,c6',
      200: 'system_u:system_r:svirt_t:s0:c7,c8',
    };
    const running = domain('r', '', DYNAMIC);
    running.seclabel![0]!.label = 'system_u:system_r:svirt_t:s0:c7,c8';
    await d.domainReserveSecurityLabel!(running, 200);
    await expect(d.domainReserveSecurityLabel!(running, 200)).rejects.toThrow(
      'internal error: MCS level for existing domain label system_u:system_r:svirt_t:s0:c7,c8 already reserved',
    );
    // A new guest drawing the reserved pair draws again.
    const fresh = domain('f', '', DYNAMIC);
    const pool = driver(host, { random: scriptedRandom([7, 8, 1, 2]) });
    pool.kernel.options.pids = kernel.options.pids;
    await pool.driver.domainReserveSecurityLabel!(running, 200);
    await pool.driver.domainGenSecurityLabel!(fresh);
    expect(fresh.seclabel![0]!.label).toBe('system_u:system_r:svirt_t:s0:c1,c2');
    await expect(d.domainReserveSecurityLabel!(running, 999)).rejects.toThrow(
      'unable to get PID 999 security context',
    );
    // Static and none labels hold no pair.
    await d.domainReserveSecurityLabel!(domain('n', '', "<seclabel type='none' model='selinux'/>"), 999);
  });
});

describe('process label', () => {
  it("puts the guest's label into the launch spec (setpriv --selinux-label), not the exec", async () => {
    const { driver: d } = driver(host, { random: scriptedRandom([41, 264]) });
    const def = domain('p', '', DYNAMIC);
    await d.domainGenSecurityLabel!(def);
    const spec = baseLaunchSpec({ binary: 'qemu', args: [], env: [], cwd: '/', logFd: 2 });
    await d.domainSetSecurityChildProcessLabel!(def, spec);
    expect(spec.seLinuxLabel).toBe('system_u:system_r:svirt_t:s0:c41,c264');
    const none = domain('n', '', "<seclabel type='none' model='selinux'/>");
    await d.domainGenSecurityLabel!(none);
    const spec2 = baseLaunchSpec({ binary: 'qemu', args: [], env: [], cwd: '/', logFd: 2 });
    await d.domainSetSecurityChildProcessLabel!(none, spec2);
    expect(spec2.seLinuxLabel).toBeUndefined();
  });

  it('basic confinement: one static type for every guest, images virt_image_t', async () => {
    const { driver: d } = driver(host);
    const xml =
      "<seclabel type='static' model='selinux' relabel='yes'><label>system_u:system_r:qemu_t:s0</label>" +
      '<imagelabel>system_u:object_r:virt_image_t:s0</imagelabel></seclabel>';
    for (const name of ['a', 'b']) {
      const def = domain(name, '', xml);
      await d.domainGenSecurityLabel!(def);
      const spec = baseLaunchSpec({ binary: 'qemu', args: [], env: [], cwd: '/', logFd: 2 });
      await d.domainSetSecurityChildProcessLabel!(def, spec);
      expect(spec.seLinuxLabel).toBe('system_u:system_r:qemu_t:s0');
      expect(def.seclabel![0]!.imagelabel).toBe('system_u:object_r:virt_image_t:s0');
    }
  });

  it('reports process labels, socket contexts and mount options through the (fake) kernel', async () => {
    const { driver: d, kernel } = driver(
      host,
      { random: scriptedRandom([1, 2]) },
      { pids: { 9: 'u:r:svirt_t:s0:c1,c2' } },
    );
    expect(await d.domainGetSecurityProcessLabel!(domain('x', ''), 9)).toEqual({
      label: 'u:r:svirt_t:s0:c1,c2',
      enforcing: true,
    });
    const def = domain('s', '', DYNAMIC);
    await d.domainGenSecurityLabel!(def);
    await d.domainSetSecurityDaemonSocketLabel!(def);
    expect(kernel.socketCreateContext).toBe('system_u:system_r:virtd_t:s0:c1,c2');
    await d.domainSetSecuritySocketLabel!(def);
    expect(kernel.socketCreateContext).toBe('system_u:system_r:svirt_t:s0:c1,c2');
    await d.domainClearSecuritySocketLabel!(def);
    expect(kernel.socketCreateContext).toBeUndefined();
    expect(await d.domainGetSecurityMountOptions!(def)).toBe(
      ',context="system_u:object_r:svirt_image_t:s0:c1,c2"',
    );
  });
});

describe('probe and policy', () => {
  it('is disabled on this kernel (no selinuxfs), enabled when the faked kernel says so', async () => {
    const real = driver(nodeHost(), { kernel: hostSELinux(nodeHost()) }).driver;
    expect(await real.probe('QEMU')).toBe('disable');
    expect(await hostSELinux(nodeHost()).enabled()).toBe(false);
    expect(await driver(host, {}, { enabled: true }).driver.probe('QEMU')).toBe('enable');
    expect(await driver(host, {}, { enabled: false }).driver.probe('QEMU')).toBe('disable');
    expect(fakeSELinux().options).toEqual({});
  });

  it("reads virtual_domain_context / virtual_image_context, else libvirt's usual types", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      expect(await loadVirtContexts(nodeHost(), dir)).toEqual({
        domain: 'system_u:system_r:svirt_t:s0',
        tcg: 'system_u:system_r:svirt_tcg_t:s0',
        image: 'system_u:object_r:svirt_image_t:s0',
        content: 'system_u:object_r:virt_content_t:s0',
      });
      await writeFile(join(dir, 'virtual_domain_context'), 'a_u:a_r:kvm_t:s0\na_u:a_r:tcg_t:s0\n');
      await writeFile(join(dir, 'virtual_image_context'), 'a_u:object_r:img_t:s0\na_u:object_r:ro_t:s0\n');
      expect(await loadVirtContexts(nodeHost(), dir)).toEqual({
        domain: 'a_u:a_r:kvm_t:s0',
        tcg: 'a_u:a_r:tcg_t:s0',
        image: 'a_u:object_r:img_t:s0',
        content: 'a_u:object_r:ro_t:s0',
      });
      await mkdir(join(dir, 'files'));
      await writeFile(
        join(dir, 'files/file_contexts'),
        '/.*\tsystem_u:object_r:default_t:s0\n/var/lib/libvirt/images(/.*)?\tsystem_u:object_r:virt_image_t:s0\n/var/lib/libvirt/images\t-d\tsystem_u:object_r:virt_dir_t:s0\n/proc(/.*)?\t<<none>>\n',
      );
      const lookup = fileContextLookup(nodeHost(), dir);
      expect(await lookup('/var/lib/libvirt/images/a.qcow2', 0o100644)).toBe(
        'system_u:object_r:virt_image_t:s0',
      );
      expect(await lookup('/var/lib/libvirt/images', 0o040755)).toBe('system_u:object_r:virt_dir_t:s0');
      expect(await lookup('/srv/x', 0o100644)).toBe('system_u:object_r:default_t:s0');
      expect(await lookup('/proc/1', 0o100644)).toBeUndefined();
    } finally {
      await cleanup();
    }
  });

  it('builds contexts as libselinux does', () => {
    expect(
      genNewContext('x_u:x_r:svirt_t:s0', 's0:c1,c2', 'system_u:system_r:virtd_t:s0-s0:c0.c1023', false),
    ).toBe('system_u:system_r:svirt_t:s0:c1,c2');
    expect(genNewContext('x_u:object_r:img_t:s0', 's0', 'system_u:system_r:virtd_t:s0', true)).toBe(
      'system_u:object_r:img_t:s0',
    );
    expect(contextAddRange('a:b:c:s0:c1,c2', 'd:e:f:s0-s0:c0.c1023')).toBe('d:e:f:s0:c1,c2');
    expect(parseContext('nope')).toBeUndefined();
  });
});
