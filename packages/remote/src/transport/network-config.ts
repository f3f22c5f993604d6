/**
 * qvirtd's network listeners from qvirtd.conf, with libvirtd.conf's keys and defaults
 * (remote_daemon_config.c): listen_tls = 1 and listen_tcp = 0 (both only with `--listen`),
 * tls_port "16514", tcp_port "16509", listen_addr, auth_tcp = "sasl", auth_tls = "none",
 * key_file / cert_file / ca_file / crl_file, tls_no_verify_certificate,
 * tls_no_sanity_certificate, tls_allowed_dn_list, tls_priority, tcp_min_ssf = 56,
 * sasl_allowed_username_list. qvirt adds `sasl_user_db` (its SASL user database, default
 * /etc/qvirt/sasl-users.json) and `sasl_realm` (the DIGEST-MD5 realm, default "qvirt").
 */
import { statSync } from 'node:fs';
import type { VirConf } from '@qvirt/core/conf';
import { DEFAULT_SASL_REALM, DEFAULT_SASL_USER_DB, SaslUserDb } from '../auth/user-db.js';
import type { Server } from '../server/server.js';
import {
  DEFAULT_TCP_PORT,
  DEFAULT_TLS_PORT,
  listenTcp,
  type NetworkAuth,
  type NetworkListener,
  type SaslListenerOptions,
} from './tcp.js';
import { listenTls, type TlsServerConfig } from './tls.js';

export interface NetworkConfig {
  listenTls: boolean;
  listenTcp: boolean;
  tlsPort: number;
  tcpPort: number;
  listenAddr?: string;
  authTcp: NetworkAuth;
  authTls: NetworkAuth;
  tls: TlsServerConfig;
  tcpMinSsf: number;
  saslAllowedUsernameList?: string[];
  saslUserDb: string;
  saslRealm: string;
}

export const NETWORK_CONF_KEYS = [
  'listen_tls',
  'listen_tcp',
  'tls_port',
  'tcp_port',
  'listen_addr',
  'auth_tcp',
  'auth_tls',
  'key_file',
  'cert_file',
  'ca_file',
  'crl_file',
  'tls_no_verify_certificate',
  'tls_no_sanity_certificate',
  'tls_allowed_dn_list',
  'tls_priority',
  'tcp_min_ssf',
  'sasl_allowed_username_list',
  'sasl_user_db',
  'sasl_realm',
] as const;

/**
 * The libvirtd.conf keys the listeners use, as daemon/config.ts's DaemonConfig holds them (so the
 * daemon passes its parsed config straight through), plus qvirt's two SASL keys.
 */
export interface NetworkConfValues {
  listen_tls?: boolean;
  listen_tcp?: boolean;
  tls_port?: string | number;
  tcp_port?: string | number;
  listen_addr?: string;
  auth_tcp?: string;
  auth_tls?: string;
  key_file?: string;
  cert_file?: string;
  ca_file?: string;
  crl_file?: string;
  tls_no_verify_certificate?: boolean;
  tls_no_sanity_certificate?: boolean;
  tls_allowed_dn_list?: string[];
  tls_priority?: string;
  tcp_min_ssf?: number;
  sasl_allowed_username_list?: string[];
  sasl_user_db?: string;
  sasl_realm?: string;
}

function port(key: string, value: string | number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const text = String(value);
  if (!/^\d+$/.test(text) || Number(text) > 65535) throw new Error(`invalid ${key} '${text}'`);
  return Number(text);
}

function auth(key: string, value: string | undefined, fallback: NetworkAuth): NetworkAuth {
  if (value === undefined) return fallback;
  if (value === 'none' || value === 'sasl') return value;
  if (value === 'polkit') throw new Error(`${key} = "polkit" is only for UNIX sockets`);
  throw new Error(`unknown authentication type '${value}' for ${key}`);
}

export function networkConfig(v: NetworkConfValues = {}): NetworkConfig {
  const tls: TlsServerConfig = {};
  const set = <K extends keyof TlsServerConfig>(k: K, value: TlsServerConfig[K] | undefined) => {
    if (value !== undefined && value !== '') tls[k] = value;
  };
  set('keyFile', v.key_file);
  set('certFile', v.cert_file);
  set('caFile', v.ca_file);
  set('crlFile', v.crl_file);
  set('noVerifyCertificate', v.tls_no_verify_certificate);
  set('noSanityCertificate', v.tls_no_sanity_certificate);
  set('allowedDnList', v.tls_allowed_dn_list);
  set('priority', v.tls_priority);
  const cfg: NetworkConfig = {
    listenTls: v.listen_tls ?? true,
    listenTcp: v.listen_tcp ?? false,
    tlsPort: port('tls_port', v.tls_port, DEFAULT_TLS_PORT),
    tcpPort: port('tcp_port', v.tcp_port, DEFAULT_TCP_PORT),
    authTcp: auth('auth_tcp', v.auth_tcp, 'sasl'),
    authTls: auth('auth_tls', v.auth_tls, 'none'),
    tls,
    tcpMinSsf: v.tcp_min_ssf ?? 56,
    saslUserDb: v.sasl_user_db || DEFAULT_SASL_USER_DB,
    saslRealm: v.sasl_realm || DEFAULT_SASL_REALM,
  };
  if (v.listen_addr) cfg.listenAddr = v.listen_addr;
  if (v.sasl_allowed_username_list) cfg.saslAllowedUsernameList = v.sasl_allowed_username_list;
  return cfg;
}

/** Reads the listener keys straight from a parsed qvirtd.conf. */
export function networkConfigFromConf(conf: VirConf): NetworkConfig {
  const values: NetworkConfValues = {};
  const rec = values as Record<string, unknown>;
  for (const k of [
    'listen_tls',
    'listen_tcp',
    'tls_no_verify_certificate',
    'tls_no_sanity_certificate',
  ] as const) {
    rec[k] = conf.getBool(k);
  }
  for (const k of [
    'listen_addr',
    'auth_tcp',
    'auth_tls',
    'key_file',
    'cert_file',
    'ca_file',
    'crl_file',
    'tls_priority',
    'sasl_user_db',
    'sasl_realm',
  ] as const) {
    rec[k] = conf.getString(k);
  }
  for (const k of ['tls_port', 'tcp_port'] as const) {
    const val = conf.getValue(k);
    rec[k] = val === undefined ? undefined : val.type === 'list' ? '' : String(val.value);
  }
  rec.tls_allowed_dn_list = conf.getStringList('tls_allowed_dn_list');
  rec.sasl_allowed_username_list = conf.getStringList('sasl_allowed_username_list');
  rec.tcp_min_ssf = conf.getUInt('tcp_min_ssf');
  for (const k of Object.keys(rec)) if (rec[k] === undefined) delete rec[k];
  return networkConfig(values);
}

export interface NetworkLog {
  info(message: string): void;
  warn(message: string): void;
}

/** SASL options for a listener: the user database re-read when the file changes. */
export function saslListenerOptions(cfg: NetworkConfig, log?: NetworkLog): SaslListenerOptions {
  let cached: { mtime: number; db: SaslUserDb } | undefined;
  const users = () => {
    let mtime = -1;
    try {
      mtime = statSync(cfg.saslUserDb).mtimeMs;
    } catch {
      /* a missing database is an empty one */
    }
    if (!cached || cached.mtime !== mtime) cached = { mtime, db: SaslUserDb.load(cfg.saslUserDb) };
    return cached.db;
  };
  return {
    users,
    tcpMinSsf: cfg.tcpMinSsf,
    realm: cfg.saslRealm,
    ...(cfg.saslAllowedUsernameList ? { allowedUsernames: cfg.saslAllowedUsernameList } : {}),
    onResult: (ok, identity, reason) =>
      ok
        ? log?.info(`SASL login of '${identity}'`)
        : log?.warn(`SASL login refused${identity ? ` for '${identity}'` : ''}: ${reason}`),
  };
}

/** Starts the TLS and TCP listeners the configuration enables (qvirtd --listen). */
export async function startNetworkListeners(
  server: Server,
  cfg: NetworkConfig,
  log?: NetworkLog,
): Promise<NetworkListener[]> {
  const listeners: NetworkListener[] = [];
  const host = cfg.listenAddr;
  try {
    if (cfg.listenTls) {
      listeners.push(
        await listenTls(server, {
          ...(host ? { host } : {}),
          port: cfg.tlsPort,
          auth: cfg.authTls,
          ...(cfg.authTls === 'sasl' ? { sasl: saslListenerOptions(cfg, log) } : {}),
          tls: cfg.tls,
          onRefused: (peer, reason) => log?.warn(`TLS client ${peer} refused: ${reason}`),
        }),
      );
    }
    if (cfg.listenTcp) {
      listeners.push(
        await listenTcp(server, {
          ...(host ? { host } : {}),
          port: cfg.tcpPort,
          auth: cfg.authTcp,
          ...(cfg.authTcp === 'sasl' ? { sasl: saslListenerOptions(cfg, log) } : {}),
        }),
      );
    }
  } catch (err) {
    await Promise.all(listeners.map((l) => l.close()));
    throw err;
  }
  for (const l of listeners) log?.info(`listening for ${l.kind} on port ${l.address().port}`);
  return listeners;
}
