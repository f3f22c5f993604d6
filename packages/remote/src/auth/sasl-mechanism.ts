/**
 * The shape every SASL mechanism qvirtd speaks has, on libvirt's REMOTE_PROC_AUTH_SASL_INIT /
 * _START / _STEP procedures. libvirt keeps the difference between "no data" (nil = 1) and "empty
 * data" (nil = 0, length 0), so every step takes and returns `Buffer | null`.
 */

/** One answer of a mechanism: the bytes for the client and whether the server side is complete. */
export interface SaslStepResult {
  complete: boolean;
  data: Buffer | null;
}

/**
 * A SASL security layer (RFC 4422 §3.7), established by mechanisms with confidentiality such as
 * DIGEST-MD5 with qop=auth-conf. After the reply that completes authentication, every byte in
 * both directions goes through it: `encode` turns outgoing bytes into whole frames, `decode`
 * takes incoming bytes in any chunks and returns the plaintext of every frame completed so far.
 */
export interface SaslSecurityLayer {
  /** Security strength factor in bits (56 = single DES, 112 = 3DES, 128 = RC4). */
  readonly ssf: number;
  encode(plain: Buffer): Buffer;
  decode(wire: Buffer): Buffer;
}

export interface SaslServerMechanism {
  readonly name: string;
  /** The strength the mechanism gives the connection: 0 for mechanisms without a security layer. */
  readonly maxSsf: number;
  start(data: Buffer | null): SaslStepResult;
  step(data: Buffer | null): SaslStepResult;
  /** The authenticated user name once complete. */
  identity(): string | undefined;
  /** The security layer negotiated, once complete, if any. */
  securityLayer(): SaslSecurityLayer | undefined;
}

export interface SaslClientMechanism {
  readonly name: string;
  /** The initial response (null when the mechanism has none, as DIGEST-MD5). */
  start(): Buffer | null;
  /** Answers a server challenge; `complete` when the client has checked the server's last word. */
  step(challenge: Buffer | null): SaslStepResult;
  securityLayer(): SaslSecurityLayer | undefined;
}

/** A refusal during SASL negotiation; the daemon answers libvirt's VIR_ERR_AUTH_FAILED for it. */
export class SaslAuthError extends Error {
  override readonly name = 'SaslAuthError';
}
