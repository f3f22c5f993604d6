/** The URI virsh opens when none is given, and locality of a URI. */
import { parseConnectionUri } from './parse.js';
import type { ConnectionUri } from './types.js';

export interface DefaultUriOptions {
  /** Effective uid of the client; 0 means privileged. Defaults to `process.geteuid()`. */
  uid?: number;
  /** Defaults to `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** `uri_default` from the client's libvirt.conf, if the caller has read it. */
  uriDefault?: string;
  /** Honour virsh's deprecated `VIRSH_DEFAULT_CONNECT_URI` (default true; libvirt itself ignores it). */
  virsh?: boolean;
}

export type DefaultUriSource =
  | 'VIRSH_DEFAULT_CONNECT_URI'
  | 'LIBVIRT_DEFAULT_URI'
  | 'uri_default'
  | 'privileged'
  | 'unprivileged';

export interface DefaultUri {
  uri: string;
  /** Where the URI came from: an environment variable, libvirt.conf, or the uid probe. */
  source: DefaultUriSource;
}

/**
 * Resolves the default connection URI the way virsh does (tools/virsh.c, then
 * virConnectGetDefaultURI and the qemu driver's URI probe): `VIRSH_DEFAULT_CONNECT_URI`,
 * `LIBVIRT_DEFAULT_URI`, libvirt.conf `uri_default`, then `qemu:///system` for uid 0 and
 * `qemu:///session` for anyone else. Empty values count as unset. URI aliases are not resolved.
 */
export function resolveDefaultUri(options: DefaultUriOptions = {}): DefaultUri {
  const env = options.env ?? process.env;
  const uid = options.uid ?? process.geteuid?.();
  if (options.virsh !== false && env.VIRSH_DEFAULT_CONNECT_URI) {
    return { uri: env.VIRSH_DEFAULT_CONNECT_URI, source: 'VIRSH_DEFAULT_CONNECT_URI' };
  }
  if (env.LIBVIRT_DEFAULT_URI) return { uri: env.LIBVIRT_DEFAULT_URI, source: 'LIBVIRT_DEFAULT_URI' };
  if (options.uriDefault) return { uri: options.uriDefault, source: 'uri_default' };
  return uid === 0
    ? { uri: 'qemu:///system', source: 'privileged' }
    : { uri: 'qemu:///session', source: 'unprivileged' };
}

/** {@link resolveDefaultUri} without the source. */
export function defaultUri(options: DefaultUriOptions = {}): string {
  return resolveDefaultUri(options).uri;
}

/**
 * True when the URI reaches a daemon or driver on this machine without a network hop: no host, and
 * a UNIX socket or the in-process embed driver. `qemu+tcp:///system` (non-strict, localhost) and
 * `ext` are not local, as they go through the network stack or an arbitrary command.
 */
export function isLocal(uri: ConnectionUri | string): boolean {
  const parsed = typeof uri === 'string' ? parseConnectionUri(uri, { strict: false }) : uri;
  return (
    parsed.host === undefined &&
    (parsed.effectiveTransport === 'unix' || parsed.effectiveTransport === 'in-process')
  );
}
