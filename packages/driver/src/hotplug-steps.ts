/**
 * A live attach as a list of steps, each with its undo: libvirt's qemu_hotplug.c keeps flags
 * (releaseaddr, teardownlabel, chardevAdded, …) and unwinds them at its `cleanup:` label; here the
 * same unwinding is the reverse of the steps done, so a failure at any step leaves no label,
 * cgroup rule, QEMU object or definition change behind.
 *
 * Tests prove that by failing each step in turn: `setHotplugFault(n)` (or the
 * QVIRT_TEST_HOTPLUG_FAULT environment variable, for a daemon in another process) makes the n-th
 * step of the next attaches throw before it runs. Unset, it costs one comparison per step.
 */
import { VirError } from '@qvirt/core';

export interface Step {
  /** What the step does, named in the injected fault's message. */
  name: string;
  run(): Promise<void>;
  /** Takes the step back (best effort: an undo's own failure is ignored, as libvirt does). */
  undo?(): Promise<unknown>;
}

let injected: number | undefined;

/** Test hook: fail step `n` (1-based) of every following attach; undefined stops it. */
export function setHotplugFault(n: number | undefined): void {
  injected = n;
}

function faultStep(): number | undefined {
  if (injected !== undefined) return injected;
  const env = process.env.QVIRT_TEST_HOTPLUG_FAULT;
  return env ? Number(env) : undefined;
}

/** The text an injected failure carries, so a sweep knows when `n` passed the last step. */
export const INJECTED_FAULT = 'injected hotplug fault at step';

/** Runs `steps` in order; on a failure undoes the ones done, newest first, and rethrows. */
export async function runSteps(steps: Step[]): Promise<void> {
  const fault = faultStep();
  const done: Step[] = [];
  try {
    for (const [i, step] of steps.entries()) {
      if (fault === i + 1) {
        throw new VirError(
          'INTERNAL_ERROR',
          'qemu',
          `internal error: ${INJECTED_FAULT} ${i + 1} (${step.name})`,
        );
      }
      await step.run();
      done.push(step);
    }
  } catch (err) {
    for (const step of done.reverse()) await step.undo?.().catch(() => {});
    throw err;
  }
}
