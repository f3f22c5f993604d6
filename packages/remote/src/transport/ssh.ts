/**
 * The SSH transport's client end (`qemu+ssh://user@host/system`), as libvirt's virNetSocket
 * NewConnectSSH does it: the system `ssh` binary (or `?command=`) runs a remote shell command
 * whose stdin/stdout carry the RPC stream. The remote command is libvirt 9.0's
 * (virNetClientSSHHelperCommand): `virt-ssh-helper URI` when the far side has it, else
 * `nc -U SOCKET`; `?netcat=PATH` forces the netcat form with that binary, `?proxy=` picks the form.
 * On a qvirt host `qvirt-ssh-helper` answers both forms (see ssh-helper.ts).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { Duplex } from 'node:stream';

export type SshProxyMode = 'auto' | 'netcat' | 'native';

export interface SshConnectOptions {
  host: string;
  port?: number;
  user?: string;
  /** ?command=: the ssh binary (default "ssh"). */
  command?: string;
  /** ?keyfile= */
  keyfile?: string;
  /** ?no_verify=1: StrictHostKeyChecking=no. */
  noVerify?: boolean;
  /** ?no_tty=1: BatchMode=yes (never prompt). */
  noTty?: boolean;
  /** ?proxy= (default auto). */
  proxy?: SshProxyMode;
  /** ?netcat= */
  netcat?: string;
  /** ?socket=: the daemon socket on the far side. */
  socket: string;
  /** The URI the far side's helper opens (qemu:///system). */
  driverUri: string;
  readOnly?: boolean;
}

/** virBufferEscapeShell: single-quote a string for sh. */
export function shellQuote(s: string): string {
  if (/^[A-Za-z0-9_./:@%+=-]+$/.test(s) && s.length > 0) return s;
  return `'${s.replace(/'/g, "'\\''")}'`;
}

/** The remote command string libvirt 9.0 sends (virNetClientSSHHelperCommand). */
export function sshHelperCommand(
  o: Pick<SshConnectOptions, 'proxy' | 'netcat' | 'socket' | 'driverUri' | 'readOnly'>,
): string {
  // Each value is escaped twice: once for the outer sh -c '…', once inside it.
  const twice = (s: string) => shellQuote(shellQuote(s));
  let proxy = o.proxy ?? 'auto';
  if (proxy === 'auto' && o.netcat) proxy = 'netcat';
  if (proxy === 'native' && o.netcat) throw new Error('netcat path not valid with native proxy mode');
  const nc = twice(o.netcat ?? 'nc');
  const ncCmd =
    `if '${nc}' -q 2>&1 | grep "requires an argument" >/dev/null 2>&1; then ARG=-q0;else ARG=;fi;` +
    `'${nc}' $ARG -U ${twice(o.socket)}`;
  const helperCmd = `virt-ssh-helper${o.readOnly ? ' -r ' : ' '}'${twice(o.driverUri)}'`;
  if (proxy === 'netcat') return `sh -c '${ncCmd}'`;
  if (proxy === 'native') return `sh -c '${helperCmd}'`;
  return `sh -c 'which virt-ssh-helper 1>/dev/null 2>&1; if test $? = 0; then     ${helperCmd}; else    ${ncCmd}; fi'`;
}

/** virNetSocketNewConnectSSH's argv. */
export function sshArgv(o: SshConnectOptions): string[] {
  const argv: string[] = [];
  if (o.port !== undefined) argv.push('-p', String(o.port));
  if (o.user) argv.push('-l', o.user);
  if (o.keyfile) argv.push('-i', o.keyfile);
  argv.push('-T', '-e', 'none');
  if (o.noTty) argv.push('-o', 'BatchMode=yes');
  if (o.noVerify) argv.push('-o', 'StrictHostKeyChecking=no');
  argv.push('--', o.host, sshHelperCommand(o));
  return argv;
}

/** The child's stdout and stdin as one duplex stream; closing it ends the ssh process. */
export class ChildStream extends Duplex {
  readonly child: ChildProcess;
  #stderr = '';

  constructor(child: ChildProcess) {
    super();
    this.child = child;
    child.stdout!.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) child.stdout!.pause();
    });
    child.stdout!.on('end', () => this.push(null));
    child.stderr?.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString('utf8')).slice(-4096);
    });
    child.stdin!.on('error', () => {
      /* the far side went away; reported through stdout's end */
    });
    child.on('error', (err) => this.destroy(err));
  }

  /** What the child wrote to stderr (ssh's own errors), last 4 KiB. */
  get stderr(): string {
    return this.#stderr;
  }

  override _read(): void {
    this.child.stdout!.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.child.stdin!.write(chunk, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.child.stdin!.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.child.stdin!.destroy();
    this.child.stdout!.destroy();
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    cb(err);
  }
}

/** Starts ssh and returns the stream to speak the RPC protocol on. */
export function connectSsh(o: SshConnectOptions): ChildStream {
  const child = spawn(o.command ?? 'ssh', sshArgv(o), { stdio: ['pipe', 'pipe', 'pipe'] });
  return new ChildStream(child);
}
