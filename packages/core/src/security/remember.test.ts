import { describe, expect, it } from 'vitest';
import { recordingHost } from './recording-host.js';
import { rememberAttrNames, rememberStore, XATTRS_UNSUPPORTED } from './remember.js';

const BOOT = async () => '1700000000';
const names = rememberAttrNames('selinux');

function setup(xattrs: Record<string, string> = {}) {
  const host = recordingHost({ files: { '/img': { xattrs }, '/dst': {} } });
  return { host, store: rememberStore('selinux', host, { bootTime: BOOT, rememberOwner: true }) };
}

describe('rememberStore', () => {
  it("uses libvirt's attribute names for the model", () => {
    expect(rememberAttrNames('dac')).toEqual({
      label: 'trusted.libvirt.security.dac',
      ref: 'trusted.libvirt.security.ref_dac',
      timestamp: 'trusted.libvirt.security.timestamp_dac',
    });
  });

  it('takes remember_owner from the option, then qemu.conf', () => {
    const host = recordingHost();
    expect(rememberStore('dac', host, { conf: { rememberOwner: true } }).enabled).toBe(true);
    expect(rememberStore('dac', host, { rememberOwner: false, conf: { rememberOwner: true } }).enabled).toBe(
      false,
    );
    expect(rememberStore('dac', host).enabled).toBe(false);
  });

  it('remembers the first label, counts users and gives the label back to the last', async () => {
    const { host, store } = setup();
    expect(await store.set('/img', 'orig')).toBe(1);
    expect(await store.set('/img', 'other')).toBe(2);
    expect(await host.getxattr('/img', names.label)).toBe('orig');
    expect(await host.getxattr('/img', names.timestamp)).toBe('1700000000');
    expect(await store.get('/img')).toBeNull();
    expect(await host.getxattr('/img', names.ref)).toBe('1');
    expect(await store.get('/img')).toBe('orig');
    expect(await host.listxattr('/img')).toEqual([]);
    expect(await store.get('/img')).toBe(XATTRS_UNSUPPORTED);
  });

  it('drops attributes from an earlier boot', async () => {
    const { host, store } = setup({ [names.ref]: '3', [names.label]: 'old', [names.timestamp]: '1' });
    expect(await store.get('/img')).toBe(XATTRS_UNSUPPORTED);
    expect(await host.listxattr('/img')).toEqual([]);
    const again = setup({ [names.ref]: '3', [names.label]: 'old' });
    expect(await again.store.set('/img', 'now')).toBe(1);
    expect(await again.host.getxattr('/img', names.label)).toBe('now');
  });

  it("reports a malformed refcount and a missing label with libvirt's messages", async () => {
    const bad = setup({ [names.ref]: 'x', [names.timestamp]: '1700000000' });
    await expect(bad.store.set('/img', 'l')).rejects.toThrow('internal error: malformed refcount x on /img');
    const lost = setup({ [names.ref]: '1', [names.timestamp]: '1700000000' });
    await expect(lost.store.get('/img')).rejects.toThrow(
      'Unable to get XATTR trusted.libvirt.security.selinux on /img: No data available',
    );
  });

  it('moves every attribute to another path, or drops them', async () => {
    const attrs = { [names.ref]: '1', [names.label]: 'orig', [names.timestamp]: '1700000000' };
    const { host, store } = setup(attrs);
    await store.move('/img', '/dst');
    expect(await host.listxattr('/img')).toEqual([]);
    expect(await store.get('/dst')).toBe('orig');
    const other = setup(attrs);
    await other.store.move('/img', undefined);
    expect(await other.host.listxattr('/img')).toEqual([]);
  });

  it('gives up quietly where the file system has no xattrs', async () => {
    const host = recordingHost({
      files: { '/img': {} },
      faults: [{ op: 'getxattr', code: 'EOPNOTSUPP' }],
    });
    const store = rememberStore('dac', host, { bootTime: BOOT });
    expect(await store.set('/img', '+0:+0')).toBe(XATTRS_UNSUPPORTED);
    expect(await store.get('/img')).toBe(XATTRS_UNSUPPORTED);
  });
});
