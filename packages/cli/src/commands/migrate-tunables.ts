/**
 * The migration tunables of a domain outside a migration, printed as virsh 9.0 prints them
 * (virsh-domain.c cmdMigrateSetMaxDowntime, cmdMigrateGetMaxDowntime, cmdMigrateCompCache,
 * cmdMigrateSetMaxSpeed, cmdMigrateGetMaxSpeed).
 */
import { VIR_DOMAIN_DIRTYRATE_MODE, VIR_DOMAIN_MIGRATE_MAX_SPEED } from '@qvirt/core/hypervisor';
import { type CommandDef, integerOption, usageError } from '../command.js';
import { DOMAIN_OPT, lookupDomain, print, withDriver } from '../driver-connection.js';
import { prettyCapacity } from './storage-common.js';

const POSTCOPY = VIR_DOMAIN_MIGRATE_MAX_SPEED.POSTCOPY;
const postcopyOpt = (help: string) => ({ name: 'postcopy', type: 'bool' as const, help });

export const migrateSetMaxDowntimeCommand: CommandDef = {
  name: 'migrate-setmaxdowntime',
  help: 'set maximum tolerable downtime',
  desc: 'Set maximum tolerable downtime of a domain which is being live-migrated to another host.',
  options: [
    DOMAIN_OPT,
    {
      name: 'downtime',
      type: 'data',
      required: true,
      help: 'maximum tolerable downtime (in milliseconds) for migration',
    },
  ],
  async run(session, opts) {
    await withDriver(session, async (conn) => {
      const dom = await lookupDomain(conn, opts.domain as string);
      const downtime = integerOption(opts, 'downtime') ?? 0;
      if (downtime < 1) throw usageError('migrate: Invalid downtime');
      await conn.domainMigrateSetMaxDowntime(dom, downtime, 0);
      print(session.io, '');
    });
  },
};

export const migrateGetMaxDowntimeCommand: CommandDef = {
  name: 'migrate-getmaxdowntime',
  help: 'get maximum tolerable downtime',
  desc: 'Get maximum tolerable downtime of a domain which is being live-migrated to another host.',
  options: [DOMAIN_OPT],
  async run(session, opts) {
    await withDriver(session, async (conn) => {
      const dom = await lookupDomain(conn, opts.domain as string);
      print(session.io, `${await conn.domainMigrateGetMaxDowntime(dom, 0)}\n`);
    });
  },
};

export const migrateCompCacheCommand: CommandDef = {
  name: 'migrate-compcache',
  help: 'get/set compression cache size',
  desc: 'Get/set size of the cache (in bytes) used for compressing repeatedly transferred memory pages during live migration.',
  options: [
    DOMAIN_OPT,
    { name: 'size', type: 'string', help: 'requested size of the cache (in bytes) used for compression' },
  ],
  async run(session, opts) {
    await withDriver(session, async (conn) => {
      const dom = await lookupDomain(conn, opts.domain as string);
      const size = integerOption(opts, 'size');
      if (size !== undefined) await conn.domainMigrateSetCompressionCache(dom, size, 0);
      // "Compression cache: %.3lf %s", without a newline of its own
      print(
        session.io,
        `Compression cache: ${prettyCapacity(await conn.domainMigrateGetCompressionCache(dom, 0), 3)}`,
      );
    });
  },
};

export const migrateSetSpeedCommand: CommandDef = {
  name: 'migrate-setspeed',
  help: 'Set the maximum migration bandwidth',
  desc: 'Set the maximum migration bandwidth (in MiB/s) for a domain which is being migrated to another host.',
  options: [
    DOMAIN_OPT,
    { name: 'bandwidth', type: 'data', required: true, help: 'migration bandwidth limit in MiB/s' },
    postcopyOpt('set post-copy migration bandwidth'),
  ],
  async run(session, opts) {
    await withDriver(session, async (conn) => {
      const dom = await lookupDomain(conn, opts.domain as string);
      const bandwidth = integerOption(opts, 'bandwidth') ?? 0;
      await conn.domainMigrateSetMaxSpeed(dom, bandwidth, opts.postcopy ? POSTCOPY : 0);
      print(session.io, '');
    });
  },
};

export const migrateGetSpeedCommand: CommandDef = {
  name: 'migrate-getspeed',
  help: 'Get the maximum migration bandwidth',
  desc: 'Get the maximum migration bandwidth (in MiB/s) for a domain.',
  options: [DOMAIN_OPT, postcopyOpt('get post-copy migration bandwidth')],
  async run(session, opts) {
    await withDriver(session, async (conn) => {
      const dom = await lookupDomain(conn, opts.domain as string);
      print(session.io, `${await conn.domainMigrateGetMaxSpeed(dom, opts.postcopy ? POSTCOPY : 0)}\n`);
    });
  },
};

/** virshDomainDirtyRateCalcMode's names, each with its VIR_DOMAIN_DIRTYRATE_MODE_* flag. */
const DIRTYRATE_MODES: Record<string, number> = {
  'page-sampling': VIR_DOMAIN_DIRTYRATE_MODE.PAGE_SAMPLING,
  'dirty-bitmap': VIR_DOMAIN_DIRTYRATE_MODE.DIRTY_BITMAP,
  'dirty-ring': VIR_DOMAIN_DIRTYRATE_MODE.DIRTY_RING,
};

export const domdirtyrateCalcCommand: CommandDef = {
  name: 'domdirtyrate-calc',
  help: "Calculate a vm's memory dirty rate",
  desc: "Calculate memory dirty rate of a domain in order to decide whether it's proper to be migrated out or not.\nThe calculated dirty rate information is available by calling 'domstats --dirtyrate'.",
  options: [
    DOMAIN_OPT,
    {
      name: 'seconds',
      type: 'string',
      help: 'calculate memory dirty rate within specified seconds, the supported value range from 1 to 60, default to 1.',
    },
    {
      name: 'mode',
      type: 'string',
      help: "dirty page rate calculation mode, either of these 3 options 'page-sampling, dirty-bitmap, dirty-ring' can be specified.",
    },
  ],
  async run(session, opts) {
    await withDriver(session, async (conn) => {
      const dom = await lookupDomain(conn, opts.domain as string);
      // vshCommandOptInt
      const seconds = integerOption(opts, 'seconds', { unsigned: false, max: 2 ** 31 - 1 }) ?? 1;
      const mode = opts.mode as string | undefined;
      if (mode !== undefined && DIRTYRATE_MODES[mode] === undefined)
        throw usageError(`Unknown calculation mode '${mode}'`);
      await conn.domainStartDirtyRateCalc(dom, seconds, mode === undefined ? 0 : DIRTYRATE_MODES[mode]!);
      print(session.io, "Start to calculate domain's memory dirty rate successfully.\n");
    });
  },
};

export const MIGRATE_TUNABLE_COMMANDS: CommandDef[] = [
  domdirtyrateCalcCommand,
  migrateCompCacheCommand,
  migrateGetMaxDowntimeCommand,
  migrateGetSpeedCommand,
  migrateSetMaxDowntimeCommand,
  migrateSetSpeedCommand,
];
