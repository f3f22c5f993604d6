/**
 * The security stack: libvirt's security_stack.c. Many drivers act as one; the first is the
 * primary.
 *
 * - Primary only: model, DOI, base label, Gen/Reserve/Release label, GetProcessLabel, mount
 *   options (libvirt's stack answers NULL for the last; qvirt asks the primary).
 * - Forward with reverse rollback: every Set* hook with a matching Restore (AllLabel, Image,
 *   Hostdev, Memory, Input, Chardev, TPM, Netdev, SavedState, the socket labels) and the
 *   transaction Start/Commit (rolled back with Abort). A failed rollback is a warning, the
 *   original error is thrown.
 * - Visit all, report all: every Restore*, Set(Child)ProcessLabel, the path labels, the FD
 *   labels, MoveImageMetadata, Abort. All failures come back together in one `SecurityStackError`.
 * - Stop at the first error: Verify, PreFork.
 */
import { VirError, virReportError } from '../errors.js';
import type { SecurityDriver, SecurityDriverStatus, SecurityHookName } from './driver.js';

/** Several drivers' failures from one "visit all" hook, reported together. */
export class SecurityStackError extends VirError {
  override readonly name = 'SecurityStackError';
  readonly errors: unknown[];
  constructor(errors: unknown[]) {
    const first = errors[0];
    const code = first instanceof VirError ? first.code : 'INTERNAL_ERROR';
    super(code, 'security', errors.map(messageOf).join('; '), { cause: first });
    this.errors = errors;
  }
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export interface SecurityStackOptions {
  /** libvirt's VIR_WARN: a rollback that failed. Default: `console.warn`. */
  warn?: (message: string) => void;
  /** The hypervisor driver name, for messages (`QEMU`). */
  virtDriver?: string;
}

export interface SecurityStack extends SecurityDriver {
  readonly name: 'stack';
  readonly primary: SecurityDriver;
  /** Every driver, primary first (virSecurityStackGetNested). */
  readonly nested: readonly SecurityDriver[];
}

type AnyHook = (...args: unknown[]) => Promise<unknown>;

/** Set hook → the Restore hook that undoes it, and how to turn the Set's arguments into its. */
const ROLLBACK: Partial<Record<SecurityHookName, [SecurityHookName, (args: unknown[]) => unknown[]]>> = {
  transactionStart: ['transactionAbort', () => []],
  transactionCommit: ['transactionAbort', () => []],
  domainSetSecurityAllLabel: [
    'domainRestoreSecurityAllLabel',
    ([def, o]) => {
      const opts = (o ?? {}) as { migrated?: boolean; chardevStdioLogd?: boolean };
      const restore: { migrated?: boolean; chardevStdioLogd?: boolean } = {};
      if (opts.migrated !== undefined) restore.migrated = opts.migrated;
      if (opts.chardevStdioLogd !== undefined) restore.chardevStdioLogd = opts.chardevStdioLogd;
      return [def, restore];
    },
  ],
  domainSetSecurityImageLabel: ['domainRestoreSecurityImageLabel', (a) => a],
  domainSetSecurityHostdevLabel: ['domainRestoreSecurityHostdevLabel', (a) => a],
  domainSetSecurityMemoryLabel: ['domainRestoreSecurityMemoryLabel', (a) => a],
  domainSetSecurityInputLabel: ['domainRestoreSecurityInputLabel', (a) => a],
  domainSetSecurityChardevLabel: ['domainRestoreSecurityChardevLabel', (a) => a],
  domainSetSecurityTPMLabels: ['domainRestoreSecurityTPMLabels', (a) => a],
  domainSetSecurityNetdevLabel: ['domainRestoreSecurityNetdevLabel', (a) => a],
  domainSetSavedStateLabel: ['domainRestoreSavedStateLabel', (a) => a],
  domainSetSecurityDaemonSocketLabel: ['domainClearSecuritySocketLabel', (a) => a],
  domainSetSecuritySocketLabel: ['domainClearSecuritySocketLabel', (a) => a],
};

const VISIT_ALL: readonly SecurityHookName[] = [
  'domainRestoreSecurityAllLabel',
  'domainRestoreSecurityImageLabel',
  'domainRestoreSecurityHostdevLabel',
  'domainRestoreSecurityMemoryLabel',
  'domainRestoreSecurityInputLabel',
  'domainRestoreSecurityChardevLabel',
  'domainRestoreSecurityTPMLabels',
  'domainRestoreSecurityNetdevLabel',
  'domainRestoreSavedStateLabel',
  'domainClearSecuritySocketLabel',
  'domainSetSecurityProcessLabel',
  'domainSetSecurityChildProcessLabel',
  'domainSetPathLabel',
  'domainSetPathLabelRO',
  'domainRestorePathLabel',
  'domainSetSecurityImageFDLabel',
  'domainSetSecurityTapFDLabel',
  'domainMoveImageMetadata',
  'transactionAbort',
  'close',
];

const FIRST_ERROR: readonly SecurityHookName[] = ['domainSecurityVerify', 'preFork'];

const PRIMARY: readonly SecurityHookName[] = [
  'domainGenSecurityLabel',
  'domainReserveSecurityLabel',
  'domainReleaseSecurityLabel',
  'domainGetSecurityProcessLabel',
  'domainGetSecurityMountOptions',
  'getBaseLabel',
];

/** How the stack runs each hook (exported for the tests and the docs). */
export const STACK_RULES: Readonly<Record<SecurityHookName, 'primary' | 'rollback' | 'all' | 'first-error'>> =
  Object.fromEntries([
    ...PRIMARY.map((h) => [h, 'primary']),
    ...Object.keys(ROLLBACK).map((h) => [h, 'rollback']),
    ...VISIT_ALL.map((h) => [h, 'all']),
    ...FIRST_ERROR.map((h) => [h, 'first-error']),
  ]) as Record<SecurityHookName, 'primary' | 'rollback' | 'all' | 'first-error'>;

function hook(d: SecurityDriver, name: SecurityHookName): AnyHook | undefined {
  const f = d[name] as AnyHook | undefined;
  return f ? (...args: unknown[]) => Promise.resolve(f.apply(d, args)) : undefined;
}

export function securityStack(
  drivers: readonly SecurityDriver[],
  options: SecurityStackOptions = {},
): SecurityStack {
  if (drivers.length === 0) {
    throw virReportError('INTERNAL_ERROR', 'security', 'a security stack needs at least one driver');
  }
  const nested = [...drivers];
  const primary = nested[0]!;
  const warn = options.warn ?? ((m: string) => console.warn(m));
  const virtDriver = options.virtDriver ?? 'QEMU';

  const stack: Record<string, unknown> = {
    name: 'stack',
    primary,
    nested,
    async probe(): Promise<SecurityDriverStatus> {
      return 'enable';
    },
    getModel: () => primary.getModel(),
    getDOI: () => primary.getDOI(),
  };

  for (const name of PRIMARY) {
    stack[name] = async (...args: unknown[]) => {
      const f = hook(primary, name);
      return f ? f(...args) : undefined;
    };
  }

  for (const [name, [undo, undoArgs]] of Object.entries(ROLLBACK) as Array<
    [SecurityHookName, [SecurityHookName, (a: unknown[]) => unknown[]]]
  >) {
    stack[name] = async (...args: unknown[]) => {
      let i = 0;
      try {
        for (; i < nested.length; i++) await hook(nested[i]!, name)?.(...args);
      } catch (err) {
        for (let j = i - 1; j >= 0; j--) {
          const d = nested[j]!;
          try {
            await hook(d, undo)?.(...undoArgs(args));
          } catch (rollbackErr) {
            warn(
              `Unable to undo ${name} after a failed call virDriver=${virtDriver} driver=${d.name}: ${messageOf(rollbackErr)}`,
            );
          }
        }
        throw err;
      }
    };
  }

  for (const name of VISIT_ALL) {
    stack[name] = async (...args: unknown[]) => {
      const errors: unknown[] = [];
      for (const d of nested) {
        try {
          await hook(d, name)?.(...args);
        } catch (err) {
          errors.push(err);
        }
      }
      if (errors.length === 1) throw errors[0];
      if (errors.length > 1) throw new SecurityStackError(errors);
    };
  }

  for (const name of FIRST_ERROR) {
    stack[name] = async (...args: unknown[]) => {
      for (const d of nested) await hook(d, name)?.(...args);
    };
  }

  return stack as unknown as SecurityStack;
}
