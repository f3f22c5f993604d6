/**
 * The property every fuzz target checks: an input is either accepted, or refused with a
 * `VirError` whose message is one non-empty line. Anything else (another exception type, a
 * multi-line or empty message, a non-Error throw, an input that takes too long) is a failure.
 */
import { VirError } from '@qvirt/core';

export type Outcome =
  | { kind: 'accepted' }
  | { kind: 'rejected'; code: string }
  | { kind: 'failure'; reason: string };

/** Classifies what `run` did with one input. */
export function classify(run: () => unknown): Outcome {
  try {
    run();
    return { kind: 'accepted' };
  } catch (err) {
    return classifyError(err);
  }
}

export async function classifyAsync(run: () => unknown): Promise<Outcome> {
  try {
    await run();
    return { kind: 'accepted' };
  } catch (err) {
    return classifyError(err);
  }
}

export function classifyError(err: unknown): Outcome {
  if (!(err instanceof VirError)) {
    const what = err instanceof Error ? `${err.constructor.name}: ${firstLine(err.message)}` : String(err);
    const at = err instanceof Error ? topFrame(err) : '';
    return { kind: 'failure', reason: `untyped exception ${what}${at ? ` (${at})` : ''}` };
  }
  if (err.message.trim() === '')
    return { kind: 'failure', reason: `VirError ${err.code} with an empty message` };
  if (/[\r\n]/.test(err.message)) {
    return {
      kind: 'failure',
      reason: `VirError ${err.code} with a multi-line message: ${firstLine(err.message)}`,
    };
  }
  return { kind: 'rejected', code: err.code };
}

function firstLine(text: string): string {
  return JSON.stringify(String(text).split('\n')[0]!.slice(0, 200));
}

/** The first stack frame in qvirt's own code, to say where a failure comes from. */
function topFrame(err: Error): string {
  const lines = (err.stack ?? '').split('\n').slice(1);
  const ours = lines.find((l) => l.includes('/packages/')) ?? lines[0] ?? '';
  const m = /\/(packages\/[^)]+)/.exec(ours);
  return m ? m[1]! : ours.trim();
}
