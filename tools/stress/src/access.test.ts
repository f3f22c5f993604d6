/**
 * Access to qvirtd and the instances:
 * - the read-only socket refuses every mutating procedure qvirtd implements (one test each,
 *   taken from the REMOTE program's table) with libvirt's "operation forbidden: read only
 *   access prevents vir…", and nothing changes;
 * - the read-write socket is created 0700 (or per unix_sock_rw_perms), owned by root, and a
 *   non-root uid (setpriv --reuid=65534) cannot connect to it, while it can to the read-only one;
 * - a session instance of uid 65534 with its own XDG directories sees none of the system
 *   instance's domains, cannot read or change its config, status, key or log files, and what it
 *   defines stays its own.
 */
import { execFile } from 'node:child_process';
import {
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HypervisorDriver } from '@qvirt/core/hypervisor';
import {
  createRemotePrograms,
  type Daemon,
  defaultDaemonConfig,
  RemoteClient,
  startDaemon,
} from '@qvirt/remote';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  guestXml,
  hasQemu,
  isRoot,
  leaks,
  makeInstance,
  removeInstance,
  serialText,
  snapshotHost,
  uriOf,
  waitFor,
} from './host-state.js';

const CHILD = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dist/access-child.js');
const hasSetpriv = existsSync('/usr/bin/setpriv');
/** The system instance's QEMU user in the session test (Debian's libvirt-qemu uid). */
const QEMU_UID = 64055;

/** The procedures the REMOTE program marks mutating (the table itself, not a copy of it). */
const MUTATING = (() => {
  // no call reaches the driver: every procedure here is refused before it is dispatched
  const { programs, dispose } = createRemotePrograms({
    drivers: { hypervisor: {} as HypervisorDriver },
    onDomainEvent: () => () => {},
  });
  const out = [...programs[0]!.procedures]
    .filter(([, p]) => p.mutating)
    .map(([proc, p]) => ({ proc, name: p.name }));
  dispose();
  return out;
})();

/** Runs the child as uid/gid 65534 with `env` (asynchronously: the daemon is in this process); its JSON line. */
async function asNobody(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Record<string, unknown>> {
  const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(
      'setpriv',
      ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CHILD, ...args],
      { encoding: 'utf8', env: { PATH: process.env.PATH, ...env }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err.code as number) ?? 1) : 0, stdout, stderr }),
    );
  });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.code !== 0 || !line.startsWith('{')) throw new Error(`child failed (${r.code}): ${r.stderr}`);
  return JSON.parse(line);
}

describe('the read-only socket refuses every mutating procedure', () => {
  let root: string;
  let daemon: Daemon;
  let ro: RemoteClient;
  let state: string;
  const snapshot = () =>
    JSON.stringify(daemon.driver.listDomains().map((d) => [d.name, d.uuid, d.state, d.autostart]));

  beforeAll(async () => {
    root = makeInstance('libvirt');
    daemon = await startDaemon({
      uri: uriOf(root),
      socketDir: path.join(root, 'sock'),
      config: defaultDaemonConfig(),
    });
    await daemon.driver.defineXML(guestXml(root, 'ro1'));
    state = snapshot();
    // the client does not ask for read-only: the socket decides
    ro = await RemoteClient.open(`qemu+unix:///system?socket=${daemon.sockets.ro}`, { keepalive: false });
  });
  afterAll(async () => {
    await ro?.connectClose();
    await daemon?.close();
    if (root) removeInstance(root);
  });

  it('the table has the mutating procedures qvirtd implements', () => {
    expect(MUTATING.map((m) => m.name)).toEqual(
      expect.arrayContaining([
        'virDomainDefineXML',
        'virDomainUndefine',
        'virDomainCreate',
        'virDomainCreateXML',
        'virDomainDestroy',
        'virDomainSuspend',
        'virDomainResume',
        'virDomainSetAutostart',
      ]),
    );
    console.log(`${MUTATING.length} mutating procedures: ${MUTATING.map((m) => m.name).join(', ')}`);
  });

  it.each(MUTATING)('$name ($proc)', async ({ proc, name }) => {
    const err = await ro.call(proc).then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string },
    );
    expect(err?.message).toBe(`operation forbidden: read only access prevents ${name}`);
    expect(err?.code).toBe('OPERATION_DENIED');
    expect(snapshot()).toBe(state);
    // the connection stays usable, and reading is allowed
    expect((await ro.connectListAllDomains(0)).map((d) => d.name)).toEqual(['ro1']);
  });
});

describe.skipIf(!isRoot || !hasSetpriv || !existsSync(CHILD))('the system instance against uid 65534', () => {
  let root: string;
  let home: string;
  let daemon: Daemon | undefined;
  let before: ReturnType<typeof snapshotHost>;

  beforeAll(async () => {
    before = snapshotHost();
    root = makeInstance('libvirt');
    // QEMU runs as another uid than the intruder: its own user legitimately owns the domain's
    // private directory and master key (as libvirt's qemu user does)
    writeFileSync(path.join(root, 'etc/qemu.conf'), `user = "+${QEMU_UID}"\ngroup = "+${QEMU_UID}"\n`);
    home = mkdtempSync(path.join(tmpdir(), 'qvirt-stress-nobody-'));
    chownSync(home, 65534, 65534);
  });
  afterAll(async () => {
    await daemon?.close();
    if (root) removeInstance(root);
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it('the read-write socket is 0700 root-only (or per unix_sock_rw_perms); uid 65534 cannot connect', async () => {
    const d = await startDaemon({
      uri: uriOf(root),
      socketDir: path.join(root, 'sock'),
      config: defaultDaemonConfig(),
    });
    daemon = d;
    await d.driver.defineXML(guestXml(root, 'sys1'));
    const rw = statSync(d.sockets.rw);
    const roSt = statSync(d.sockets.ro);
    expect([rw.isSocket(), rw.mode & 0o777, rw.uid, rw.gid]).toEqual([true, 0o700, 0, 0]);
    expect([roSt.isSocket(), roSt.mode & 0o777, roSt.uid]).toEqual([true, 0o777, 0]);
    expect(await asNobody(['connect', d.sockets.rw])).toEqual({
      error: `Failed to connect socket to '${d.sockets.rw}': Permission denied`,
    });
    // the read-only socket is open to it, as libvirtd's
    expect(await asNobody(['connect', d.sockets.ro])).toEqual({ names: ['sys1'] });
    await d.close();
    daemon = undefined;

    // unix_sock_rw_perms and unix_sock_group are followed
    const d2 = await startDaemon({
      uri: uriOf(root),
      socketDir: path.join(root, 'sock'),
      config: { ...defaultDaemonConfig(), unix_sock_rw_perms: '0770', unix_sock_group: '65534' },
    });
    daemon = d2;
    const rw2 = statSync(d2.sockets.rw);
    expect([rw2.mode & 0o777, rw2.uid, rw2.gid]).toEqual([0o770, 0, 65534]);
    // --clear-groups: 65534 is its primary gid, so the group bit lets it in now
    expect(await asNobody(['connect', d2.sockets.rw])).toEqual({ names: ['sys1'] });
    await d2.close();
    daemon = undefined;
  });

  it.skipIf(!hasQemu)(
    "a session instance of uid 65534 neither sees nor reads nor changes the system instance's domains and files",
    async () => {
      await daemon?.close();
      const d = await startDaemon({
        uri: uriOf(root),
        socketDir: path.join(root, 'sock'),
        config: defaultDaemonConfig(),
      });
      daemon = d;
      // a running system domain: config, status, pid, log and the master key all exist
      const xml = guestXml(root, 'sys2');
      const sys2 = await d.driver.defineXML(xml);
      await d.driver.start('sys2');
      await waitFor(() => serialText(root, 'sys2').includes('Hello from sys2!'), 30_000, 'the greeting');
      const config = path.join(root, 'etc/qemu/sys2.xml');
      const status = path.join(root, 'run/qemu/sys2.xml');
      const files = { config: readFileSync(config, 'utf8'), status: readFileSync(status, 'utf8') };

      // the session defines a domain of the same name and uuid in its own directories
      const xmlFile = path.join(home, 'sys2.xml');
      const sessionXml = xml
        .replace('<name>', `<uuid>${sys2.uuid}</uuid>\n  <name>`)
        .replace('32768', '16384');
      writeFileSync(xmlFile, sessionXml);
      chownSync(xmlFile, 65534, 65534);
      const xdg = {
        HOME: home,
        XDG_CONFIG_HOME: path.join(home, 'config'),
        XDG_CACHE_HOME: path.join(home, 'cache'),
        XDG_RUNTIME_DIR: path.join(home, 'run'),
      };
      mkdirSync(xdg.XDG_RUNTIME_DIR, { mode: 0o700 });
      chownSync(xdg.XDG_RUNTIME_DIR, 65534, 65534);
      const out = (await asNobody(['session', root, xmlFile], xdg)) as {
        seenBefore: string[];
        seenAfter: string[];
        sessionConfig: string;
        reads: Record<string, string>;
        creates: Record<string, string>;
      };
      expect(out.seenBefore).toEqual([]);
      expect(out.seenAfter).toEqual(['sys2']);
      expect(out.sessionConfig.startsWith(`${home}/config/qvirt/qemu/`)).toBe(true);

      // every file of the system instance: not readable, not writable, not removable — but
      // the pid file, world-readable as libvirt's (0644)
      const expected: Record<string, string> = {};
      for (const p of Object.keys(out.reads)) {
        expected[p] = p.endsWith('.pid')
          ? 'read ok, write EACCES, unlink EACCES'
          : /\/domain-\d+-sys2$/.test(p)
            ? 'readdir EACCES' // the private directory (master key, QMP socket): not even listed
            : 'read EACCES, write EACCES, unlink EACCES';
      }
      expect(out.reads).toEqual(expected);
      for (const f of [config, status, path.join(root, 'lib/qemu/domain-1-sys2')])
        expect(Object.keys(out.reads)).toContain(f);
      expect(Object.values(out.creates)).toEqual(['EACCES', 'EACCES', 'EACCES', 'EACCES', 'EACCES']);

      // and the system instance is as it was
      expect(readFileSync(config, 'utf8')).toBe(files.config);
      expect(readFileSync(status, 'utf8')).toBe(files.status);
      expect(d.driver.listDomains().map((x) => [x.name, x.state])).toEqual([
        ['sys1', 'shutoff'],
        ['sys2', 'running'],
      ]);
      expect(d.driver.getInfo('sys2').maxMem).toBe(32768);
      await d.driver.destroy('sys2');
      await d.close();
      daemon = undefined;
      expect(await leaks(root, before, {}, ['sys2'])).toEqual([]);
    },
  );
});
