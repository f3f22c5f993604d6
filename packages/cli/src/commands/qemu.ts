/**
 * libvirt-qemu's commands as virsh prints them (tools/virsh-domain.c): qemu-monitor-command,
 * qemu-agent-command, qemu-monitor-event, qemu-attach.
 */
import { VirError } from '@qvirt/core/errors';
import type { CommandDef, OptDef, ParsedOpts } from '../command.js';
import { optionList, usageError } from '../command.js';
import { DOMAIN_OPT, lookupDomain, print, reporting, withDriver } from '../driver-connection.js';

const flag = (name: string, help: string): OptDef => ({ name, type: 'bool', help });

function exclusive(opts: ParsedOpts, a: string, b: string): void {
  if (opts[a] && opts[b]) throw usageError(`Options --${a} and --${b} are mutually exclusive`);
}

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** virJSONValueToString(pretty): two-space indents and a final newline, as yajl's beautifier. */
const prettyJson = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;

/**
 * cmdQemuMonitorCommandQMPWrap: a JSON object passes through; otherwise the first word is the
 * command and the rest its arguments (an object, or `key:value` words joined into one).
 */
export function qmpWrap(words: string[]): string {
  const full = words.join(' ');
  if (isObject(parseJson(full))) return full;
  const [name, ...rest] = words;
  let args: unknown;
  if (rest.length > 0) {
    const joined = rest.join(' ');
    const parsed = parseJson(joined);
    if (isObject(parsed)) args = parsed;
    else {
      args = parseJson(`{${rest.join(',')}}`);
      if (args === undefined)
        throw usageError(`failed to wrap arguments '${joined}' into a QMP command wrapper`);
    }
  }
  return JSON.stringify(args === undefined ? { execute: name } : { execute: name, arguments: args });
}

export const qemuMonitorCommandCommand: CommandDef = {
  name: 'qemu-monitor-command',
  help: 'QEMU Monitor Command',
  desc: 'QEMU Monitor Command',
  options: [
    DOMAIN_OPT,
    flag('hmp', 'command is in human monitor protocol'),
    flag('pretty', 'pretty-print any qemu monitor protocol output'),
    flag('return-value', "extract the value of the 'return' key from the returned string"),
    { name: 'pass-fds', type: 'string', help: 'pass file descriptors N,M,... along with the command' },
    { name: 'cmd', type: 'data', required: true, multiple: true, help: 'command' },
  ],
  async run(session, opts) {
    return withDriver(session, async (conn) => {
      exclusive(opts, 'hmp', 'pretty');
      exclusive(opts, 'hmp', 'return-value');
      const dom = await lookupDomain(conn, opts.domain as string);
      const words = optionList(opts, 'cmd');
      if (opts['pass-fds'] !== undefined)
        throw new VirError(
          'NO_SUPPORT',
          'none',
          'this function is not supported by the connection driver: virDomainQemuMonitorCommandWithFiles',
        );
      const hmp = opts.hmp === true;
      const result = await conn.domainQemuMonitorCommand(
        dom,
        hmp ? words.join(' ') : qmpWrap(words),
        hmp ? 1 : 0,
      );
      const returnValue = opts['return-value'] === true;
      const json = returnValue || opts.pretty ? parseJson(result) : undefined;
      if (returnValue && json === undefined) throw usageError('failed to parse JSON returned by qemu');
      if (json === undefined) {
        print(session.io, `${result}\n`);
        return;
      }
      let value: unknown = json;
      if (returnValue) {
        if (!isObject(json) || !('return' in json)) throw usageError("'return' member missing");
        value = json.return;
      }
      // virTrimSpaces: no trailing newline of the pretty form
      print(session.io, opts.pretty ? prettyJson(value).trim() : JSON.stringify(value));
    });
  },
};

export const qemuAgentCommandCommand: CommandDef = {
  name: 'qemu-agent-command',
  help: 'QEMU Guest Agent Command',
  desc: 'Run an arbitrary qemu guest agent command; use at your own risk',
  options: [
    DOMAIN_OPT,
    { name: 'timeout', type: 'string', help: 'timeout seconds. must be positive.' },
    flag('async', 'execute command without waiting for timeout'),
    flag('block', 'execute command without timeout'),
    flag('pretty', 'pretty-print the output'),
    { name: 'cmd', type: 'data', required: true, multiple: true, help: 'command' },
  ],
  async run(session, opts) {
    return withDriver(session, async (conn) => {
      const dom = await lookupDomain(conn, opts.domain as string);
      const cmd = optionList(opts, 'cmd').join(' ');
      let timeout = -1; // VIR_DOMAIN_QEMU_AGENT_COMMAND_DEFAULT
      let judge = 0;
      if (opts.timeout !== undefined) {
        const text = String(opts.timeout);
        if (!/^[-+]?\d+$/.test(text))
          throw usageError(`Numeric value '${text}' for <timeout> option is malformed or out of range`);
        timeout = Number(text);
        judge = 1;
        if (timeout < 1) throw usageError('timeout must be positive');
      }
      if (opts.async) {
        timeout = 0;
        judge++;
      }
      if (opts.block) {
        timeout = -2;
        judge++;
      }
      if (judge > 1) throw usageError('timeout, async and block options are exclusive');
      let result = (await conn.domainQemuAgentCommand(dom, cmd, timeout, 0)) ?? '';
      if (opts.pretty) {
        const json = parseJson(result);
        if (json !== undefined) result = prettyJson(json);
      }
      print(session.io, `${result}\n`);
    });
  },
};

/** virTimeStringNowRaw. */
function timestamp(): string {
  return `${new Date().toISOString().replace('T', ' ').replace('Z', '')}+0000`;
}

export const qemuMonitorEventCommand: CommandDef = {
  name: 'qemu-monitor-event',
  help: 'QEMU Monitor Events',
  desc: 'Listen for QEMU Monitor Events',
  options: [
    { name: 'domain', type: 'string', help: 'filter by domain name, id or uuid' },
    { name: 'event', type: 'string', help: 'filter by event name' },
    flag('pretty', 'pretty-print any JSON output'),
    flag('loop', 'loop until timeout or interrupt, rather than one-shot'),
    { name: 'timeout', type: 'string', help: 'timeout seconds' },
    flag('regex', 'treat event as a regex rather than literal filter'),
    flag('no-case', 'treat event case-insensitively'),
    flag('timestamp', 'show timestamp for each printed event'),
  ],
  async run(session, opts) {
    const flags = (opts.regex ? 1 : 0) | (opts['no-case'] ? 2 : 0);
    return withDriver(session, async (conn) => {
      let timeoutMs = 0;
      if (opts.timeout !== undefined) {
        const t = Number(opts.timeout);
        if (!/^\d+$/.test(String(opts.timeout)) || t < 1)
          throw usageError(`invalid timeout value: '${opts.timeout}'`);
        timeoutMs = t * 1000;
      }
      const dom = typeof opts.domain === 'string' ? await lookupDomain(conn, opts.domain) : null;
      let count = 0;
      let done: (why: 'done' | 'timeout' | 'interrupt') => void = () => {};
      const finished = new Promise<'done' | 'timeout' | 'interrupt'>((resolve) => {
        done = resolve;
      });
      const id = await conn.connectDomainQemuMonitorEventRegister(
        dom,
        (opts.event as string | undefined) ?? null,
        (e) => {
          if (!opts.loop && count) return;
          let details = e.details;
          if (opts.pretty && details) {
            const json = parseJson(details);
            if (json !== undefined) details = prettyJson(json);
          }
          const micros = String(e.micros).padStart(6, '0');
          session.io.out(
            opts.timestamp
              ? `${timestamp()}: event ${e.event} for domain '${e.dom.name}': ${details ?? '(null)'}\n`
              : `event ${e.event} at ${e.seconds}.${micros} for domain '${e.dom.name}': ${details ?? '(null)'}\n`,
          );
          count++;
          if (!opts.loop) done('done');
        },
        flags,
      );
      const timer = timeoutMs ? setTimeout(() => done('timeout'), timeoutMs) : undefined;
      const onInt = () => done('interrupt');
      process.once('SIGINT', onInt);
      try {
        const why = await finished;
        if (why === 'interrupt') session.io.out('event loop interrupted\n');
        if (why === 'timeout') session.io.out('event loop timed out\n');
        print(session.io, `events received: ${count}\n`);
        return count > 0;
      } finally {
        if (timer) clearTimeout(timer);
        process.off('SIGINT', onInt);
        await conn.connectDomainQemuMonitorEventDeregister(id);
      }
    });
  },
};

export const qemuAttachCommand: CommandDef = {
  name: 'qemu-attach',
  help: 'QEMU Attach',
  desc: 'QEMU Attach',
  options: [{ name: 'pid', type: 'data', required: true, help: 'pid' }],
  async run(session, opts) {
    const text = String(opts.pid);
    return withDriver(session, async (conn) => {
      if (!/^\d+$/.test(text)) throw usageError(`pid value '${text}' invalid`);
      const dom = await reporting(session.io, `Failed to attach to pid ${text}`, () =>
        conn.domainQemuAttach(Number(text), 0),
      );
      print(session.io, `Domain '${dom.name}' attached to pid ${text}\n`);
    });
  },
};

export const QEMU_COMMANDS: CommandDef[] = [
  qemuAttachCommand,
  qemuMonitorCommandCommand,
  qemuMonitorEventCommand,
  qemuAgentCommandCommand,
];
