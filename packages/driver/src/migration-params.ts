/**
 * The migration tunables a domain keeps outside a migration, as libvirt 9.0's QEMU driver
 * answers them (qemu_driver.c qemuDomainMigrateSet/GetMaxDowntime, Set/GetCompressionCache,
 * Set/GetMaxSpeed; qemu_migration_params.c): QEMU's own parameters (`query-migrate-parameters`,
 * `migrate-set-parameters` with only the one given), and the bandwidth cap libvirt keeps in the
 * domain's private data until a migration applies it. OpenStack Nova sets the downtime and the
 * speed around its live migrations; `virsh migrate-setmaxdowntime`, `migrate-compcache`,
 * `migrate-setspeed` and their getters read them.
 */
import { virCheckFlags, virReportError } from '@qvirt/core';
import { VIR_DOMAIN_DIRTYRATE_MODE, VIR_DOMAIN_MIGRATE_MAX_SPEED } from '@qvirt/core/hypervisor';
import { type LiveDomain, operationInvalid } from './live-domain.js';

/** QEMU_DOMAIN_MIG_BANDWIDTH_MAX: INT64_MAX / (1024 * 1024), in MiB/s. */
export const QEMU_DOMAIN_MIG_BANDWIDTH_MAX = 8796093022207;
/** ULLONG_MAX / 1024 / 1024: the post-copy cap, which QEMU keeps in bytes/s. */
const POSTCOPY_BANDWIDTH_MAX = 17592186044415;
export const VIR_DOMAIN_MIGRATE_MAX_SPEED_POSTCOPY = VIR_DOMAIN_MIGRATE_MAX_SPEED.POSTCOPY;

const MIB = 1024 * 1024;

/** virDomainObjCheckActive. */
function checkActive(dom: LiveDomain): void {
  if (!dom.active) throw operationInvalid('domain is not running');
}

/** qemuMigrationParamsFetch: QEMU's parameters now. */
async function fetchParams(dom: LiveDomain): Promise<Record<string, unknown>> {
  const mon = await dom.monitor();
  return mon.execute<Record<string, unknown>>('query-migrate-parameters');
}

/** qemuMigrationParamsApply outside a migration job: only the parameters given. */
async function applyParams(dom: LiveDomain, params: Record<string, number>): Promise<void> {
  await (await dom.monitor()).execute('migrate-set-parameters', params);
}

/** qemuMigrationCapsGet(vm, QEMU_MIGRATION_CAP_XBZRLE). */
async function checkXbzrle(dom: LiveDomain): Promise<void> {
  const caps = await (await dom.monitor()).execute<Array<{ capability: string }>>(
    'query-migrate-capabilities',
  );
  if (!caps.some((c) => c.capability === 'xbzrle'))
    throw virReportError(
      'OPERATION_UNSUPPORTED',
      'qemu',
      'Compressed migration is not supported by QEMU binary',
    );
}

/** qemuDomainMigrateSetMaxDowntime (milliseconds). */
export async function migrateSetMaxDowntime(dom: LiveDomain, downtime: number, flags: number): Promise<void> {
  virCheckFlags(flags, 0, 'qemuDomainMigrateSetMaxDowntime');
  checkActive(dom);
  await applyParams(dom, { 'downtime-limit': downtime });
}

/** qemuDomainMigrateGetMaxDowntime (milliseconds). */
export async function migrateGetMaxDowntime(dom: LiveDomain, flags: number): Promise<number> {
  virCheckFlags(flags, 0, 'qemuDomainMigrateGetMaxDowntime');
  checkActive(dom);
  const value = (await fetchParams(dom))['downtime-limit'];
  if (typeof value !== 'number')
    throw virReportError(
      'OPERATION_INVALID',
      'qemu',
      'Querying migration downtime is not supported by QEMU binary',
    );
  return value;
}

/** qemuDomainMigrateGetCompressionCache (bytes). */
export async function migrateGetCompressionCache(dom: LiveDomain, flags: number): Promise<number> {
  virCheckFlags(flags, 0, 'qemuDomainMigrateGetCompressionCache');
  checkActive(dom);
  await checkXbzrle(dom);
  return Number((await fetchParams(dom))['xbzrle-cache-size'] ?? 0);
}

/** qemuDomainMigrateSetCompressionCache (bytes). */
export async function migrateSetCompressionCache(
  dom: LiveDomain,
  cacheSize: number,
  flags: number,
): Promise<void> {
  virCheckFlags(flags, 0, 'qemuDomainMigrateSetCompressionCache');
  checkActive(dom);
  await checkXbzrle(dom);
  await applyParams(dom, { 'xbzrle-cache-size': cacheSize });
}

/** The part of a domain object these keep: priv->migMaxBandwidth (MiB/s). */
export interface MigrationSpeedHolder {
  migMaxBandwidth?: number;
}

/** qemuDomainMigrateSetMaxSpeed's checks before any job: the flag and the cap. */
export function checkMaxSpeed(bandwidth: number, flags: number): boolean {
  virCheckFlags(flags, VIR_DOMAIN_MIGRATE_MAX_SPEED_POSTCOPY, 'qemuDomainMigrateSetMaxSpeed');
  const postcopy = (flags & VIR_DOMAIN_MIGRATE_MAX_SPEED_POSTCOPY) !== 0;
  const max = postcopy ? POSTCOPY_BANDWIDTH_MAX : QEMU_DOMAIN_MIG_BANDWIDTH_MAX;
  if (bandwidth > max) throw virReportError('OVERFLOW', 'qemu', `bandwidth must be less than ${max + 1}`);
  return postcopy;
}

/**
 * qemuDomainMigrateSetMaxSpeed for a running domain (a stopped one only records the cap, without
 * a job): QEMU's `max-bandwidth` or `max-postcopy-bandwidth` in bytes/s, the cap kept for the next
 * migration.
 */
export async function migrateSetMaxSpeed(
  dom: LiveDomain,
  holder: MigrationSpeedHolder,
  bandwidth: number,
  postcopy: boolean,
): Promise<void> {
  checkActive(dom);
  await applyParams(dom, { [postcopy ? 'max-postcopy-bandwidth' : 'max-bandwidth']: bandwidth * MIB });
  if (!postcopy) holder.migMaxBandwidth = bandwidth;
}

/** qemuDomainMigrationGetPostcopyBandwidth (MiB/s), for qemuDomainMigrateGetMaxSpeed's POSTCOPY. */
export async function migrateGetPostcopySpeed(dom: LiveDomain): Promise<number> {
  checkActive(dom);
  const value = (await fetchParams(dom))['max-postcopy-bandwidth'];
  if (typeof value !== 'number')
    throw virReportError(
      'OPERATION_INVALID',
      'qemu',
      'querying maximum post-copy migration speed is not supported by QEMU binary',
    );
  return Math.floor(value / MIB);
}

/** MIN_DIRTYRATE_CALC_PERIOD / MAX_DIRTYRATE_CALC_PERIOD (seconds). */
const DIRTYRATE_PERIOD = [1, 60] as const;

/**
 * qemuDomainStartDirtyRateCalc: QEMU measures the guest's dirty page rate for `seconds`
 * (`calc-dirty-rate`); `domstats --dirtyrate` reads the result.
 */
export async function startDirtyRateCalc(dom: LiveDomain, seconds: number, flags: number): Promise<void> {
  const M = VIR_DOMAIN_DIRTYRATE_MODE;
  virCheckFlags(flags, M.PAGE_SAMPLING | M.DIRTY_BITMAP | M.DIRTY_RING, 'qemuDomainStartDirtyRateCalc');
  const [min, max] = DIRTYRATE_PERIOD;
  if (seconds < min || seconds > max)
    throw virReportError(
      'CONFIG_UNSUPPORTED',
      'qemu',
      `seconds=${seconds} is invalid, please choose value within [${min}, ${max}].`,
    );
  checkActive(dom);
  let mode: string | undefined;
  if (flags & M.DIRTY_BITMAP) mode = 'dirty-bitmap';
  else if (flags & M.DIRTY_RING) {
    const kvm = (dom.live ?? dom.config).features?.kvm as { 'dirty-ring'?: { state?: string } } | undefined;
    if (kvm?.['dirty-ring']?.state !== 'on')
      throw virReportError(
        'OPERATION_UNSUPPORTED',
        'qemu',
        'dirty-ring calculation mode requires dirty-ring feature enabled.',
      );
    mode = 'dirty-ring';
  }
  await (await dom.monitor()).execute('calc-dirty-rate', { 'calc-time': seconds, ...(mode ? { mode } : {}) });
}
