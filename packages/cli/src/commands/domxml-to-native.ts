import { VirError } from '@qvirt/core/errors';
import { type CommandDef, readFileArg } from '../command.js';
import { lookupDomain, withDriver } from '../driver-connection.js';

export const domxmlToNativeCommand: CommandDef = {
  name: 'domxml-to-native',
  help: 'Convert domain XML to native config',
  desc: 'Convert domain XML config to a native guest configuration format.',
  options: [
    { name: 'format', type: 'data', required: true, help: 'target config data type format' },
    { name: 'domain', type: 'string', help: 'domain name, id or uuid' },
    { name: 'xml', type: 'data', help: 'xml data file to export from' },
  ],
  async run(session, opts) {
    if (opts.domain !== undefined && opts.xml !== undefined) {
      throw new VirError('INVALID_ARG', 'none', 'Options --domain and --xml are mutually exclusive');
    }
    const file = opts.xml as string | undefined;
    const format = opts.format as string;
    if (opts.domain !== undefined) {
      // cmdDomXMLToNative: the domain's definition, converted
      const out = await withDriver(session, async (conn) => {
        const dom = await lookupDomain(conn, opts.domain as string);
        return conn.connectDomainXMLToNative(format, await conn.domainGetXMLDesc(dom, 0), 0);
      });
      session.io.out(out);
      return;
    }
    if (file === undefined) throw new VirError('INVALID_ARG', 'none', 'need either domain or domain XML');
    const text = await readFileArg(file);
    session.io.out(await withDriver(session, (conn) => conn.connectDomainXMLToNative(format, text, 0)));
  },
};
