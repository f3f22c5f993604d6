/**
 * The server side of libvirt's SASL procedures (remote_daemon_dispatch.c
 * remoteDispatchAuthSaslInit / Start / Step, remoteSASLFinish) as an {@link AuthMethod} for the
 * transport-independent Server: AUTH_LIST answers SASL, SASL_INIT lists the mechanisms allowed on
 * this connection, SASL_START / SASL_STEP run the mechanism; on success the client is
 * authenticated and, when the mechanism negotiated one, the security layer is switched on after
 * the reply (see sasl-layer-stream.ts). Any failure answers VIR_ERR_AUTH_FAILED "authentication
 * failed" and forgets the attempt (the client may start again with SASL_INIT), as libvirtd does.
 */
import { AuthType } from '../rpc/constants.js';
import { RemoteError } from '../rpc/error.js';
import type { AuthMethod, CallContext, Procedure } from '../server/server.js';
import type { XdrReader, XdrWriter } from '../xdr/xdr.js';
import { DIGEST_MD5, DigestMd5Server } from './digest-md5.js';
import type { SaslLayerStream } from './sasl-layer-stream.js';
import type { SaslServerMechanism, SaslStepResult } from './sasl-mechanism.js';
import { SCRAM_SHA_256, ScramSha256Server } from './scram.js';
import { DEFAULT_SASL_REALM, type SaslUserDb } from './user-db.js';

export const REMOTE_PROC_AUTH_LIST = 66;
export const REMOTE_PROC_AUTH_SASL_INIT = 67;
export const REMOTE_PROC_AUTH_SASL_START = 68;
export const REMOTE_PROC_AUTH_SASL_STEP = 69;
export const REMOTE_AUTH_SASL_DATA_MAX = 65536;

export interface SaslAuthOptions {
  /** The user database, read at each login (so `qvirtd --add-user` takes effect at once). */
  users: () => SaslUserDb;
  /** TLS or a UNIX socket: no security layer needed (libvirt's virNetServerClientIsSecure). */
  secure: boolean;
  /** tcp_min_ssf (default 56): the least SSF a plain-TCP login must negotiate. */
  tcpMinSsf?: number;
  /** sasl_allowed_username_list: glob patterns; unset allows every user in the database. */
  allowedUsernames?: string[];
  /** DIGEST-MD5 realm (default "qvirt"). */
  realm?: string;
  /** Mechanisms to offer, in order of preference (default: SCRAM-SHA-256 when secure, else DIGEST-MD5). */
  mechanisms?: string[];
  /** The stream to switch to the negotiated security layer (needed for DIGEST-MD5 auth-conf). */
  layerStream?: SaslLayerStream;
  /** Told of every outcome (for the daemon's log). */
  onResult?: (ok: boolean, identity: string | undefined, reason?: string) => void;
}

/** GLib's g_pattern_match_simple: `*` any run, `?` one character. */
export function globMatch(pattern: string, text: string): boolean {
  const re = new RegExp(
    `^${pattern
      .split('')
      .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
      .join('')}$`,
    's',
  );
  return re.test(text);
}

const authFailed = () => RemoteError.of('AUTH_FAILED', 'rpc', 'authentication failed');

interface SaslState {
  mech?: SaslServerMechanism;
  offered: string[];
}

/**
 * `char data<REMOTE_AUTH_SASL_DATA_MAX>`: rpcgen encodes a char array with xdr_array/xdr_char,
 * one 4-byte XDR int per byte (not as opaque).
 */
export function writeSaslData(w: XdrWriter, data: Uint8Array, max = REMOTE_AUTH_SASL_DATA_MAX): void {
  if (data.length > max) throw new RangeError(`SASL data of ${data.length} bytes exceeds ${max}`);
  w.uint(data.length);
  for (const b of data) w.int(b > 127 ? b - 256 : b);
}

export function readSaslData(r: XdrReader, max = REMOTE_AUTH_SASL_DATA_MAX): Buffer {
  const n = r.uint();
  if (n > max) throw RemoteError.of('RPC', 'rpc', `SASL data of ${n} bytes exceeds ${max}`);
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = r.int() & 0xff;
  return out;
}

function writeStepReply(w: XdrWriter, r: SaslStepResult): void {
  w.int(r.complete ? 1 : 0);
  w.int(r.data === null ? 1 : 0);
  writeSaslData(w, r.data ?? Buffer.alloc(0));
}

export function saslAuthMethod(options: SaslAuthOptions): AuthMethod {
  const minSsf = options.secure ? 0 : (options.tcpMinSsf ?? 56);
  const realm = options.realm ?? DEFAULT_SASL_REALM;
  const stateKey = 'sasl';
  const newMechanism = (name: string): SaslServerMechanism | undefined => {
    const db = options.users();
    if (name === SCRAM_SHA_256) return new ScramSha256Server((u) => db.scram(u));
    if (name === DIGEST_MD5) {
      return new DigestMd5Server((u) => db.digestMd5(u), { realm, requireConfidentiality: minSsf > 0 });
    }
    return undefined;
  };
  const offered = (options.mechanisms ?? (options.secure ? [SCRAM_SHA_256] : [DIGEST_MD5])).filter((name) => {
    const m = newMechanism(name);
    return m !== undefined && m.maxSsf >= minSsf;
  });

  const fail = (ctx: CallContext, reason: string, identity?: string): never => {
    ctx.client.state.delete(stateKey);
    options.onResult?.(false, identity, reason);
    throw authFailed();
  };

  const finish = (ctx: CallContext, mech: SaslServerMechanism, result: SaslStepResult): SaslStepResult => {
    if (!result.complete) return result;
    const layer = mech.securityLayer();
    const ssf = layer?.ssf ?? 0;
    if (ssf < minSsf) fail(ctx, `negotiated SSF ${ssf} was not strong enough`);
    const identity = mech.identity();
    if (!identity) fail(ctx, 'no identity');
    if (options.allowedUsernames && !options.allowedUsernames.some((p) => globMatch(p, identity!))) {
      fail(ctx, 'user name not on sasl_allowed_username_list', identity);
    }
    ctx.client.state.delete(stateKey);
    ctx.client.identity.saslUserName = identity;
    ctx.client.setAuthenticated();
    if (layer) {
      if (!options.layerStream) fail(ctx, 'no stream to carry the SASL security layer', identity);
      options.layerStream!.activate(layer);
      ctx.client.identity.secure = true;
      ctx.client.identity.encrypted = true;
    }
    options.onResult?.(true, identity);
    return result;
  };

  const run = (ctx: CallContext, f: (mech: SaslServerMechanism) => SaslStepResult): SaslStepResult => {
    const state = ctx.client.state.get(stateKey) as SaslState | undefined;
    if (!state?.mech) return fail(ctx, 'SASL step without start');
    try {
      return finish(ctx, state.mech, f(state.mech));
    } catch (err) {
      if (err instanceof RemoteError) throw err;
      return fail(ctx, (err as Error).message, undefined);
    }
  };

  const procedures = new Map<number, Procedure>([
    [
      REMOTE_PROC_AUTH_LIST,
      {
        name: 'virConnectAuthList',
        needAuth: false,
        // libvirt answers the listener's configured type, before and after authentication.
        handle: () => (w: XdrWriter) => {
          w.uint(1);
          w.enum(AuthType.SASL);
        },
      },
    ],
    [
      REMOTE_PROC_AUTH_SASL_INIT,
      {
        name: 'virConnectAuthSaslInit',
        needAuth: false,
        handle: (args: XdrReader, ctx: CallContext) => {
          args.done();
          if (ctx.client.isAuthenticated || ctx.client.state.has(stateKey) || offered.length === 0) {
            fail(ctx, 'invalid SASL init request');
          }
          ctx.client.state.set(stateKey, { offered } satisfies SaslState);
          return (w: XdrWriter) => {
            w.string(offered.join(','));
          };
        },
      },
    ],
    [
      REMOTE_PROC_AUTH_SASL_START,
      {
        name: 'virConnectAuthSaslStart',
        needAuth: false,
        handle: (args: XdrReader, ctx: CallContext) => {
          const mechName = args.string();
          const nil = args.int();
          const data = readSaslData(args);
          args.done();
          const state = ctx.client.state.get(stateKey) as SaslState | undefined;
          if (!state || state.mech) fail(ctx, 'SASL start without init');
          const name = mechName.toUpperCase();
          if (!state!.offered.includes(name)) fail(ctx, `mechanism ${mechName} not offered`);
          state!.mech = newMechanism(name)!;
          const result = run(ctx, (m) => m.start(nil ? null : data));
          return (w: XdrWriter) => writeStepReply(w, result);
        },
      },
    ],
    [
      REMOTE_PROC_AUTH_SASL_STEP,
      {
        name: 'virConnectAuthSaslStep',
        needAuth: false,
        handle: (args: XdrReader, ctx: CallContext) => {
          const nil = args.int();
          const data = readSaslData(args);
          args.done();
          const result = run(ctx, (m) => m.step(nil ? null : data));
          return (w: XdrWriter) => writeStepReply(w, result);
        },
      },
    ],
  ]);
  return { type: AuthType.SASL, procedures };
}
