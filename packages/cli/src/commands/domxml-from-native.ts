import { readFile } from 'node:fs/promises';
import { VirError } from '@qvirt/core';
import { domxmlFromNative } from '@qvirt/qemu-argv';
import type { CommandDef } from '../command.js';

export const domxmlFromNativeCommand: CommandDef = {
  name: 'domxml-from-native',
  help: 'Convert native config to domain XML',
  desc: 'Convert native guest configuration format to domain XML format.',
  options: [
    { name: 'format', type: 'data', required: true, help: 'source config data format' },
    { name: 'config', type: 'data', required: true, help: 'config data file to import from' },
  ],
  async run(session, opts) {
    if (opts.format !== 'qemu-argv') {
      throw new VirError('INVALID_ARG', 'none', `invalid argument: unsupported config type ${opts.format}`);
    }
    const file = opts.config as string;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new VirError(
        'SYSTEM_ERROR',
        'none',
        `Failed to open file '${file}': ${code === 'ENOENT' ? 'No such file or directory' : String(code)}`,
      );
    }
    const result = domxmlFromNative(text);
    for (const w of result.warnings) session.io.err(`warning: ${w}\n`);
    session.io.out(result.xml);
  },
};
