#!/usr/bin/env node
/**
 * qvirtd [OPTIONS]: libvirtd's command line.
 *   -f, --config FILE    configuration file (default /etc/qvirt/qvirtd.conf or
 *                        $XDG_CONFIG_HOME/qvirt/qvirtd.conf)
 *   -l, --listen         also listen on TCP/TLS (listen_tcp / listen_tls)
 *   -t, --timeout SECS   exit after SECS idle (no client, no running guest)
 *   -p, --pid-file FILE  write the pid here
 *   -d, --daemon         detach into the background
 *   -v, --verbose        log calls to stderr
 *   -V, --version
 * qvirt's own:
 *   --uri URI            instance to serve (default qemu:///system as root, else qemu:///session;
 *                        qemu:///embed?root=DIR for tests)
 *   --socket-dir DIR     where libvirt-sock and libvirt-sock-ro go (overrides unix_sock_dir)
 *   --add-user NAME      add or change a SASL user in the default database (password on stdin),
 *                        as saslpasswd2 -a libvirt does; qvirt-saslpasswd -f DB NAME for another
 */
import { spawn } from 'node:child_process';
import { mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { daemonPaths, defaultDaemonUri, startDaemon } from './daemon.js';

const VERSION = '9.0.0';

async function main(): Promise<number> {
  let args: ReturnType<typeof parse>;
  try {
    args = parse();
  } catch (err) {
    process.stderr.write(`qvirtd: ${(err as Error).message}\n`);
    return 1;
  }
  const v = args.values;
  if (v.version) {
    process.stdout.write(`qvirtd (libvirt) ${VERSION}\n`);
    return 0;
  }
  if (v.help) {
    process.stdout.write(
      'Usage: qvirtd [-f FILE] [-l] [-t SECS] [-p FILE] [-d] [-v] [--uri URI] [--socket-dir DIR]\n' +
        '       qvirtd --add-user NAME   (password on stdin; qvirt-saslpasswd -f DB NAME for another database)\n',
    );
    return 0;
  }
  if (v['add-user'] !== undefined) {
    const { saslPasswdMain } = await import('../transport/sasl-passwd.js');
    // The default user database; `qvirt-saslpasswd -f DB NAME` writes another.
    return saslPasswdMain([v['add-user']]);
  }
  if (v.daemon) {
    const rest = process.argv.slice(2).filter((a) => a !== '-d' && a !== '--daemon');
    const child = spawn(process.execPath, [process.argv[1]!, ...rest], { detached: true, stdio: 'ignore' });
    child.unref();
    return 0;
  }
  const timeout = v.timeout !== undefined ? Number(v.timeout) : undefined;
  if (timeout !== undefined && (!Number.isInteger(timeout) || timeout < 0)) {
    process.stderr.write(`qvirtd: Invalid value for timeout '${v.timeout}'\n`);
    return 1;
  }
  const uri = v.uri ?? defaultDaemonUri();
  let stopping = false;
  const log = v.verbose ? (l: string) => process.stderr.write(`qvirtd: ${l}\n`) : undefined;
  const daemon = await startDaemon({
    uri,
    configFile: v.config,
    socketDir: v['socket-dir'],
    timeout,
    log,
    onIdle: () => void stop(0),
  });
  const extra: { close(): Promise<void> }[] = [];
  if (v.listen) {
    try {
      const { listen } = await import('../transport/listen.js');
      extra.push(
        await listen(daemon, { ...(v.config ? { configFile: v.config } : {}), ...(log ? { log } : {}) }),
      );
    } catch (err) {
      process.stderr.write(`qvirtd: --listen: ${(err as Error).message}\n`);
      await daemon.close();
      return 1;
    }
  }
  const pidFile = v['pid-file'] ?? daemonPaths(uri.includes('/system'), process.env).pidFile;
  try {
    mkdirSync(path.dirname(pidFile), { recursive: true });
    writeFileSync(pidFile, `${process.pid}\n`);
  } catch (err) {
    log?.(`cannot write pid file ${pidFile}: ${(err as Error).message}`);
  }
  async function stop(code: number): Promise<void> {
    if (stopping) return;
    stopping = true;
    for (const e of extra) await e.close().catch(() => {});
    await daemon.close().catch(() => {});
    try {
      unlinkSync(pidFile);
    } catch {
      // gone
    }
    process.exit(code);
  }
  process.on('SIGTERM', () => void stop(0));
  process.on('SIGINT', () => void stop(0));
  process.on('SIGHUP', () => log?.('SIGHUP: configuration reload is not supported; ignored'));
  return -1;
}

function parse() {
  return parseArgs({
    options: {
      config: { type: 'string', short: 'f' },
      listen: { type: 'boolean', short: 'l' },
      timeout: { type: 'string', short: 't' },
      'pid-file': { type: 'string', short: 'p' },
      daemon: { type: 'boolean', short: 'd' },
      verbose: { type: 'boolean', short: 'v' },
      version: { type: 'boolean', short: 'V' },
      help: { type: 'boolean', short: 'h' },
      uri: { type: 'string' },
      'socket-dir': { type: 'string' },
      'add-user': { type: 'string' },
    },
    allowPositionals: false,
  });
}

main().then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err) => {
    process.stderr.write(`qvirtd: error: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
