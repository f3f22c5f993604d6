/**
 * The QEMU guest agent of one running domain (libvirt's qemu_agent.c): the `org.qemu.guest_agent.0`
 * virtio-serial channel, whose unix socket QEMU listens on, spoken to one command at a time.
 *
 * As libvirt 9.0 does, the first command after the agent was (re)opened or after a command timed
 * out first sends `guest-sync` with a fresh id (twice if the first answer was garbage left in the
 * pipe) and ignores every reply whose id is not it; replies arriving after their command gave up
 * are dropped. Timeouts are libvirt's VIR_DOMAIN_AGENT_RESPONSE_TIMEOUT_*: -2 blocks, -1 is the
 * default 5 s, 0 does not wait, a positive number is seconds. `guest-shutdown` answers nothing:
 * it ends when QEMU reports the guest's SHUTDOWN (or RESET for a reboot), see {@link notifyEvent}.
 */
import { connect, type Socket } from 'node:net';
import { type DomainDef, type VirError, virReportError } from '@qvirt/core';

/** VIR_DOMAIN_AGENT_RESPONSE_TIMEOUT_* (and VIR_DOMAIN_QEMU_AGENT_COMMAND_*). */
export const AGENT_TIMEOUT = {
  BLOCK: -2,
  DEFAULT: -1,
  NOWAIT: 0,
  /** VIR_DOMAIN_QEMU_AGENT_COMMAND_SHUTDOWN: how long a guest-shutdown waits for its event. */
  SHUTDOWN: 60,
  /** VIR_DOMAIN_QEMU_AGENT_COMMAND_MIN */
  MIN: -2,
} as const;

/** QEMU_AGENT_WAIT_TIME: the default timeout, seconds. */
const QEMU_AGENT_WAIT_TIME = 5;
/** QEMU_AGENT_MAX_RESPONSE: a longer line is an error. */
const QEMU_AGENT_MAX_RESPONSE = 10 * 1024 * 1024;

/** The name of the agent's virtio-serial port. */
export const AGENT_CHANNEL_NAME = 'org.qemu.guest_agent.0';

/** The QEMU events a command may wait for instead of a reply (qemuAgentEvent). */
export type AgentEvent = 'shutdown' | 'reset' | 'suspend';

export type AgentReply = Record<string, unknown> & { return?: unknown; error?: unknown };

interface Pending {
  sync?: { id: number; first: boolean };
  await?: AgentEvent;
  finish(reply: AgentReply | undefined, err?: VirError): void;
}

const unresponsive = (info: string) => virReportError('AGENT_UNRESPONSIVE', 'qemu', info);
const internal = (info: string) => virReportError('INTERNAL_ERROR', 'qemu', info);

/** qemuFindAgentConfig: the domain's agent channel, if it has one. */
export function findAgentConfig(def: DomainDef | undefined): AgentChannel | undefined {
  const channels = (def?.devices as { channel?: AgentChannel[] } | undefined)?.channel ?? [];
  return channels.find((c) => c.target?.type === 'virtio' && c.target?.name === AGENT_CHANNEL_NAME);
}

/** The part of a `<channel>` the agent needs. */
export interface AgentChannel {
  type?: string;
  source?: Array<{ path?: string; mode?: string }>;
  target?: { type?: string; name?: string; state?: string };
  alias?: { name?: string };
}

/** qemuAgentStringifyErrorClass: the text of an error class without a description. */
function errorClassText(klass: string | undefined): string {
  const texts: Record<string, string> = {
    BufferOverrun: 'Buffer overrun',
    CommandDisabled: 'The command has been disabled for this instance',
    CommandNotFound: 'The command has not been found',
    FdNotFound: 'File descriptor not found',
    InvalidParameter: 'Invalid parameter',
    InvalidParameterType: 'Invalid parameter type',
    InvalidParameterValue: 'Invalid parameter value',
    OpenFileFailed: 'Cannot open file',
    QgaCommandFailed: 'Guest agent command failed',
    QMPBadInputObjectMember: 'Bad QMP input object member',
    QMPExtraInputObjectMember: 'Unexpected extra object member',
    UndefinedError: 'An undefined error has occurred',
    Unsupported: 'this feature or command is not currently supported',
  };
  if (klass === undefined) return 'unknown QEMU command error';
  return texts[klass] ?? klass;
}

/** An agent command that the guest's agent does not have (reported only where the caller asked). */
export class AgentUnsupported extends Error {}

export class GuestAgent {
  readonly path: string;
  #socket: Socket;
  #buffer = '';
  #pending: Pending | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #inSync = false;
  #running = true;
  /** The error that ended the connection (qemuAgent's lastError). */
  #lastError: VirError | undefined;
  #onClose: (() => void) | undefined;
  /** Default timeout of commands that take the agent's own (virDomainAgentSetResponseTimeout). */
  timeout: number = AGENT_TIMEOUT.BLOCK;

  private constructor(path: string, socket: Socket, onClose?: () => void) {
    this.path = path;
    this.#socket = socket;
    this.#onClose = onClose;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.#onData(chunk));
    socket.on('error', () => this.#eof(internal('Unable to read from agent')));
    socket.on('close', () => this.#eof(internal('End of file from agent socket')));
  }

  /** qemuAgentOpen: connects to the channel's socket (QEMU listens on it). */
  static open(path: string, onClose?: () => void): Promise<GuestAgent> {
    return new Promise((resolve, reject) => {
      const s = connect(path);
      s.once('connect', () => {
        s.removeAllListeners('error');
        s.unref();
        resolve(new GuestAgent(path, s, onClose));
      });
      s.once('error', (err) =>
        reject(virReportError('SYSTEM_ERROR', 'qemu', `failed to connect to agent socket: ${err.message}`)),
      );
    });
  }

  get running(): boolean {
    return this.#running;
  }

  /** qemuAgentClose. */
  close(): void {
    this.#running = false;
    this.#onClose = undefined;
    this.#socket.destroy();
    // qemuAgentNotifyClose: no reply will come; one that waits for an event (a guest-shutdown
    // whose agent stopped with the guest) is done, any other has lost its agent
    const p = this.#pending;
    if (p?.await) p.finish(undefined);
    else p?.finish(undefined, unresponsive('Guest agent disappeared while executing command'));
  }

  /**
   * qemuAgentNotifyEvent: QEMU saw the guest shut down / reset / suspend; a command that waits for
   * it (guest-shutdown, guest-suspend-*) is done.
   */
  notifyEvent(event: AgentEvent): void {
    if (this.#pending?.await === event) this.#pending.finish(undefined);
  }

  /**
   * qemuAgentCommandFull: the reply of `cmd` (the whole object, `return` or `error`), or with
   * `awaitEvent` undefined when the event came first. An error reply throws libvirt's "unable to
   * execute QEMU agent command" unless `reportUnsupported` is false and the command is missing.
   */
  command(
    cmd: { execute: string; arguments?: Record<string, unknown> } | Record<string, unknown>,
    seconds: number,
    opts: { reportUnsupported?: boolean; awaitEvent?: AgentEvent; raw?: string } = {},
  ): Promise<AgentReply | undefined> {
    const run = this.#queue.then(() => this.#command(cmd, seconds, opts));
    this.#queue = run.catch(() => {});
    return run;
  }

  /** The reply's `return`, checked. */
  async call<T = unknown>(
    execute: string,
    args?: Record<string, unknown>,
    seconds: number = this.timeout,
  ): Promise<T> {
    const reply = await this.command(args ? { execute, arguments: args } : { execute }, seconds);
    return reply?.return as T;
  }

  async #command(
    cmd: Record<string, unknown>,
    seconds: number,
    opts: { reportUnsupported?: boolean; awaitEvent?: AgentEvent; raw?: string },
  ): Promise<AgentReply | undefined> {
    if (!this.#running) throw unresponsive('Guest agent disappeared while executing command');
    await this.#sync();
    const text = opts.raw ?? JSON.stringify(cmd);
    const reply = await this.#send(`${text}\n`, seconds, { await: opts.awaitEvent });
    if (!reply) {
      if (opts.awaitEvent) return undefined;
      throw this.#running
        ? internal('Missing agent reply object')
        : unresponsive('Guest agent disappeared while executing command');
    }
    checkError(cmd, reply, opts.reportUnsupported ?? true);
    return reply;
  }

  /** qemuAgentGuestSync. */
  async #sync(): Promise<void> {
    if (this.#inSync) return;
    // a custom agent timeout shorter than the default applies to the sync too
    const timeout =
      this.timeout >= 0 && this.timeout < QEMU_AGENT_WAIT_TIME ? this.timeout : AGENT_TIMEOUT.DEFAULT;
    for (const first of [true, false]) {
      const id = Date.now();
      const reply = await this.#send(`{"execute":"guest-sync", "arguments":{"id":${id}}}\n`, timeout, {
        sync: { id, first },
      });
      if (reply) {
        this.#inSync = true;
        return;
      }
    }
    throw this.#running
      ? internal('Missing agent reply object')
      : unresponsive('Guest agent disappeared while executing command');
  }

  /** qemuAgentSend: writes one message and waits for its reply as `seconds` says. */
  #send(
    text: string,
    seconds: number,
    what: { sync?: Pending['sync']; await?: AgentEvent },
  ): Promise<AgentReply | undefined> {
    if (this.#lastError) return Promise.reject(this.#lastError);
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const pending: Pending = {
        ...what,
        finish: (reply, err) => {
          if (this.#pending !== pending) return;
          this.#pending = undefined;
          this.#socket.unref();
          if (timer) clearTimeout(timer);
          if (err) reject(err);
          else resolve(reply);
        },
      };
      this.#pending = pending;
      if (seconds > AGENT_TIMEOUT.BLOCK) {
        const ms = (seconds === AGENT_TIMEOUT.DEFAULT ? QEMU_AGENT_WAIT_TIME : seconds) * 1000;
        timer = setTimeout(() => {
          this.#inSync = false;
          pending.finish(undefined, unresponsive('Guest agent not available for now'));
        }, ms);
      }
      // a caller waiting for the guest keeps the process alive (an embed qvirsh has nothing else)
      this.#socket.ref();
      this.#socket.write(text);
    });
  }

  #onData(chunk: string): void {
    this.#buffer += chunk;
    let nl = this.#buffer.indexOf('\n');
    while (nl >= 0) {
      const line = this.#buffer.slice(0, nl).replace(/\r$/, '');
      this.#buffer = this.#buffer.slice(nl + 1);
      this.#line(line);
      nl = this.#buffer.indexOf('\n');
    }
    if (this.#buffer.length > QEMU_AGENT_MAX_RESPONSE) {
      this.#eof(internal(`No complete agent response found in ${QEMU_AGENT_MAX_RESPONSE} bytes`));
    }
  }

  /** qemuAgentIOProcessLine. */
  #line(line: string): void {
    const msg = this.#pending;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch {
      // garbage on the first sync is what a guest agent restarted mid-line leaves
      if (msg?.sync?.first) msg.finish(undefined);
      return;
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return;
    const reply = obj as AgentReply;
    if ('QMP' in reply || 'event' in reply) return;
    if (!('error' in reply || 'return' in reply) || !msg) return; // a delayed reply: out of sync
    if (msg.sync && reply.return !== msg.sync.id) return; // a late answer to an older sync
    msg.finish(reply);
  }

  /** The socket ended: every waiter hears why, and the owner closes the agent. */
  #eof(err: VirError): void {
    if (!this.#running) return;
    this.#running = false;
    this.#lastError ??= err;
    const p = this.#pending;
    // a command that waits for an event (a guest-shutdown) is over when the agent goes with it
    if (p?.await) p.finish(undefined);
    else p?.finish(undefined, err);
    const onClose = this.#onClose;
    this.#onClose = undefined;
    onClose?.();
  }
}

/** qemuAgentCheckError. */
function checkError(cmd: Record<string, unknown>, reply: AgentReply, reportUnsupported: boolean): void {
  const name = typeof cmd.execute === 'string' ? cmd.execute : '<unknown>';
  if ('error' in reply) {
    const error = reply.error as { class?: string; desc?: string } | null;
    if (!error) throw internal(`unable to execute QEMU agent command '${name}'`);
    if (!reportUnsupported && (error.class === 'CommandNotFound' || error.class === 'CommandDisabled'))
      throw new AgentUnsupported(name);
    throw internal(
      `unable to execute QEMU agent command '${name}': ${error.desc ?? errorClassText(error.class)}`,
    );
  }
  if (!('return' in reply)) throw internal(`unable to execute QEMU agent command '${name}'`);
}

/** The JSON of `cmd` as virJSONValueFromString would parse it, or libvirt's error. */
export function parseAgentJSON(text: string): Record<string, unknown> {
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v === 'object' && v !== null) return v as Record<string, unknown>;
  } catch {
    // below
  }
  throw internal(`cannot parse json ${text}: syntax error`);
}
