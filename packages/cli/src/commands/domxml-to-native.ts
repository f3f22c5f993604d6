import { readFile } from 'node:fs/promises';
import { VirError } from '@qvirt/core';
import { domxmlToNative } from '@qvirt/qemu-argv';
import type { CommandDef } from '../command.js';
import { conversionContext } from '../conversion-context.js';

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
    if (opts.domain !== undefined) {
      throw new VirError(
        'NO_SUPPORT',
        'none',
        'this function is not supported by the connection driver: --domain needs the driver',
      );
    }
    const file = opts.xml as string | undefined;
    if (file === undefined) throw new VirError('INVALID_ARG', 'none', 'need either domain or domain XML');
    if (opts.format !== 'qemu-argv') {
      throw new VirError('INVALID_ARG', 'none', `invalid argument: unsupported config type ${opts.format}`);
    }
    let xml: string;
    try {
      xml = await readFile(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new VirError(
        'SYSTEM_ERROR',
        'none',
        `Failed to open file '${file}': ${code === 'ENOENT' ? 'No such file or directory' : String(code)}`,
      );
    }
    const ctx = await conversionContext(session);
    session.io.out(`${domxmlToNative(xml, ctx, file)}\n`);
  },
};
