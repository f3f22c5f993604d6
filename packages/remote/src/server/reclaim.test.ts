import { afterEach, describe, expect, it, vi } from 'vitest';
import { createReclaimer, fullGc } from './reclaim.js';

describe('createReclaimer', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('collects after a heavy client leaves (a burst coalesced, then once more), never for light ones', () => {
    vi.useFakeTimers();
    let collections = 0;
    const r = createReclaimer({
      threshold: 100,
      delayMs: 1000,
      minIntervalMs: 5000,
      collect: () => collections++,
    });
    r.departed(99);
    vi.advanceTimersByTime(60_000);
    expect(collections).toBe(0);
    r.departed(100);
    r.departed(1000);
    r.departed(1000);
    vi.advanceTimersByTime(1000);
    expect(collections).toBe(1);
    vi.advanceTimersByTime(5000);
    expect(collections).toBe(2);
    vi.advanceTimersByTime(60_000);
    expect(collections).toBe(2);
    r.departed(1000);
    r.stop();
    vi.advanceTimersByTime(60_000);
    expect(collections).toBe(2);
  });

  it('runs a full collection that frees an unreferenced buffer', async () => {
    let finalized = 0;
    let signal!: () => void;
    const done = new Promise<void>((r) => (signal = r));
    const registry = new FinalizationRegistry(() => {
      finalized++;
      signal();
    });
    (() => registry.register(Buffer.alloc(8 * 1024 * 1024, 1), 0))();
    fullGc();
    await done;
    expect(finalized).toBe(1);
  });
});
