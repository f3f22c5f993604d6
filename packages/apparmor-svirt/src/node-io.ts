/**
 * virt-aa-helper bound to this process: node's fs, the real stdin/stdout/stderr and
 * `/sbin/apparmor_parser`. As libvirt's helper does, the environment is cleared first and only
 * PATH=/sbin:/usr/sbin and IFS are set.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { APPARMOR_PARSER, type HelperFs, type HelperIo, runHelper } from './cli.js';

/** The helper's file access through node's fs (synchronous calls: one short-lived process). */
export function nodeHelperFs(): HelperFs {
  return {
    exists: async (p) => {
      try {
        fs.accessSync(p);
        return true;
      } catch {
        return false;
      }
    },
    realpath: async (p) => fs.realpathSync.native(p),
    readdir: async (p) => {
      // Directory order, as readdir(3) gives it (fs.readdirSync sorts).
      const dir = fs.opendirSync(p);
      const names: string[] = [];
      try {
        for (let e = dir.readSync(); e !== null; e = dir.readSync()) names.push(e.name);
      } finally {
        dir.closeSync();
      }
      return names;
    },
    readText: async (p) => fs.readFileSync(p, 'utf8'),
    readHead: async (p, length) => {
      let fd: number | undefined;
      try {
        fd = fs.openSync(p, 'r');
        const buf = Buffer.alloc(length);
        const n = fs.readSync(fd, buf, 0, length, 0);
        return buf.subarray(0, n);
      } catch {
        return undefined;
      } finally {
        if (fd !== undefined) fs.closeSync(fd);
      }
    },
    readFileIfExists: async (p) => {
      try {
        return fs.readFileSync(p, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw e;
      }
    },
    size: async (p) => fs.statSync(p).size,
    writeFile: async (p, data, exclusive) =>
      fs.writeFileSync(p, data, { mode: 0o644, flag: exclusive ? 'wx' : 'w' }),
    unlink: async (p) => fs.rmSync(p, { force: true }),
  };
}

/** stdin up to `limit + 1` bytes (more means "too large"). */
function readStdin(limit: number): string | undefined {
  const chunks: Buffer[] = [];
  let total = 0;
  const buf = Buffer.alloc(65536);
  for (;;) {
    let n: number;
    try {
      n = fs.readSync(0, buf, 0, buf.length, null);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') continue;
      if (code === 'EOF') break;
      return chunks.length ? Buffer.concat(chunks).toString('utf8') : undefined;
    }
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
    total += n;
    if (total > limit) break;
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** process.argv → exit status. */
export async function main(argv: readonly string[] = process.argv): Promise<number> {
  for (const key of Object.keys(process.env)) delete process.env[key];
  process.env.PATH = '/sbin:/usr/sbin';
  process.env.IFS = ' \t\n';
  const io: HelperIo = {
    args: argv.slice(2),
    argv0: argv[1] ?? 'virt-aa-helper',
    readStdin: async (limit) => readStdin(limit),
    stdout: (t) => fs.writeSync(1, t),
    stderr: (t) => fs.writeSync(2, t),
    fs: nodeHelperFs(),
    runParser: async (flag, profile) => {
      const r = spawnSync(APPARMOR_PARSER, [flag, profile], { stdio: 'inherit', env: { ...process.env } });
      if (r.error) return undefined;
      return r.status ?? 128 + 1;
    },
  };
  return runHelper(io);
}
