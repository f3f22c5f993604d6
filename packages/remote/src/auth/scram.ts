/**
 * SCRAM-SHA-256 (RFC 5802, RFC 7677) for libvirt's SASL procedures, server and client side.
 *
 * This is the mechanism libvirt's own `sasl2/libvirt.conf` suggests for username/password logins
 * where the channel is already protected (TLS, UNIX sockets): SCRAM has no security layer (SSF 0),
 * so libvirt's client refuses it on plain TCP (see digest-md5.ts). The server keeps only salted
 * keys (StoredKey, ServerKey), never the password.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  SaslAuthError,
  type SaslClientMechanism,
  type SaslServerMechanism,
  type SaslStepResult,
} from './sasl-mechanism.js';

export const SCRAM_SHA_256 = 'SCRAM-SHA-256';
/** Cyrus SASL's default `scram_iteration_counter`. */
export const SCRAM_DEFAULT_ITERATIONS = 4096;

export interface ScramCredential {
  iterations: number;
  salt: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

const hmac = (key: Buffer, data: string | Buffer): Buffer => createHmac('sha256', key).update(data).digest();
const sha256 = (data: Buffer): Buffer => createHash('sha256').update(data).digest();

function saltedPassword(password: string, salt: Buffer, iterations: number): Buffer {
  return pbkdf2Sync(Buffer.from(password.normalize('NFKC'), 'utf8'), salt, iterations, 32, 'sha256');
}

/** Derives the credential a server stores for a password. */
export function deriveScramCredential(
  password: string,
  iterations = SCRAM_DEFAULT_ITERATIONS,
  salt: Buffer = randomBytes(16),
): ScramCredential {
  const salted = saltedPassword(password, salt, iterations);
  return {
    iterations,
    salt,
    storedKey: sha256(hmac(salted, 'Client Key')),
    serverKey: hmac(salted, 'Server Key'),
  };
}

/** Splits `k=v,k=v` SCRAM attributes; values may contain '=' but not ','. */
function parseAttributes(text: string): Map<string, string> {
  const attrs = new Map<string, string>();
  for (const part of text.split(',')) {
    if (part.length < 2 || part[1] !== '=') throw new SaslAuthError(`malformed SCRAM attribute '${part}'`);
    attrs.set(part[0]!, part.slice(2));
  }
  return attrs;
}

function decodeSaslName(name: string): string {
  if (/=(?!2C|3D)/.test(name)) throw new SaslAuthError('malformed SCRAM user name');
  return name.replace(/=2C/g, ',').replace(/=3D/g, '=');
}

function encodeSaslName(name: string): string {
  return name.replace(/=/g, '=3D').replace(/,/g, '=2C');
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

export type ScramCredentialLookup = (user: string) => ScramCredential | undefined;

/** A credential for unknown users, so a probe cannot tell them from a wrong password. */
const DECOY = deriveScramCredential(randomBytes(16).toString('hex'), SCRAM_DEFAULT_ITERATIONS);

export class ScramSha256Server implements SaslServerMechanism {
  readonly name = SCRAM_SHA_256;
  readonly maxSsf = 0;
  #state: 'start' | 'final' | 'done' = 'start';
  #lookup: ScramCredentialLookup;
  #user: string | undefined;
  #credential: ScramCredential | undefined;
  #known = false;
  #gs2Header = '';
  #clientFirstBare = '';
  #serverFirst = '';
  #nonce = '';

  constructor(lookup: ScramCredentialLookup) {
    this.#lookup = lookup;
  }

  start(data: Buffer | null): SaslStepResult {
    if (this.#state !== 'start') throw new SaslAuthError('SCRAM exchange already started');
    // SCRAM is client-first: an empty start asks the client to send its first message in a step.
    if (data === null || data.length === 0) return { complete: false, data: Buffer.alloc(0) };
    return this.#clientFirst(data.toString('utf8'));
  }

  step(data: Buffer | null): SaslStepResult {
    if (this.#state === 'start') return this.#clientFirst((data ?? Buffer.alloc(0)).toString('utf8'));
    if (this.#state !== 'final') throw new SaslAuthError('SCRAM exchange already complete');
    return this.#clientFinal((data ?? Buffer.alloc(0)).toString('utf8'));
  }

  identity(): string | undefined {
    return this.#state === 'done' ? this.#user : undefined;
  }

  securityLayer(): undefined {
    return undefined;
  }

  #clientFirst(message: string): SaslStepResult {
    // gs2-header: ("n" | "y" | "p=cb-name") "," [ "a=" authzid ] ","
    const m = /^([ny]|p=[^,]*),(a=[^,]*)?,(.*)$/s.exec(message);
    if (!m) throw new SaslAuthError('malformed SCRAM client-first message');
    if (m[1]!.startsWith('p=')) throw new SaslAuthError('SCRAM channel binding is not supported');
    this.#gs2Header = `${m[1]},${m[2] ?? ''},`;
    this.#clientFirstBare = m[3]!;
    const attrs = parseAttributes(this.#clientFirstBare);
    const user = attrs.get('n');
    const clientNonce = attrs.get('r');
    if (user === undefined || !clientNonce) throw new SaslAuthError('SCRAM client-first lacks n= or r=');
    if (attrs.has('m')) throw new SaslAuthError('unsupported mandatory SCRAM extension');
    this.#user = decodeSaslName(user);
    const authzid = m[2] ? decodeSaslName(m[2].slice(2)) : '';
    if (authzid && authzid !== this.#user)
      throw new SaslAuthError('SCRAM proxy authorization is not supported');
    this.#credential = this.#lookup(this.#user);
    this.#known = this.#credential !== undefined;
    const credential = this.#credential ?? DECOY;
    this.#nonce = clientNonce + randomBytes(18).toString('base64');
    this.#serverFirst = `r=${this.#nonce},s=${credential.salt.toString('base64')},i=${credential.iterations}`;
    this.#state = 'final';
    return { complete: false, data: Buffer.from(this.#serverFirst, 'utf8') };
  }

  #clientFinal(message: string): SaslStepResult {
    const proofAt = message.lastIndexOf(',p=');
    if (proofAt < 0) throw new SaslAuthError('SCRAM client-final lacks a proof');
    const withoutProof = message.slice(0, proofAt);
    const attrs = parseAttributes(message);
    if (attrs.get('c') !== Buffer.from(this.#gs2Header, 'utf8').toString('base64')) {
      throw new SaslAuthError('SCRAM channel binding mismatch');
    }
    if (attrs.get('r') !== this.#nonce) throw new SaslAuthError('SCRAM nonce mismatch');
    const proof = Buffer.from(attrs.get('p') ?? '', 'base64');
    const credential = this.#credential ?? DECOY;
    const authMessage = `${this.#clientFirstBare},${this.#serverFirst},${withoutProof}`;
    const clientSignature = hmac(credential.storedKey, authMessage);
    const ok =
      proof.length === clientSignature.length &&
      timingSafeEqual(sha256(xor(proof, clientSignature)), credential.storedKey) &&
      this.#known;
    if (!ok) throw new SaslAuthError('SCRAM authentication failed');
    this.#state = 'done';
    const verifier = hmac(credential.serverKey, authMessage).toString('base64');
    return { complete: true, data: Buffer.from(`v=${verifier}`, 'utf8') };
  }
}

/** The client side, as qvirsh uses it (libvirt's client does the same through Cyrus SASL). */
export class ScramSha256Client implements SaslClientMechanism {
  readonly name = SCRAM_SHA_256;
  #user: string;
  #password: string;
  #clientNonce = randomBytes(18).toString('base64');
  #clientFirstBare = '';
  #serverSignature: Buffer | undefined;

  constructor(user: string, password: string) {
    this.#user = user;
    this.#password = password;
  }

  start(): Buffer {
    this.#clientFirstBare = `n=${encodeSaslName(this.#user)},r=${this.#clientNonce}`;
    return Buffer.from(`n,,${this.#clientFirstBare}`, 'utf8');
  }

  step(challenge: Buffer | null): SaslStepResult {
    const text = (challenge ?? Buffer.alloc(0)).toString('utf8');
    if (this.#serverSignature === undefined) {
      const attrs = parseAttributes(text);
      const nonce = attrs.get('r') ?? '';
      const salt = Buffer.from(attrs.get('s') ?? '', 'base64');
      const iterations = Number(attrs.get('i'));
      if (
        !nonce.startsWith(this.#clientNonce) ||
        !salt.length ||
        !Number.isInteger(iterations) ||
        iterations < 1
      ) {
        throw new SaslAuthError('malformed SCRAM server-first message');
      }
      const salted = saltedPassword(this.#password, salt, iterations);
      const clientKey = hmac(salted, 'Client Key');
      const withoutProof = `c=${Buffer.from('n,,').toString('base64')},r=${nonce}`;
      const authMessage = `${this.#clientFirstBare},${text},${withoutProof}`;
      const proof = xor(clientKey, hmac(sha256(clientKey), authMessage));
      this.#serverSignature = hmac(hmac(salted, 'Server Key'), authMessage);
      return { complete: false, data: Buffer.from(`${withoutProof},p=${proof.toString('base64')}`, 'utf8') };
    }
    const attrs = parseAttributes(text);
    if (attrs.has('e')) throw new SaslAuthError(`SCRAM server error: ${attrs.get('e')}`);
    const verifier = Buffer.from(attrs.get('v') ?? '', 'base64');
    if (
      verifier.length !== this.#serverSignature.length ||
      !timingSafeEqual(verifier, this.#serverSignature)
    ) {
      throw new SaslAuthError('SCRAM server signature does not verify');
    }
    return { complete: true, data: null };
  }

  securityLayer(): undefined {
    return undefined;
  }
}
