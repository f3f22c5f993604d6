/**
 * qvirtd.conf: libvirtd.conf's keys and defaults (src/remote/remote_daemon_config.c,
 * libvirtd.conf.in), parsed with @qvirt/core's VirConf so the same file a libvirtd reads parses
 * here unchanged. Keys qvirtd does not act on (workers, audit, logging, admin_*) are read and type
 * checked but have no effect.
 */
import { existsSync } from 'node:fs';
import { ConfError, readVirConfFile, type VirConf } from '@qvirt/core';

export type AuthName = 'none' | 'sasl' | 'polkit';

export interface DaemonConfig {
  listen_tls: boolean;
  listen_tcp: boolean;
  tls_port: string;
  tcp_port: string;
  listen_addr?: string;
  unix_sock_group?: string;
  unix_sock_ro_perms: string;
  unix_sock_rw_perms: string;
  unix_sock_admin_perms: string;
  unix_sock_dir?: string;
  auth_unix_ro: AuthName;
  auth_unix_rw: AuthName;
  auth_tcp: AuthName;
  auth_tls: AuthName;
  access_drivers?: string[];
  tls_no_sanity_certificate: boolean;
  tls_no_verify_certificate: boolean;
  key_file?: string;
  cert_file?: string;
  ca_file?: string;
  crl_file?: string;
  tls_allowed_dn_list?: string[];
  tls_priority?: string;
  tcp_min_ssf: number;
  sasl_allowed_username_list?: string[];
  min_workers: number;
  max_workers: number;
  max_clients: number;
  max_queued_clients: number;
  max_anonymous_clients: number;
  prio_workers: number;
  max_client_requests: number;
  audit_level: number;
  audit_logging: boolean;
  host_uuid?: string;
  host_uuid_source?: string;
  log_level?: number;
  log_filters?: string;
  log_outputs?: string;
  keepalive_interval: number;
  keepalive_count: number;
  admin_keepalive_interval: number;
  admin_keepalive_count: number;
}

/** libvirtd's defaults (daemonConfigNew), for a build with SASL and without polkit. */
export function defaultDaemonConfig(): DaemonConfig {
  return {
    listen_tls: true, // honoured only with --listen, as libvirtd
    listen_tcp: false,
    tls_port: '16514',
    tcp_port: '16509',
    unix_sock_ro_perms: '0777',
    unix_sock_rw_perms: '0700',
    unix_sock_admin_perms: '0700',
    auth_unix_ro: 'none',
    auth_unix_rw: 'none',
    auth_tcp: 'sasl',
    auth_tls: 'none',
    tls_no_sanity_certificate: false,
    tls_no_verify_certificate: false,
    tcp_min_ssf: 56,
    min_workers: 5,
    max_workers: 20,
    max_clients: 5000,
    max_queued_clients: 1000,
    max_anonymous_clients: 20,
    prio_workers: 5,
    max_client_requests: 5,
    audit_level: 1,
    audit_logging: false,
    keepalive_interval: 5,
    keepalive_count: 5,
    admin_keepalive_interval: 5,
    admin_keepalive_count: 5,
  };
}

const BOOL_KEYS = [
  'listen_tcp',
  'listen_tls',
  'tls_no_sanity_certificate',
  'tls_no_verify_certificate',
  'audit_logging',
] as const;
const STRING_KEYS = [
  'tls_port',
  'tcp_port',
  'listen_addr',
  'unix_sock_group',
  'unix_sock_admin_perms',
  'unix_sock_ro_perms',
  'unix_sock_rw_perms',
  'unix_sock_dir',
  'key_file',
  'cert_file',
  'ca_file',
  'crl_file',
  'tls_priority',
  'host_uuid',
  'host_uuid_source',
  'log_filters',
  'log_outputs',
] as const;
const LIST_KEYS = ['access_drivers', 'tls_allowed_dn_list', 'sasl_allowed_username_list'] as const;
const UINT_KEYS = [
  'tcp_min_ssf',
  'min_workers',
  'max_workers',
  'max_clients',
  'max_queued_clients',
  'max_anonymous_clients',
  'prio_workers',
  'max_client_requests',
  'audit_level',
  'log_level',
  'keepalive_count',
  'admin_keepalive_count',
] as const;
const INT_KEYS = ['keepalive_interval', 'admin_keepalive_interval'] as const;
const AUTH_KEYS = ['auth_unix_ro', 'auth_unix_rw', 'auth_tcp', 'auth_tls'] as const;

/** Applies a parsed libvirtd.conf/qvirtd.conf onto the defaults (libvirt's daemonConfigLoadOptions). */
export function daemonConfigFromVirConf(conf: VirConf, file = conf.file ?? 'qvirtd.conf'): DaemonConfig {
  const c = defaultDaemonConfig() as unknown as Record<string, unknown>;
  for (const k of BOOL_KEYS) {
    const v = conf.getBool(k);
    if (v !== undefined) c[k] = v;
  }
  for (const k of STRING_KEYS) {
    const v = conf.getString(k);
    if (v !== undefined) c[k] = v;
  }
  for (const k of LIST_KEYS) {
    const v = conf.getStringList(k);
    if (v !== undefined) c[k] = v;
  }
  for (const k of UINT_KEYS) {
    const v = conf.getUInt(k);
    if (v !== undefined) c[k] = v;
  }
  for (const k of INT_KEYS) {
    const v = conf.getInt(k);
    if (v !== undefined) c[k] = v;
  }
  for (const k of AUTH_KEYS) {
    const v = conf.getString(k);
    if (v === undefined) continue;
    if (v !== 'none' && v !== 'sasl' && v !== 'polkit') {
      throw new ConfError('CONFIG_UNSUPPORTED', `config unsupported: ${file}: ${k}: unsupported auth ${v}`);
    }
    c[k] = v;
  }
  return c as unknown as DaemonConfig;
}

/**
 * Reads a config file. A default path that does not exist gives the defaults (as libvirtd without
 * its config); a path the user named must exist.
 */
export async function loadDaemonConfig(path: string | undefined, explicit = false): Promise<DaemonConfig> {
  if (!path || (!explicit && !existsSync(path))) return defaultDaemonConfig();
  return daemonConfigFromVirConf(await readVirConfFile(path), path);
}

/** An octal permission string (`"0770"`) as a number. */
export function parsePerms(text: string, key: string): number {
  if (!/^[0-7]{1,4}$/.test(text)) {
    throw new ConfError('CONFIG_UNSUPPORTED', `config unsupported: Failed to parse mode '${text}' (${key})`);
  }
  return Number.parseInt(text, 8);
}
