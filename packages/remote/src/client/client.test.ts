import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { VIR_DOMAIN_EVENT_ID } from '@qvirt/core/hypervisor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guestXml, startTestDaemon, type TestDaemon } from '../test-support/harness.js';
import { RemoteClient } from './client.js';

describe('RemoteClient', () => {
  let t: TestDaemon;
  beforeAll(async () => {
    t = await startTestDaemon();
  });
  afterAll(async () => {
    await t?.stop();
  });

  it("runs a guest and receives its lifecycle events in libvirt's order", async () => {
    const c = await RemoteClient.open(t.rwUri);
    expect(await c.connectGetType()).toBe('QEMU');
    expect(await c.connectGetLibVersion()).toBe(9000000);
    const events: string[] = [];
    const id = await c.connectDomainEventRegisterAny(null, VIR_DOMAIN_EVENT_ID.LIFECYCLE, (e) =>
      events.push(`${e.dom.name} ${e.event}/${e.detail}`),
    );
    const dom = await c.domainDefineXML(readFileSync(guestXml(t.dir, 'cl1'), 'utf8'));
    expect(dom).toMatchObject({ name: 'cl1', id: -1 });
    const started = await c.domainCreateWithFlags(dom, 0);
    expect(started.id).toBeGreaterThan(0);
    expect(await c.domainGetState(dom, 0)).toEqual({ state: 1, reason: 1 });
    expect((await c.domainLookupByID(started.id)).name).toBe('cl1');
    expect((await c.domainLookupByUUID(dom.uuid)).name).toBe('cl1');
    expect((await c.domainGetInfo(dom)).maxMem).toBe(65536);
    await c.domainDestroy(dom);
    await c.domainUndefine(dom);
    await new Promise((r) => setTimeout(r, 200));
    // DEFINED/ADDED, RESUMED/UNPAUSED, STARTED/BOOTED, (SHUTDOWN/HOST when QEMU says so),
    // STOPPED/DESTROYED, UNDEFINED/REMOVED
    expect(events.filter((e) => !e.endsWith(' 6/2'))).toEqual([
      'cl1 0/0',
      'cl1 4/0',
      'cl1 2/0',
      'cl1 5/1',
      'cl1 1/0',
    ]);
    await c.connectDomainEventDeregisterAny(id);
    await c.connectClose();
  });

  it('reports the daemon errors as VirErrors with libvirt names', async () => {
    const c = await RemoteClient.open(t.roUri, { readOnly: true });
    await expect(c.domainDefineXML('<domain/>')).rejects.toMatchObject({
      code: 'OPERATION_DENIED',
      message: 'operation forbidden: read only access prevents virDomainDefineXML',
    });
    await expect(c.domainLookupByName('nope')).rejects.toMatchObject({ code: 'NO_DOMAIN' });
    await c.connectClose();
  });
});

describe('session daemon on demand', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'qvirt-remote-session-'));
  afterAll(async () => {
    try {
      const pid = Number(readFileSync(path.join(dir, 'run/qvirt/qvirtd.pid'), 'utf8'));
      process.kill(pid, 'SIGTERM');
      // the daemon may still be writing its state (storage loads in the background): the
      // directory goes once it has exited
      for (let i = 0; i < 100 && existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 50));
    } catch {
      // not started
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts qvirtd --timeout=120 for qemu:///session when its socket is missing', async () => {
    mkdirSync(path.join(dir, 'run'), { mode: 0o700 });
    const env = {
      ...process.env,
      XDG_RUNTIME_DIR: `${dir}/run`,
      HOME: dir,
      XDG_CONFIG_HOME: `${dir}/config`,
    };
    const c = await RemoteClient.open('qemu:///session', { env });
    expect(await c.connectListAllDomains(0)).toEqual([]);
    expect(await c.connectGetURI()).toBe('qemu:///session');
    await c.connectClose();
    const pid = Number(readFileSync(path.join(dir, 'run/qvirt/qvirtd.pid'), 'utf8'));
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toContain('--timeout=120');
  });

  it('LIBVIRT_AUTOSTART=0 turns that off', async () => {
    const env = { XDG_RUNTIME_DIR: `${dir}/other`, HOME: dir, LIBVIRT_AUTOSTART: '0' };
    await expect(RemoteClient.open('qemu:///session', { env })).rejects.toThrow(
      `Failed to connect socket to '${dir}/other/qvirt/libvirt-sock': No such file or directory`,
    );
  });

  it("words any connect error as libvirt's strerror text, not the errno name", async () => {
    // a path through a regular file: ENOTDIR (EACCES, as a non-root uid, is in tools/stress)
    const sock = `${dir}/file/libvirt-sock`;
    writeFileSync(`${dir}/file`, '');
    await expect(RemoteClient.open(`qemu+unix:///system?socket=${sock}`)).rejects.toThrow(
      `Failed to connect socket to '${sock}': Not a directory`,
    );
  });
});

describe('idle timeout', () => {
  it('fires onIdle after --timeout seconds with no client and no guest', async () => {
    let idle = false;
    const t = await startTestDaemon({ timeout: 1, onIdle: () => (idle = true) });
    try {
      const c = await RemoteClient.open(t.rwUri);
      await new Promise((r) => setTimeout(r, 1500));
      expect(idle).toBe(false);
      await c.close();
      await new Promise((r) => setTimeout(r, 1600));
      expect(idle).toBe(true);
    } finally {
      await t.stop();
    }
  });
});
