/**
 * The commands answered by the guest agent, printing what virsh prints (tools/virsh-domain.c,
 * virsh-domain-monitor.c): domtime, domifaddr, domhostname, domfsinfo, domfsfreeze, domfsthaw,
 * domfstrim, set-user-password, guestinfo, guestvcpus, get-user-sshkeys, set-user-sshkeys.
 */
import { VirError } from '@qvirt/core/errors';
import type { Domain } from '@qvirt/core/hypervisor';
import type { CommandDef, Io, OptDef, ParsedOpts } from '../command.js';
import { optionList, readFileArg, usageError } from '../command.js';
import {
  type Connection,
  DOMAIN_OPT,
  lookupDomain,
  print,
  reporting,
  withDriver,
} from '../driver-connection.js';
import { typedParamText } from './domain-resources.js';
import { formatTable } from './list.js';

const flag = (name: string, help: string): OptDef => ({ name, type: 'bool', help });

/** VSH_EXCLUSIVE_OPTIONS. */
function exclusive(opts: ParsedOpts, a: string, b: string): void {
  if (opts[a] && opts[b]) throw usageError(`Options --${a} and --${b} are mutually exclusive`);
}

/** A command on one domain (virshCommandOptDomain, then `fn`). */
function onDomain(
  fn: (conn: Connection, dom: Domain, opts: ParsedOpts, out: (t: string) => void, io: Io) => Promise<unknown>,
  check?: (opts: ParsedOpts) => void,
): CommandDef['run'] {
  // virsh checks options once connected: a refusal ends with its blank line like any failure
  return (session, opts) =>
    withDriver(session, async (conn) => {
      check?.(opts);
      const dom = await lookupDomain(conn, opts.domain as string);
      await fn(conn, dom, opts, (t) => print(session.io, t), session.io);
    });
}

/** vshCommandOptLongLong / ULongLong: an integer option, or virsh's refusal. */
function intOpt(opts: ParsedOpts, name: string, unsigned = false): number | undefined {
  const v = opts[name];
  if (v === undefined) return undefined;
  const text = String(v);
  if (!(unsigned ? /^\d+$/ : /^[-+]?\d+$/).test(text))
    throw usageError(`Numeric value '${text}' for <${name}> option is malformed or out of range`);
  return Number(text);
}

export const domtimeCommand: CommandDef = {
  name: 'domtime',
  help: 'domain time',
  desc: "Gets or sets the domain's system time",
  options: [
    DOMAIN_OPT,
    flag('now', 'set to the time of the host running virsh'),
    flag('pretty', "print domain's time in human readable form"),
    flag('sync', "instead of setting given time, synchronize from domain's RTC"),
    { name: 'time', type: 'string', help: 'time to set' },
  ],
  run: onDomain(
    async (conn, dom, o, out) => {
      const time = intOpt(o, 'time');
      if (time !== undefined || o.now || o.sync) {
        const seconds = o.now ? Math.floor(Date.now() / 1000) : (time ?? 0);
        await conn.domainSetTime(dom, seconds, 0, o.sync ? 1 : 0);
        out('');
        return;
      }
      const { seconds } = await conn.domainGetTime(dom, 0);
      if (o.pretty) {
        const d = new Date(seconds * 1000).toISOString();
        out(`Time: ${d.slice(0, 10)} ${d.slice(11, 19)}`);
      } else out(`Time: ${seconds}`);
    },
    (opts) => {
      exclusive(opts, 'time', 'now');
      exclusive(opts, 'time', 'sync');
      exclusive(opts, 'now', 'sync');
    },
  ),
};

/** virshDomainInterfaceAddressesSource. */
const IFADDR_SOURCES = ['lease', 'agent', 'arp'];

export const domifaddrCommand: CommandDef = {
  name: 'domifaddr',
  help: "Get network interfaces' addresses for a running domain",
  desc: "Get network interfaces' addresses for a running domain",
  options: [
    DOMAIN_OPT,
    { name: 'interface', type: 'string', help: 'network interface name' },
    flag('full', 'always display names and MACs of interfaces'),
    { name: 'source', type: 'string', help: "address source: 'lease', 'agent', or 'arp'" },
  ],
  run: onDomain(
    async (conn, dom, o, out, io) => {
      const source = o.source === undefined ? 0 : IFADDR_SOURCES.indexOf(o.source as string);
      const ifaces = await reporting(io, 'Failed to query for interfaces addresses', () =>
        conn.domainInterfaceAddresses(dom, source, 0),
      );
      let text = ` ${'Name'.padEnd(10)} ${'MAC address'.padEnd(20)} ${'Protocol'.padEnd(8)}     Address\n${'-'.repeat(79)}\n`;
      for (const iface of ifaces) {
        if (o.interface !== undefined && o.interface !== iface.name) continue;
        if (iface.addrs.length === 0) {
          text += ` ${iface.name.padEnd(10)} ${(iface.hwaddr ?? 'N/A').padEnd(17)}    ${'N/A'.padEnd(12)} N/A\n`;
          continue;
        }
        iface.addrs.forEach((a, j) => {
          const addr = `${(a.type === 0 ? 'ipv4' : 'ipv6').padEnd(12)} ${a.addr}/${a.prefix}`;
          text +=
            o.full || j === 0
              ? ` ${iface.name.padEnd(10)} ${(iface.hwaddr ?? '').padEnd(17)}    ${addr}\n`
              : ` ${'-'.padEnd(10)} ${'-'.padEnd(17)}    ${addr}\n`;
        });
      }
      out(text);
    },
    (opts) => {
      if (opts.source !== undefined && !IFADDR_SOURCES.includes(opts.source as string))
        throw usageError(`Unknown data source '${opts.source}'`);
    },
  ),
};

export const domhostnameCommand: CommandDef = {
  name: 'domhostname',
  help: "print the domain's hostname",
  desc: '',
  options: [DOMAIN_OPT, { name: 'source', type: 'string', help: "address source: 'lease' or 'agent'" }],
  run: onDomain(async (conn, dom, o, out, io) => {
    let flags = 0;
    if (o.source !== undefined) {
      if (o.source === 'agent') flags = 2;
      else if (o.source === 'lease') flags = 1;
      else throw usageError(`Unknown data source '${o.source}'`);
    }
    const name = await reporting(io, 'failed to get hostname', () => conn.domainGetHostname(dom, flags));
    out(`${name}\n`);
  }),
};

export const domfsinfoCommand: CommandDef = {
  name: 'domfsinfo',
  help: "Get information of domain's mounted filesystems.",
  desc: "Get information of domain's mounted filesystems.",
  options: [DOMAIN_OPT],
  run: onDomain(async (conn, dom, _o, out, io) => {
    const { info } = await reporting(io, 'Unable to get filesystem information', () =>
      conn.domainGetFSInfo(dom, 0),
    );
    if (info.length === 0) {
      out('No filesystems are mounted in the domain');
      return;
    }
    out(
      formatTable(
        ['Mountpoint', 'Name', 'Type', 'Target'],
        info.map((fs) => [fs.mountpoint, fs.name, fs.fstype, fs.dev_aliases.join(',')]),
      ),
    );
  }),
};

export const domfsfreezeCommand: CommandDef = {
  name: 'domfsfreeze',
  help: "Freeze domain's mounted filesystems.",
  desc: "Freeze domain's mounted filesystems.",
  options: [
    DOMAIN_OPT,
    { name: 'mountpoint', type: 'data', multiple: true, help: 'mountpoint path to be frozen' },
  ],
  run: onDomain(async (conn, dom, o, out, io) => {
    const n = await reporting(io, 'Unable to freeze filesystems', () =>
      conn.domainFSFreeze(dom, optionList(o, 'mountpoint'), 0),
    );
    out(`Froze ${n} filesystem(s)\n`);
  }),
};

export const domfsthawCommand: CommandDef = {
  name: 'domfsthaw',
  help: "Thaw domain's mounted filesystems.",
  desc: "Thaw domain's mounted filesystems.",
  options: [
    DOMAIN_OPT,
    { name: 'mountpoint', type: 'data', multiple: true, help: 'mountpoint path to be thawed' },
  ],
  run: onDomain(async (conn, dom, o, out, io) => {
    const n = await reporting(io, 'Unable to thaw filesystems', () =>
      conn.domainFSThaw(dom, optionList(o, 'mountpoint'), 0),
    );
    out(`Thawed ${n} filesystem(s)\n`);
  }),
};

export const domfstrimCommand: CommandDef = {
  name: 'domfstrim',
  help: "Invoke fstrim on domain's mounted filesystems.",
  desc: "Invoke fstrim on domain's mounted filesystems.",
  options: [
    DOMAIN_OPT,
    {
      name: 'minimum',
      type: 'string',
      help: 'Just a hint to ignore contiguous free ranges smaller than this (Bytes)',
    },
    { name: 'mountpoint', type: 'string', help: 'which mount point to trim' },
  ],
  run: onDomain(async (conn, dom, o, out, io) => {
    const minimum = intOpt(o, 'minimum', true) ?? 0;
    await reporting(io, 'Unable to invoke fstrim', () =>
      conn.domainFSTrim(dom, (o.mountpoint as string | undefined) ?? null, minimum, 0),
    );
    out('');
  }),
};

export const setUserPasswordCommand: CommandDef = {
  name: 'set-user-password',
  help: 'set the user password inside the domain',
  desc: 'changes the password of the specified user inside the domain',
  options: [
    DOMAIN_OPT,
    { name: 'user', type: 'data', required: true, help: 'the username' },
    { name: 'password', type: 'data', required: true, help: 'the new password' },
    flag('encrypted', 'the password is already encrypted'),
  ],
  run: onDomain(async (conn, dom, o, out, _io) => {
    await conn.domainSetUserPassword(dom, o.user as string, o.password as string, o.encrypted ? 1 : 0);
    out(`Password set successfully for ${o.user} in ${dom.name}`);
  }),
};

/** cmdGuestInfo's options and their VIR_DOMAIN_GUEST_INFO_* types. */
const GUEST_INFO_OPTS: Array<[string, number, string]> = [
  ['user', 1, 'report active users'],
  ['os', 2, 'report operating system information'],
  ['timezone', 4, 'report timezone information'],
  ['hostname', 8, 'report hostname'],
  ['filesystem', 16, 'report filesystem information'],
  ['disk', 32, 'report disk information'],
  ['interface', 64, 'report interface information'],
];

export const guestinfoCommand: CommandDef = {
  name: 'guestinfo',
  help: 'query information about the guest (via agent)',
  desc: "Use the guest agent to query various information from guest's point of view",
  options: [DOMAIN_OPT, ...GUEST_INFO_OPTS.map(([n, , h]) => flag(n, h))],
  run: onDomain(async (conn, dom, o, out, _io) => {
    const types = GUEST_INFO_OPTS.reduce((t, [n, bit]) => (o[n] ? t | bit : t), 0);
    const params = await conn.domainGetGuestInfo(dom, types, 0);
    out(params.map((p) => `${p.field.padEnd(20)}: ${typedParamText(p)}\n`).join(''));
  }),
};

export const guestvcpusCommand: CommandDef = {
  name: 'guestvcpus',
  help: 'query or modify state of vcpu in the guest (via agent)',
  desc: "Use the guest agent to query or set cpu state from guest's point of view",
  options: [
    DOMAIN_OPT,
    { name: 'cpulist', type: 'string', help: 'list of cpus to enable or disable' },
    flag('enable', 'enable cpus specified by cpulist'),
    flag('disable', 'disable cpus specified by cpulist'),
  ],
  run: onDomain(
    async (conn, dom, o, out) => {
      if (o.cpulist !== undefined) {
        await conn.domainSetGuestVcpus(dom, o.cpulist as string, o.enable ? 1 : 0, 0);
        out('');
        return;
      }
      const params = await conn.domainGetGuestVcpus(dom, 0);
      out(params.map((p) => `${p.field.padEnd(15)}: ${typedParamText(p)}\n`).join(''));
    },
    (opts) => {
      exclusive(opts, 'enable', 'disable');
      for (const o of ['enable', 'disable'])
        if (opts[o] && opts.cpulist === undefined)
          throw usageError(`Option --${o} is required by option --cpulist`);
      if (opts.cpulist !== undefined && !opts.enable && !opts.disable)
        throw usageError('One of options --enable or --disable is required by option --cpulist');
    },
  ),
};

export const getUserSshkeysCommand: CommandDef = {
  name: 'get-user-sshkeys',
  help: 'list authorized SSH keys for given user (via agent)',
  desc: 'Use the guest agent to query authorized SSH keys for given user',
  options: [
    DOMAIN_OPT,
    { name: 'user', type: 'data', required: true, help: 'user to list authorized keys for' },
  ],
  run: onDomain(async (conn, dom, o, out, _io) => {
    const keys = await conn.domainAuthorizedSSHKeysGet(dom, o.user as string, 0);
    out(keys.map((k) => `${k}\n`).join(''));
  }),
};

export const setUserSshkeysCommand: CommandDef = {
  name: 'set-user-sshkeys',
  help: 'manipulate authorized SSH keys file for given user (via agent)',
  desc: 'Append, reset or remove specified key from the authorized SSH keys file for given user',
  options: [
    DOMAIN_OPT,
    { name: 'user', type: 'data', required: true, help: 'user to set authorized keys for' },
    { name: 'file', type: 'string', help: 'optional file to read keys from' },
    flag('reset', 'clear out authorized keys file before adding new keys'),
    flag('remove', 'remove keys from the authorized keys file'),
  ],
  run: onDomain(
    async (conn, dom, o, out) => {
      let flags = 0;
      if (o.remove) flags |= 2;
      else if (!o.reset) flags |= 1;
      if (o.remove && o.file === undefined)
        throw new VirError('INVALID_ARG', 'none', 'Option --file is required');
      const text = o.file === undefined ? '' : await readFileArg(o.file as string);
      const keys = text.split('\n').filter((l) => l.trim() && !l.startsWith('#'));
      await conn.domainAuthorizedSSHKeysSet(dom, o.user as string, keys, flags);
      out('');
    },
    (opts) => exclusive(opts, 'reset', 'remove'),
  ),
};

/** cmdGuestAgentTimeout: the agent's response timeout (virDomainAgentSetResponseTimeout). */
export const guestAgentTimeoutCommand: CommandDef = {
  name: 'guest-agent-timeout',
  help: 'Set the guest agent timeout',
  desc: 'Set the number of seconds to wait for a response from the guest agent.',
  options: [DOMAIN_OPT, { name: 'timeout', type: 'string', help: 'timeout seconds.' }],
  async run(session, opts) {
    await withDriver(session, async (conn) => {
      const dom = await lookupDomain(conn, opts.domain as string);
      let timeout = -2; // VIR_DOMAIN_AGENT_RESPONSE_TIMEOUT_BLOCK
      if (opts.timeout !== undefined) {
        const text = opts.timeout as string;
        // vshCommandOptInt
        if (!/^[+-]?\d+$/.test(text.trim()) || Math.abs(Number(text)) > 2 ** 31 - 1)
          throw usageError(`Numeric value '${text}' for <timeout> option is malformed or out of range`);
        timeout = Number(text);
      }
      await conn.domainAgentSetResponseTimeout(dom, timeout, 0);
      print(session.io, '');
    });
  },
};

export const GUEST_AGENT_COMMANDS: CommandDef[] = [
  domtimeCommand,
  domifaddrCommand,
  domhostnameCommand,
  domfsinfoCommand,
  domfsfreezeCommand,
  domfsthawCommand,
  domfstrimCommand,
  setUserPasswordCommand,
  guestinfoCommand,
  guestvcpusCommand,
  getUserSshkeysCommand,
  setUserSshkeysCommand,
  guestAgentTimeoutCommand,
];
