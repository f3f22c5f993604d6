import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  type SecretEvent,
  VIR_CONNECT_LIST_SECRETS,
  VIR_SECRET_EVENT_ID,
  VIR_SECRET_USAGE_TYPE,
} from '@qvirt/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SecretsDriver } from './driver.js';
import { KEY_FILE, VALUE_SUFFIX } from './value-store.js';

const UUID = '0a81f5b2-8403-7b23-c8d6-21ccc2f80d6f';
const volumeXml = (uuid = UUID, extra = '', usage = '/var/lib/images/enc.qcow2') =>
  `<secret ${extra}><uuid>${uuid}</uuid><usage type='volume'><volume>${usage}</volume></usage></secret>`;

let root: string;
let dirs: { configDir: string; stateDir: string };
beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'qvirt-secrets-'));
  dirs = { configDir: `${root}/etc/secrets`, stateDir: `${root}/run/secrets` };
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('SecretsDriver', () => {
  it('keeps a persistent secret across reopen, with its value sealed on disk (0600, key 0400)', async () => {
    const d = await SecretsDriver.openDirs(dirs);
    const s = await d.secretDefineXML(volumeXml(), 0);
    expect(s).toEqual({
      uuid: UUID,
      usageType: VIR_SECRET_USAGE_TYPE.VOLUME,
      usageID: '/var/lib/images/enc.qcow2',
    });
    const plain = Buffer.from('correct horse battery staple');
    await d.secretSetValue(s, plain, 0);
    const files = readdirSync(dirs.configDir).sort();
    expect(files).toEqual([`${UUID}${VALUE_SUFFIX}`, `${UUID}.xml`, KEY_FILE].sort());
    for (const f of files)
      expect(statSync(path.join(dirs.configDir, f)).mode & 0o777).toBe(f === KEY_FILE ? 0o400 : 0o600);
    expect(statSync(dirs.configDir).mode & 0o777).toBe(0o700);
    const stored = readFileSync(path.join(dirs.configDir, `${UUID}${VALUE_SUFFIX}`));
    expect(stored.includes(plain)).toBe(false);
    expect(stored.includes(Buffer.from(plain.toString('base64')))).toBe(false);
    expect(Buffer.from(stored.toString(), 'base64').includes(plain)).toBe(false);

    const again = await SecretsDriver.openDirs(dirs);
    expect(Buffer.from(await again.secretGetValue(s, 0))).toEqual(plain);
    expect(await again.secretGetXMLDesc(s, 0)).toBe(
      readFileSync(path.join(dirs.configDir, `${UUID}.xml`), 'utf8'),
    );
  });

  it('takes over a libvirt 9.0 plain value file, sealing it', async () => {
    const d = await SecretsDriver.openDirs(dirs);
    await d.secretDefineXML(volumeXml(), 0);
    writeFileSync(path.join(dirs.configDir, `${UUID}.base64`), Buffer.from('old').toString('base64'));
    const again = await SecretsDriver.openDirs(dirs);
    expect(Buffer.from(await again.secretGetValue(await again.secretLookupByUUID(UUID), 0)).toString()).toBe(
      'old',
    );
    expect(readdirSync(dirs.configDir)).not.toContain(`${UUID}.base64`);
  });

  it('refuses a tampered value file', async () => {
    const d = await SecretsDriver.openDirs(dirs);
    const s = await d.secretDefineXML(volumeXml(), 0);
    await d.secretSetValue(s, Buffer.from('x'), 0);
    const f = path.join(dirs.configDir, `${UUID}${VALUE_SUFFIX}`);
    const raw = Buffer.from(readFileSync(f, 'utf8'), 'base64');
    raw[raw.length - 1]! ^= 1;
    writeFileSync(f, raw.toString('base64'));
    const again = await SecretsDriver.openDirs(dirs);
    await expect(again.secretLookupByUUID(UUID)).rejects.toThrow(`no secret with matching uuid '${UUID}'`);
  });

  it('keeps ephemeral secrets in memory only', async () => {
    const d = await SecretsDriver.openDirs(dirs);
    const s = await d.secretDefineXML(volumeXml(UUID, "ephemeral='yes'"), 0);
    await d.secretSetValue(s, Buffer.from('v'), 0);
    expect(readdirSync(dirs.configDir)).toEqual([]);
    expect(await (await SecretsDriver.openDirs(dirs)).connectNumOfSecrets()).toBe(0);
    // becoming persistent writes definition and value
    await d.secretDefineXML(volumeXml(), 0);
    expect(readdirSync(dirs.configDir).sort()).toEqual(
      [`${UUID}${VALUE_SUFFIX}`, `${UUID}.xml`, KEY_FILE].sort(),
    );
    // and ephemeral again removes them
    await d.secretDefineXML(volumeXml(UUID, "ephemeral='yes'"), 0);
    expect(readdirSync(dirs.configDir)).toEqual([KEY_FILE]);
  });

  it("applies libvirt's rules on UUID, usage and private", async () => {
    const d = await SecretsDriver.openDirs(dirs);
    await d.secretDefineXML(volumeXml(UUID, "private='yes'"), 0);
    const other = '11111111-2222-3333-4444-555555555555';
    await expect(d.secretDefineXML(volumeXml(other), 0)).rejects.toThrow(
      `internal error: a secret with UUID ${UUID} already defined for use with /var/lib/images/enc.qcow2`,
    );
    await expect(d.secretDefineXML(volumeXml(UUID, "private='yes'", '/other'), 0)).rejects.toThrow(
      `internal error: a secret with UUID ${UUID} is already defined for use with /var/lib/images/enc.qcow2`,
    );
    await expect(d.secretDefineXML(volumeXml(UUID), 0)).rejects.toThrow(
      'internal error: cannot change private flag on existing secret',
    );
    const s = await d.secretLookupByUsage(VIR_SECRET_USAGE_TYPE.VOLUME, '/var/lib/images/enc.qcow2');
    await d.secretSetValue(s, Buffer.from('p'), 0);
    await expect(d.secretGetValue(s, 0)).rejects.toThrow('Invalid secret: secret is private');
    // the QEMU driver's elevated path gets it, checked against the usage it needs
    expect(
      Buffer.from(await d.secretGetValueForUse({ uuid: UUID }, VIR_SECRET_USAGE_TYPE.VOLUME)).toString(),
    ).toBe('p');
    await expect(d.secretGetValueForUse({ uuid: UUID }, VIR_SECRET_USAGE_TYPE.CEPH)).rejects.toThrow(
      `invalid argument: secret with uuid ${UUID} is of type 'volume' not expected 'ceph' type`,
    );
    await expect(d.secretLookupByUsage(VIR_SECRET_USAGE_TYPE.CEPH, 'x')).rejects.toThrow(
      "Secret not found: no secret with matching usage 'x'",
    );
    await expect(d.secretDefineXML(volumeXml(), 2)).rejects.toThrow(
      /^unsupported flags \(0x2\) in function secretDefineXML$/,
    );
  });

  it('answers "does not have a value" and lists with the filters', async () => {
    const d = await SecretsDriver.openDirs(dirs);
    const a = await d.secretDefineXML(volumeXml(), 0);
    await expect(d.secretGetValue(a, 0)).rejects.toThrow(
      `Secret not found: secret '${UUID}' does not have a value`,
    );
    await d.secretDefineXML(
      "<secret ephemeral='yes' private='yes'><usage type='ceph'><name>c</name></usage></secret>",
      0,
    );
    await d.secretDefineXML('<secret/>', 0);
    const L = VIR_CONNECT_LIST_SECRETS;
    expect(await d.connectNumOfSecrets()).toBe(3);
    expect((await d.connectListSecrets(2)).length).toBe(2);
    expect((await d.connectListAllSecrets(0)).length).toBe(3);
    expect((await d.connectListAllSecrets(L.EPHEMERAL)).map((s) => s.usageID)).toEqual(['c']);
    expect((await d.connectListAllSecrets(L.NO_EPHEMERAL)).length).toBe(2);
    expect((await d.connectListAllSecrets(L.PRIVATE | L.NO_EPHEMERAL)).length).toBe(0);
    expect((await d.connectListAllSecrets(L.NO_PRIVATE)).map((s) => s.usageType).sort()).toEqual([0, 1]);
    expect((await d.connectListAllSecrets(0)).find((s) => s.usageType === 0)?.usageID).toBe('');
  });

  it('sends lifecycle and value-changed events, filtered by secret', async () => {
    const d = await SecretsDriver.openDirs(dirs);
    const seen: SecretEvent[] = [];
    const all = await d.connectSecretEventRegisterAny(null, VIR_SECRET_EVENT_ID.LIFECYCLE, (e) =>
      seen.push(e),
    );
    const s = await d.secretDefineXML(volumeXml(), 0);
    const one = await d.connectSecretEventRegisterAny(s, VIR_SECRET_EVENT_ID.VALUE_CHANGED, (e) =>
      seen.push(e),
    );
    await d.secretSetValue(s, Buffer.from('v'), 0);
    await d.secretUndefine(s);
    expect(seen.map((e) => [e.eventID, e.event])).toEqual([
      [0, 0],
      [1, undefined],
      [0, 1],
    ]);
    await d.connectSecretEventDeregisterAny(all);
    await d.connectSecretEventDeregisterAny(one);
    await expect(d.connectSecretEventDeregisterAny(one)).rejects.toThrow(
      `could not find event callback ${one} for deletion`,
    );
    await expect(d.connectSecretEventRegisterAny(null, 2, () => {})).rejects.toThrow(
      /^eventID in virConnectSecretEventRegisterAny must be less than 2$/,
    );
    expect(readdirSync(dirs.configDir)).toEqual([KEY_FILE]);
  });
});
