/**
 * Connection URI model: what `virConnectOpen(name)` accepts for the QEMU driver in libvirt 9.0.
 *
 * Query parameter keys are libvirt's names verbatim (`no_verify`, `tls_priority`, …) so that
 * `git grep` in libvirt's src/remote/remote_driver.c finds them.
 */

/** The only hypervisor driver qvirt provides. */
export type UriDriver = 'qemu';

/** The `+transport` part of the scheme (`remoteDriverTransport` in src/remote/remote_sockets.c). */
export type UriTransport = 'unix' | 'tls' | 'tcp' | 'ssh' | 'libssh' | 'libssh2' | 'ext';

/**
 * How the client actually connects: the written transport, or libvirt's default when none is
 * written (`tls` with a host, `unix` without). `in-process` is `qemu:///embed`, which opens the
 * driver inside the calling process and uses no transport at all.
 */
export type EffectiveTransport = UriTransport | 'in-process';

/** The URI path: `/system` (privileged daemon), `/session` (per-user daemon), `/embed` (in-process). */
export type UriInstance = 'system' | 'session' | 'embed';

/** `?mode=`: which daemon the client talks to (`remoteDriverMode`). */
export type RemoteMode = 'auto' | 'legacy' | 'direct';

/** `?proxy=`: which helper runs on the far side of an ssh tunnel (`virNetClientProxy`). */
export type RemoteProxy = 'auto' | 'netcat' | 'native';

/** `?known_hosts_verify=` for libssh and libssh2. */
export type KnownHostsVerify = 'normal' | 'auto' | 'ignore';

/** One entry of `?sshauth=` for libssh and libssh2. */
export type SshAuthMethod = 'agent' | 'privkey' | 'password' | 'keyboard-interactive';

/**
 * The query parameters libvirt's remote driver extracts (`EXTRACT_URI_ARG_*` in doRemoteOpen).
 * Absent means "not given": the remote driver's own default applies.
 */
export interface ConnectionUriParams {
  /** Pass this name to the far end's `virConnectOpen` instead of the one derived from the URI. */
  name?: string;
  /** `ssh` binary (ssh transport) or tunnel command (ext transport). */
  command?: string;
  /** UNIX socket path on the (far) host, overriding the compiled-in default. */
  socket?: string;
  /** Authentication type to request, e.g. `sasl` or `polkit`. */
  auth?: string;
  /** Credentials file read by libvirt's virauth.c. */
  authfile?: string;
  sshauth?: SshAuthMethod[];
  /** `netcat` binary on the far host. */
  netcat?: string;
  /** SSH private key file. */
  keyfile?: string;
  /** Directory of the client's x509 certificates (tls). */
  pkipath?: string;
  known_hosts?: string;
  known_hosts_verify?: KnownHostsVerify;
  /** GnuTLS priority string (tls). */
  tls_priority?: string;
  mode?: RemoteMode;
  proxy?: RemoteProxy;
  /** `no_sanity=1`: skip the client certificate sanity checks (tls). */
  no_sanity?: boolean;
  /** `no_verify=1`: do not verify the server certificate (tls) or auto-accept host keys (ssh). */
  no_verify?: boolean;
  /** `no_tty=1`: never let ssh prompt on a terminal. */
  no_tty?: boolean;
}

export type ConnectionUriParamName = keyof ConnectionUriParams;

/** A query parameter libvirt would pass through to the far end unchanged (non-strict parsing only). */
export interface ExtraUriParam {
  name: string;
  value: string;
}

/** What {@link formatConnectionUri} needs: the written parts of a URI. */
export interface ConnectionUriParts {
  driver?: UriDriver;
  /** The written `+transport`; undefined when the scheme is plain `qemu`. */
  transport?: UriTransport | undefined;
  user?: string | undefined;
  /** Host name or address, IPv6 without brackets. Undefined for `qemu:///…`. */
  host?: string | undefined;
  /** The written port; undefined when none is written. */
  port?: number | undefined;
  instance: UriInstance;
  /** `?root=` of `qemu:///embed`. */
  root?: string | undefined;
  params?: ConnectionUriParams;
  extraParams?: readonly ExtraUriParam[];
}

/** A parsed connection URI. */
export interface ConnectionUri {
  driver: UriDriver;
  transport: UriTransport | undefined;
  effectiveTransport: EffectiveTransport;
  user: string | undefined;
  host: string | undefined;
  port: number | undefined;
  /** The port the client connects to: the written one, else 16514 (tls), 16509 (tcp), 22 (ssh family). */
  effectivePort: number | undefined;
  instance: UriInstance;
  root: string | undefined;
  params: ConnectionUriParams;
  /** Unknown parameters kept for the far end; always empty in strict mode. */
  extraParams: ExtraUriParam[];
}

export interface ParseConnectionUriOptions {
  /**
   * `true` (the default) rejects what libvirt silently accepts but is almost always a mistake:
   * unknown or repeated query parameters, empty values, booleans other than 0/1, a tcp/tls/ssh
   * transport without a host (libvirt connects to `localhost`), and `root` outside `/embed`.
   * `false` accepts those the way libvirt 9.0 does.
   */
  strict?: boolean;
}

/** `LIBVIRTD_TLS_PORT` */
export const TLS_PORT = 16514;
/** `LIBVIRTD_TCP_PORT` */
export const TCP_PORT = 16509;
export const SSH_PORT = 22;

export const URI_TRANSPORTS: readonly UriTransport[] = [
  'unix',
  'tls',
  'tcp',
  'ssh',
  'libssh',
  'libssh2',
  'ext',
];
export const URI_INSTANCES: readonly UriInstance[] = ['system', 'session', 'embed'];
export const REMOTE_MODES: readonly RemoteMode[] = ['auto', 'legacy', 'direct'];
export const REMOTE_PROXIES: readonly RemoteProxy[] = ['auto', 'netcat', 'native'];
export const KNOWN_HOSTS_VERIFY: readonly KnownHostsVerify[] = ['normal', 'auto', 'ignore'];
export const SSH_AUTH_METHODS: readonly SshAuthMethod[] = [
  'agent',
  'privkey',
  'password',
  'keyboard-interactive',
];

/** Every parameter the remote driver understands, in the order doRemoteOpen extracts them. */
export const URI_PARAM_NAMES: readonly ConnectionUriParamName[] = [
  'name',
  'command',
  'socket',
  'auth',
  'sshauth',
  'netcat',
  'keyfile',
  'pkipath',
  'known_hosts',
  'known_hosts_verify',
  'tls_priority',
  'mode',
  'proxy',
  'no_sanity',
  'no_verify',
  'no_tty',
  'authfile',
];
