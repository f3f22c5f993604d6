/** define, undefine, create, start, shutdown, destroy, reboot, suspend, resume, autostart. */
import { readFile } from 'node:fs/promises';
import { VirError } from '@qvirt/core';
import type { CommandDef, ParsedOpts, Session } from '../command.js';
import {
  type Connection,
  DOMAIN_OPT,
  lookupDomain,
  print,
  reporting,
  withDriver,
} from '../driver-connection.js';

async function readXmlFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new VirError(
      'SYSTEM_ERROR',
      'none',
      `Failed to open file '${file}': ${code === 'ENOENT' ? 'No such file or directory' : String(code)}`,
    );
  }
}

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
    const xml = await readXmlFile(file);
    await withDriver(session, async (driver) => {
      const dom = await reporting(session.io, `Failed to define domain from ${file}`, () =>
        driver.defineXML(xml),
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
    const xml = await readXmlFile(file);
    await withDriver(session, async (driver) => {
      const dom = await reporting(session.io, `Failed to create domain from ${file}`, () =>
        driver.createXML(xml, { paused: opts.paused === true }),
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
  op: (driver: Connection, dom: string, opts: ParsedOpts, session: Session) => Promise<void>,
  messages: (dom: string, opts: ParsedOpts) => { ok: string; fail: string },
  extra: CommandDef['options'] = [],
): CommandDef {
  return {
    name,
    help,
    desc,
    options: [DOMAIN_OPT, ...extra],
    async run(session, opts) {
      await withDriver(session, async (driver) => {
        const dom = await lookupDomain(driver, opts.domain as string);
        const m = messages(dom.name, opts);
        await reporting(session.io, m.fail, () => op(driver, dom.name, opts, session));
        print(session.io, `${m.ok}\n`);
      });
    },
  };
}

export const undefineCommand = domainCommand(
  'undefine',
  'undefine a domain',
  'Undefine an inactive domain, or convert persistent to transient.',
  (d, n) => d.undefine(n),
  (n) => ({ ok: `Domain '${n}' has been undefined`, fail: `Failed to undefine domain '${n}'` }),
);

export const startCommand: CommandDef = {
  name: 'start',
  help: 'start a (previously defined) inactive domain',
  desc: 'Start a domain, either from the last managedsave state, or via a fresh boot if no managedsave state is present.',
  options: [DOMAIN_OPT, { name: 'paused', type: 'bool', help: 'leave the guest paused after start' }],
  async run(session, opts) {
    await withDriver(session, async (driver) => {
      const dom = await lookupDomain(driver, opts.domain as string);
      if (dom.id !== -1)
        throw new VirError('OPERATION_INVALID', 'none', `Domain '${dom.name}' is already active`);
      await reporting(session.io, `Failed to start domain '${dom.name}'`, () =>
        driver.start(dom.name, { paused: opts.paused === true }),
      );
      print(session.io, `Domain '${dom.name}' started\n`);
    });
  },
};

export const shutdownCommand = domainCommand(
  'shutdown',
  'gracefully shutdown a domain',
  'Run shutdown in the target domain.',
  async (d, n, opts) => {
    const mode = opts.mode as string | undefined;
    if (mode !== undefined && mode !== 'acpi') {
      throw new VirError(
        'NO_SUPPORT',
        'none',
        `this function is not supported by the connection driver: shutdown mode ${mode}`,
      );
    }
    await d.shutdown(n);
  },
  (n) => ({ ok: `Domain '${n}' is being shutdown`, fail: `Failed to shutdown domain '${n}'` }),
  [{ name: 'mode', type: 'string', help: 'shutdown mode: acpi|agent|initctl|signal|paravirt' }],
);

export const destroyCommand = domainCommand(
  'destroy',
  'destroy (stop) a domain',
  'Forcefully stop a given domain, but leave its resources intact.',
  (d, n) => d.destroy(n),
  (n) => ({ ok: `Domain '${n}' destroyed`, fail: `Failed to destroy domain '${n}'` }),
  [{ name: 'graceful', type: 'bool', help: 'terminate gracefully' }],
);

export const rebootCommand = domainCommand(
  'reboot',
  'reboot a domain',
  'Run a reboot command in the target domain.',
  (d, n) => d.reboot(n),
  (n) => ({ ok: `Domain '${n}' is being rebooted`, fail: `Failed to reboot domain '${n}'` }),
);

export const suspendCommand = domainCommand(
  'suspend',
  'suspend a domain',
  'Suspend a running domain.',
  (d, n) => d.suspend(n),
  (n) => ({ ok: `Domain '${n}' suspended`, fail: `Failed to suspend domain '${n}'` }),
);

export const resumeCommand = domainCommand(
  'resume',
  'resume a domain',
  'Resume a previously suspended domain.',
  (d, n) => d.resume(n),
  (n) => ({ ok: `Domain '${n}' resumed`, fail: `Failed to resume domain '${n}'` }),
);

export const autostartCommand = domainCommand(
  'autostart',
  'autostart a domain',
  'Configure a domain to be automatically started at boot.',
  (d, n, opts) => d.setAutostart(n, opts.disable !== true),
  (n, opts) =>
    opts.disable === true
      ? { ok: `Domain '${n}' unmarked as autostarted`, fail: `Failed to unmark domain '${n}' as autostarted` }
      : { ok: `Domain '${n}' marked as autostarted`, fail: `Failed to mark domain '${n}' as autostarted` },
  [{ name: 'disable', type: 'bool', help: 'disable autostarting' }],
);
