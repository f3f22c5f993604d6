/**
 * Gives memory back after a heavy client leaves. libvirtd frees a client's buffers with free() the
 * moment it goes; here they are garbage until V8 collects them, and an idle daemon allocates too
 * little for V8 to collect on its own (its heap and the buffers a client filled stay resident).
 * So when clients that moved at least `threshold` bytes have left, a full collection runs
 * `delayMs` later (coalescing a burst of departures), no more often than every `minIntervalMs`,
 * and a second one `minIntervalMs` after it: V8 shrinks its young generation (grown under the
 * client's allocation rate) only in a collection that sees the rate has dropped.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

export interface ReclaimOptions {
  /** Bytes a departed client must have moved (read + written) to warrant a collection. Default 16 MiB. */
  threshold?: number;
  /** Delay before collecting. Default 1000 ms. */
  delayMs?: number;
  /** Least time between two collections. Default 5 s. */
  minIntervalMs?: number;
  /** The collector (default: V8's full GC, exposed for this purpose). */
  collect?: () => void;
}

let exposedGc: (() => void) | undefined;

/** V8's full collection: `gc` of a fresh context once --expose-gc is set (it is bound when a context is made). */
export function fullGc(): void {
  if (!exposedGc) {
    const fromGlobal = (globalThis as { gc?: () => void }).gc;
    if (fromGlobal) exposedGc = fromGlobal;
    else {
      v8.setFlagsFromString('--expose-gc');
      exposedGc = vm.runInNewContext('gc') as () => void;
    }
  }
  exposedGc();
}

export interface Reclaimer {
  /** A client that moved `bytes` has left. */
  departed(bytes: number): void;
  /** Cancels a pending collection. */
  stop(): void;
}

export function createReclaimer(opts: ReclaimOptions = {}): Reclaimer {
  const { threshold = 16 * 1024 * 1024, delayMs = 1000, minIntervalMs = 5_000, collect = fullGc } = opts;
  let timer: NodeJS.Timeout | undefined;
  let last = 0;
  const schedule = (wait: number, followUp: boolean) => {
    timer = setTimeout(() => {
      timer = undefined;
      last = Date.now();
      collect();
      if (followUp) schedule(minIntervalMs, false);
    }, wait);
    timer.unref();
  };
  return {
    departed(bytes) {
      if (bytes < threshold || timer) return;
      schedule(Math.max(delayMs, last + minIntervalMs - Date.now()), true);
    },
    stop() {
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}
