/**
 * A domain's long ("async") job and the statistics of the last one that completed, as libvirt's
 * virDomainJobObj keeps them (src/hypervisor/domain_job.h, src/qemu/qemu_domainjob.c): a save
 * writes the guest through QEMU's migration stream for as long as it takes, and meanwhile
 * virDomainGetJobStats / virDomainGetJobInfo may read its progress and virDomainAbortJob may
 * cancel it. These calls do not wait in the domain's job queue (./job-queue.ts), as libvirt lets
 * VIR_JOB_QUERY and VIR_JOB_ABORT run beside an async job.
 */
import { type JobInfo, type TypedParam, VIR_DOMAIN_JOB } from '@qvirt/core/hypervisor';
import { jobCompletedParams, type MigrateInfo } from './migration-events.js';

/** virDomainAsyncJob: the long jobs qvirt runs (libvirt's names). */
export type AsyncJob = 'save';

/**
 * virDomainJobStatus, the states a save's data takes (a failed or cancelled save keeps no
 * statistics: qemuMigrationSrcWaitForCompletion records only a completed one).
 */
export type JobStatus = 'active' | 'migrating' | 'completed';

/** virDomainJobData for a save (QEMU_DOMAIN_JOB_STATS_TYPE_SAVEDUMP): times in ms since the epoch. */
export interface JobData {
  asyncJob: AsyncJob;
  /** virDomainJobOperation */
  operation: number;
  status: JobStatus;
  started: number;
  /** When the guest's CPUs stopped during the job (the downtime's start). */
  stopped?: number;
  timeElapsed: number;
  /** query-migrate's last answer. */
  mig?: MigrateInfo;
}

/** The domain's job state (vm->job->current / vm->job->completed). */
export interface DomainJobs {
  current?: JobData;
  completed?: JobData;
}

/** virDomainJobStatusToType. */
export function jobStatusToType(status: JobStatus): number {
  switch (status) {
    case 'active':
    case 'migrating':
      return VIR_DOMAIN_JOB.UNBOUNDED;
    case 'completed':
      return VIR_DOMAIN_JOB.COMPLETED;
  }
}

/** qemuDomainObjBeginAsyncJob: the job's data from its start. */
export function beginAsyncJob(jobs: DomainJobs, asyncJob: AsyncJob, operation: number): JobData {
  const job: JobData = { asyncJob, operation, status: 'active', started: Date.now(), timeElapsed: 0 };
  jobs.current = job;
  return job;
}

/** qemuDomainJobDataUpdateTime. */
export function updateTime(job: JobData): void {
  job.timeElapsed = Math.max(0, Date.now() - job.started);
}

/**
 * qemuMigrationSrcWaitForCompletion's end: the final figures, the downtime since the CPUs
 * stopped (qemuDomainJobDataUpdateDowntime), kept as the completed job's statistics.
 */
export function completeJob(jobs: DomainJobs, job: JobData, mig: MigrateInfo | undefined): JobData {
  if (mig) job.mig = mig;
  updateTime(job);
  const done: JobData = structuredClone(job);
  done.status = 'completed';
  if (job.stopped !== undefined)
    done.mig = { ...(done.mig ?? {}), downtime: Math.max(0, Date.now() - job.stopped) };
  jobs.completed = done;
  return done;
}

/** The async job is over (qemuDomainObjEndAsyncJob drops vm->job->current). */
export function endAsyncJob(jobs: DomainJobs, job: JobData): void {
  if (jobs.current === job) jobs.current = undefined;
}

/**
 * qemuMonitorJSONGetMigrationStatsReply's downtime: QEMU's `downtime` once completed, its
 * `expected-downtime` while running.
 */
type MigrateReply = MigrateInfo & { status?: string; 'expected-downtime'?: number };
export function migrationStats(reply: MigrateReply): MigrateInfo {
  const { status, 'expected-downtime': expected, downtime, ...rest } = reply;
  const d = status === 'completed' ? downtime : expected;
  // the RAM figures only for the states that carry them (setup has none)
  const withRam = [
    'active',
    'postcopy-active',
    'completed',
    'cancelling',
    'pre-switchover',
    'device',
  ].includes(status ?? '');
  const out: MigrateInfo = { ...rest };
  if (!withRam) delete out.ram;
  if (d !== undefined) out.downtime = d;
  return out;
}

/** qemuDomainJobDataToParams for a save (qemuDomainMigrationJobDataToParams, SAVEDUMP). */
export function jobDataToParams(job: JobData): { type: number; params: TypedParam[] } {
  return {
    type: jobStatusToType(job.status),
    params: jobCompletedParams(job.mig ?? {}, job.operation, job.timeElapsed),
  };
}

/** qemuDomainJobDataToInfo (SAVEDUMP: the memory figures, and the data ones as their sum). */
export function jobDataToInfo(job: JobData): JobInfo {
  const ram = job.mig?.ram ?? {};
  const memTotal = ram.total ?? 0;
  const memRemaining = ram.remaining ?? 0;
  const memProcessed = ram.transferred ?? 0;
  return {
    type: jobStatusToType(job.status),
    timeElapsed: job.timeElapsed,
    timeRemaining: 0,
    dataTotal: memTotal,
    dataProcessed: memProcessed,
    dataRemaining: memRemaining,
    memTotal,
    memProcessed,
    memRemaining,
    fileTotal: 0,
    fileProcessed: 0,
    fileRemaining: 0,
  };
}

/** The "no job" answer of virDomainGetJobInfo (all zeros, VIR_DOMAIN_JOB_NONE). */
export function noJobInfo(): JobInfo {
  return {
    type: VIR_DOMAIN_JOB.NONE,
    timeElapsed: 0,
    timeRemaining: 0,
    dataTotal: 0,
    dataProcessed: 0,
    dataRemaining: 0,
    memTotal: 0,
    memProcessed: 0,
    memRemaining: 0,
    fileTotal: 0,
    fileProcessed: 0,
    fileRemaining: 0,
  };
}

/** qemuMigrationJobName. */
export function asyncJobName(job: AsyncJob): string {
  switch (job) {
    case 'save':
      return 'domain save';
  }
}
