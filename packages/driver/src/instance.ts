/**
 * Which instance a connection URI names, and where that instance keeps things (design.md,
 * "Instances"): `qemu:///system`, `qemu:///session`, and `qemu:///embed?root=DIR` with
 * everything under DIR and its configuration in `DIR/etc/qemu.conf`.
 */
import { homedir } from 'node:os';
import {
  type ConnectionUri,
  defaultUri,
  parseConnectionUri,
  type UriInstance,
  virReportError,
} from '@qvirt/core';
import { type DirLayout, embedLayout, sessionLayout, systemLayout } from '@qvirt/qemu-argv';

export interface InstanceSpec {
  instance: UriInstance;
  /** The URI as given (or resolved from the environment). */
  uri: string;
  layout: DirLayout;
  /** `qemu.conf` of the instance. */
  confPath: string;
  /** libvirt's notion: the system instance, or an embed one run as root. */
  privileged: boolean;
  /** Autostart directory (`configDir/autostart`). */
  autostartDir: string;
  /** The root of an embedded instance (names its cgroups apart from other instances'). */
  embedRoot?: string;
}

export interface InstanceEnv {
  env?: Readonly<Record<string, string | undefined>>;
  uid?: number;
  home?: string;
}

export function resolveInstance(uri: string | undefined, options: InstanceEnv = {}): InstanceSpec {
  const env = options.env ?? process.env;
  const uid = options.uid ?? process.geteuid?.() ?? 0;
  const text = uri ?? defaultUri({ uid, env });
  const parsed: ConnectionUri = parseConnectionUri(text);
  if (parsed.host !== undefined) {
    throw virReportError('NO_SUPPORT', 'remote', `remote URI ${text} needs qvirtd`);
  }
  let layout: DirLayout;
  let confPath: string;
  let privileged: boolean;
  switch (parsed.instance) {
    case 'embed': {
      const root = parsed.root;
      if (!root?.startsWith('/')) {
        throw virReportError('INVALID_ARG', 'uri', 'root path must be absolute');
      }
      layout = embedLayout(root);
      confPath = `${root}/etc/qemu.conf`;
      privileged = uid === 0;
      break;
    }
    case 'session': {
      const home = options.home ?? env.HOME ?? homedir();
      layout = sessionLayout(env, home);
      confPath = `${env.XDG_CONFIG_HOME || `${home}/.config`}/qvirt/qemu.conf`;
      privileged = false;
      break;
    }
    default:
      layout = systemLayout();
      confPath = '/etc/qvirt/qemu.conf';
      privileged = true;
  }
  return {
    instance: parsed.instance,
    uri: text,
    ...(parsed.instance === 'embed' && parsed.root ? { embedRoot: parsed.root } : {}),
    layout,
    confPath,
    privileged,
    autostartDir: `${layout.configDir}/autostart`,
  };
}
