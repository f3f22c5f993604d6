/**
 * A qvirtd for qvirsh tests: an embedded instance in a temporary directory served on its own
 * sockets, and the URI that reaches it. `stop()` destroys what still runs, kills any process
 * left under the directory and removes it.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { defaultDaemonConfig, startDaemon } from '@qvirt/remote';
import { main } from '../index.js';
import { makeTestDir } from './embed-root.js';

export interface CliTestDaemon {
  dir: string;
  uri: string;
  daemon: Awaited<ReturnType<typeof startDaemon>>;
  stop(): Promise<void>;
}

export async function startCliTestDaemon(prefix: string): Promise<CliTestDaemon> {
  const { dir, root } = makeTestDir(prefix, 'root');
  const daemon = await startDaemon({
    uri: `qemu:///embed?root=${root}`,
    socketDir: `${dir}/sock`,
    config: defaultDaemonConfig(),
  });
  return {
    dir,
    daemon,
    uri: `qemu+unix:///system?socket=${daemon.sockets.rw}`,
    async stop() {
      for (const d of daemon.driver.listDomains()) {
        if (d.state !== 'shutoff') await daemon.driver.destroy(d.name).catch(() => {});
      }
      await daemon.close();
      for (const e of readdirSync('/proc')) {
        if (!/^\d+$/.test(e)) continue;
        try {
          if (readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(dir)) process.kill(Number(e), 'SIGKILL');
        } catch {
          // gone
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** libvirt's own virsh, which the side-by-side tests run against the same qvirtd as qvirsh. */
export const VIRSH = '/usr/bin/virsh';
export const hasVirsh = existsSync(VIRSH);

/** What a command printed and returned. */
export interface Run {
  code: number;
  out: string;
  err: string;
}

/** Runs libvirt's virsh on `uri()` (read when called, so a test may set it in beforeAll). */
export function virshOn(uri: () => string) {
  return (...argv: string[]): Promise<Run> =>
    new Promise((resolve) => {
      execFile(VIRSH, ['-c', uri(), ...argv], { env: { ...process.env, LC_ALL: 'C' } }, (e, out, err) =>
        resolve({ code: e ? Number(e.code ?? 1) : 0, out, err }),
      );
    });
}

/** Runs qvirsh (in this process) on `uri()`. */
export function qvirshOn(uri: () => string) {
  return async (...argv: string[]): Promise<Run> => {
    let out = '';
    let err = '';
    const code = await main(['-c', uri(), ...argv], { out: (s) => (out += s), err: (s) => (err += s) });
    return { code, out, err };
  };
}
