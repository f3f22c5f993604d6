/**
 * Secret values at rest. libvirt 9.0 keeps a persistent secret's value as plain base64 in
 * `<uuid>.base64` (mode 0600, virSecretObjSaveData); only later libvirt encrypts it with a
 * "secrets encryption key". qvirt encrypts from the start: each value is sealed with AES-256-GCM
 * under a per-instance key (`secrets-encryption-key`, 32 random bytes, mode 0400, made on first
 * use) and stored as `<uuid>.aes256gcm` (mode 0600), so a copy of the value files alone (a backup,
 * a misplaced tarball) gives nothing away. GCM rather than CBC: the tag refuses a file that was
 * altered or moved to another secret's name (the UUID is the additional data).
 *
 * A libvirt-style `<uuid>.base64` found at load (a directory taken over from libvirt) is read,
 * sealed, and removed.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import { virReportError, virReportSystemError, writeFileAtomic } from '@qvirt/core';

export const KEY_FILE = 'secrets-encryption-key';
export const VALUE_SUFFIX = '.aes256gcm';
/** libvirt 9.0's plain value file. */
export const LIBVIRT_VALUE_SUFFIX = '.base64';

const MAGIC = Buffer.from('QVS1');
const IV_LEN = 12;
const TAG_LEN = 16;

export class ValueStore {
  #key: Buffer | undefined;

  constructor(readonly dir: string) {}

  valuePath(uuid: string): string {
    return path.join(this.dir, `${uuid}${VALUE_SUFFIX}`);
  }

  /** The instance's key, made on first use (only root, or the session's user, can read it). */
  async #keyBytes(): Promise<Buffer> {
    if (this.#key) return this.#key;
    const file = path.join(this.dir, KEY_FILE);
    try {
      const key = await readFile(file);
      if (key.length !== 32) {
        throw virReportError('INTERNAL_ERROR', 'secret', `secrets encryption key '${file}' is not 32 bytes`);
      }
      this.#key = key;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        if (err instanceof Error && err.name === 'VirError') throw err;
        throw virReportSystemError(err, 'secret', `cannot read '${file}'`);
      }
      const key = randomBytes(32);
      await writeFileAtomic(file, key, { mode: 0o400 });
      this.#key = key;
    }
    return this.#key!;
  }

  /** virSecretObjSaveData, sealed. */
  async save(uuid: string, value: Uint8Array): Promise<void> {
    const key = await this.#keyBytes();
    const iv = randomBytes(IV_LEN);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(uuid));
    const data = Buffer.concat([cipher.update(value), cipher.final()]);
    const sealed = Buffer.concat([MAGIC, iv, cipher.getAuthTag(), data]);
    const file = this.valuePath(uuid);
    try {
      await writeFileAtomic(file, sealed.toString('base64'), { mode: 0o600 });
    } catch (err) {
      throw virReportSystemError(err, 'secret', `cannot write '${file}'`);
    }
  }

  /** virSecretLoadValue: the value, or undefined when the secret has none. */
  async load(uuid: string): Promise<Uint8Array | undefined> {
    const file = this.valuePath(uuid);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return this.#adoptLibvirtValue(uuid);
      throw virReportSystemError(err, 'secret', `cannot open '${file}'`);
    }
    const sealed = Buffer.from(text, 'base64');
    if (sealed.length < MAGIC.length + IV_LEN + TAG_LEN || !sealed.subarray(0, 4).equals(MAGIC)) {
      throw virReportError('INTERNAL_ERROR', 'secret', `'${file}' is not a sealed secret value`);
    }
    const iv = sealed.subarray(4, 4 + IV_LEN);
    const tag = sealed.subarray(4 + IV_LEN, 4 + IV_LEN + TAG_LEN);
    const decipher = createDecipheriv('aes-256-gcm', await this.#keyBytes(), iv);
    decipher.setAAD(Buffer.from(uuid));
    decipher.setAuthTag(tag);
    try {
      return Buffer.concat([decipher.update(sealed.subarray(4 + IV_LEN + TAG_LEN)), decipher.final()]);
    } catch {
      throw virReportError('INTERNAL_ERROR', 'secret', `cannot decrypt '${file}'`);
    }
  }

  /** A libvirt 9.0 value file: sealed into ours, then removed. */
  async #adoptLibvirtValue(uuid: string): Promise<Uint8Array | undefined> {
    const plainFile = path.join(this.dir, `${uuid}${LIBVIRT_VALUE_SUFFIX}`);
    let text: string;
    try {
      text = await readFile(plainFile, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw virReportSystemError(err, 'secret', `cannot open '${plainFile}'`);
    }
    const value = Buffer.from(text, 'base64');
    await this.save(uuid, value);
    await unlink(plainFile).catch(() => {});
    return value;
  }

  /** virSecretObjDeleteData. */
  async delete(uuid: string): Promise<void> {
    await unlink(this.valuePath(uuid)).catch(() => {});
  }
}
