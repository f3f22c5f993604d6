/**
 * qvirt's SASL user database: what Cyrus SASL's sasldb (`/etc/libvirt/passwd.db`, filled by
 * `saslpasswd2 -a libvirt`) is for libvirtd, but without the password itself. Each user has a
 * SCRAM-SHA-256 credential (salt, iteration count, StoredKey, ServerKey) and a DIGEST-MD5 secret
 * (MD5 of user:realm:password, for plain TCP; see digest-md5.ts). A JSON file, mode 0600, written
 * atomically (a temporary file renamed over the old one).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { type DigestMd5Credential, deriveDigestMd5Credential } from './digest-md5.js';
import { deriveScramCredential, SCRAM_DEFAULT_ITERATIONS, type ScramCredential } from './scram.js';

/** Where qvirtd looks by default (`sasl_user_db` in qvirtd.conf changes it). */
export const DEFAULT_SASL_USER_DB = '/etc/qvirt/sasl-users.json';
/** The DIGEST-MD5 realm qvirtd offers unless configured (`sasl_realm`). */
export const DEFAULT_SASL_REALM = 'qvirt';

interface StoredUser {
  'scram-sha-256'?: { iterations: number; salt: string; storedKey: string; serverKey: string };
  'digest-md5'?: { realm: string; secret: string };
}

interface StoredDb {
  version: 1;
  users: Record<string, StoredUser>;
}

const USER_NAME = /^[^\s:,="\\]{1,255}$/;

export class SaslUserDb {
  #users = new Map<string, StoredUser>();

  /** Reads the database; a missing file is an empty database. */
  static load(path: string): SaslUserDb {
    const db = new SaslUserDb();
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return db;
      throw err;
    }
    const parsed = JSON.parse(text) as StoredDb;
    if (parsed?.version !== 1 || typeof parsed.users !== 'object') {
      throw new Error(`${path}: not a qvirt SASL user database`);
    }
    for (const [name, user] of Object.entries(parsed.users)) db.#users.set(name, user);
    return db;
  }

  save(path: string): void {
    const out: StoredDb = {
      version: 1,
      users: Object.fromEntries([...this.#users].sort(([a], [b]) => a.localeCompare(b))),
    };
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(out, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, path);
  }

  users(): string[] {
    return [...this.#users.keys()].sort();
  }

  has(name: string): boolean {
    return this.#users.has(name);
  }

  /** Adds the user or replaces its password. */
  setPassword(
    name: string,
    password: string,
    realm = DEFAULT_SASL_REALM,
    iterations = SCRAM_DEFAULT_ITERATIONS,
  ): void {
    if (!USER_NAME.test(name)) throw new Error(`invalid SASL user name '${name}'`);
    if (password.length === 0) throw new Error('empty password');
    const scram = deriveScramCredential(password, iterations);
    const digest = deriveDigestMd5Credential(name, realm, password);
    this.#users.set(name, {
      'scram-sha-256': {
        iterations: scram.iterations,
        salt: scram.salt.toString('base64'),
        storedKey: scram.storedKey.toString('base64'),
        serverKey: scram.serverKey.toString('base64'),
      },
      'digest-md5': { realm: digest.realm, secret: digest.secret.toString('hex') },
    });
  }

  remove(name: string): boolean {
    return this.#users.delete(name);
  }

  scram(name: string): ScramCredential | undefined {
    const s = this.#users.get(name)?.['scram-sha-256'];
    if (!s) return undefined;
    return {
      iterations: s.iterations,
      salt: Buffer.from(s.salt, 'base64'),
      storedKey: Buffer.from(s.storedKey, 'base64'),
      serverKey: Buffer.from(s.serverKey, 'base64'),
    };
  }

  digestMd5(name: string): DigestMd5Credential | undefined {
    const d = this.#users.get(name)?.['digest-md5'];
    return d ? { realm: d.realm, secret: Buffer.from(d.secret, 'hex') } : undefined;
  }
}
