/**
 * qvirtd: serves one @qvirt/driver instance over libvirt's remote protocol on a read-write and a
 * read-only Unix socket (libvirtd's `libvirt-sock` / `libvirt-sock-ro`). TCP and TLS listeners
 * (`--listen`) are added by the transport module through {@link Daemon.server} and
 * {@link Daemon.config}.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { homedir } from 'node:os';
import path from 'node:path';
import { VirError, virReportSystemError } from '@qvirt/core';
import { type DriverOptions, QemuDriver, resolveInstance } from '@qvirt/driver';
import { createRemotePrograms } from '../remote/program.js';
import { AuthType } from '../rpc/constants.js';
import { createReclaimer } from '../server/reclaim.js';
import { Server, type ServerClient } from '../server/server.js';
import { type DaemonConfig, loadDaemonConfig, parsePerms } from './config.js';
import { instanceSecrets } from './secrets.js';
import { lazyStorageDriver } from './storage.js';

export interface DaemonOptions {
  /** The instance served: `qemu:///system` (root's default), `qemu:///session`, or `qemu:///embed?root=DIR`. */
  uri?: string;
  /** Passed to QemuDriver.open. */
  driverOptions?: DriverOptions;
  /** An already opened driver (the daemon does not close it). */
  driver?: QemuDriver;
  /** Parsed configuration; otherwise read from `configFile` (or the instance's default path). */
  config?: DaemonConfig;
  configFile?: string;
  /** Directory of the sockets (overrides unix_sock_dir and the instance default). */
  socketDir?: string;
  /** Exit after this many seconds with no clients and no running guest (libvirtd --timeout). */
  timeout?: number;
  /** Called when the idle timeout fires (default: nothing; the bin closes and exits). */
  onIdle?: () => void;
  /** Diagnostic lines. */
  log?: (line: string) => void;
  env?: Readonly<Record<string, string | undefined>>;
}

export interface Daemon {
  readonly server: Server;
  readonly driver: QemuDriver;
  readonly config: DaemonConfig;
  /** Paths of the read-write and read-only sockets. */
  readonly sockets: { rw: string; ro: string };
  /** The URI virConnectGetURI answers. */
  readonly uri: string;
  close(): Promise<void>;
}

/** Where an instance's sockets, config and pid file live (libvirt's layout, under `qvirt`). */
export function daemonPaths(
  privileged: boolean,
  env: Readonly<Record<string, string | undefined>> = process.env,
): { socketDir: string; configFile: string; pidFile: string } {
  if (privileged) {
    return { socketDir: '/run/qvirt', configFile: '/etc/qvirt/qvirtd.conf', pidFile: '/run/qvirtd.pid' };
  }
  const runtime = env.XDG_RUNTIME_DIR || path.join(env.HOME || homedir(), '.cache');
  const config = env.XDG_CONFIG_HOME || path.join(env.HOME || homedir(), '.config');
  return {
    socketDir: path.join(runtime, 'qvirt'),
    configFile: path.join(config, 'qvirt', 'qvirtd.conf'),
    pidFile: path.join(runtime, 'qvirt', 'qvirtd.pid'),
  };
}

/** The session/system default when no URI is given: system for root, session otherwise. */
export function defaultDaemonUri(): string {
  return process.geteuid?.() === 0 ? 'qemu:///system' : 'qemu:///session';
}

function groupId(name: string): number {
  if (/^\d+$/.test(name)) return Number(name);
  const line = readFileSync('/etc/group', 'utf8')
    .split('\n')
    .find((l) => l.split(':')[0] === name);
  if (!line)
    throw new VirError('CONFIG_UNSUPPORTED', 'conf', `config unsupported: Failed to look up group '${name}'`);
  return Number(line.split(':')[2]);
}

/** Removes a socket file nobody answers on (a previous daemon's); refuses one in use. */
async function clearStaleSocket(p: string): Promise<void> {
  if (!existsSync(p)) return;
  const alive = await new Promise<boolean>((resolve) => {
    const s = net.connect(p);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (alive) {
    throw virReportSystemError('EADDRINUSE', 'rpc', `Failed to bind socket to '${p}'`);
  }
  unlinkSync(p);
}

async function listenUnix(
  p: string,
  mode: number,
  gid: number | undefined,
  backlog: number,
  onConn: (s: net.Socket) => void,
) {
  await clearStaleSocket(p);
  const srv = net.createServer({ pauseOnConnect: false }, onConn);
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    // virNetSocketListen: listen(fd, max_queued_clients), 30 when 0
    srv.listen({ path: p, backlog: backlog > 0 ? backlog : 30 }, () => {
      srv.off('error', reject);
      resolve();
    });
  });
  chmodSync(p, mode);
  if (gid !== undefined) chownSync(p, -1, gid);
  return srv;
}

export async function startDaemon(opts: DaemonOptions = {}): Promise<Daemon> {
  const env = opts.env ?? process.env;
  const uri = opts.uri ?? opts.driver?.instance.uri ?? defaultDaemonUri();
  const openSecrets = instanceSecrets(uri, env);
  // the instance's storage driver beside the hypervisor (loaded in the background, see storage.ts)
  const storage = lazyStorageDriver(
    opts.driver?.instance.layout ?? resolveInstance(uri, { env }).layout,
    openSecrets,
  );
  const driver =
    opts.driver ??
    (await QemuDriver.open(uri, { env, secrets: openSecrets, storage: storage.load, ...opts.driverOptions }));
  const privileged = driver.instance.privileged && !uri.includes('/embed');
  const paths = daemonPaths(privileged || uri.includes('/system'), env);
  const config =
    opts.config ?? (await loadDaemonConfig(opts.configFile ?? paths.configFile, !!opts.configFile));
  const log = opts.log ?? (() => {});

  // libvirtd.conf's limits, acted on as virNetServer does (see server.ts): a client with
  // max_client_requests calls outstanding is not read from; at max_clients (or
  // max_anonymous_clients unauthenticated) connections wait, at most max_queued_clients of them.
  const server = new Server({
    maxClients: config.max_clients,
    maxAnonymousClients: config.max_anonymous_clients,
    maxQueuedClients: config.max_queued_clients,
    maxClientRequests: config.max_client_requests,
    keepaliveInterval: config.keepalive_interval,
    keepaliveCount: config.keepalive_count,
  });
  // A heavy client's buffers are garbage once it leaves: collect them then, as libvirtd frees them.
  const reclaimer = createReclaimer();
  server.on('clientClosed', (c: ServerClient) => reclaimer.departed(c.bytesRead + c.bytesWritten));
  const { programs, dispose } = createRemotePrograms({
    drivers: { hypervisor: driver, secret: openSecrets, storage: storage.load },
    onDomainEvent: (l) => driver.onDomainEvent(l),
    trace: (c, proc, name) => log(`client ${c.id}: ${name} (${proc})`),
  });
  for (const p of programs) server.addProgram(p);
  server.on('protocolError', (c: ServerClient, err: Error) => log(`client ${c.id}: closed: ${err.message}`));

  const socketDir = opts.socketDir ?? config.unix_sock_dir ?? paths.socketDir;
  mkdirSync(socketDir, { recursive: true, mode: 0o755 });
  const sockets = { rw: path.join(socketDir, 'libvirt-sock'), ro: path.join(socketDir, 'libvirt-sock-ro') };
  const gid = config.unix_sock_group ? groupId(config.unix_sock_group) : undefined;
  const authOf = (name: string) => ({
    type: name === 'sasl' ? AuthType.SASL : name === 'polkit' ? AuthType.POLKIT : AuthType.NONE,
  });
  if (config.auth_unix_rw === 'sasl' || config.auth_unix_ro === 'sasl') {
    log('warning: SASL on the Unix sockets needs the transport module; clients must authenticate');
  }
  const listeners: net.Server[] = [];
  const backlog = config.max_queued_clients;
  listeners.push(
    await listenUnix(
      sockets.rw,
      parsePerms(config.unix_sock_rw_perms, 'unix_sock_rw_perms'),
      gid,
      backlog,
      (s) => {
        server.handle(s, {
          readOnly: false,
          auth: authOf(config.auth_unix_rw === 'polkit' ? 'none' : config.auth_unix_rw),
          identity: { transport: 'unix' },
        });
      },
    ),
  );
  listeners.push(
    await listenUnix(
      sockets.ro,
      parsePerms(config.unix_sock_ro_perms, 'unix_sock_ro_perms'),
      gid,
      backlog,
      (s) => {
        server.handle(s, {
          readOnly: true,
          auth: authOf(config.auth_unix_ro === 'polkit' ? 'none' : config.auth_unix_ro),
          identity: { transport: 'unix' },
        });
      },
    ),
  );
  log(`listening on ${sockets.rw} and ${sockets.ro}`);
  // pools are read and autostarted once the daemon listens (libvirt's storage state driver)
  setImmediate(() => void storage.load().catch((err) => log(`storage: ${(err as Error).message}`)));

  let idleTimer: NodeJS.Timeout | undefined;
  if (opts.timeout && opts.timeout > 0) {
    let idleSince = Date.now();
    const busy = () =>
      server.clientCount > 0 ||
      driver.listDomains().some((d) => d.state !== 'shutoff' && d.state !== 'nostate');
    idleTimer = setInterval(
      () => {
        if (busy()) idleSince = Date.now();
        else if (Date.now() - idleSince >= opts.timeout! * 1000) opts.onIdle?.();
      },
      Math.min(1000, opts.timeout * 250),
    );
    idleTimer.unref();
  }

  let closed = false;
  return {
    server,
    driver,
    config,
    sockets,
    uri,
    async close() {
      if (closed) return;
      closed = true;
      if (idleTimer) clearInterval(idleTimer);
      reclaimer.stop();
      for (const l of listeners) l.close();
      server.closeAll();
      dispose();
      await storage.close();
      for (const p of [sockets.rw, sockets.ro]) {
        try {
          unlinkSync(p);
        } catch {
          // already gone
        }
      }
      if (!opts.driver) await driver.close();
    },
  };
}
