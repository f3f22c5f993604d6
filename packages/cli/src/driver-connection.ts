/**
 * The connection for one qvirsh command, for the URI it names (`-c`, then `LIBVIRT_DEFAULT_URI`,
 * then session/system by uid): `qemu:///embed?root=…` opens the driver in-process (as libvirt's
 * embed driver); every other URI talks to qvirtd over libvirt's remote protocol (@qvirt/remote's
 * RemoteClient), which starts a session daemon on demand. The connection is closed after the
 * command; guests keep running.
 */
import { VirError } from '@qvirt/core/errors';
import type { Domain, HypervisorDriver, SecretDriver, StorageDriver } from '@qvirt/core/hypervisor';
import { defaultUri, parseConnectionUri } from '@qvirt/core/uri';
import type { RemoteClient } from '@qvirt/remote/client';
import type { Io, Session } from './command.js';

/** What commands use of a connection: the hypervisor contract, in process or over qvirtd alike. */
export type Connection = HypervisorDriver;

/** Whether a URI runs the driver in-process (embed) rather than through qvirtd. */
export function isInProcess(session: Session): boolean {
  const text = session.uri ?? defaultUri({ uid: process.getuid?.() ?? 0, env: session.env });
  return parseConnectionUri(text).instance === 'embed';
}

type Closable = { connectClose?(): Promise<void>; close?(): Promise<void> };

/**
 * One command's connection, for the contract it needs: in process (`qemu:///embed`), `openLocal`
 * opens the instance's own driver (the hypervisor, storage or secret driver, as libvirt's embed
 * URI opens each beside the others); otherwise the remote client, which carries every contract's
 * procedures to qvirtd. The connection is closed after the command. A connection that cannot be
 * made is noted on the session: virsh ends such a run without its blank line (see main).
 */
async function withConnection<C extends Closable, T>(
  session: Session,
  openLocal: (uri: string) => Promise<C>,
  /** The remote client as this contract (it implements every contract). */
  asContract: (client: RemoteClient) => C,
  fn: (conn: C) => Promise<T>,
): Promise<T> {
  const uri = session.uri ?? defaultUri({ uid: process.getuid?.() ?? 0, env: session.env });
  const open = async (): Promise<C> => {
    if (isInProcess(session)) return openLocal(uri);
    const { openRemote } = await import('@qvirt/remote/client');
    // virsh's first line when the connection cannot be made, then libvirt's reason; openRemote
    // knows every transport (unix, tcp with SASL, tls, ssh)
    return asContract(
      await reporting(session.io, 'failed to connect to the hypervisor', () =>
        openRemote(uri, { env: session.env }),
      ),
    );
  };
  let conn: C;
  try {
    conn = await open();
  } catch (err) {
    session.connectFailed = true;
    throw err;
  }
  try {
    return await fn(conn);
  } finally {
    await (conn.connectClose?.() ?? conn.close?.());
  }
}

/** The hypervisor contract for one command: QemuDriver in process, or qvirtd. */
export function withDriver<T>(session: Session, fn: (conn: Connection) => Promise<T>): Promise<T> {
  return withConnection<HypervisorDriver, T>(
    session,
    async (uri) => {
      // loaded here, not at the top, so commands that need no driver start faster
      const { QemuDriver } = await import('@qvirt/driver');
      return QemuDriver.open(uri, {
        env: session.env,
        // the instance's secret and storage drivers, opened only if a start needs them
        secrets: () => openSecretDriver(uri, session.env),
        storage: () => openStorageDriver(uri, session.env),
      });
    },
    (client) => client,
    fn,
  );
}

/** The storage contract for one command: the instance's @qvirt/storage driver, or qvirtd. */
export function withStorage<T>(session: Session, fn: (conn: StorageDriver) => Promise<T>): Promise<T> {
  return withConnection<StorageDriver & Closable, T>(
    session,
    (uri) => openStorageDriver(uri, session.env),
    (client) => client,
    fn,
  );
}

/** The secret contract for one command: the instance's @qvirt/secrets driver, or qvirtd. */
export function withSecrets<T>(session: Session, fn: (conn: SecretDriver) => Promise<T>): Promise<T> {
  return withConnection<SecretDriver & Closable, T>(
    session,
    (uri) => openSecretDriver(uri, session.env),
    (client) => client,
    fn,
  );
}

/** The storage driver of an in-process (embed) instance (@qvirt/storage, loaded on demand). */
async function openStorageDriver(uri: string, env: NodeJS.ProcessEnv) {
  const { QvirtStorageDriver, embedStorageDirs } = await import('@qvirt/storage');
  const root = parseConnectionUri(uri).root;
  if (!root) throw new VirError('INVALID_ARG', 'uri', 'invalid argument: root path must be absolute');
  // the instance's secret driver gives encrypted volumes their passphrases
  return QvirtStorageDriver.open({
    ...embedStorageDirs(root),
    secrets: () => openSecretDriver(uri, env),
  });
}

/** The secret driver of an in-process instance (@qvirt/secrets, loaded on demand). */
async function openSecretDriver(uri: string, env: NodeJS.ProcessEnv) {
  const { SecretsDriver } = await import('@qvirt/secrets');
  return SecretsDriver.open(uri, { env });
}

/**
 * virshLookupDomainBy: an id (a non-negative number), then a UUID, then a name; libvirt's error
 * of each attempt is dropped and virsh's own reported.
 */
export async function lookupDomain(conn: Connection, key: string): Promise<Domain> {
  if (/^\d+$/.test(key)) {
    const dom = await conn.domainLookupByID(Number(key)).catch(() => undefined);
    if (dom) return dom;
  }
  if (/^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$/.test(key)) {
    const dom = await conn.domainLookupByUUID(key.toLowerCase()).catch(() => undefined);
    if (dom) return dom;
  }
  const dom = await conn.domainLookupByName(key).catch(() => undefined);
  if (!dom) throw new VirError('NO_DOMAIN', 'none', `failed to get domain '${key}'`);
  return dom;
}

/** virsh prints a blank line after every command's output (vshCommandRun). */
export function print(io: Io, text: string): void {
  io.out(`${text}\n`);
}

/**
 * virsh reports a failed operation in two lines: what failed, then libvirt's error.
 * The first goes out here; the second is the thrown error, which qvirsh's main prints.
 */
export async function reporting<T>(io: Io, what: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    io.err(`error: ${what}\n`);
    throw err;
  }
}

export const DOMAIN_OPT = {
  name: 'domain',
  type: 'data' as const,
  required: true,
  help: 'domain name, id or uuid',
};
