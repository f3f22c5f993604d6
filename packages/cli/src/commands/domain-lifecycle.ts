import { VirError } from '@qvirt/core/errors';
import {
  type Domain,
  VIR_DOMAIN_DEFINE,
  VIR_DOMAIN_START,
  VIR_DOMAIN_UNDEFINE,
} from '@qvirt/core/hypervisor';
import { type CommandDef, type ParsedOpts, readFileArg, type Session, usageError } from '../command.js';
import {
  type Connection,
  DOMAIN_OPT,
  lookupDomain,
  print,
  reporting,
  withDriver,
} from '../driver-connection.js';

const FILE_OPT = {
  name: 'file',
  type: 'data' as const,
  required: true,
  help: 'file containing an XML domain description',
};

export const defineCommand: CommandDef = {
  name: 'define',
  help: "define (but don't start) a domain from an XML file",
  desc: 'Define a domain.',
  options: [FILE_OPT, { name: 'validate', type: 'bool', help: 'validate the XML against the schema' }],
  async run(session, opts) {
    const file = opts.file as string;
    const xml = await readFileArg(file);
    await withDriver(session, async (driver) => {
      const dom = await reporting(session.io, `Failed to define domain from ${file}`, () =>
        driver.domainDefineXMLFlags(xml, opts.validate === true ? VIR_DOMAIN_DEFINE.VALIDATE : 0),
      );
      print(session.io, `Domain '${dom.name}' defined from ${file}\n`);
    });
  },
};

export const createCommand: CommandDef = {
  name: 'create',
  help: 'create a domain from an XML file',
  desc: 'Create a domain.',
  options: [
    FILE_OPT,
    { name: 'paused', type: 'bool', help: 'leave the guest paused after creation' },
    { name: 'validate', type: 'bool', help: 'validate the XML against the schema' },
  ],
  async run(session, opts) {
    const file = opts.file as string;
    const xml = await readFileArg(file);
    await withDriver(session, async (driver) => {
      const dom = await reporting(session.io, `Failed to create domain from ${file}`, () =>
        driver.domainCreateXML(xml, startFlags(opts)),
      );
      print(session.io, `Domain '${dom.name}' created from ${file}\n`);
    });
  },
};

/** A command on one existing domain: lookup, the operation, virsh's message or its error. */
function domainCommand(
  name: string,
  help: string,
  desc: string,
  op: (driver: Connection, dom: Domain, opts: ParsedOpts, session: Session) => Promise<unknown>,
  messages: (dom: string, opts: ParsedOpts) => { ok: string; fail: string },
  extra: CommandDef['options'] = [],
  /** The handler's own option checks, which virsh makes before it looks the domain up. */
  check: (opts: ParsedOpts) => void = () => {},
): CommandDef {
  return {
    name,
    help,
    desc,
    options: [DOMAIN_OPT, ...extra],
    async run(session, opts) {
      await withDriver(session, async (driver) => {
        check(opts);
        const dom = await lookupDomain(driver, opts.domain as string);
        const m = messages(dom.name, opts);
        await reporting(session.io, m.fail, () => op(driver, dom, opts, session));
        print(session.io, `${m.ok}\n`);
      });
    },
  };
}

/** cmdUndefine (the storage options aside): virsh refuses a managed save image itself. */
export const undefineCommand: CommandDef = {
  name: 'undefine',
  help: 'undefine a domain',
  desc: 'Undefine an inactive domain, or convert persistent to transient.',
  options: [
    DOMAIN_OPT,
    { name: 'managed-save', type: 'bool', help: 'remove domain managed state file' },
    {
      name: 'snapshots-metadata',
      type: 'bool',
      help: 'remove all domain snapshot metadata (vm must be inactive)',
    },
    { name: 'nvram', type: 'bool', help: 'remove nvram file' },
    { name: 'keep-nvram', type: 'bool', help: 'keep nvram file' },
  ],
  async run(session, opts) {
    if (opts.nvram && opts['keep-nvram'])
      throw new VirError('INVALID_ARG', 'none', 'Options --nvram and --keep-nvram are mutually exclusive');
    const U = VIR_DOMAIN_UNDEFINE;
    let flags = 0;
    if (opts['managed-save']) flags |= U.MANAGED_SAVE;
    if (opts['snapshots-metadata']) flags |= U.SNAPSHOTS_METADATA;
    if (opts.nvram) flags |= U.NVRAM;
    if (opts['keep-nvram']) flags |= U.KEEP_NVRAM;
    await withDriver(session, async (driver) => {
      const dom = await lookupDomain(driver, opts.domain as string);
      if (!opts['managed-save'] && dom.id === -1 && (await driver.domainHasManagedSaveImage(dom, 0)) > 0)
        throw new VirError(
          'OPERATION_INVALID',
          'none',
          'Refusing to undefine while domain managed save image exists',
        );
      const snapshots = await driver.domainSnapshotNum(dom, 1 << 10).catch(() => 0);
      if (!opts['snapshots-metadata'] && snapshots > 0)
        throw new VirError(
          'OPERATION_INVALID',
          'none',
          `Refusing to undefine while ${snapshots} snapshots exist`,
        );
      await reporting(session.io, `Failed to undefine domain '${dom.name}'`, () =>
        driver.domainUndefineFlags(dom, flags),
      );
      print(session.io, `Domain '${dom.name}' has been undefined\n`);
    });
  },
};

export const startCommand: CommandDef = {
  name: 'start',
  help: 'start a (previously defined) inactive domain',
  desc: 'Start a domain, either from the last managedsave state, or via a fresh boot if no managedsave state is present.',
  options: [
    DOMAIN_OPT,
    { name: 'paused', type: 'bool', help: 'leave the guest paused after start' },
    { name: 'force-boot', type: 'bool', help: 'force fresh boot by discarding any managed save' },
  ],
  async run(session, opts) {
    await withDriver(session, async (driver) => {
      const dom = await lookupDomain(driver, opts.domain as string);
      if (dom.id !== -1)
        throw new VirError('OPERATION_INVALID', 'none', `Domain '${dom.name}' is already active`);
      await reporting(session.io, `Failed to start domain '${dom.name}'`, () =>
        driver.domainCreateWithFlags(dom, startFlags(opts)),
      );
      print(session.io, `Domain '${dom.name}' started\n`);
    });
  },
};

export const shutdownCommand = domainCommand(
  'shutdown',
  'gracefully shutdown a domain',
  'Run shutdown in the target domain.',
  async (d, dom, opts) => {
    const flags = shutdownModeFlags(opts.mode as string | undefined);
    if (flags) await d.domainShutdownFlags(dom, flags);
    else await d.domainShutdown(dom);
  },
  (n) => ({ ok: `Domain '${n}' is being shutdown`, fail: `Failed to shutdown domain '${n}'` }),
  [{ name: 'mode', type: 'string', help: 'shutdown mode: acpi|agent|initctl|signal|paravirt' }],
  // cmdShutdown refuses a mode it does not know before anything else is tried
  (opts) => void shutdownModeFlags(opts.mode as string | undefined),
);

export const destroyCommand = domainCommand(
  'destroy',
  'destroy (stop) a domain',
  'Forcefully stop a given domain, but leave its resources intact.',
  (d, dom, opts) => d.domainDestroyFlags(dom, opts.graceful === true ? 1 : 0),
  (n) => ({ ok: `Domain '${n}' destroyed`, fail: `Failed to destroy domain '${n}'` }),
  [{ name: 'graceful', type: 'bool', help: 'terminate gracefully' }],
);

export const rebootCommand = domainCommand(
  'reboot',
  'reboot a domain',
  'Run a reboot command in the target domain.',
  (d, dom, opts) => d.domainReboot(dom, shutdownModeFlags(opts.mode as string | undefined, 'reboot')),
  (n) => ({ ok: `Domain '${n}' is being rebooted`, fail: `Failed to reboot domain '${n}'` }),
  [{ name: 'mode', type: 'string', help: 'shutdown mode: acpi|agent|initctl|signal|paravirt' }],
  (opts) => void shutdownModeFlags(opts.mode as string | undefined, 'reboot'),
);

/** cmdShutdown/cmdReboot's --mode: a comma-separated list of VIR_DOMAIN_SHUTDOWN_* (same values for reboot). */
function shutdownModeFlags(mode: string | undefined, command: 'shutdown' | 'reboot' = 'shutdown'): number {
  const bits: Record<string, number> = { acpi: 1, agent: 2, initctl: 4, signal: 8, paravirt: 16 };
  let flags = 0;
  for (const m of mode === undefined ? [] : mode.split(',')) {
    const bit = bits[m];
    if (bit === undefined)
      throw usageError(
        // cmdShutdown's text has a serial comma, cmdReboot's has none
        `Unknown mode ${m} value, expecting 'acpi', 'agent', 'initctl', 'signal'${command === 'shutdown' ? ',' : ''} or 'paravirt'`,
      );
    flags |= bit;
  }
  return flags;
}

export const suspendCommand = domainCommand(
  'suspend',
  'suspend a domain',
  'Suspend a running domain.',
  (d, dom) => d.domainSuspend(dom),
  (n) => ({ ok: `Domain '${n}' suspended`, fail: `Failed to suspend domain '${n}'` }),
);

export const resumeCommand = domainCommand(
  'resume',
  'resume a domain',
  'Resume a previously suspended domain.',
  (d, dom) => d.domainResume(dom),
  (n) => ({ ok: `Domain '${n}' resumed`, fail: `Failed to resume domain '${n}'` }),
);

export const autostartCommand = domainCommand(
  'autostart',
  'autostart a domain',
  'Configure a domain to be automatically started at boot.',
  (d, dom, opts) => d.domainSetAutostart(dom, opts.disable === true ? 0 : 1),
  (n, opts) =>
    opts.disable === true
      ? { ok: `Domain '${n}' unmarked as autostarted`, fail: `Failed to unmark domain '${n}' as autostarted` }
      : { ok: `Domain '${n}' marked as autostarted`, fail: `Failed to mark domain '${n}' as autostarted` },
  [{ name: 'disable', type: 'bool', help: 'disable autostarting' }],
);

/** virsh's --paused for create and start (VIR_DOMAIN_START_PAUSED). */
function startFlags(opts: ParsedOpts): number {
  return (
    (opts.paused === true ? VIR_DOMAIN_START.PAUSED : 0) |
    (opts['force-boot'] === true ? VIR_DOMAIN_START.FORCE_BOOT : 0)
  );
}

/** virshNodeSuspendTarget. */
const SUSPEND_TARGETS = ['mem', 'disk', 'hybrid'];

/** cmdDomPMSuspend: its message has no newline of its own (virsh's closing one ends the line). */
export const dompmsuspendCommand: CommandDef = {
  name: 'dompmsuspend',
  help: 'suspend a domain gracefully using power management functions',
  desc: "Suspends a running domain using guest OS's power management. (Note: This requires a guest agent configured and running in the guest OS).",
  options: [
    DOMAIN_OPT,
    {
      name: 'target',
      type: 'data',
      required: true,
      help: 'mem(Suspend-to-RAM), disk(Suspend-to-Disk), hybrid(Hybrid-Suspend)',
    },
    { name: 'duration', type: 'string', help: 'duration in seconds' },
  ],
  async run(session, opts) {
    await withDriver(session, async (driver) => {
      const dom = await lookupDomain(driver, opts.domain as string);
      let duration = 0;
      if (opts.duration !== undefined) {
        const text = opts.duration as string;
        // vshCommandOptULongLong
        if (!/^\+?\d+$/.test(text.trim()))
          throw usageError(`Numeric value '${text}' for <duration> option is malformed or out of range`);
        duration = Number(text);
      }
      const target = SUSPEND_TARGETS.indexOf(opts.target as string);
      if (target < 0) throw usageError('Invalid target');
      await reporting(session.io, `Domain '${dom.name}' could not be suspended`, () =>
        driver.domainPMSuspendForDuration(dom, target, duration, 0),
      );
      print(session.io, `Domain '${dom.name}' successfully suspended`);
    });
  },
};

/** cmdDomPMWakeup. */
export const dompmwakeupCommand: CommandDef = {
  name: 'dompmwakeup',
  help: 'wakeup a domain from pmsuspended state',
  desc: 'Wakeup a domain that was previously suspended by power management.',
  options: [DOMAIN_OPT],
  async run(session, opts) {
    await withDriver(session, async (driver) => {
      const dom = await lookupDomain(driver, opts.domain as string);
      await reporting(session.io, `Domain '${dom.name}' could not be woken up`, () =>
        driver.domainPMWakeup(dom, 0),
      );
      print(session.io, `Domain '${dom.name}' successfully woken up`);
    });
  },
};
