/**
 * Secrets at start (qemuDomainSecretPrepare / qemuDomainSecretStorageSourcePrepare): the domain's
 * master key is made, and every secret its disks name — `<auth><secret type='ceph|iscsi'>` and
 * `<encryption><secret type='passphrase'>` on any image of a chain — is fetched from the instance's
 * secret driver with the daemon's own rights (private secrets included, as libvirt elevates its
 * identity), to be handed to QEMU encrypted with that key (`-object secret,…,keyid=masterKey0`).
 *
 * The values live only in the returned object for the build of one command line; the master key
 * is what the start writes to `master-key.aes`.
 */
import { randomBytes } from 'node:crypto';
import { type DomainDef, parseDomainXML } from '@qvirt/core';
import type { SecretValueSource } from '@qvirt/core/hypervisor';
import {
  authUsageType,
  chainImages,
  diskChain,
  ENCRYPTION_USAGE_TYPE,
  isEmptySource,
  type StartSecrets,
} from '@qvirt/qemu-argv';

type Lookup = { uuid?: string; usage?: string } | undefined;

const keyOf = (lookup: Lookup, usageType: number) =>
  `${usageType}/${lookup?.uuid !== undefined ? `uuid:${lookup.uuid}` : `usage:${lookup?.usage ?? ''}`}`;

/** The secrets the disks of `def` name, with the usage type each must have. */
export function diskSecretRefs(def: DomainDef): Array<{ lookup: Lookup; usageType: number }> {
  const refs = new Map<string, { lookup: Lookup; usageType: number }>();
  let id = 0;
  for (const disk of def.devices?.disk ?? []) {
    for (const img of chainImages(diskChain(disk, () => ++id))) {
      if (isEmptySource(img.type, img.source)) continue;
      if (img.auth) {
        const usageType = authUsageType(img.source.protocol);
        refs.set(keyOf(img.auth.secret, usageType), { lookup: img.auth.secret, usageType });
      }
      const enc = img.encryption?.secret?.[0];
      if (enc) refs.set(keyOf(enc, ENCRYPTION_USAGE_TYPE), { lookup: enc, usageType: ENCRYPTION_USAGE_TYPE });
    }
  }
  return [...refs.values()];
}

/**
 * A start's master key and the secret values of its disks. Without a secret driver the values
 * are simply absent, and the command line build refuses the disk as libvirt does when the
 * secret cannot be found.
 */
export async function prepareStartSecrets(
  def: DomainDef,
  source: (() => Promise<SecretValueSource>) | undefined,
): Promise<StartSecrets> {
  const values = new Map<string, Uint8Array>();
  const refs = diskSecretRefs(def);
  if (refs.length > 0 && source) {
    const secrets = await source();
    for (const { lookup, usageType } of refs) {
      values.set(keyOf(lookup, usageType), await secrets.secretGetValueForUse(lookup ?? {}, usageType));
    }
  }
  return {
    masterKey: randomBytes(32),
    value: (lookup, usageType) => values.get(keyOf(lookup, usageType)),
  };
}

/**
 * `domxml-to-native` looks the disks' secrets up too (libvirt prepares the domain as for a start,
 * with a pretend flag): the same values, under a master key made for this one command line.
 * Undefined when the XML names no secret or does not parse (the conversion reports that).
 */
export async function nativeSecrets(
  xml: string,
  source: (() => Promise<SecretValueSource>) | undefined,
): Promise<StartSecrets | undefined> {
  if (!source) return undefined;
  let def: DomainDef;
  try {
    def = parseDomainXML(xml);
  } catch {
    return undefined;
  }
  if (diskSecretRefs(def).length === 0) return undefined;
  return prepareStartSecrets(def, source);
}
