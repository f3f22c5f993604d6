/**
 * qvirt-ssh-helper: the far side of the SSH transport. It joins its stdin/stdout to qvirtd's UNIX
 * socket, and takes both command lines libvirt 9.0's client may send over ssh:
 *
 * - virt-ssh-helper's: `qvirt-ssh-helper [-r|--readonly] URI` (the socket from the URI:
 *   `?socket=` or qvirtd's system / session socket);
 * - netcat's: `qvirt-ssh-helper [-q0] -U SOCKET` (what `?netcat=PATH` makes the client run).
 */
import { connect } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** qvirtd's sockets (the daemon's defaults; `unix_sock_dir` moves them). */
export const QVIRT_SYSTEM_SOCKET_DIR = '/run/qvirt';

export interface HelperArgs {
  socket: string;
}

export function sessionSocketDir(env: NodeJS.ProcessEnv = process.env): string {
  const runtime = env.XDG_RUNTIME_DIR || join(homedir(), '.cache');
  return join(runtime, 'qvirt');
}

/** The socket a driver URI names, as remoteGetUNIXSocket would pick on a qvirt host. */
export function socketForUri(uri: string, readOnly: boolean, env: NodeJS.ProcessEnv = process.env): string {
  let parsed: URL;
  try {
    parsed = new URL(uri);
  } catch {
    throw new Error(`invalid URI '${uri}'`);
  }
  const explicit = parsed.searchParams.get('socket');
  if (explicit) return explicit;
  const name = readOnly ? 'libvirt-sock-ro' : 'libvirt-sock';
  if (parsed.pathname === '/session') return join(sessionSocketDir(env), 'libvirt-sock');
  if (parsed.pathname === '/system' || parsed.pathname === '' || parsed.pathname === '/') {
    return join(QVIRT_SYSTEM_SOCKET_DIR, name);
  }
  throw new Error(`unsupported URI path '${parsed.pathname}' (use /system or /session)`);
}

export function parseHelperArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): HelperArgs {
  let readOnly = false;
  let socket: string | undefined;
  let uri: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-r' || a === '--readonly') readOnly = true;
    else if (a === '-U') socket = argv[++i];
    else if (a.startsWith('-q')) {
      // nc's quit-after-EOF delay: accepted; we exit when the daemon closes.
    } else if (a === '-h' || a === '--help') throw new UsageError();
    else if (a.startsWith('-')) throw new UsageError(`unknown option '${a}'`);
    else if (uri === undefined) uri = a;
    else throw new UsageError(`unexpected argument '${a}'`);
  }
  if (socket) return { socket };
  if (!uri) throw new UsageError('a URI or -U SOCKET is required');
  return { socket: socketForUri(uri, readOnly, env) };
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const HELPER_USAGE = `Usage:
  qvirt-ssh-helper [-r|--readonly] URI     (as virt-ssh-helper)
  qvirt-ssh-helper [-q0] -U SOCKET         (as nc -U)
Joins stdin/stdout to qvirtd's UNIX socket, for qemu+ssh:// clients.
`;

/** Bridges stdin/stdout and the socket until either side closes; resolves the exit status. */
export function runBridge(
  socketPath: string,
  io: {
    stdin: NodeJS.ReadableStream;
    stdout: NodeJS.WritableStream;
    stderr: NodeJS.WritableStream;
  } = process,
): Promise<number> {
  return new Promise((resolve) => {
    const sock = connect(socketPath);
    let done = false;
    const finish = (code: number) => {
      if (done) return;
      done = true;
      sock.destroy();
      resolve(code);
    };
    sock.once('error', (err) => {
      io.stderr.write(`qvirt-ssh-helper: cannot connect to '${socketPath}': ${err.message}\n`);
      finish(1);
    });
    sock.once('connect', () => {
      io.stdin.pipe(sock);
      sock.pipe(io.stdout as NodeJS.WritableStream, { end: false });
      // The client closing its side (ssh ending) ends ours; the daemon closing ends the helper.
      io.stdin.once('end', () => sock.end());
      sock.once('end', () => finish(0));
      sock.once('close', () => finish(0));
    });
  });
}

export async function helperMain(argv: string[]): Promise<number> {
  let args: HelperArgs;
  try {
    args = parseHelperArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      if (err.message) process.stderr.write(`qvirt-ssh-helper: ${err.message}\n`);
      process.stderr.write(HELPER_USAGE);
      return err.message ? 2 : 0;
    }
    process.stderr.write(`qvirt-ssh-helper: ${(err as Error).message}\n`);
    return 1;
  }
  return runBridge(args.socket);
}
