/**
 * File labels on the real host: `security.selinux` and libvirt's `trusted.libvirt.security.*`
 * xattrs on temp files (ext4 keeps them without SELinux). Only enforcement is faked
 * (`fakeSELinux`: enabled, enforcing unless a test says otherwise), and the file-system type
 * where a test needs NFS or vfat.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type HostPort, nodeHost, parseDomainXML, rememberAttrNames } from '@qvirt/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SELINUX_XATTR } from './filecon.js';
import { DYNAMIC, domain, driver, fileDisk, scriptedRandom, tempDir } from './test-support/fixture.js';

const XATTRS = rememberAttrNames('selinux');

const host = nodeHost();
const ORIGINAL = 'system_u:object_r:user_home_t:s0';
const IMAGE = 'system_u:object_r:svirt_image_t:s0:c41,c264';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterEach(async () => cleanup());

async function file(name: string, context: string | undefined = ORIGINAL): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, '');
  if (context) await host.setxattr(p, SELINUX_XATTR, context);
  return p;
}
const label = (p: string) => host.getxattr(p, SELINUX_XATTR);
async function remembered(p: string) {
  return {
    label: await host.getxattr(p, XATTRS.label),
    ref: await host.getxattr(p, XATTRS.ref),
    ts: await host.getxattr(p, XATTRS.timestamp),
  };
}

/** A domain whose dynamic label is the pair c41,c264. */
async function started(d: ReturnType<typeof driver>['driver'], name: string, devices: string, extra = '') {
  const def = domain(name, devices, `${extra}${DYNAMIC}`);
  await d.domainGenSecurityLabel!(def);
  return def;
}

describe('set and restore all labels', () => {
  it('labels disks as sVirt does, remembers the original in xattrs and gives it back on stop', async () => {
    const plain = await file('plain.raw');
    const shared = await file('shared.raw');
    const ro = await file('readonly.raw');
    const nolabel = await file('nolabel.raw');
    const alt = await file('alt.raw');
    const { driver: d } = driver(host, { random: scriptedRandom([41, 264]) });
    const def = await started(
      d,
      'vm',
      fileDisk(plain, 'vda') +
        fileDisk(shared, 'vdb', '<shareable/>') +
        fileDisk(ro, 'vdc', '<readonly/>') +
        fileDisk(nolabel, 'vdd', '', "<seclabel model='selinux' relabel='no'/>") +
        fileDisk(
          alt,
          'vde',
          '',
          "<seclabel model='selinux'><label>system_u:object_r:custom_t:s0</label></seclabel>",
        ),
    );
    await d.domainSetSecurityAllLabel!(def, {});
    expect(await label(plain)).toBe(IMAGE);
    expect(await label(shared)).toBe('system_u:object_r:svirt_image_t:s0');
    expect(await label(ro)).toBe('system_u:object_r:virt_content_t:s0');
    expect(await label(nolabel)).toBe(ORIGINAL);
    expect(await label(alt)).toBe('system_u:object_r:custom_t:s0');
    const r = await remembered(plain);
    expect(r.label).toBe(ORIGINAL);
    expect(r.ref).toBe('1');
    expect(r.ts).toMatch(/^\d+$/);
    // Readonly and shared images are never remembered (other guests may hold them).
    expect((await remembered(ro)).ref).toBeUndefined();
    expect((await remembered(shared)).ref).toBeUndefined();

    await d.domainRestoreSecurityAllLabel!(def, {});
    expect(await label(plain)).toBe(ORIGINAL);
    expect(await remembered(plain)).toEqual({ label: undefined, ref: undefined, ts: undefined });
    // Not restored: readonly and shared stay labelled, relabel='no' was never touched.
    expect(await label(ro)).toBe('system_u:object_r:virt_content_t:s0');
    expect(await label(shared)).toBe('system_u:object_r:svirt_image_t:s0');
    expect(await label(nolabel)).toBe(ORIGINAL);
    await d.domainReleaseSecurityLabel!(def);
  });

  it('labels backing layers with the content type and only the top is restored', async () => {
    const top = await file('top.qcow2');
    const base = await file('base.qcow2');
    const { driver: d } = driver(host, { random: scriptedRandom([41, 264]) });
    const def = await started(
      d,
      'chain',
      `<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='${top}'/>` +
        `<backingStore type='file'><format type='raw'/><source file='${base}'/><backingStore/></backingStore>` +
        "<target dev='vda' bus='virtio'/></disk>",
    );
    await d.domainSetSecurityAllLabel!(def, {});
    expect(await label(top)).toBe(IMAGE);
    expect(await label(base)).toBe('system_u:object_r:virt_content_t:s0');
    expect((await remembered(base)).ref).toBeUndefined();
    await d.domainRestoreSecurityAllLabel!(def, {});
    expect(await label(top)).toBe(ORIGINAL);
    expect(await label(base)).toBe('system_u:object_r:virt_content_t:s0');
  });

  it('labels kernel, initrd and chardevs, and restores them', async () => {
    const kernel = await file('vmlinuz');
    const initrd = await file('initrd');
    const log = await file('serial.log');
    const { driver: d } = driver(host, { random: scriptedRandom([41, 264]) });
    const def = parseDomainXML(
      `<domain type='kvm'><name>k</name><memory>65536</memory><os><type>hvm</type><kernel>${kernel}</kernel><initrd>${initrd}</initrd></os>` +
        `<devices><serial type='file'><source path='${log}'/></serial></devices>${DYNAMIC}</domain>`,
    );
    await d.domainGenSecurityLabel!(def);
    await d.domainSetSecurityAllLabel!(def, {});
    expect(await label(kernel)).toBe('system_u:object_r:virt_content_t:s0');
    expect(await label(initrd)).toBe('system_u:object_r:virt_content_t:s0');
    expect(await label(log)).toBe(IMAGE);
    await d.domainRestoreSecurityAllLabel!(def, {});
    for (const p of [kernel, initrd, log]) {
      expect(await label(p)).toBe(ORIGINAL);
      expect((await host.listxattr(p)).filter((n) => n.startsWith('trusted.'))).toEqual([]);
    }
  });

  it('without remember_owner restores the policy default, or leaves a path without one alone', async () => {
    const disk = await file('d.img');
    const other = await file('o.img');
    const { driver: d, warnings } = driver(host, {
      rememberOwner: false,
      random: scriptedRandom([41, 264]),
      fileContexts: async (p) => (p === disk ? 'system_u:object_r:virt_image_t:s0' : undefined),
    });
    const def = await started(d, 'nr', fileDisk(disk, 'vda') + fileDisk(other, 'vdb'));
    await d.domainSetSecurityAllLabel!(def, {});
    expect((await remembered(disk)).ref).toBeUndefined();
    await d.domainRestoreSecurityAllLabel!(def, {});
    expect(await label(disk)).toBe('system_u:object_r:virt_image_t:s0');
    expect(await label(other)).toBe(IMAGE);
    expect(warnings).toContain(`cannot lookup default selinux label for ${other}`);
  });

  it('refuses a different label on an image another running guest holds, and counts a shared hold', async () => {
    const disk = await file('busy.img');
    const { driver: d } = driver(host, { random: scriptedRandom([41, 264, 1, 2]) });
    const a = await started(d, 'a', fileDisk(disk, 'vda'));
    await d.domainSetSecurityAllLabel!(a, {});
    const b = await started(d, 'b', fileDisk(disk, 'vda'));
    await expect(d.domainSetSecurityAllLabel!(b, {})).rejects.toThrow(
      `Requested operation is not valid: Setting different SELinux label on ${disk} which is already in use`,
    );
    expect(await label(disk)).toBe(IMAGE);
    expect((await remembered(disk)).ref).toBe('1');
    // The same label (a per-disk one both guests name) is counted, and restored by the last.
    const same = "<seclabel model='selinux'><label>system_u:object_r:svirt_image_t:s0</label></seclabel>";
    const shared = await file('shared.img');
    const c = await started(d, 'c', fileDisk(shared, 'vda', '', same));
    const e = await started(d, 'e', fileDisk(shared, 'vda', '', same));
    await d.domainSetSecurityAllLabel!(c, {});
    await d.domainSetSecurityAllLabel!(e, {});
    expect((await remembered(shared)).ref).toBe('2');
    await d.domainRestoreSecurityAllLabel!(c, {});
    expect(await label(shared)).toBe('system_u:object_r:svirt_image_t:s0');
    await d.domainRestoreSecurityAllLabel!(e, {});
    expect(await label(shared)).toBe(ORIGINAL);
    await d.domainRestoreSecurityAllLabel!(a, {});
    expect(await label(disk)).toBe(ORIGINAL);
  });

  it('gives back what it labelled when a later file fails, and does nothing with relabel=no', async () => {
    const good = await file('good.img');
    const { driver: d } = driver(host, { random: scriptedRandom([41, 264]) });
    const def = await started(d, 'rb', fileDisk(good, 'vda') + fileDisk(join(dir, 'missing.img'), 'vdb'));
    await expect(d.domainSetSecurityAllLabel!(def, {})).rejects.toThrow(
      `unable to get SELinux context of ${join(dir, 'missing.img')}: No such file or directory`,
    );
    expect(await label(good)).toBe(ORIGINAL);
    expect((await remembered(good)).ref).toBeUndefined();

    const off = domain(
      'off',
      fileDisk(good, 'vda'),
      "<seclabel type='static' model='selinux'><label>u:r:t:s0</label></seclabel>",
    );
    await d.domainGenSecurityLabel!(off);
    await d.domainSetSecurityAllLabel!(off, {});
    expect(await label(good)).toBe(ORIGINAL);
  });
});

/** The real host, except that labels below `prefix` are unsupported (EOPNOTSUPP) or fail with `code`. */
function failingLabels(prefix: string, code = 'EOPNOTSUPP'): HostPort {
  const fail = (p: string, op: string) => {
    if (p.startsWith(prefix)) throw Object.assign(new Error(`${code}: ${op} '${p}'`), { code });
  };
  return {
    ...host,
    getxattr: async (p, n) => {
      if (n === SELINUX_XATTR || code === 'EOPNOTSUPP') fail(p, 'getxattr');
      return host.getxattr(p, n);
    },
    setxattr: async (p, n, v) => {
      if (n === SELINUX_XATTR || code === 'EOPNOTSUPP') fail(p, 'setxattr');
      return host.setxattr(p, n, v);
    },
  };
}

describe('file systems without per-file labels', () => {
  it('NFS: skips the image, names virt_use_nfs, marks labelskip and does not restore it', async () => {
    const disk = await file('nfs.img', undefined);
    const { driver: d, warnings } = driver(failingLabels(disk), {
      fsType: async () => 'nfs4',
      random: scriptedRandom([41, 264]),
    });
    const def = await started(d, 'nfs', fileDisk(disk, 'vda'));
    await d.domainSetSecurityAllLabel!(def, {});
    expect(warnings).toContain(
      `Setting security context '${IMAGE}' on '${disk}' not supported. Consider setting virt_use_nfs`,
    );
    expect(def.devices!.disk![0]!.source!.seclabel).toEqual([{ model: 'selinux', labelskip: 'yes' }]);
    await d.domainRestoreSecurityAllLabel!(def, {});
  });

  it('vfat: names the context= mount option; only informational when permissive', async () => {
    const disk = await file('usb.img', undefined);
    const made = driver(
      failingLabels(disk),
      { fsType: async () => 'vfat', random: scriptedRandom([41, 264]) },
      { enforcing: false },
    );
    const def = await started(made.driver, 'fat', fileDisk(disk, 'vda'));
    await made.driver.domainSetSecurityAllLabel!(def, {});
    expect(made.warnings).toEqual([]);
    expect(made.infos).toContain(
      `Setting security context '${IMAGE}' on '${disk}' not supported by its vfat file system; mount it with context="${IMAGE}" to give QEMU access`,
    );
  });

  it('any other failure is fatal when enforcing and a warning when permissive', async () => {
    const disk = await file('eio.img');
    const enforcing = driver(failingLabels(disk, 'EIO'), {
      rememberOwner: false,
      random: scriptedRandom([41, 264]),
    });
    const def = await started(enforcing.driver, 'eio', fileDisk(disk, 'vda'));
    await expect(enforcing.driver.domainSetSecurityAllLabel!(def, {})).rejects.toThrow(
      `unable to set security context '${IMAGE}' on '${disk}': Input/output error`,
    );
    const permissive = driver(
      failingLabels(disk, 'EIO'),
      { rememberOwner: false, random: scriptedRandom([41, 264]) },
      { enforcing: false },
    );
    const def2 = await started(permissive.driver, 'eio2', fileDisk(disk, 'vda'));
    await permissive.driver.domainSetSecurityAllLabel!(def2, {});
    expect(permissive.warnings).toContain(
      `unable to set security context '${IMAGE}' on '${disk}' (Input/output error)`,
    );
  });
});

describe('single hooks', () => {
  it('labels a hot-plugged image, a path and a saved state, and moves remembered labels', async () => {
    const img = await file('hot.img');
    const to = await file('copy.img');
    const dirPath = await file('domain-dir');
    const save = await file('save.img');
    const { driver: d } = driver(host, { random: scriptedRandom([41, 264]) });
    const def = await started(d, 'hot', '');
    const src = { type: 'file' as const, path: img, readonly: false, shared: false, seclabels: [] };
    await d.domainSetSecurityImageLabel!(def, src, { chainTop: true });
    expect(await label(img)).toBe(IMAGE);
    await d.domainMoveImageMetadata!(undefined, src, { ...src, path: to });
    expect((await remembered(img)).ref).toBeUndefined();
    expect(await remembered(to)).toMatchObject({ label: ORIGINAL, ref: '1' });
    await d.domainRestoreSecurityImageLabel!(def, { ...src, path: to }, {});
    expect(await label(to)).toBe(ORIGINAL);

    await d.domainSetPathLabel!(def, dirPath, false);
    expect(await label(dirPath)).toBe(IMAGE);
    await d.domainRestorePathLabel!(def, dirPath);
    expect(await label(dirPath)).toBe(ORIGINAL);

    await d.domainSetSavedStateLabel!(def, save);
    expect(await label(save)).toBe('system_u:object_r:virt_content_t:s0');
  });
});
