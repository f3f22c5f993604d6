/**
 * save, restore, save-image-dumpxml/define, managedsave, managedsave-remove/dumpxml/define:
 * virsh's commands on libvirt's save images (virsh-domain.c), with its messages.
 */
import { readFile } from 'node:fs/promises';
import { VirError } from '@qvirt/core/errors';
import { VIR_DOMAIN_SAVE, VIR_DOMAIN_SAVE_IMAGE_XML } from '@qvirt/core/hypervisor';
import type { CommandDef, OptDef, ParsedOpts } from '../command.js';
import { DOMAIN_OPT, lookupDomain, print, reporting, withDriver } from '../driver-connection.js';
import { editLoop } from './edit-file.js';

async function readXml(file: string): Promise<string> {
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

const bool = (name: string, help: string): OptDef => ({ name, type: 'bool', help });
const RUNNING_PAUSED: OptDef[] = [
  bool('running', 'set domain to be running on restore'),
  bool('paused', 'set domain to be paused on restore'),
];

/** --bypass-cache, --running, --paused as VIR_DOMAIN_SAVE flags (the last two exclusive, as virsh says). */
function saveFlags(opts: ParsedOpts): number {
  if (opts.running && opts.paused)
    throw new VirError('INVALID_ARG', 'none', 'Options --running and --paused are mutually exclusive');
  const S = VIR_DOMAIN_SAVE;
  return (
    (opts['bypass-cache'] ? S.BYPASS_CACHE : 0) |
    (opts.running ? S.RUNNING : 0) |
    (opts.paused ? S.PAUSED : 0) |
    (opts['reset-nvram'] ? S.RESET_NVRAM : 0)
  );
}

const FILE = (help: string): OptDef => ({ name: 'file', type: 'data', required: true, help });

export const saveCommand: CommandDef = {
  name: 'save',
  help: 'save a domain state to a file',
  desc: 'Save the RAM state of a running domain.',
  options: [
    DOMAIN_OPT,
    FILE('where to save the data'),
    bool('bypass-cache', 'avoid file system cache when saving'),
    { name: 'xml', type: 'string', help: 'filename containing updated XML for the target' },
    ...RUNNING_PAUSED,
    bool('verbose', 'display the progress of save'),
  ],
  async run(session, opts) {
    const flags = saveFlags(opts);
    const xml = opts.xml === undefined ? null : await readXml(opts.xml as string);
    const to = opts.file as string;
    await withDriver(session, async (driver) => {
      const dom = await lookupDomain(driver, opts.domain as string);
      await reporting(session.io, `Failed to save domain '${dom.name}' to ${to}`, () =>
        flags || xml !== null ? driver.domainSaveFlags(dom, to, xml, flags) : driver.domainSave(dom, to),
      );
      print(session.io, `\nDomain '${dom.name}' saved to ${to}\n`);
    });
  },
};

export const restoreCommand: CommandDef = {
  name: 'restore',
  help: 'restore a domain from a saved state in a file',
  desc: 'Restore a domain.',
  options: [
    FILE('the state to restore'),
    bool('bypass-cache', 'avoid file system cache when restoring'),
    { name: 'xml', type: 'string', help: 'filename containing updated XML for the target' },
    bool('running', 'restore domain into running state'),
    bool('paused', 'restore domain into paused state'),
    bool('reset-nvram', 're-initialize NVRAM from its pristine template'),
  ],
  async run(session, opts) {
    const flags = saveFlags(opts);
    const xml = opts.xml === undefined ? null : await readXml(opts.xml as string);
    const from = opts.file as string;
    await withDriver(session, async (driver) => {
      await reporting(session.io, `Failed to restore domain from ${from}`, () =>
        flags || xml !== null ? driver.domainRestoreFlags(from, xml, flags) : driver.domainRestore(from),
      );
      print(session.io, `Domain restored from ${from}\n`);
    });
  },
};

export const saveImageDumpxmlCommand: CommandDef = {
  name: 'save-image-dumpxml',
  help: 'saved state domain information in XML',
  desc: 'Dump XML of domain information for a saved state file to stdout.',
  options: [
    FILE('saved state file to read'),
    bool('security-info', 'include security sensitive information in XML dump'),
  ],
  async run(session, opts) {
    const flags = opts['security-info'] ? VIR_DOMAIN_SAVE_IMAGE_XML.SECURE : 0;
    await withDriver(session, async (driver) => {
      print(session.io, await driver.domainSaveImageGetXMLDesc(opts.file as string, flags));
    });
  },
};

export const saveImageDefineCommand: CommandDef = {
  name: 'save-image-define',
  help: "redefine the XML for a domain's saved state file",
  desc: 'Replace the domain XML associated with a saved state file',
  options: [
    FILE('saved state file to modify'),
    { name: 'xml', type: 'data', required: true, help: 'filename containing updated XML for the target' },
    ...RUNNING_PAUSED,
  ],
  async run(session, opts) {
    const flags = saveFlags(opts);
    const file = opts.file as string;
    const xml = await readXml(opts.xml as string);
    await withDriver(session, async (driver) => {
      await reporting(session.io, `Failed to update ${file}`, () =>
        driver.domainSaveImageDefineXML(file, xml, flags),
      );
      print(session.io, `State file ${file} updated.\n`);
    });
  },
};

export const managedsaveCommand: CommandDef = {
  name: 'managedsave',
  help: 'managed save of a domain state',
  desc: "Save and destroy a running domain, so it can be restarted from\n    the same state at a later time.  When the virsh 'start'\n    command is next run for the domain, it will automatically\n    be started from this saved state.",
  options: [
    DOMAIN_OPT,
    bool('bypass-cache', 'avoid file system cache when saving'),
    bool('running', 'set domain to be running on next start'),
    bool('paused', 'set domain to be paused on next start'),
    bool('verbose', 'display the progress of save'),
  ],
  async run(session, opts) {
    const flags = saveFlags(opts);
    await withDriver(session, async (driver) => {
      const dom = await lookupDomain(driver, opts.domain as string);
      await reporting(session.io, `Failed to save domain '${dom.name}' state`, () =>
        driver.domainManagedSave(dom, flags),
      );
      print(session.io, `\nDomain '${dom.name}' state saved by libvirt\n`);
    });
  },
};

export const managedsaveRemoveCommand: CommandDef = {
  name: 'managedsave-remove',
  help: 'Remove managed save of a domain',
  desc: 'Remove an existing managed save state file from a domain',
  options: [DOMAIN_OPT],
  async run(session, opts) {
    await withDriver(session, async (driver) => {
      const dom = await lookupDomain(driver, opts.domain as string);
      const has = await driver.domainHasManagedSaveImage(dom, 0).catch(() => {
        throw new VirError('OPERATION_FAILED', 'none', 'Failed to check for domain managed save image');
      });
      if (!has) {
        print(session.io, `Domain '${dom.name}' has no manage save image; removal skipped`);
        return;
      }
      await reporting(session.io, `Failed to remove managed save image for domain '${dom.name}'`, () =>
        driver.domainManagedSaveRemove(dom, 0),
      );
      print(session.io, `Removed managedsave image for domain '${dom.name}'`);
    });
  },
};

export const managedsaveDumpxmlCommand: CommandDef = {
  name: 'managedsave-dumpxml',
  help: 'Domain information of managed save state file in XML',
  desc: 'Dump XML of domain information for a managed save state file to stdout.',
  options: [DOMAIN_OPT, bool('security-info', 'include security sensitive information in XML dump')],
  async run(session, opts) {
    const flags = opts['security-info'] ? VIR_DOMAIN_SAVE_IMAGE_XML.SECURE : 0;
    await withDriver(session, async (driver) => {
      const dom = await lookupDomain(driver, opts.domain as string);
      print(session.io, await driver.domainManagedSaveGetXMLDesc(dom, flags));
    });
  },
};

export const managedsaveDefineCommand: CommandDef = {
  name: 'managedsave-define',
  help: "redefine the XML for a domain's managed save state file",
  desc: 'Replace the domain XML associated with a managed save state file',
  options: [
    DOMAIN_OPT,
    { name: 'xml', type: 'data', required: true, help: 'filename containing updated XML for the target' },
    ...RUNNING_PAUSED,
  ],
  async run(session, opts) {
    const flags = saveFlags(opts);
    const xml = await readXml(opts.xml as string);
    await withDriver(session, async (driver) => {
      const dom = await lookupDomain(driver, opts.domain as string);
      await reporting(session.io, `Failed to update ${dom.name} XML configuration`, () =>
        driver.domainManagedSaveDefineXML(dom, xml, flags),
      );
      print(session.io, `Managed save state file of domain '${dom.name}' updated.\n`);
    });
  },
};

export const saveImageEditCommand: CommandDef = {
  name: 'save-image-edit',
  help: "edit XML for a domain's saved state file",
  desc: 'Edit the domain XML associated with a saved state file',
  options: [
    FILE('saved state file to edit'),
    bool('running', 'set domain to be running on restore'),
    bool('paused', 'set domain to be paused on restore'),
  ],
  async run(session, opts) {
    const flags = saveFlags(opts);
    const file = opts.file as string;
    await withDriver(session, async (driver) => {
      const done = await editLoop(
        session,
        () => driver.domainSaveImageGetXMLDesc(file, VIR_DOMAIN_SAVE_IMAGE_XML.SECURE),
        () => {
          session.io.out(`Saved image ${file} XML configuration not changed.\n\n`);
          return false;
        },
        async (doc) => {
          await driver.domainSaveImageDefineXML(file, doc, flags);
          return true;
        },
      );
      if (done) print(session.io, `State file ${file} edited.\n`);
    });
  },
};

export const managedsaveEditCommand: CommandDef = {
  name: 'managedsave-edit',
  help: "edit XML for a domain's managed save state file",
  desc: 'Edit the domain XML associated with the managed save state file',
  options: [
    DOMAIN_OPT,
    bool('running', 'set domain to be running on start'),
    bool('paused', 'set domain to be paused on start'),
  ],
  async run(session, opts) {
    const flags = saveFlags(opts);
    await withDriver(session, async (driver) => {
      const dom = await lookupDomain(driver, opts.domain as string);
      const done = await editLoop(
        session,
        () => driver.domainManagedSaveGetXMLDesc(dom, VIR_DOMAIN_SAVE_IMAGE_XML.SECURE),
        () => {
          session.io.out(`Managed save image of domain '${dom.name}' XML configuration not changed.\n\n`);
          return false;
        },
        async (doc) => {
          await driver.domainManagedSaveDefineXML(dom, doc, flags);
          return true;
        },
      );
      if (done) print(session.io, `Managed save image of Domain '${dom.name}' XML configuration edited.\n`);
    });
  },
};

export const SAVE_COMMANDS: CommandDef[] = [
  managedsaveEditCommand,
  saveImageEditCommand,
  managedsaveCommand,
  managedsaveDefineCommand,
  managedsaveDumpxmlCommand,
  managedsaveRemoveCommand,
  restoreCommand,
  saveCommand,
  saveImageDefineCommand,
  saveImageDumpxmlCommand,
];
