/**
 * The events of QEMU's migration stream (a save writes the guest through it): libvirt turns on
 * QEMU's migration events at every start (qemuMigrationCapsCheck: the `events` capability is
 * always on), reports each pass over RAM as VIR_DOMAIN_EVENT_ID_MIGRATION_ITERATION
 * (qemuProcessHandleMigrationPass) and ends a save with VIR_DOMAIN_EVENT_ID_JOB_COMPLETED carrying
 * the job's statistics (qemuDomainEventEmitJobCompleted, qemuDomainMigrationJobDataToParams).
 */
import type { TypedParam } from '@qvirt/core/hypervisor';

type Qmp = { execute<T = unknown>(cmd: string, args?: Record<string, unknown>): Promise<T> };

/** qemuMigrationCapsCheck: QEMU sends MIGRATION and MIGRATION_PASS from now on. */
export async function enableMigrationEvents(qmp: Qmp): Promise<void> {
  await qmp.execute('migrate-set-capabilities', { capabilities: [{ capability: 'events', state: true }] });
}

/** virDomainJobOperation (libvirtd 9.0 reports a save's as 2: `virsh domjobinfo --rawstats`). */
export const VIR_DOMAIN_JOB_OPERATION = {
  UNKNOWN: 0,
  START: 1,
  SAVE: 2,
  RESTORE: 3,
  MIGRATION_IN: 4,
  MIGRATION_OUT: 5,
  SNAPSHOT: 6,
  SNAPSHOT_REVERT: 7,
  DUMP: 8,
  BACKUP: 9,
  SNAPSHOT_DELETE: 10,
} as const;

/** query-migrate's answer, the parts libvirt reads (qemuMonitorJSONGetMigrationStatsReply). */
export interface MigrateInfo {
  downtime?: number;
  'setup-time'?: number;
  ram?: {
    transferred?: number;
    remaining?: number;
    total?: number;
    duplicate?: number;
    normal?: number;
    'normal-bytes'?: number;
    'dirty-pages-rate'?: number;
    mbps?: number;
    'dirty-sync-count'?: number;
    'postcopy-requests'?: number;
    'page-size'?: number;
  };
}

const INT = 1;
const ULLONG = 4;

/**
 * qemuDomainMigrationJobDataToParams for a save (QEMU_DOMAIN_JOB_STATS_TYPE_SAVEDUMP: the RAM
 * figures only, no disk or mirror ones), in libvirt's order. `elapsedMs` is the job's time so far.
 */
export function jobCompletedParams(info: MigrateInfo, operation: number, elapsedMs: number): TypedParam[] {
  const ram = info.ram ?? {};
  const p: TypedParam[] = [];
  const u = (field: string, value: number) =>
    p.push({ field, type: ULLONG, value: Math.max(0, Math.round(value)) });
  p.push({ field: 'operation', type: INT, value: operation });
  u('time_elapsed', elapsedMs);
  if (info.downtime !== undefined) u('downtime', info.downtime);
  if (info['setup-time'] !== undefined) u('setup_time', info['setup-time']);
  u('data_total', ram.total ?? 0);
  u('data_processed', ram.transferred ?? 0);
  u('data_remaining', ram.remaining ?? 0);
  u('memory_total', ram.total ?? 0);
  u('memory_processed', ram.transferred ?? 0);
  u('memory_remaining', ram.remaining ?? 0);
  // QEMU's mbps is megabits per second; libvirt keeps bytes per second
  const bps = ((ram.mbps ?? 0) * 1000 * 1000) / 8;
  if (bps) u('memory_bps', bps);
  if (ram.duplicate !== undefined) {
    u('memory_constant', ram.duplicate);
    u('memory_normal', ram.normal ?? 0);
    u('memory_normal_bytes', ram['normal-bytes'] ?? 0);
  }
  u('memory_dirty_rate', ram['dirty-pages-rate'] ?? 0);
  u('memory_iteration', ram['dirty-sync-count'] ?? 0);
  u('memory_postcopy_requests', ram['postcopy-requests'] ?? 0);
  if ((ram['page-size'] ?? 0) > 0) u('memory_page_size', ram['page-size']!);
  return p;
}
