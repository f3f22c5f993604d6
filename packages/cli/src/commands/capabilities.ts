import type { QemuIds, SecModel } from '@qvirt/host-prober';
import type { CommandDef } from '../command.js';
import { conversionContext } from '../conversion-context.js';
import { isInProcess, withDriver } from '../driver-connection.js';

/** One `<secmodel>` per stacked security driver of the instance (qemu.conf `security_driver`). */
async function secModels(session: Parameters<CommandDef['run']>[0]): Promise<SecModel[]> {
  const { QemuDriver } = await import('@qvirt/driver');
  let driver: Awaited<ReturnType<typeof QemuDriver.open>> | undefined;
  try {
    driver = await QemuDriver.open(session.uri, { env: session.env, reconnect: false, autostart: false });
    return await driver.secModels();
  } catch (err) {
    session.io.err(`warning: ${(err as Error).message}; no security model listed\n`);
    return [{ model: 'none', doi: '0' }];
  } finally {
    await driver?.close();
  }
}

/**
 * `capabilities`: libvirt's capabilities XML for this host. Emulators are probed over QMP (cached
 * under the instance's `<cacheDir>/capabilities`); a binary that fails to probe is left out with a
 * one-line warning, as libvirt leaves it out of its guest list.
 */
export const capabilitiesCommand: CommandDef = {
  name: 'capabilities',
  help: 'capabilities',
  desc: 'Returns capabilities of hypervisor/driver.',
  options: [],
  async run(session) {
    if (!isInProcess(session)) {
      const xml = await withDriver(session, (conn) => conn.getCapabilities!());
      session.io.out(`${xml}\n`);
      return;
    }
    const { capabilitiesXml, guestsFromProbe, probeHost, readHostInfo, resolveQemuIds } = await import(
      '@qvirt/host-prober'
    );
    const ctx = await conversionContext(session);
    let ids: QemuIds;
    try {
      ids = resolveQemuIds(ctx.conf.user, ctx.conf.group);
    } catch (err) {
      ids = resolveQemuIds(undefined, undefined);
      session.io.err(`warning: ${(err as Error).message}; probing as uid ${ids.uid}\n`);
    }
    const probe = await probeHost({
      ...ids,
      cacheDir: `${ctx.layout.cacheDir}/capabilities`,
      path: session.env.PATH ?? '/usr/bin:/bin',
      env: session.env,
    });
    for (const e of probe.errors) session.io.err(`warning: Failed to probe capabilities for ${e}\n`);
    const xml = capabilitiesXml({
      host: readHostInfo(),
      guests: guestsFromProbe(probe),
      secModels: await secModels(session),
    });
    session.io.out(`${xml}\n`);
  },
};
