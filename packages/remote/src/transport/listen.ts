/**
 * `qvirtd --listen`: the TLS and TCP listeners for a running daemon, from its qvirtd.conf
 * (listen_tls, listen_tcp, ports, listen_addr, auth_tcp, auth_tls, x509 paths,
 * tls_allowed_dn_list, …; see network-config.ts). The daemon's bin imports this module by path.
 */
import { existsSync } from 'node:fs';
import { readVirConfFile } from '@qvirt/core/conf';
import type { Daemon } from '../daemon/daemon.js';
import { type NetworkConfValues, networkConfig, startNetworkListeners } from './network-config.js';
import { sessionSaslUserDb } from './sasl-passwd.js';

/** `-f FILE` / `--config FILE` / `--config=FILE` from the daemon's own command line. */
function configFileFromArgv(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-f' || a === '--config') return argv[i + 1];
    if (a.startsWith('--config=')) return a.slice('--config='.length);
    if (a.startsWith('-f') && a.length > 2) return a.slice(2);
  }
  return undefined;
}

export async function listen(
  daemon: Daemon,
  opts: { configFile?: string; log?: (line: string) => void } = {},
): Promise<{ close(): Promise<void> }> {
  const values = { ...(daemon.config as unknown as NetworkConfValues) };
  // qvirt's own keys (sasl_user_db, sasl_realm) are read from the same file.
  const file = opts.configFile ?? configFileFromArgv(process.argv.slice(2));
  if (file && existsSync(file) && (values.sasl_user_db === undefined || values.sasl_realm === undefined)) {
    const conf = await readVirConfFile(file);
    values.sasl_user_db ??= conf.getString('sasl_user_db');
    values.sasl_realm ??= conf.getString('sasl_realm');
  }
  if (!values.sasl_user_db && !daemon.uri.includes('/system')) values.sasl_user_db = sessionSaslUserDb();
  const log = opts.log;
  const listeners = await startNetworkListeners(
    daemon.server,
    networkConfig(values),
    log ? { info: log, warn: (m) => log(`warning: ${m}`) } : undefined,
  );
  return {
    close: async () => {
      await Promise.all(listeners.map((l) => l.close()));
    },
  };
}
