/**
 * dump: virsh's cmdDump / doDump (virsh-domain.c): a core dump of a domain, the full migration
 * stream or, with --memory-only, QEMU's ELF / kdump / win-dmp dump; --format names the latter's.
 */
import path from 'node:path';
import { VIR_DOMAIN_CORE_DUMP_FORMAT_NAMES, VIR_DUMP } from '@qvirt/core/hypervisor';
import { type CommandDef, type OptDef, usageError } from '../command.js';
import { DOMAIN_OPT, lookupDomain, print, reporting, withDriver } from '../driver-connection.js';

const bool = (name: string, help: string): OptDef => ({ name, type: 'bool', help });

export const dumpCommand: CommandDef = {
  name: 'dump',
  help: 'dump the core of a domain to a file for analysis',
  desc: 'Core dump a domain.',
  options: [
    DOMAIN_OPT,
    { name: 'file', type: 'data', required: true, help: 'where to dump the core' },
    bool('live', 'perform a live core dump if supported'),
    bool('crash', 'crash the domain after core dump'),
    bool('bypass-cache', 'avoid file system cache when dumping'),
    bool('reset', 'reset the domain after core dump'),
    bool('verbose', 'display the progress of dump'),
    bool('memory-only', "dump domain's memory only"),
    { name: 'format', type: 'string', help: 'specify the format of memory-only dump' },
  ],
  async run(session, opts) {
    const to = opts.file as string;
    await withDriver(session, async (driver) => {
      // cmdDump looks the domain up before its worker reads the options
      const dom = await lookupDomain(driver, opts.domain as string);
      const D = VIR_DUMP;
      const flags =
        (opts.live ? D.LIVE : 0) |
        (opts.crash ? D.CRASH : 0) |
        (opts['bypass-cache'] ? D.BYPASS_CACHE : 0) |
        (opts.reset ? D.RESET : 0) |
        (opts['memory-only'] ? D.MEMORY_ONLY : 0);
      let dumpformat = 0;
      if (opts.format !== undefined) {
        if (!(flags & D.MEMORY_ONLY)) throw usageError('--format only works with --memory-only');
        const format = opts.format as string;
        if (format) {
          dumpformat = VIR_DOMAIN_CORE_DUMP_FORMAT_NAMES.indexOf(format);
          if (dumpformat < 0)
            throw usageError(
              `format '${format}' is not supported, expecting 'kdump-zlib', 'kdump-lzo', 'kdump-snappy', 'win-dmp' or 'elf'`,
            );
        }
      }
      // virDomainCoreDump makes the path absolute where the client runs (the dump is done elsewhere)
      const abs = path.resolve(to);
      await reporting(session.io, `Failed to core dump domain '${dom.name}' to ${to}`, () =>
        dumpformat !== 0
          ? driver.domainCoreDumpWithFormat(dom, abs, dumpformat, flags)
          : driver.domainCoreDump(dom, abs, flags),
      );
      // virshWatchJob's last word with --verbose (virshPrintJobProgress on stderr)
      if (opts.verbose) session.io.err('\rDump: [100 %]');
      print(session.io, `\nDomain '${dom.name}' dumped to ${to}\n`);
    });
  },
};
