import type { CommandDef } from '../command.js';
import { withDriver } from '../driver-connection.js';

/**
 * `capabilities`: libvirt's capabilities XML for this host, from the connection (the driver
 * probes its emulators over QMP once and caches the answer under its cache directory).
 */
export const capabilitiesCommand: CommandDef = {
  name: 'capabilities',
  help: 'capabilities',
  desc: 'Returns capabilities of hypervisor/driver.',
  options: [],
  async run(session) {
    const xml = await withDriver(session, (conn) => conn.connectGetCapabilities());
    // the document, virsh's newline after it and its blank line after every command
    session.io.out(`${xml}\n\n`);
  },
};
