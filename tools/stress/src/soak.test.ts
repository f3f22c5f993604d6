/**
 * A short soak through qvirtd (one cycle, one guest: a few seconds): the daemon starts in its own
 * process, the cycle's operations succeed through a RemoteClient, nothing leaks, and the daemon's
 * RSS is read from /proc. The long runs are `pnpm soak`, outside `pnpm test`.
 */
import { describe, expect, it, vi } from 'vitest';
import { hasQemu, isRoot } from './host-state.js';
import { main, processRssMiB } from './soak.js';

describe.skipIf(!hasQemu || !isRoot)('soak through qvirtd', () => {
  it('one cycle: no failure, no leak, the daemon RSS reported at start and end', async () => {
    const lines: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((l: string) => void lines.push(l));
    try {
      expect(await main(['--cycles', '1', '--guests', '1'])).toBe(0);
    } finally {
      log.mockRestore();
    }
    const summary = lines.at(-1)!;
    expect(summary).toMatch(
      /^soak: 1 cycles, 1 guest starts, 0 failed operations, 0 leaks; RSS of qvirtd \(pid \d+\) at start [\d.]+ MiB, at end [\d.]+ MiB;/,
    );
    // the daemon is gone afterwards
    const pid = Number(/qvirtd \(pid (\d+)\)/.exec(summary)![1]);
    expect(() => processRssMiB(pid)).toThrow();
  });
});
