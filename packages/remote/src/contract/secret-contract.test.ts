/**
 * The secret contract, two ways (as hypervisor-contract.test.ts): `@qvirt/secrets` in this
 * process, and a RemoteClient talking to a real qvirtd. Through qvirtd a read-only connection is
 * checked too, and a guest starts from a LUKS-encrypted qcow2 whose passphrase is a secret.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  type HypervisorDriver,
  VIR_CONNECT_LIST_SECRETS as L,
  type SecretDriver,
  type SecretEvent,
  VIR_SECRET_EVENT,
  VIR_SECRET_EVENT_ID,
  VIR_SECRET_USAGE_TYPE,
} from '@qvirt/core/hypervisor';
import { DEFAULT_GREETING, greetingBootSector, QemuDriver } from '@qvirt/driver';
import { SecretsDriver } from '@qvirt/secrets';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { RemoteClient } from '../client/client.js';
import { defaultDaemonConfig } from '../daemon/config.js';
import { startDaemon } from '../daemon/daemon.js';
import { killMentioning, makeTestDir } from '../test-support/harness.js';

interface Way {
  secrets: SecretDriver;
  hypervisor: HypervisorDriver;
  /** A read-only connection (qvirtd only: in process there is no such thing). */
  readOnly?: SecretDriver;
  dir: string;
  root: string;
  close(): Promise<void>;
}

async function inProcess(): Promise<Way> {
  const { dir, root } = makeTestDir('qvirt-secret-local-');
  const uri = `qemu:///embed?root=${root}`;
  const secrets = await SecretsDriver.open(uri);
  const hypervisor = await QemuDriver.open(uri, { secrets: async () => secrets });
  return { secrets, hypervisor, dir, root, close: () => hypervisor.connectClose() };
}

async function throughQvirtd(): Promise<Way> {
  const { dir, root } = makeTestDir('qvirt-secret-remote-');
  const daemon = await startDaemon({
    uri: `qemu:///embed?root=${root}`,
    socketDir: path.join(dir, 'sock'),
    config: defaultDaemonConfig(),
  });
  const conn = await RemoteClient.open(`qemu+unix:///system?socket=${daemon.sockets.rw}`);
  const ro = await RemoteClient.open(`qemu+unix:///system?socket=${daemon.sockets.ro}`, { readOnly: true });
  return {
    secrets: conn,
    hypervisor: conn,
    readOnly: ro,
    dir,
    root,
    async close() {
      await ro.connectClose();
      await conn.connectClose();
      await daemon.close();
    },
  };
}

const UUID = '6b1f2d3c-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
const secretXml = (attrs: string, uuid: string, usage: string) =>
  `<secret ${attrs}><uuid>${uuid}</uuid><description>d</description><usage type='volume'><volume>${usage}</volume></usage></secret>`;

describe.each([
  ['in process', inProcess],
  ['through qvirtd', throughQvirtd],
])('the secret contract %s', (_label, open) => {
  let way: Way;
  let c: SecretDriver;
  beforeAll(async () => {
    way = await open();
    c = way.secrets;
  });
  afterAll(async () => {
    await way?.close();
    if (way) {
      killMentioning(way.dir);
      rmSync(way.dir, { recursive: true, force: true });
    }
  });

  it('defines, looks up, lists, formats and undefines', async () => {
    const s = await c.secretDefineXML(secretXml("private='no'", UUID, '/images/a.img'), 0);
    expect(s).toEqual({ uuid: UUID, usageType: VIR_SECRET_USAGE_TYPE.VOLUME, usageID: '/images/a.img' });
    expect(await c.secretLookupByUUID(UUID)).toEqual(s);
    expect(await c.secretLookupByUsage(VIR_SECRET_USAGE_TYPE.VOLUME, '/images/a.img')).toEqual(s);
    expect(await c.secretGetXMLDesc(s, 0)).toBe(
      `<secret ephemeral='no' private='no'>\n  <uuid>${UUID}</uuid>\n  <description>d</description>\n  <usage type='volume'>\n    <volume>/images/a.img</volume>\n  </usage>\n</secret>\n`,
    );
    expect(await c.connectNumOfSecrets()).toBe(1);
    expect(await c.connectListSecrets(10)).toEqual([UUID]);
    expect(await c.connectListAllSecrets(0)).toEqual([s]);
    expect(await c.connectListAllSecrets(L.EPHEMERAL)).toEqual([]);
    await expect(
      c.secretDefineXML(secretXml('', '6b1f2d3c-4e5f-4a6b-8c7d-000000000000', '/images/a.img'), 0),
    ).rejects.toThrow(
      `internal error: a secret with UUID ${UUID} already defined for use with /images/a.img`,
    );
    await c.secretUndefine(s);
    await expect(c.secretLookupByUUID(UUID)).rejects.toThrow(
      `Secret not found: no secret with matching uuid '${UUID}'`,
    );
    expect(await c.connectNumOfSecrets()).toBe(0);
  });

  it('sets and gets values; a private secret never gives its value', async () => {
    const pub = await c.secretDefineXML(secretXml("private='no'", UUID, '/images/p.img'), 0);
    await expect(c.secretGetValue(pub, 0)).rejects.toThrow(
      `Secret not found: secret '${UUID}' does not have a value`,
    );
    const bytes = Uint8Array.from([0, 1, 2, 250, 255]);
    await c.secretSetValue(pub, bytes, 0);
    expect(Buffer.from(await c.secretGetValue(pub, 0))).toEqual(Buffer.from(bytes));
    const privUuid = '6b1f2d3c-4e5f-4a6b-8c7d-111111111111';
    const priv = await c.secretDefineXML(secretXml("private='yes'", privUuid, '/images/q.img'), 0);
    await c.secretSetValue(priv, Buffer.from('hidden'), 0);
    await expect(c.secretGetValue(priv, 0)).rejects.toThrow(/^Invalid secret: secret is private$/);
    expect((await c.connectListAllSecrets(L.PRIVATE)).map((x) => x.uuid)).toEqual([privUuid]);
    // at rest: neither value appears in the instance's files
    for (const f of readdirSync(path.join(way.root, 'etc/secrets'))) {
      const raw = readFileSync(path.join(way.root, 'etc/secrets', f));
      expect(raw.includes(Buffer.from('hidden'))).toBe(false);
      expect(raw.includes(Buffer.from(Buffer.from('hidden').toString('base64')))).toBe(false);
    }
    await c.secretUndefine(pub);
    await c.secretUndefine(priv);
  });

  it('reports lifecycle and value-changed events', async () => {
    const seen: SecretEvent[] = [];
    const life = await c.connectSecretEventRegisterAny(null, VIR_SECRET_EVENT_ID.LIFECYCLE, (e) =>
      seen.push(e),
    );
    const changed = await c.connectSecretEventRegisterAny(null, VIR_SECRET_EVENT_ID.VALUE_CHANGED, (e) =>
      seen.push(e),
    );
    const s = await c.secretDefineXML(secretXml("ephemeral='yes'", UUID, '/images/e.img'), 0);
    await c.secretSetValue(s, Buffer.from('v'), 0);
    await c.secretUndefine(s);
    await vi.waitFor(() => expect(seen.length).toBe(3), { timeout: 5000 });
    expect(seen.map((e) => [e.eventID, e.event, e.secret.uuid])).toEqual([
      [VIR_SECRET_EVENT_ID.LIFECYCLE, VIR_SECRET_EVENT.DEFINED, UUID],
      [VIR_SECRET_EVENT_ID.VALUE_CHANGED, undefined, UUID],
      [VIR_SECRET_EVENT_ID.LIFECYCLE, VIR_SECRET_EVENT.UNDEFINED, UUID],
    ]);
    await c.connectSecretEventDeregisterAny(life);
    await c.connectSecretEventDeregisterAny(changed);
    // the public API's checks, made before any call (libvirt-secret.c)
    await expect(c.connectSecretEventRegisterAny(null, 2, () => {})).rejects.toThrow(
      /^eventID in virConnectSecretEventRegisterAny must be less than 2$/,
    );
    await expect(c.connectSecretEventRegisterAny(null, -1, () => {})).rejects.toThrow(
      /^eventID in virConnectSecretEventRegisterAny must be zero or greater$/,
    );
    // libvirt itself words an unknown id differently in process and in its remote client
    await expect(c.connectSecretEventDeregisterAny(changed)).rejects.toThrow(
      /^invalid argument: (could not find event callback \d+ for deletion|event callback id \d+ not registered)$/,
    );
  });

  it('lets a read-only connection list and read definitions, never values or changes', async (ctx) => {
    const ro = way.readOnly;
    if (!ro) return ctx.skip();
    const s = await c.secretDefineXML(secretXml("private='no'", UUID, '/images/r.img'), 0);
    await c.secretSetValue(s, Buffer.from('v'), 0);
    expect(await ro.connectListAllSecrets(0)).toEqual([s]);
    expect(await ro.secretGetXMLDesc(s, 0)).toContain(`<uuid>${UUID}</uuid>`);
    await expect(ro.secretGetValue(s, 0)).rejects.toThrow(
      /^operation forbidden: read only access prevents virSecretGetValue$/,
    );
    await expect(ro.secretSetValue(s, Buffer.from('x'), 0)).rejects.toThrow(
      /^operation forbidden: read only access prevents virSecretSetValue$/,
    );
    await expect(ro.secretDefineXML(secretXml('', UUID, '/images/r.img'), 0)).rejects.toThrow(
      /^operation forbidden: read only access prevents virSecretDefineXML$/,
    );
    await expect(ro.secretUndefine(s)).rejects.toThrow(
      /^operation forbidden: read only access prevents virSecretUndefine$/,
    );
    expect(Buffer.from(await c.secretGetValue(s, 0)).toString()).toBe('v');
    // a private secret's value on a read-only connection: refused before the private rule
    const privUuid = '6b1f2d3c-4e5f-4a6b-8c7d-333333333333';
    const priv = await c.secretDefineXML(secretXml("private='yes'", privUuid, '/images/rp.img'), 0);
    await expect(ro.secretGetValue(priv, 0)).rejects.toThrow(
      /^operation forbidden: read only access prevents virSecretGetValue$/,
    );
    await expect(ro.secretSetValue(priv, Buffer.from('x'), 0)).rejects.toThrow(
      /^operation forbidden: read only access prevents virSecretSetValue$/,
    );
    await expect(c.secretGetValue(priv, 0)).rejects.toThrow(/^Invalid secret: secret is private$/);
    await c.secretUndefine(priv);
    await c.secretUndefine(s);
  });

  it('starts a guest from a LUKS-encrypted qcow2 whose passphrase is a private secret', async () => {
    const passphrase = 'luks passphrase 42';
    const image = path.join(way.dir, 'enc.qcow2');
    const boot = path.join(way.dir, 'boot.img');
    writeFileSync(boot, greetingBootSector());
    execFileSync('qemu-img', [
      'convert',
      '--object',
      `secret,id=sec0,data=${passphrase}`,
      '-f',
      'raw',
      '-O',
      'qcow2',
      '-o',
      'encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10',
      boot,
      image,
    ]);
    const uuid = '6b1f2d3c-4e5f-4a6b-8c7d-222222222222';
    const s = await c.secretDefineXML(secretXml("private='yes'", uuid, image), 0);
    await c.secretSetValue(s, Buffer.from(passphrase), 0);
    const serial = path.join(way.dir, 'luks-serial.log');
    const h = way.hypervisor;
    const dom = await h.domainDefineXML(`<domain type='qemu'>
  <name>luks</name>
  <memory unit='KiB'>65536</memory>
  <vcpu>1</vcpu>
  <os><type arch='i686' machine='pc'>hvm</type><boot dev='hd'/></os>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='${image}'>
        <encryption format='luks'><secret type='passphrase' uuid='${uuid}'/></encryption>
      </source>
      <target dev='hda' bus='ide'/>
    </disk>
    <serial type='file'><source path='${serial}'/><target port='0'/></serial>
  </devices>
</domain>`);
    try {
      await h.domainCreate(dom);
      await vi.waitFor(() => expect(readFileSync(serial, 'utf8')).toContain(DEFAULT_GREETING), {
        timeout: 30000,
        interval: 100,
      });
      // QEMU got the passphrase only encrypted with the domain's master key
      const pid = readFileSync(path.join(way.root, 'run/qemu/luks.pid'), 'utf8').trim();
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      expect(argv).toContain('"id":"libvirt-1-format-encryption-secret0"');
      expect(argv).toContain('"keyid":"masterKey0"');
      expect(argv).not.toContain(passphrase);
      expect(argv).not.toContain(Buffer.from(passphrase).toString('base64'));
    } finally {
      await h.domainDestroy(dom).catch(() => {});
      await h.domainUndefine(dom);
      await c.secretUndefine(s);
    }
  });
});
