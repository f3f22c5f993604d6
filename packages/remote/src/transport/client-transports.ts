/**
 * The client side of the network transports for qvirt's own RemoteClient (qvirsh): `tcp`, `tls`
 * and `ssh` connectors for {@link registerTransport}, and the SASL login libvirt's client does
 * (remoteAuthSASL): SCRAM-SHA-256 on secure channels, DIGEST-MD5 with its security layer on plain
 * TCP, credentials from libvirt's auth.conf (`?authfile=`, `$LIBVIRT_AUTH_FILE`,
 * `$XDG_CONFIG_HOME/libvirt/auth.conf`, `/etc/libvirt/auth.conf`).
 *
 * Use {@link openRemote} (or call {@link registerNetworkTransports} once and pass
 * {@link saslAuthenticator} yourself).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { virReportError } from '@qvirt/core/errors';
import type { ConnectionUri } from '@qvirt/core/uri';
import {
  REMOTE_PROC_AUTH_SASL_INIT,
  REMOTE_PROC_AUTH_SASL_START,
  REMOTE_PROC_AUTH_SASL_STEP,
  readSaslData,
  writeSaslData,
} from '../auth/sasl-auth.js';
import type { SaslLayerStream } from '../auth/sasl-layer-stream.js';
import type { SaslClientMechanism } from '../auth/sasl-mechanism.js';
import { type OpenOptions, RemoteClient, registerTransport } from '../client/client.js';
import { AuthType, REMOTE_STRING_MAX } from '../rpc/constants.js';
import type { SshProxyMode } from './ssh.js';

/** libvirt's auth.conf lookup (virAuthConfigLookup) for service "libvirt" and a host. */
export function authConfLookup(text: string, host: string, credname: string): string | undefined {
  const groups = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const g = /^\[(.+)\]$/.exec(line);
    if (g) {
      current = new Map();
      groups.set(g[1]!.trim(), current);
      continue;
    }
    const eq = line.indexOf('=');
    if (current && eq > 0) current.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  const auth = groups.get(`auth-libvirt-${host}`) ?? groups.get('auth-libvirt-default');
  const creds = auth?.get('credentials');
  return creds ? groups.get(`credentials-${creds}`)?.get(credname) : undefined;
}

export function authConfPath(
  uri: ConnectionUri,
  env: Readonly<Record<string, string | undefined>>,
): string | undefined {
  const candidates = [
    uri.params.authfile,
    env.LIBVIRT_AUTH_FILE,
    path.join(env.XDG_CONFIG_HOME || path.join(env.HOME || homedir(), '.config'), 'libvirt', 'auth.conf'),
    '/etc/libvirt/auth.conf',
  ];
  return candidates.find((p): p is string => !!p && existsSync(p));
}

interface LoginContext {
  host: string;
  secure: boolean;
  layer?: SaslLayerStream;
  username?: string;
  password?: string;
}

const context = new AsyncLocalStorage<{ login?: LoginContext }>();

/** Runs SASL_INIT / START / STEP as libvirt's client does, and switches on the security layer. */
export function saslAuthenticator(get: () => LoginContext | undefined) {
  return async (client: RemoteClient, types: number[]): Promise<void> => {
    const login = get();
    if (!types.includes(AuthType.SASL) || !login) {
      throw virReportError('AUTH_FAILED', 'remote', `unsupported authentication type ${types[0]}`);
    }
    if (login.username === undefined || login.password === undefined) {
      throw virReportError('AUTH_FAILED', 'remote', 'no credentials for this host in auth.conf');
    }
    const mechlist = (await client.call(REMOTE_PROC_AUTH_SASL_INIT)).string(REMOTE_STRING_MAX).split(/[ ,]+/);
    let mech: SaslClientMechanism;
    // the mechanisms (and node:crypto) are read when a connection authenticates, not at import
    const { SCRAM_SHA_256, ScramSha256Client } = await import('../auth/scram.js');
    const { DIGEST_MD5, DigestMd5Client } = await import('../auth/digest-md5.js');
    if (login.secure && mechlist.includes(SCRAM_SHA_256))
      mech = new ScramSha256Client(login.username, login.password);
    else if (mechlist.includes(DIGEST_MD5)) {
      mech = new DigestMd5Client({
        user: login.username,
        password: login.password,
        digestUri: `libvirt/${login.host}`,
        confidentiality: !login.secure,
      });
    } else
      throw virReportError('AUTH_FAILED', 'remote', `no usable SASL mechanism in '${mechlist.join(',')}'`);
    const readStep = (r: import('../xdr/xdr.js').XdrReader) => {
      const complete = r.int() === 1;
      const nil = r.int() === 1;
      const data = readSaslData(r);
      return { complete, data: nil ? null : data };
    };
    const first = mech.start();
    let server = readStep(
      await client.call(REMOTE_PROC_AUTH_SASL_START, (w) => {
        w.string(mech.name);
        w.int(first === null ? 1 : 0);
        writeSaslData(w, first ?? Buffer.alloc(0));
      }),
    );
    for (;;) {
      const mine = mech.step(server.data);
      if (server.complete && mine.complete) break;
      server = readStep(
        await client.call(REMOTE_PROC_AUTH_SASL_STEP, (w) => {
          w.int(mine.data === null ? 1 : 0);
          writeSaslData(w, mine.data ?? Buffer.alloc(0));
        }),
      );
      if (server.complete && mine.complete) break;
    }
    const layer = mech.securityLayer();
    if (!login.secure) {
      if (!layer || layer.ssf < 56)
        throw virReportError(
          'AUTH_FAILED',
          'remote',
          `negotiation SSF ${layer?.ssf ?? 0} was not strong enough`,
        );
      login.layer!.activate(layer, 0);
    }
  };
}

const flag = (v: unknown) => v === true || v === '1' || v === 1;

function remember(
  login: LoginContext,
  uri: ConnectionUri,
  env: Readonly<Record<string, string | undefined>>,
): void {
  const store = context.getStore();
  if (!store) return;
  const file = authConfPath(uri, env);
  if (file) {
    const text = readFileSync(file, 'utf8');
    const pick = (k: string) => authConfLookup(text, login.host, k);
    const user = pick('authname') ?? pick('username');
    const password = pick('password');
    if (user !== undefined) login.username = user;
    if (password !== undefined) login.password = password;
  }
  store.login = login;
}

/**
 * Registers the tcp, tls and ssh connectors with RemoteClient (idempotent). Each connector loads
 * its transport on use: a command on the local socket never reads node:tls or the SSH client.
 */
export function registerNetworkTransports(): void {
  registerTransport('tcp', async (uri, opts) => {
    const host = uri.host ?? 'localhost';
    const { connectTcp, DEFAULT_TCP_PORT } = await import('./tcp.js');
    const { SaslLayerStream } = await import('../auth/sasl-layer-stream.js');
    const socket = await connectTcp(host, uri.port ?? DEFAULT_TCP_PORT);
    const layer = new SaslLayerStream(socket);
    remember({ host, secure: false, layer }, uri, opts.env ?? process.env);
    return layer;
  });
  registerTransport('tls', async (uri, opts) => {
    const host = uri.host ?? 'localhost';
    const params = uri.params as Record<string, unknown>;
    const { connectTls } = await import('./tls.js');
    const socket = await connectTls({
      host,
      ...(uri.port ? { port: uri.port } : {}),
      ...(uri.params.pkipath ? { pkipath: uri.params.pkipath } : {}),
      noVerify: flag(params.no_verify),
      ...(uri.params.tls_priority ? { priority: uri.params.tls_priority } : {}),
    });
    remember({ host, secure: true }, uri, opts.env ?? process.env);
    return socket;
  });
  registerTransport('ssh', async (uri, opts): Promise<Duplex> => {
    const params = uri.params as Record<string, unknown>;
    const name = uri.params.name ?? `qemu:///${uri.instance}`;
    const { connectSsh } = await import('./ssh.js');
    return connectSsh({
      host: uri.host ?? 'localhost',
      ...(uri.port ? { port: uri.port } : {}),
      ...(uri.user ? { user: uri.user } : {}),
      ...(uri.params.command ? { command: uri.params.command } : {}),
      ...(uri.params.keyfile ? { keyfile: uri.params.keyfile } : {}),
      noVerify: flag(params.no_verify),
      noTty: flag(params.no_tty),
      ...(uri.params.proxy ? { proxy: uri.params.proxy as SshProxyMode } : {}),
      ...(uri.params.netcat ? { netcat: uri.params.netcat } : {}),
      socket:
        uri.params.socket ??
        (uri.instance === 'session' ? '$XDG_RUNTIME_DIR/qvirt/libvirt-sock' : '/run/qvirt/libvirt-sock'),
      driverUri: name,
      readOnly: !!opts.readOnly,
    });
  });
}

/** RemoteClient.open with the network transports and libvirt's SASL login. */
export function openRemote(uriText: string, opts: OpenOptions = {}): Promise<RemoteClient> {
  registerNetworkTransports();
  const store: { login?: LoginContext } = {};
  return context.run(store, () =>
    RemoteClient.open(uriText, { authenticate: saslAuthenticator(() => store.login), ...opts }),
  );
}
