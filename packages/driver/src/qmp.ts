/**
 * A small QMP client: connects to a QEMU monitor socket, reads the greeting, negotiates with
 * `qmp_capabilities`, then runs commands with ids (`libvirt-N`, as libvirt numbers them) and
 * reports asynchronous events. One command's reply is matched by id; a command that gets no
 * reply within its timeout fails without disturbing the others.
 */
import { EventEmitter } from 'node:events';
import { type FSWatcher, watch } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { basename, dirname } from 'node:path';
import { VirError, virErrorMessage, virReportError } from '@qvirt/core';
import { sendWithFds } from './fd-passing.js';

export interface QmpGreeting {
  version: { qemu: { major: number; minor: number; micro: number }; package: string };
  capabilities: string[];
}

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}

/** An `{"error": …}` reply. */
export class QmpCommandError extends VirError {
  override readonly name = 'QmpCommandError';
  constructor(
    readonly command: string,
    readonly errorClass: string,
    readonly desc: string,
  ) {
    super(
      'INTERNAL_ERROR',
      'qemu',
      virErrorMessage('INTERNAL_ERROR', `unable to execute QEMU command '${command}': ${desc}`),
    );
  }
}

export interface QmpConnectOptions {
  /** Give up after this long (default 10 s). */
  timeoutMs?: number;
  /** Retry while the socket does not exist or refuses connections (QEMU still starting). */
  retry?: boolean;
  /** Polled between retries: a reason to stop waiting (e.g. QEMU exited). */
  abort?: () => Error | undefined;
  /** Default timeout of each command (default 30 s). */
  commandTimeoutMs?: number;
  /** Stops connecting (and waiting for the greeting) at once. */
  signal?: AbortSignal;
}

interface Pending {
  command: string;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
  /** Resolve with the whole reply, errors included (qemu-monitor-command). */
  raw?: boolean;
}

/** Calls `onChange` when `file` appears or changes (polling remains the fallback). */
function watchFor(file: string, onChange: () => void): FSWatcher | undefined {
  const base = basename(file);
  try {
    const w = watch(dirname(file), { persistent: false }, (_event, name) => {
      if (name === null || name === base) onChange();
    });
    w.on('error', () => {});
    return w;
  } catch {
    // no such directory yet, or no inotify: the polling alone
    return undefined;
  }
}

function monitorError(message: string): VirError {
  return virReportError('OPERATION_FAILED', 'qemu', message);
}

export interface QmpClientEvents {
  event: [QmpEvent];
  close: [Error | undefined];
}

export class QmpClient extends EventEmitter<QmpClientEvents> {
  readonly path: string;
  greeting: QmpGreeting | undefined;
  #socket: Socket;
  #buffer = '';
  #nextId = 1;
  #pending = new Map<string, Pending>();
  #closed = false;
  #greetingWaiter: { resolve: (g: QmpGreeting) => void; reject: (e: Error) => void } | undefined;
  readonly commandTimeoutMs: number;

  private constructor(path: string, socket: Socket, commandTimeoutMs: number) {
    super();
    this.path = path;
    this.#socket = socket;
    this.commandTimeoutMs = commandTimeoutMs;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.#onData(chunk));
    socket.on('error', (err) => this.#shutdown(err));
    socket.on('close', () => this.#shutdown(undefined));
  }

  /** Connects, reads the greeting and leaves capabilities negotiation mode. */
  static async connect(path: string, options: QmpConnectOptions = {}): Promise<QmpClient> {
    const timeoutMs = options.timeoutMs ?? 10_000;
    const deadline = Date.now() + timeoutMs;
    let socket: Socket | undefined;
    let delay = 1;
    const cancelled = () => monitorError('connecting to the monitor was cancelled');
    // QEMU creating its socket wakes the wait at once (inotify), instead of at the next poll: a
    // start waits for the monitor, so a late connect is a late guest.
    let watcher: FSWatcher | undefined;
    let wake: (() => void) | undefined;
    try {
      for (;;) {
        if (options.signal?.aborted) throw cancelled();
        const aborted = options.abort?.();
        if (aborted) throw aborted;
        try {
          socket = await openSocket(path, Math.max(1, deadline - Date.now()), options.signal);
          break;
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          // EAGAIN: QEMU's listen backlog is full (a previous client is still being let go)
          const retriable = code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'EAGAIN';
          if (!options.retry || !retriable || Date.now() >= deadline) {
            throw monitorError(`failed to connect to monitor socket ${path}: ${(err as Error).message}`);
          }
          watcher ??= watchFor(path, () => wake?.());
          const woken = await new Promise<boolean>((resolve) => {
            const timer = setTimeout(() => resolve(false), delay);
            wake = () => {
              clearTimeout(timer);
              resolve(true);
            };
          });
          wake = undefined;
          // bound but maybe not yet listening: try again soon
          delay = woken ? 1 : Math.min(delay * 2, 10);
        }
      }
    } finally {
      watcher?.close();
    }
    const client = new QmpClient(path, socket, options.commandTimeoutMs ?? 30_000);
    const onAbort = () => client.close();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const left = Math.max(1, deadline - Date.now());
      client.greeting = await client.#waitGreeting(left);
      await client.execute('qmp_capabilities', undefined, { timeoutMs: left });
      return client;
    } catch (err) {
      client.close();
      throw options.signal?.aborted ? cancelled() : err;
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Runs one command; resolves with its `return` value. */
  execute<T = unknown>(
    command: string,
    args?: Record<string, unknown>,
    options: { timeoutMs?: number; fds?: number[] } = {},
  ): Promise<T> {
    if (this.#closed) {
      return Promise.reject(monitorError('monitor connection is closed'));
    }
    const id = `libvirt-${this.#nextId++}`;
    const timeoutMs = options.timeoutMs ?? this.commandTimeoutMs;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(
          virReportError(
            'OPERATION_TIMEOUT',
            'qemu',
            `QEMU command '${command}' got no reply in ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      this.#pending.set(id, { command, resolve: resolve as (v: unknown) => void, reject, timer });
      const message =
        args === undefined ? { execute: command, id } : { execute: command, arguments: args, id };
      const text = `${JSON.stringify(message)}\r\n`;
      if (!options.fds?.length) this.#socket.write(text);
      else {
        // qemuMonitorSendFileHandle: descriptors ride on the command's own message (fd-passing.ts)
        try {
          const fd = (this.#socket as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1;
          sendWithFds(fd, text, options.fds);
        } catch (err) {
          clearTimeout(this.#pending.get(id)?.timer);
          this.#pending.delete(id);
          reject(err);
        }
      }
    });
  }

  /**
   * Sends `message` (a command object) with this connection's next id appended, as libvirt's
   * qemuMonitorJSONCommandWithFd does, and resolves with the whole reply, `error` included.
   */
  executeRaw(message: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (this.#closed) return Promise.reject(monitorError('monitor connection is closed'));
    const id = `libvirt-${this.#nextId++}`;
    const command = typeof message.execute === 'string' ? message.execute : '<unknown>';
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(virReportError('OPERATION_TIMEOUT', 'qemu', `QEMU command '${command}' got no reply`));
      }, this.commandTimeoutMs);
      this.#pending.set(id, { command, resolve: resolve as (v: unknown) => void, reject, timer, raw: true });
      this.#socket.write(`${JSON.stringify({ ...message, id })}\r\n`);
    });
  }

  /** Resolves with the next event of that name (or rejects on timeout / close). */
  waitEvent(name: string, timeoutMs: number): Promise<QmpEvent> {
    return new Promise((resolve, reject) => {
      const onEvent = (ev: QmpEvent) => {
        if (ev.event !== name) return;
        cleanup();
        resolve(ev);
      };
      const onClose = () => {
        cleanup();
        reject(monitorError(`monitor closed while waiting for ${name}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(monitorError(`no ${name} event within ${timeoutMs} ms`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.off('event', onEvent);
        this.off('close', onClose);
      };
      this.on('event', onEvent);
      this.on('close', onClose);
    });
  }

  /** Lets the process exit while the connection is open. */
  unref(): void {
    this.#socket.unref();
  }

  close(): void {
    this.#socket.destroy();
    this.#shutdown(undefined);
  }

  #waitGreeting(timeoutMs: number): Promise<QmpGreeting> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#greetingWaiter = undefined;
        reject(monitorError(`no QMP greeting on ${this.path} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#greetingWaiter = {
        resolve: (g) => {
          clearTimeout(timer);
          resolve(g);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
    });
  }

  #onData(chunk: string): void {
    this.#buffer += chunk;
    let nl = this.#buffer.indexOf('\n');
    while (nl >= 0) {
      const line = this.#buffer.slice(0, nl).trim();
      this.#buffer = this.#buffer.slice(nl + 1);
      if (line) this.#onMessage(line);
      nl = this.#buffer.indexOf('\n');
    }
  }

  #onMessage(line: string): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      this.#shutdown(monitorError(`malformed QMP message: ${line.slice(0, 200)}`));
      return;
    }
    if ('QMP' in msg) {
      const waiter = this.#greetingWaiter;
      this.#greetingWaiter = undefined;
      waiter?.resolve(msg.QMP as QmpGreeting);
      return;
    }
    if (typeof msg.event === 'string') {
      this.emit('event', msg as unknown as QmpEvent);
      return;
    }
    const id = typeof msg.id === 'string' ? msg.id : undefined;
    const pending = id === undefined ? undefined : this.#pending.get(id);
    if (!pending || id === undefined) return; // a reply to a command that already timed out
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    if (pending.raw) pending.resolve(msg);
    else if ('error' in msg) {
      const e = msg.error as { class?: string; desc?: string };
      pending.reject(
        new QmpCommandError(pending.command, e.class ?? 'GenericError', e.desc ?? 'unknown error'),
      );
    } else {
      pending.resolve(msg.return);
    }
  }

  #shutdown(err: Error | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.destroy();
    const reason = monitorError(`monitor connection closed${err ? `: ${err.message}` : ''}`);
    this.#greetingWaiter?.reject(reason);
    this.#greetingWaiter = undefined;
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(reason);
    }
    this.#pending.clear();
    this.emit('close', err);
  }
}

function openSocket(path: string, timeoutMs: number, signal?: AbortSignal): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const onAbort = () => {
      done();
      socket.destroy();
      reject(Object.assign(new Error('cancelled'), { code: 'ECANCELED' }));
    };
    const timer = setTimeout(() => {
      done();
      socket.destroy();
      reject(Object.assign(new Error('connection timed out'), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => {
      done();
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err) => {
      done();
      socket.destroy();
      reject(err);
    });
  });
}
