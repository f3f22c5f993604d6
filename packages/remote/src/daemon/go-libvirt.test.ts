/**
 * digitalocean/go-libvirt (Debian's golang-github-digitalocean-go-libvirt-dev), an independent Go
 * implementation of libvirt's remote protocol with its own XDR, against qvirtd: a small program
 * (test-fixtures/go-libvirt) that walks a real TCG guest through its whole life, and go-libvirt's
 * own integration tests for the parts of libvirt qvirt serves.
 */
import { execFile, spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  domainReasonNumber,
  VIR_DOMAIN_EVENT,
  VIR_DOMAIN_EVENT_DETAIL,
  VIR_DOMAIN_STATE,
} from '@qvirt/core/hypervisor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RemoteClient } from '../client/client.js';
import { guestXml, PREFIX, type Run, startTestDaemon, type TestDaemon } from '../test-support/harness.js';
import { type NetworkListener, networkConfig, startNetworkListeners } from '../transport/index.js';

const hasGo = spawnSync('go', ['version'], { stdio: 'ignore' }).status === 0;
/** Where Debian installs Go sources: go-libvirt builds from here with no network (GOPATH mode). */
const DEBIAN_GOPATH = '/usr/share/gocode';
const GO_LIBVIRT = path.join(DEBIAN_GOPATH, 'src/github.com/digitalocean/go-libvirt');
const FIXTURE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test-fixtures/go-libvirt');

/** Go's environment for an offline GOPATH build: no modules, no proxy, a cache that outlives the run. */
function goEnv(gopath: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    GO111MODULE: 'off',
    GOPATH: gopath,
    GOFLAGS: '',
    GOPROXY: 'off',
    GOCACHE: process.env.GOCACHE ?? path.join(tmpdir(), 'qvirt-go-build-cache'),
  };
}

/** Like the harness's run, with room for a cold Go build. */
function runIn(cwd: string, cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, env, timeout: 300_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

interface Step {
  step: string;
  ok: boolean;
  result?: unknown;
  error?: string;
  code?: number;
}

// libvirt's numbers, from core's one table
const LifecycleEvent = VIR_DOMAIN_EVENT;
const VIR_DOMAIN_RUNNING = VIR_DOMAIN_STATE.running;
const VIR_DOMAIN_RUNNING_BOOTED = domainReasonNumber('running', 'booted');
const DEFINED_ADDED = VIR_DOMAIN_EVENT_DETAIL.DEFINED.ADDED;
const UNDEFINED_REMOVED = VIR_DOMAIN_EVENT_DETAIL.UNDEFINED.REMOVED;
const STARTED_BOOTED = VIR_DOMAIN_EVENT_DETAIL.STARTED.BOOTED;
const RESUMED_UNPAUSED = VIR_DOMAIN_EVENT_DETAIL.RESUMED.UNPAUSED;
const STOPPED_DESTROYED = VIR_DOMAIN_EVENT_DETAIL.STOPPED.DESTROYED;
/** QEMU 7.2 reports SIGTERM as SHUTDOWN {guest: false}: qemuProcessHandleShutdown's HOST detail. */
const SHUTDOWN_HOST = VIR_DOMAIN_EVENT_DETAIL.SHUTDOWN.HOST;

if (!hasGo) console.warn('go-libvirt.test: skipped, no `go` on PATH (tools/bootstrap.sh installs golang-go)');

describe.skipIf(!hasGo)('go-libvirt against qvirtd', () => {
  let t: TestDaemon;
  let build: string;
  const steps = new Map<string, Step>();
  let lines: Step[] = [];
  let stderr = '';

  beforeAll(async () => {
    build = mkdtempSync(path.join(tmpdir(), `${PREFIX}go-`));
    const exe = path.join(build, 'golibvirt-steps');
    const b = await runIn(FIXTURE, 'go', ['build', '-o', exe, '.'], goEnv(DEBIAN_GOPATH));
    if (b.code !== 0) throw new Error(`go build failed: ${b.stderr.trim()}`);

    t = await startTestDaemon();
    // where the libvirt-qemu user exists the guest runs as that user, which must reach the disk
    chmodSync(t.dir, 0o711);
    const xml = guestXml(t.dir, 'go1');
    const r = await runIn(t.dir, exe, [t.daemon.sockets.rw, xml], process.env);
    stderr = r.stderr;
    lines = r.stdout
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Step);
    for (const s of lines) steps.set(s.step, s);
  }, 360_000);
  afterAll(async () => {
    await t?.stop();
    if (build) rmSync(build, { recursive: true, force: true });
  });

  const ok = (name: string): unknown => {
    const s = steps.get(name);
    expect(s, `step ${name} missing; stderr: ${stderr}`).toBeDefined();
    expect(s!.error ?? '', `${name}`).toBe('');
    expect(s!.ok).toBe(true);
    return s!.result;
  };

  it('runs every step, in order', () => {
    expect(lines.map((s) => s.step)).toEqual([
      'connect',
      'LifecycleEvents',
      'ConnectGetLibVersion',
      'ConnectGetHostname',
      'ConnectListAllDomains',
      'DomainDefineXML',
      'DomainCreate',
      'DomainGetState',
      'DomainGetXMLDesc',
      'DomainGetInfo',
      'ConnectGetCapabilities',
      'DomainDestroy',
      'DomainUndefine',
      'events',
      'disconnect',
    ]);
  });

  it('connects with its non-canonical "name present" word and subscribes to lifecycle events', () => {
    ok('connect');
    ok('LifecycleEvents');
    ok('disconnect');
  });

  it('reads the library version, the host name and an empty domain list', () => {
    expect(ok('ConnectGetLibVersion')).toBe(9_000_000);
    const host = ok('ConnectGetHostname') as string;
    // virGetHostname: gethostname(), or its canonical name when that has no dot
    expect(host === os.hostname() || host.startsWith(`${os.hostname()}.`), host).toBe(true);
    expect(ok('ConnectListAllDomains')).toEqual([]);
  });

  it('defines, starts, inspects, destroys and undefines a real guest', () => {
    expect(ok('DomainDefineXML')).toMatchObject({ name: 'go1', id: -1 });
    ok('DomainCreate');
    expect(ok('DomainGetState')).toEqual({ state: VIR_DOMAIN_RUNNING, reason: VIR_DOMAIN_RUNNING_BOOTED });
    const xml = ok('DomainGetXMLDesc') as string;
    expect(xml).toMatch(/^<domain type='qemu' id='\d+'>\n {2}<name>go1<\/name>/);
    expect(ok('DomainGetInfo')).toEqual({
      state: VIR_DOMAIN_RUNNING,
      maxMem: 65536,
      memory: 65536,
      nrVirtCpu: 1,
      cpuTimePositive: true,
    });
    const caps = ok('ConnectGetCapabilities') as string;
    expect(caps).toMatch(/^<capabilities>\n/);
    expect(caps).toMatch(/<host>\n {4}<uuid>[0-9a-f-]{36}<\/uuid>/);
    expect(caps).toContain("<domain type='qemu'/>");
    ok('DomainDestroy');
    ok('DomainUndefine');
  });

  it('receives the lifecycle events libvirt 9.0 sends, in its order', () => {
    const libvirt = [
      [LifecycleEvent.DEFINED, DEFINED_ADDED],
      // qemuProcessStartCPUs: QEMU's RESUME (the domain is still paused), then qemuDomainObjStart
      [LifecycleEvent.RESUMED, RESUMED_UNPAUSED],
      [LifecycleEvent.STARTED, STARTED_BOOTED],
      // SIGTERM: QEMU's SHUTDOWN is handled while qemuProcessStop waits for the event thread
      [LifecycleEvent.SHUTDOWN, SHUTDOWN_HOST],
      [LifecycleEvent.STOPPED, STOPPED_DESTROYED],
      [LifecycleEvent.UNDEFINED, UNDEFINED_REMOVED],
    ].map(([event, detail]) => ({ domain: 'go1', event, detail }));
    // destroy reads the monitor to its end before it reports the stop, so QEMU's SHUTDOWN is never lost
    expect(ok('events')).toEqual(libvirt);
  });
});

/**
 * go-libvirt's own integration tests (libvirt_integration_test.go, build tag `integration`). They
 * dial 127.0.0.1:16509 with no authentication and expect a domain named "test" from their
 * testdata; the run uses a copy of the package whose testPort names the port qvirtd listens on.
 * Their storage pool and volume tests run against a pool defined from their testdata as their CI
 * does (`virsh pool-define` + `pool-start`), its target a temp directory rather than /tmp.
 */
const INTEGRATION_TESTS = [
  'TestDeprecatedConnectDisconnectIntegration',
  'TestConnectDisconnectIntegration',
  'TestDeprecatedCapabilities',
  'TestCapabilities',
  'TestUsingNeverConnected',
  'TestUsingAfterDisconnect',
  'TestLostConnection',
  'TestMultipleConnections',
  'TestXMLIntegration',
  'Test_concurrentWrite',
  'TestStoragePoolIntegration',
  'TestStoragePoolInvalidIntegration',
  'TestStoragePoolsIntegration',
  'TestStoragePoolsAutostartIntegration',
  'TestStoragePoolRefreshIntegration',
  'TestStoragePoolRefreshInvalidIntegration',
  'TestVolumeUploadDownloadIntegration',
  'TestSecretsIntegration',
];

describe.skipIf(!hasGo)("go-libvirt's own integration tests against qvirtd", () => {
  let t: TestDaemon;
  let gopath: string;
  const listeners: NetworkListener[] = [];
  let port = 0;

  beforeAll(async () => {
    t = await startTestDaemon();
    listeners.push(
      ...(await startNetworkListeners(
        t.daemon.server,
        networkConfig({
          listen_tcp: true,
          listen_tls: false,
          listen_addr: '127.0.0.1',
          tcp_port: 0,
          auth_tcp: 'none',
        }),
      )),
    );
    port = listeners[0]!.address().port;
    // their "test" domain, defined as their CI does with virsh define
    await t.daemon.driver.defineXML(readFileSync(path.join(GO_LIBVIRT, 'testdata/test-domain.xml'), 'utf8'));
    // their "test" pool, defined and started as their CI does, in a directory of its own
    const poolDir = path.join(t.dir, 'go-pool');
    const poolXml = readFileSync(path.join(GO_LIBVIRT, 'testdata/test-pool.xml'), 'utf8');
    expect(poolXml).toContain('<path>/tmp</path>');
    const conn = await RemoteClient.open(t.rwUri);
    try {
      const pool = await conn.storagePoolDefineXML(
        poolXml.replace('<path>/tmp</path>', `<path>${poolDir}</path>`),
        0,
      );
      await conn.storagePoolBuild(pool, 0);
      await conn.storagePoolCreate(pool, 0);
      // their secret, defined as their CI does with virsh secret-define
      await conn.secretDefineXML(readFileSync(path.join(GO_LIBVIRT, 'testdata/test-secret.xml'), 'utf8'), 0);
    } finally {
      await conn.connectClose();
    }

    gopath = mkdtempSync(path.join(tmpdir(), `${PREFIX}gopath-`));
    const pkg = path.join(gopath, 'src/github.com/digitalocean/go-libvirt');
    cpSync(GO_LIBVIRT, pkg, { recursive: true });
    // The package's unit tests need testify, which Debian ships separately; only the integration file runs.
    for (const f of readdirSync(pkg)) {
      if (f.endsWith('_test.go') && f !== 'libvirt_integration_test.go') unlinkSync(path.join(pkg, f));
    }
    const file = path.join(pkg, 'libvirt_integration_test.go');
    const src = readFileSync(file, 'utf8');
    expect(src).toContain('testPort = "16509"');
    writeFileSync(file, src.replace('testPort = "16509"', `testPort = "${port}"`));
  }, 60_000);
  afterAll(async () => {
    await Promise.all(listeners.map((l) => l.close()));
    await t?.stop();
    if (gopath) rmSync(gopath, { recursive: true, force: true });
  });

  it('passes connect/disconnect, capabilities, domain XML, lost connections, concurrent calls, storage pools, volume streams and secrets', async () => {
    const pkg = path.join(gopath, 'src/github.com/digitalocean/go-libvirt');
    const r = await runIn(
      pkg,
      'go',
      ['test', '-tags', 'integration', '-count=1', '-v', '-run', `^(${INTEGRATION_TESTS.join('|')})$`, '.'],
      goEnv(`${gopath}:${DEBIAN_GOPATH}`),
    );
    const passed = [...r.stdout.matchAll(/^--- PASS: (\w+)/gm)].map((m) => m[1]);
    const failed = [...r.stdout.matchAll(/^--- FAIL: (\w+)/gm)].map((m) => m[1]);
    expect(failed, r.stdout + r.stderr).toEqual([]);
    expect(passed.sort()).toEqual([...INTEGRATION_TESTS].sort());
    expect(r.code).toBe(0);
  }, 360_000);
});
