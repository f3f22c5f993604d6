/**
 * A QMP session with a QEMU binary started for probing: `-S -no-user-config -nodefaults
 * -display none -machine none,accel=… -qmp stdio`. Every way the binary can fail to be a QEMU
 * (exits at once, hangs, prints something else, dies mid-probe) ends in a `ProbeError` with one
 * line of explanation, and the process is always gone when `close()` resolves.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { basename } from 'node:path';

export class ProbeError extends Error {
  override readonly name = 'ProbeError';
  constructor(
    readonly binary: string,
    readonly reason: string,
  ) {
    super(`${binary}: ${reason}`);
  }
}

export interface QmpOptions {
  /** `kvm:tcg` (libvirt's first probe on Linux; `tcg` when there is no /dev/kvm at all) or `tcg`. */
  accel: string;
  /** Milliseconds the whole session may take before the binary counts as hung. */
  timeoutMs: number;
  env?: NodeJS.ProcessEnv;
  uid?: number;
  gid?: number;
  /** Supplementary groups of the QEMU user (virGetGroupList). */
  groups?: number[];
}

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void; cmd: string };

const firstLine = (s: string): string => {
  const line = s.split('\n').find((l) => l.trim() !== '') ?? '';
  return line.length > 160 ? `${line.slice(0, 157)}...` : line.trim();
};

export class QmpSession {
  private child: ChildProcess;
  private buf = '';
  private stderr = '';
  private pending = new Map<number, Pending>();
  private nextId = 1;
  private greeting: Promise<unknown>;
  private settleGreeting!: { resolve: (v: unknown) => void; reject: (e: Error) => void };
  private failure: ProbeError | undefined;
  private exited: Promise<void>;
  private timer: NodeJS.Timeout;
  private greeted = false;

  constructor(
    readonly binary: string,
    opts: QmpOptions,
  ) {
    this.greeting = new Promise((resolve, reject) => {
      this.settleGreeting = { resolve, reject };
    });
    this.greeting.catch(() => {});
    const args = [
      '-S',
      '-no-user-config',
      '-nodefaults',
      '-display',
      'none',
      '-machine',
      `none,accel=${opts.accel}`,
      '-qmp',
      'stdio',
    ];
    const asOther =
      (opts.uid !== undefined && opts.uid !== process.getuid?.()) ||
      (opts.gid !== undefined && opts.gid !== process.getgid?.());
    // qemuProcessQMPLaunch: as the QEMU user and its groups, keeping CAP_DAC_OVERRIDE when root
    // so QEMU may open what that user may not (/dev/kvm, /dev/sev) just for probing
    this.child =
      asOther && process.geteuid?.() === 0
        ? spawn(
            'setpriv',
            [
              `--reuid=${opts.uid ?? 0}`,
              `--regid=${opts.gid ?? 0}`,
              ...(opts.groups?.length ? [`--groups=${opts.groups.join(',')}`] : ['--clear-groups']),
              '--inh-caps=-all,+dac_override',
              '--ambient-caps=-all,+dac_override',
              '--',
              binary,
              ...args,
            ],
            { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env },
          )
        : spawn(binary, args, {
            stdio: ['pipe', 'pipe', 'pipe'],
            env: opts.env ?? process.env,
            ...(opts.uid !== undefined && opts.uid !== process.getuid?.() ? { uid: opts.uid } : {}),
            ...(opts.gid !== undefined && opts.gid !== process.getgid?.() ? { gid: opts.gid } : {}),
          });
    this.exited = new Promise((resolve) => {
      this.child.once('close', () => resolve());
      this.child.once('error', (err: NodeJS.ErrnoException) => {
        this.fail(`cannot execute: ${err.code === 'ENOENT' ? 'no such file' : (err.code ?? err.message)}`);
        resolve();
      });
    });
    this.child.stdout!.setEncoding('utf8');
    this.child.stderr!.setEncoding('utf8');
    this.child.stdout!.on('data', (chunk: string) => this.onData(chunk));
    this.child.stderr!.on('data', (chunk: string) => {
      if (this.stderr.length < 4096) this.stderr += chunk;
    });
    this.child.stdin!.on('error', () => {});
    this.child.once('exit', (code, signal) => {
      const how = signal ? `was killed by ${signal}` : `exited with status ${code}`;
      const err = this.stderr ? `: ${firstLine(this.stderr)}` : '';
      if (!this.greeted) this.fail(`${how} before the QMP greeting (not a usable QEMU?)${err}`);
      else this.fail(`${how} while being probed${err}`);
    });
    this.timer = setTimeout(() => {
      this.fail(
        this.greeted
          ? `stopped answering QMP; killed after ${opts.timeoutMs} ms`
          : `gave no QMP greeting within ${opts.timeoutMs} ms (hung?); killed`,
      );
      this.child.kill('SIGKILL');
    }, opts.timeoutMs);
    this.timer.unref();
  }

  private fail(reason: string): void {
    if (this.failure) return;
    this.failure = new ProbeError(this.binary, reason);
    this.settleGreeting.reject(this.failure);
    for (const p of this.pending.values()) p.reject(this.failure);
    this.pending.clear();
  }

  private onData(chunk: string): void {
    this.buf += chunk;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl).trim();
      this.buf = this.buf.slice(nl + 1);
      if (line === '') continue;
      let msg: any;
      try {
        msg = JSON.parse(line);
      } catch {
        this.fail(`is not QEMU: it printed ${JSON.stringify(firstLine(line))} instead of speaking QMP`);
        this.child.kill('SIGKILL');
        return;
      }
      if (!this.greeted) {
        if (msg && typeof msg === 'object' && 'QMP' in msg) {
          this.greeted = true;
          this.settleGreeting.resolve(msg.QMP);
          continue;
        }
        this.fail(`is not QEMU: its first output was not a QMP greeting`);
        this.child.kill('SIGKILL');
        return;
      }
      if (msg && typeof msg === 'object' && 'event' in msg) continue;
      const p = this.pending.get(msg?.id);
      if (!p) continue;
      this.pending.delete(msg.id);
      if ('error' in msg) {
        const e = msg.error ?? {};
        p.reject(new QmpCommandError(p.cmd, String(e.class ?? 'GenericError'), String(e.desc ?? '')));
      } else p.resolve(msg.return);
    }
    if (!this.greeted && this.buf.length > 65536) {
      this.fail('is not QEMU: it printed a lot without a QMP greeting');
      this.child.kill('SIGKILL');
    }
  }

  /** Waits for the greeting and enters command mode. */
  async start(): Promise<void> {
    await this.greeting;
    await this.execute('qmp_capabilities');
  }

  execute<T = any>(cmd: string, args?: Record<string, unknown>): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, cmd });
      const msg = { execute: cmd, ...(args ? { arguments: args } : {}), id };
      this.child.stdin!.write(`${JSON.stringify(msg)}\n`);
    });
  }

  /** Like `execute`, but a QMP error answer (CommandNotFound, DeviceNotFound…) gives `undefined`. */
  async tryExecute<T = any>(cmd: string, args?: Record<string, unknown>): Promise<T | undefined> {
    try {
      return await this.execute<T>(cmd, args);
    } catch (err) {
      if (err instanceof QmpCommandError) return undefined;
      throw err;
    }
  }

  /** Ends the process (quit, then SIGKILL) and waits for it to be gone. */
  async close(): Promise<void> {
    clearTimeout(this.timer);
    if (this.child.exitCode === null && this.child.signalCode === null && this.child.pid !== undefined) {
      if (!this.failure) this.failure = new ProbeError(this.binary, 'session closed');
      const kill = setTimeout(() => this.child.kill('SIGKILL'), 1000);
      try {
        this.child.stdin!.write(`${JSON.stringify({ execute: 'quit' })}\n`);
        this.child.stdin!.end();
      } catch {
        this.child.kill('SIGKILL');
      }
      await this.exited;
      clearTimeout(kill);
    } else {
      await this.exited;
    }
  }

  get name(): string {
    return basename(this.binary);
  }
}

export class QmpCommandError extends Error {
  override readonly name = 'QmpCommandError';
  constructor(
    readonly command: string,
    readonly errorClass: string,
    readonly desc: string,
  ) {
    super(`${command}: ${errorClass}: ${desc}`);
  }
}
