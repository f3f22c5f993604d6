import { describe, expect, it } from 'vitest';
import { JobQueue } from './job-queue.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('JobQueue', () => {
  it('runs jobs of one key in order, even after a failure, and other keys in parallel', async () => {
    const q = new JobQueue();
    const log: string[] = [];
    const job = (key: string, name: string, ms: number, fail = false) =>
      q.run(key, async () => {
        log.push(`start ${name}`);
        await sleep(ms);
        log.push(`end ${name}`);
        if (fail) throw new Error(name);
        return name;
      });
    const results = await Promise.allSettled([
      job('a', 'a1', 30, true),
      job('a', 'a2', 1),
      job('b', 'b1', 5),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'fulfilled']);
    expect(log.indexOf('end a1')).toBeLessThan(log.indexOf('start a2'));
    expect(log.indexOf('end b1')).toBeLessThan(log.indexOf('end a1'));
    await q.idle();
  });
});
