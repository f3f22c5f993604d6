/**
 * domblkthreshold: virsh's cmdDomblkthreshold (virsh-domain.c), the write threshold of a disk or
 * of one image of its chain (`vda[1]`) for the BLOCK_THRESHOLD event. Silent on success.
 */
import type { CommandDef } from '../command.js';
import { DOMAIN_OPT, lookupDomain, print, withDriver } from '../driver-connection.js';
import { parseSize } from './storage-common.js';

export const domblkthresholdCommand: CommandDef = {
  name: 'domblkthreshold',
  help: "set the threshold for block-threshold event for a given block device or it's backing chain element",
  desc: 'set threshold for block-threshold event for a block device',
  options: [
    DOMAIN_OPT,
    { name: 'dev', type: 'data', required: true, help: 'device to set threshold for' },
    {
      name: 'threshold',
      type: 'data',
      required: true,
      help: 'threshold as a scaled number (by default bytes)',
    },
  ],
  async run(session, opts) {
    const dev = opts.dev as string;
    // vshCommandOptScaledInt(scale 1): a bare number is bytes
    const threshold = parseSize(opts.threshold as string, 'threshold');
    await withDriver(session, async (driver) => {
      const dom = await lookupDomain(driver, opts.domain as string);
      await driver.domainSetBlockThreshold(dom, dev, threshold, 0);
      // silent, but for the blank line after every command
      print(session.io, '');
    });
  },
};
