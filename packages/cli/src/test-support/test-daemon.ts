/**
 * A qvirtd for qvirsh tests: an embedded instance in a temporary directory served on its own
 * sockets, and the URI that reaches it. `stop()` destroys what still runs, kills any process
 * left under the directory and removes it.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { defaultDaemonConfig, startDaemon } from '@qvirt/remote';

export interface CliTestDaemon {
  dir: string;
  uri: string;
  daemon: Awaited<ReturnType<typeof startDaemon>>;
  stop(): Promise<void>;
}

export async function startCliTestDaemon(prefix: string): Promise<CliTestDaemon> {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  const daemon = await startDaemon({
    uri: `qemu:///embed?root=${dir}/root`,
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
