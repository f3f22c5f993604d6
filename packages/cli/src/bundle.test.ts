/**
 * The bins users run are bundles (tools/bundle: a few files instead of hundreds of modules); the rest of the suite
 * runs the module graph in process. Here each bundled command must print what the module graph
 * prints: in process on an embedded instance (the driver, its security backends and the data files
 * found through import.meta.url), and through the bundled qvirtd with libvirt's own virsh beside.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from './index.js';
import { makeTestDir } from './test-support/embed-root.js';
import { hasVirsh, type Run, VIRSH } from './test-support/test-daemon.js';

const QVIRSH = fileURLToPath(new URL('../bin/qvirsh.js', import.meta.url));
const QVIRTD = fileURLToPath(new URL('../../remote/bin/qvirtd.js', import.meta.url));
const built =
  existsSync(new URL('../dist/bundle/index.js', import.meta.url)) &&
  existsSync(new URL('../../remote/dist/bundle/bin.js', import.meta.url));

function runFile(file: string, argv: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, argv, { env: { ...process.env, LC_ALL: 'C', ...env } }, (e, out, err) =>
      resolve({ code: e ? Number(e.code ?? 1) : 0, out, err }),
    );
  });
}
const bundled = (...argv: string[]) => runFile(process.execPath, [QVIRSH, ...argv]);
async function inProcess(...argv: string[]): Promise<Run> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

let dir: string;
let root: string;
let daemon: ReturnType<typeof spawn> | undefined;
let uri: string;

beforeAll(async () => {
  ({ dir, root } = makeTestDir('qvirt-cli-bundle-', 'root'));
  if (!built) return;
  const sock = path.join(dir, 'sock');
  daemon = spawn(process.execPath, [QVIRTD, '--uri', `qemu:///embed?root=${root}`, '--socket-dir', sock], {
    stdio: 'ignore',
  });
  uri = `qemu+unix:///system?socket=${sock}/libvirt-sock`;
  for (let i = 0; i < 600 && !existsSync(`${sock}/libvirt-sock`); i++)
    await new Promise((r) => setTimeout(r, 50));
});
afterAll(async () => {
  if (daemon?.exitCode === null) {
    const exited = new Promise((r) => daemon!.once('exit', r));
    daemon.kill('SIGTERM');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

describe.runIf(built)('bundled qvirsh and qvirtd', () => {
  it('load a few files, and no driver, for a remote command', async () => {
    // every file Node loads, through a module hook in the child
    const log = path.join(dir, 'loaded.txt');
    const hooks = path.join(dir, 'hooks.mjs');
    writeFileSync(
      hooks,
      `import { appendFileSync } from 'node:fs';
export async function load(url, context, next) {
  if (url.startsWith('file:')) appendFileSync(${JSON.stringify(log)}, url + '\\n');
  return next(url, context);
}`,
    );
    const register = path.join(dir, 'register.mjs');
    writeFileSync(
      register,
      `import { register } from 'node:module'; register(${JSON.stringify(`file://${hooks}`)});`,
    );
    const r = await runFile(process.execPath, ['--import', register, QVIRSH, '-c', uri, 'list']);
    expect(r.code).toBe(0);
    const loaded = readFileSync(log, 'utf8').trim().split('\n');
    expect(loaded.filter((u) => /\/(driver|qemu-argv|host-prober|storage|secrets)\//.test(u))).toEqual([]);
    expect(loaded.every((u) => u.includes('/dist/bundle/') || u.endsWith('/bin/qvirsh.js'))).toBe(true);
    expect(loaded.length).toBeLessThan(15);
  });

  it('print what the module graph prints, in process on an embedded instance', async () => {
    const embed = `qemu:///embed?root=${path.join(dir, 'embed')}`;
    const demo = fileURLToPath(new URL('../../../docs/examples/demo.xml', import.meta.url));
    for (const argv of [
      ['help', 'list'],
      ['-c', embed, 'domxml-to-native', 'qemu-argv', demo],
      ['-c', embed, 'cpu-models', 'x86_64'],
      ['-c', embed, 'capabilities'],
      ['-c', embed, 'start', 'no-such-domain'],
    ]) {
      const [b, m] = [await bundled(...argv), await inProcess(...argv)];
      expect({ argv, ...b }).toEqual({ argv, ...m });
    }
  });

  it.runIf(hasVirsh)('serve virsh and qvirsh alike through the bundled daemon', async () => {
    const xml = path.join(dir, 'b.xml');
    writeFileSync(
      xml,
      `<domain type='qemu'><name>bundled</name><memory unit='MiB'>32</memory>
<os><type arch='x86_64' machine='pc'>hvm</type></os></domain>`,
    );
    expect((await bundled('-c', uri, 'define', xml)).code).toBe(0);
    for (const argv of [
      ['list', '--all'],
      ['dumpxml', 'bundled'],
      ['dominfo', 'bundled'],
      ['domstate', 'nope'],
    ]) {
      const [b, v] = [await bundled('-c', uri, ...argv), await runFile(VIRSH, ['-c', uri, ...argv])];
      expect({ argv, ...b }).toEqual({ argv, ...v });
    }
    expect((await bundled('-c', uri, 'undefine', 'bundled')).code).toBe(0);
  });
});

it.skipIf(built)('needs the bundles (pnpm build makes them)', () => {
  expect.fail('packages/cli/dist/bundle or packages/remote/dist/bundle is missing: run pnpm build');
});
