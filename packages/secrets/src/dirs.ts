/**
 * Where an instance keeps its secrets (secretStateInitialize): a persistent secret's definition
 * and sealed value under the config directory, the driver's run state under the run directory.
 * qvirt's instances sit beside libvirt's as the QEMU driver's do: `/etc/qvirt/secrets` for
 * `qemu:///system`, `$XDG_CONFIG_HOME/qvirt/secrets` for `qemu:///session`, `ROOT/etc/secrets`
 * for `qemu:///embed?root=ROOT` (libvirt's embed layout).
 */
import { homedir } from 'node:os';
import { defaultUri, parseConnectionUri, virReportError } from '@qvirt/core';

export interface SecretDirs {
  /** Definitions (`<uuid>.xml`), sealed values and the instance's key; mode 0700. */
  configDir: string;
  /** Run state; mode 0700. */
  stateDir: string;
}

export interface SecretDirsEnv {
  env?: Readonly<Record<string, string | undefined>>;
  uid?: number;
  home?: string;
}

export function secretDirs(uri: string | undefined, options: SecretDirsEnv = {}): SecretDirs {
  const env = options.env ?? process.env;
  const uid = options.uid ?? process.geteuid?.() ?? 0;
  const parsed = parseConnectionUri(uri ?? defaultUri({ uid, env }));
  switch (parsed.instance) {
    case 'embed': {
      const root = parsed.root;
      if (!root?.startsWith('/')) throw virReportError('INVALID_ARG', 'uri', 'root path must be absolute');
      return { configDir: `${root}/etc/secrets`, stateDir: `${root}/run/secrets` };
    }
    case 'session': {
      const home = options.home ?? env.HOME ?? homedir();
      const config = env.XDG_CONFIG_HOME || `${home}/.config`;
      const runtime = env.XDG_RUNTIME_DIR || env.XDG_CACHE_HOME || `${home}/.cache`;
      return { configDir: `${config}/qvirt/secrets`, stateDir: `${runtime}/qvirt/secrets/run` };
    }
    default:
      return { configDir: '/etc/qvirt/secrets', stateDir: '/run/qvirt/secrets' };
  }
}
