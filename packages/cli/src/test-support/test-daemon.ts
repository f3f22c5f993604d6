/**
 * A qvirtd for qvirsh tests: an embedded instance in a temporary directory served on its own
 * sockets, and the URI that reaches it. `stop()` destroys what still runs, kills any process
 * left under the directory and removes it.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { serialGuestBootSector } from '@qvirt/driver';
import { defaultDaemonConfig, startDaemon } from '@qvirt/remote';
import { afterAll, beforeAll } from 'vitest';
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

/**
 * One qvirtd for a whole test file: started before its tests and stopped after them. `t` reads
 * through to the running daemon; `virsh` and `qvirsh` run on it.
 */
export function cliTestDaemonPerFile(prefix: string): {
  t: CliTestDaemon;
  virsh: ReturnType<typeof virshOn>;
  qvirsh: ReturnType<typeof qvirshOn>;
} {
  let running: CliTestDaemon | undefined;
  beforeAll(async () => {
    running = await startCliTestDaemon(prefix);
  });
  afterAll(async () => {
    await running?.stop();
  });
  const now = (): CliTestDaemon => {
    if (!running) throw new Error(`the ${prefix} test daemon is not running`);
    return running;
  };
  const t: CliTestDaemon = {
    get dir() {
      return now().dir;
    },
    get uri() {
      return now().uri;
    },
    get daemon() {
      return now().daemon;
    },
    stop: () => now().stop(),
  };
  return { t, virsh: virshOn(() => now().uri), qvirsh: qvirshOn(() => now().uri) };
}

/**
 * A counting guest's definition (the serial boot sector of @qvirt/driver, i686 TCG, one IDE
 * disk) written under `dir` as `NAME.xml`, its disk as raw or qcow2, and its serial port to a
 * file when `serialLog` is given.
 */
export function writeCounterGuest(
  dir: string,
  name: string,
  options: { format?: 'raw' | 'qcow2'; serialLog?: string } = {},
): string {
  const format = options.format ?? 'raw';
  const raw = path.join(dir, `${name}.${format === 'raw' ? 'img' : 'raw'}`);
  writeFileSync(raw, serialGuestBootSector(2));
  let disk = raw;
  if (format === 'qcow2') {
    disk = path.join(dir, `${name}.qcow2`);
    execFileSync('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, disk]);
  }
  const serial = options.serialLog
    ? `\n<serial type='file'><source path='${options.serialLog}'/><target port='0'/></serial>`
    : '';
  const file = path.join(dir, `${name}.xml`);
  writeFileSync(
    file,
    `<domain type='qemu'><name>${name}</name><memory unit='KiB'>65536</memory><vcpu>1</vcpu>
<os><type arch='i686' machine='pc'>hvm</type><boot dev='hd'/></os>
<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>
<disk type='file' device='disk'><driver name='qemu' type='${format}'/><source file='${disk}'/><target dev='hda' bus='ide'/></disk>${serial}
</devices></domain>`,
  );
  return file;
}
