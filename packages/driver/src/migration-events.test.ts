import { describe, expect, it } from 'vitest';
import { jobCompletedParams, VIR_DOMAIN_JOB_OPERATION } from './migration-events.js';

describe("a save's JOB_COMPLETED parameters", () => {
  it("are qemuDomainMigrationJobDataToParams' for a save, in its order and units", () => {
    const params = jobCompletedParams(
      {
        downtime: 12,
        'setup-time': 3,
        ram: {
          transferred: 1000,
          remaining: 0,
          total: 4096,
          duplicate: 5,
          normal: 6,
          'normal-bytes': 24576,
          'dirty-pages-rate': 0,
          mbps: 8,
          'dirty-sync-count': 2,
          'postcopy-requests': 0,
          'page-size': 4096,
        },
      },
      VIR_DOMAIN_JOB_OPERATION.SAVE,
      250,
    );
    expect(params.map((p) => p.field)).toEqual([
      'operation',
      'time_elapsed',
      'downtime',
      'setup_time',
      'data_total',
      'data_processed',
      'data_remaining',
      'memory_total',
      'memory_processed',
      'memory_remaining',
      'memory_bps',
      'memory_constant',
      'memory_normal',
      'memory_normal_bytes',
      'memory_dirty_rate',
      'memory_iteration',
      'memory_postcopy_requests',
      'memory_page_size',
    ]);
    const v = Object.fromEntries(params.map((p) => [p.field, p.value]));
    expect(v.operation).toBe(2);
    expect(v.memory_bps).toBe(1_000_000); // 8 Mbit/s
    expect(v.memory_iteration).toBe(2);
    expect(params[0]!.type).toBe(1); // int; the others unsigned long long
    expect(params.slice(1).every((p) => p.type === 4)).toBe(true);
  });
});
