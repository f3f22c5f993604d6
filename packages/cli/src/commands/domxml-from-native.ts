import { type CommandDef, readFileArg } from '../command.js';
import { withDriver } from '../driver-connection.js';

export const domxmlFromNativeCommand: CommandDef = {
  name: 'domxml-from-native',
  help: 'Convert native config to domain XML',
  desc: 'Convert native guest configuration format to domain XML format.',
  options: [
    { name: 'format', type: 'data', required: true, help: 'source config data format' },
    { name: 'config', type: 'data', required: true, help: 'config data file to import from' },
  ],
  async run(session, opts) {
    const file = opts.config as string;
    const text = await readFileArg(file);
    const xml = await withDriver(session, (conn) =>
      conn.connectDomainXMLFromNative(opts.format as string, text, 0),
    );
    session.io.out(xml);
  },
};
