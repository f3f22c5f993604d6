import { describe, expect, it } from 'vitest';
import { main, VERSION } from './index.js';

function run(argv: string[]) {
  let out = '';
  let err = '';
  return main(argv, { out: (t) => (out += t), err: (t) => (err += t) }).then((code) => ({ code, out, err }));
}

describe('qvirsh', () => {
  it('prints its version', async () => {
    expect(await run(['--version'])).toEqual({ code: 0, out: `${VERSION}\n`, err: '' });
    expect(VERSION).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('prints help', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('-c | --connect=URI');
  });

  it('refuses an unknown command the way virsh does', async () => {
    expect(await run(['frobnicate'])).toEqual({
      code: 1,
      out: '',
      err: "error: unknown command: 'frobnicate'\n",
    });
  });

  it('refuses an unknown option', async () => {
    expect((await run(['--bogus'])).err).toBe("error: unsupported option '--bogus'. See --help.\n");
  });
});
