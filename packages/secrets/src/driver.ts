/**
 * The secret driver (libvirt's src/secret/secret_driver.c with src/conf/virsecretobj.c): the
 * secrets of one instance, each a definition and perhaps a value. A persistent secret is
 * `<uuid>.xml` and its sealed value (./value-store.ts) under the instance's config directory; an
 * ephemeral one lives only in this process, as libvirt keeps it ("kept in memory, never stored
 * persistently").
 *
 * `SecretsDriver.open(uri)` opens an instance's driver; it implements the secret contract
 * (`SecretDriver` of @qvirt/core) and, for the QEMU driver's starts, `SecretValueSource`.
 */
import { mkdir, readdir, readFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import {
  type Secret,
  type SecretDriver,
  type SecretEvent,
  type SecretEventCallback,
  SecretEventCallbacks,
  type SecretValueSource,
  VIR_CONNECT_LIST_SECRETS,
  VIR_SECRET_DEFINE_VALIDATE,
  VIR_SECRET_EVENT,
  VIR_SECRET_EVENT_ID,
  VIR_SECRET_USAGE_TYPE,
  VirError,
  virCheckFlags,
  virReportError,
  virReportSystemError,
  writeFileAtomic,
} from '@qvirt/core';
import { type SecretDirs, type SecretDirsEnv, secretDirs } from './dirs.js';
import {
  formatSecretXML,
  parseSecretUuid,
  parseSecretXML,
  type SecretDef,
  secretUsageTypeToString,
} from './secret-xml.js';
import { ValueStore } from './value-store.js';

interface SecretObj {
  def: SecretDef;
  value?: Uint8Array;
}

const FILTERS_ALL =
  VIR_CONNECT_LIST_SECRETS.EPHEMERAL |
  VIR_CONNECT_LIST_SECRETS.NO_EPHEMERAL |
  VIR_CONNECT_LIST_SECRETS.PRIVATE |
  VIR_CONNECT_LIST_SECRETS.NO_PRIVATE;

/** virGetSecret: what a caller holds of a secret. */
function secretOf(def: SecretDef): Secret {
  return { uuid: def.uuid, usageType: def.usageType, usageID: def.usageID ?? '' };
}

export class SecretsDriver implements SecretDriver, SecretValueSource {
  readonly #objs = new Map<string, SecretObj>();
  readonly #values: ValueStore;
  readonly #callbacks = new SecretEventCallbacks();
  /** Changes one at a time, as libvirt's object list lock serialises them. */
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(readonly dirs: SecretDirs) {
    this.#values = new ValueStore(dirs.configDir);
  }

  /** The secret driver of the instance `uri` names (default: the process's default URI). */
  static async open(uri?: string, options: SecretDirsEnv = {}): Promise<SecretsDriver> {
    return SecretsDriver.openDirs(secretDirs(uri, options));
  }

  /** secretStateInitialize on explicit directories: made 0700, then every definition loaded. */
  static async openDirs(dirs: SecretDirs): Promise<SecretsDriver> {
    for (const [dir, what] of [
      [dirs.configDir, 'config'],
      [dirs.stateDir, 'state'],
    ] as const) {
      try {
        await mkdir(dir, { recursive: true, mode: 0o700 });
      } catch (err) {
        throw virReportSystemError(err, 'secret', `cannot create ${what} directory '${dir}'`);
      }
    }
    const driver = new SecretsDriver(dirs);
    await driver.#loadAll();
    return driver;
  }

  /** virSecretLoadAllConfigs: a file that does not load is skipped (libvirt logs it and goes on). */
  async #loadAll(): Promise<void> {
    const names = (await readdir(this.dirs.configDir)).filter((n) => n.endsWith('.xml')).sort();
    for (const name of names) {
      try {
        const def = parseSecretXML(await readFile(path.join(this.dirs.configDir, name), 'utf8'));
        if (name !== `${def.uuid}.xml`) {
          throw virReportError(
            'INTERNAL_ERROR',
            'secret',
            `<uuid> does not match secret file name '${name}'`,
          );
        }
        this.#add(def);
        const value = await this.#values.load(def.uuid);
        if (value) this.#obj(def.uuid).value = value;
      } catch (err) {
        const uuid = name.slice(0, -4);
        this.#objs.delete(uuid);
        process.emitWarning(`Error reading secret: ${(err as Error).message}`);
      }
    }
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => {});
    return run;
  }

  #obj(uuid: string): SecretObj {
    const obj = this.#objs.get(uuid);
    if (!obj) throw virReportError('NO_SECRET', 'secret', `no secret with matching uuid '${uuid}'`);
    return obj;
  }

  /** secretObjFromSecret. */
  #fromSecret(secret: Secret): SecretObj {
    return this.#obj(secret.uuid);
  }

  #findByUsage(usageType: number, usageID: string): SecretObj | undefined {
    if (usageType === VIR_SECRET_USAGE_TYPE.NONE) return undefined;
    for (const obj of this.#objs.values()) {
      if (obj.def.usageType === usageType && obj.def.usageID === usageID) return obj;
    }
    return undefined;
  }

  /** virSecretObjListAdd: the rules on UUID and usage; answers the former definition on a redefine. */
  #add(def: SecretDef): { obj: SecretObj; backup?: SecretDef } {
    const existing = this.#objs.get(def.uuid);
    if (existing) {
      if (existing.def.usageID !== def.usageID) {
        throw virReportError(
          'INTERNAL_ERROR',
          'secret',
          `a secret with UUID ${def.uuid} is already defined for use with ${existing.def.usageID ?? '(null)'}`,
        );
      }
      if (existing.def.private && !def.private) {
        throw virReportError('INTERNAL_ERROR', 'secret', 'cannot change private flag on existing secret');
      }
      const backup = existing.def;
      existing.def = def;
      return { obj: existing, backup };
    }
    const other = this.#findByUsage(def.usageType, def.usageID ?? '');
    if (other) {
      throw virReportError(
        'INTERNAL_ERROR',
        'secret',
        `a secret with UUID ${other.def.uuid} already defined for use with ${def.usageID}`,
      );
    }
    const obj: SecretObj = { def };
    this.#objs.set(def.uuid, obj);
    return { obj };
  }

  #configPath(uuid: string): string {
    return path.join(this.dirs.configDir, `${uuid}.xml`);
  }

  async #saveConfig(def: SecretDef): Promise<void> {
    const file = this.#configPath(def.uuid);
    try {
      await writeFileAtomic(file, formatSecretXML(def), { mode: 0o600 });
    } catch (err) {
      throw err instanceof VirError ? err : virReportSystemError(err, 'secret', `cannot write '${file}'`);
    }
  }

  async #deleteConfig(def: SecretDef): Promise<void> {
    if (def.ephemeral) return;
    const file = this.#configPath(def.uuid);
    try {
      await unlink(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw virReportSystemError(err, 'secret', `cannot unlink '${file}'`);
      }
    }
  }

  #emit(event: SecretEvent): void {
    this.#callbacks.dispatch(event);
  }

  // ---- the contract --------------------------------------------------------------------------

  async connectNumOfSecrets(): Promise<number> {
    return this.#objs.size;
  }

  async connectListSecrets(maxuuids: number): Promise<string[]> {
    if (maxuuids < 0) {
      throw new VirError(
        'INVALID_ARG',
        'secret',
        'maxuuids in virConnectListSecrets must be zero or greater',
      );
    }
    return [...this.#objs.keys()].slice(0, maxuuids);
  }

  /** virSecretObjListExport with virSecretObjMatch's filters. */
  async connectListAllSecrets(flags: number): Promise<Secret[]> {
    virCheckFlags(flags, FILTERS_ALL, 'secretConnectListAllSecrets', 'secret');
    const M = VIR_CONNECT_LIST_SECRETS;
    const out: Secret[] = [];
    for (const { def } of this.#objs.values()) {
      if (flags & (M.EPHEMERAL | M.NO_EPHEMERAL)) {
        if (!((flags & M.EPHEMERAL && def.ephemeral) || (flags & M.NO_EPHEMERAL && !def.ephemeral))) continue;
      }
      if (flags & (M.PRIVATE | M.NO_PRIVATE)) {
        if (!((flags & M.PRIVATE && def.private) || (flags & M.NO_PRIVATE && !def.private))) continue;
      }
      out.push(secretOf(def));
    }
    return out;
  }

  async secretLookupByUUID(uuid: string): Promise<Secret> {
    let canonical: string;
    try {
      canonical = parseSecretUuid(uuid);
    } catch {
      throw virReportError('NO_SECRET', 'secret', `no secret with matching uuid '${uuid}'`);
    }
    return secretOf(this.#obj(canonical).def);
  }

  async secretLookupByUsage(usageType: number, usageID: string): Promise<Secret> {
    const obj = this.#findByUsage(usageType, usageID);
    if (!obj) throw virReportError('NO_SECRET', 'secret', `no secret with matching usage '${usageID}'`);
    return secretOf(obj.def);
  }

  /** secretDefineXML: saved (or, becoming ephemeral, removed from disk) before it is announced. */
  secretDefineXML(xml: string, flags: number): Promise<Secret> {
    return this.#serial(async () => {
      virCheckFlags(flags, VIR_SECRET_DEFINE_VALIDATE, 'secretDefineXML', 'secret');
      const def = parseSecretXML(xml);
      const { obj, backup } = this.#add(def);
      try {
        if (!def.ephemeral) {
          if (backup?.ephemeral && obj.value) await this.#values.save(def.uuid, obj.value);
          try {
            await this.#saveConfig(def);
          } catch (err) {
            if (backup?.ephemeral) await this.#values.delete(def.uuid);
            throw err;
          }
        } else if (backup && !backup.ephemeral) {
          await this.#deleteConfig(backup);
          await this.#values.delete(def.uuid);
        }
      } catch (err) {
        if (backup) obj.def = backup;
        else this.#objs.delete(def.uuid);
        throw err;
      }
      this.#emit({
        eventID: VIR_SECRET_EVENT_ID.LIFECYCLE,
        secret: secretOf(def),
        event: VIR_SECRET_EVENT.DEFINED,
        detail: 0,
      });
      return secretOf(def);
    });
  }

  async secretGetXMLDesc(secret: Secret, flags: number): Promise<string> {
    virCheckFlags(flags, 0, 'secretGetXMLDesc', 'secret');
    return formatSecretXML(this.#fromSecret(secret).def);
  }

  /** virSecretObjSetValue: stored first (unless ephemeral); the old value stays on failure. */
  secretSetValue(secret: Secret, value: Uint8Array, flags: number): Promise<void> {
    return this.#serial(async () => {
      virCheckFlags(flags, 0, 'secretSetValue', 'secret');
      const obj = this.#fromSecret(secret);
      const copy = Buffer.from(value);
      if (!obj.def.ephemeral) await this.#values.save(obj.def.uuid, copy);
      if (obj.value) Buffer.from(obj.value.buffer, obj.value.byteOffset, obj.value.byteLength).fill(0);
      obj.value = copy;
      this.#emit({ eventID: VIR_SECRET_EVENT_ID.VALUE_CHANGED, secret: secretOf(obj.def) });
    });
  }

  /**
   * secretGetValue: a private secret's value is refused to every caller of the API (libvirt lets
   * only its own elevated identity through: the QEMU driver, see {@link secretGetValueForUse}).
   */
  async secretGetValue(secret: Secret, flags: number): Promise<Uint8Array> {
    virCheckFlags(flags, 0, 'secretGetValue', 'secret');
    const obj = this.#fromSecret(secret);
    if (obj.def.private) throw virReportError('INVALID_SECRET', 'secret', 'secret is private');
    return this.#valueOf(obj);
  }

  /** virSecretObjGetValue. */
  #valueOf(obj: SecretObj): Uint8Array {
    if (!obj.value) {
      throw virReportError('NO_SECRET', 'secret', `secret '${obj.def.uuid}' does not have a value`);
    }
    return Buffer.from(obj.value);
  }

  secretUndefine(secret: Secret): Promise<void> {
    return this.#serial(async () => {
      const obj = this.#fromSecret(secret);
      await this.#deleteConfig(obj.def);
      await this.#values.delete(obj.def.uuid);
      if (obj.value) Buffer.from(obj.value.buffer, obj.value.byteOffset, obj.value.byteLength).fill(0);
      this.#objs.delete(obj.def.uuid);
      this.#emit({
        eventID: VIR_SECRET_EVENT_ID.LIFECYCLE,
        secret: secretOf(obj.def),
        event: VIR_SECRET_EVENT.UNDEFINED,
        detail: 0,
      });
    });
  }

  async connectSecretEventRegisterAny(
    secret: Secret | null,
    eventID: number,
    callback: SecretEventCallback,
  ): Promise<number> {
    return this.#callbacks.register(secret, eventID, callback);
  }

  async connectSecretEventDeregisterAny(callbackID: number): Promise<void> {
    this.#callbacks.deregister(callbackID);
  }

  // ---- for the QEMU driver ---------------------------------------------------------------------

  /**
   * virSecretGetSecretString under the daemon's elevated identity: the value of the secret a disk
   * names, by UUID or usage, private or not; a secret of another usage type is refused.
   */
  async secretGetValueForUse(
    lookup: { uuid?: string; usage?: string },
    usageType: number,
  ): Promise<Uint8Array> {
    const secret =
      lookup.uuid !== undefined
        ? await this.secretLookupByUUID(lookup.uuid)
        : await this.secretLookupByUsage(usageType, lookup.usage ?? '');
    if (secret.usageType !== VIR_SECRET_USAGE_TYPE.NONE && secret.usageType !== usageType) {
      throw virReportError(
        'INVALID_ARG',
        'secret',
        `secret with uuid ${secret.uuid} is of type '${secretUsageTypeToString(secret.usageType)}' not expected '${secretUsageTypeToString(usageType)}' type`,
      );
    }
    return this.#valueOf(this.#obj(secret.uuid));
  }
}
