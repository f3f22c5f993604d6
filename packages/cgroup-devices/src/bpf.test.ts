import { constants } from 'node:os';
import { describe, expect, it } from 'vitest';
import { retryOnEagain } from './bpf.js';

const fail = (errno: number) => Object.assign(new Error(`errno ${errno}`), { errno });

describe('BPF_PROG_LOAD under load (found by tools/stress: 50 guests at once)', () => {
  it('loads again after EAGAIN, as libbpf, and gives up after 5 attempts', () => {
    let calls = 0;
    expect(
      retryOnEagain(() => {
        if (++calls < 3) throw fail(constants.errno.EAGAIN);
        return 7;
      }),
    ).toBe(7);
    expect(calls).toBe(3);
    calls = 0;
    expect(() =>
      retryOnEagain(() => {
        calls++;
        throw fail(constants.errno.EAGAIN);
      }),
    ).toThrow(`errno ${constants.errno.EAGAIN}`);
    expect(calls).toBe(5);
  });

  it('does not retry other errors', () => {
    let calls = 0;
    expect(() =>
      retryOnEagain(() => {
        calls++;
        throw fail(constants.errno.EPERM);
      }),
    ).toThrow();
    expect(calls).toBe(1);
  });
});
