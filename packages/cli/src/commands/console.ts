/**
 * `console`: virsh's interactive console (cmdConsole and virsh-console.c). The terminal goes raw,
 * its keys go to the guest's console stream and the stream's bytes to the terminal, until Ctrl+]
 * or the end of the stream (the guest stopped, or another session forced this one out).
 */
import { VirError } from '@qvirt/core/errors';
import { VIR_DOMAIN_CONSOLE, VIR_DOMAIN_STATE, type VirStream } from '@qvirt/core/hypervisor';
import type { CommandDef } from '../command.js';
import { DOMAIN_OPT, lookupDomain, withDriver } from '../driver-connection.js';

/** virsh's default escape character, ^] (0x1d). */
const ESCAPE = 0x1d;

export const consoleCommand: CommandDef = {
  name: 'console',
  help: 'connect to the guest console',
  desc: 'Connect the virtual serial console for the guest',
  options: [
    DOMAIN_OPT,
    { name: 'devname', type: 'string', help: 'character device name' },
    { name: 'force', type: 'bool', help: 'force console connection (disconnect already connected sessions)' },
    { name: 'safe', type: 'bool', help: 'only connect if safe console handling is supported' },
  ],
  async run(session, opts) {
    let flags = 0;
    if (opts.force === true) flags |= VIR_DOMAIN_CONSOLE.FORCE;
    if (opts.safe === true) flags |= VIR_DOMAIN_CONSOLE.SAFE;
    await withDriver(session, async (driver) => {
      const dom = await lookupDomain(driver, opts.domain as string);
      const { state } = await driver.domainGetState(dom, 0).catch(() => {
        throw new VirError('OPERATION_FAILED', 'none', 'Unable to get domain status');
      });
      if (state === VIR_DOMAIN_STATE.shutoff)
        throw new VirError('OPERATION_INVALID', 'none', 'The domain is not running');
      if (!process.stdin.isTTY)
        throw new VirError(
          'OPERATION_INVALID',
          'none',
          'Cannot run interactive console without a controlling TTY',
        );
      session.io.out(`Connected to domain '${dom.name}'\nEscape character is ^] (Ctrl + ])\n`);
      process.stdin.setRawMode(true);
      try {
        const st = await driver.domainOpenConsole(dom, (opts.devname as string | undefined) ?? null, flags);
        await pump(st);
      } finally {
        process.stdin.setRawMode(false);
        process.stdin.pause();
      }
    });
  },
};

/** Terminal to stream and back until the escape key or the stream's end. */
async function pump(st: VirStream): Promise<void> {
  let quit: () => void = () => {};
  const escaped = new Promise<void>((r) => {
    quit = r;
  });
  const onKeys = (b: Buffer) => {
    const at = b.indexOf(ESCAPE);
    const keys = at === -1 ? b : b.subarray(0, at);
    if (keys.length > 0) void st.send(keys).catch(() => quit());
    if (at !== -1) quit();
  };
  process.stdin.on('data', onKeys);
  process.stdin.resume();
  const output = (async () => {
    for (;;) {
      const c = await st.recv();
      if (c === null) return;
      if ('data' in c) process.stdout.write(c.data);
    }
  })();
  try {
    await Promise.race([escaped, output]);
  } finally {
    process.stdin.off('data', onKeys);
    await st.finish().catch(() => {});
    output.catch(() => {});
  }
}
