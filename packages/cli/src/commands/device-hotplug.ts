/** attach-device and detach-device, as virsh 9.0's cmdAttachDevice / cmdDetachDevice print them. */
import { readFile } from 'node:fs/promises';
import { VirError } from '@qvirt/core';
import { VIR_DOMAIN_AFFECT as A } from '@qvirt/core/hypervisor';
import { type CommandDef, usageError } from '../command.js';
import { DOMAIN_OPT, lookupDomain, print, reporting, withDriver } from '../driver-connection.js';

function deviceCommand(name: 'attach-device' | 'detach-device'): CommandDef {
  const attach = name === 'attach-device';
  return {
    name,
    help: attach ? 'attach device from an XML file' : 'detach device from an XML file',
    desc: attach ? 'Attach device from an XML <file>.' : 'Detach device from an XML <file>',
    options: [
      DOMAIN_OPT,
      { name: 'file', type: 'data', required: true, help: 'XML file' },
      { name: 'persistent', type: 'bool', help: 'make live change persistent' },
      { name: 'config', type: 'bool', help: 'affect next boot' },
      { name: 'live', type: 'bool', help: 'affect running domain' },
      { name: 'current', type: 'bool', help: 'affect current domain' },
    ],
    async run(session, opts) {
      await withDriver(session, async (conn) => {
        for (const [a, b] of [
          ['persistent', 'current'],
          ['current', 'live'],
          ['current', 'config'],
        ] as const) {
          if (opts[a] && opts[b]) throw usageError(`Options --${a} and --${b} are mutually exclusive`);
        }
        let flags = (opts.config || opts.persistent ? A.CONFIG : 0) | (opts.live ? A.LIVE : 0);
        const dom = await lookupDomain(conn, opts.domain as string);
        const from = opts.file as string;
        if (opts.persistent && (await conn.domainIsActive(dom)) === 1) flags |= A.LIVE;
        let xml: string;
        try {
          xml = await readFile(from, 'utf8');
        } catch (err) {
          throw new VirError(
            'SYSTEM_ERROR',
            'none',
            `Failed to open file '${from}': ${(err as Error).message.replace(/^.*?: /, '').replace(/, open.*$/, '')}`,
          );
        }
        await reporting(session.io, `Failed to ${attach ? 'attach' : 'detach'} device from ${from}`, () => {
          if (flags || opts.current) {
            return attach
              ? conn.domainAttachDeviceFlags(dom, xml, flags)
              : conn.domainDetachDeviceFlags(dom, xml, flags);
          }
          return attach ? conn.domainAttachDevice(dom, xml) : conn.domainDetachDevice(dom, xml);
        });
        print(session.io, attach ? 'Device attached successfully\n' : 'Device detached successfully\n');
      });
    },
  };
}

export const attachDeviceCommand = deviceCommand('attach-device');
export const detachDeviceCommand = deviceCommand('detach-device');
