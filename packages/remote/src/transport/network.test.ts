/**
 * The real virsh (libvirt-clients 9.0) against qvirtd over the network transports: TCP with SASL
 * (DIGEST-MD5 and its RC4 security layer, what libvirt's client demands on plain TCP), TLS with
 * certificates made here by openssl (plus SCRAM-SHA-256 on top of TLS), and SSH through a real
 * sshd on a loopback port with qvirt-ssh-helper on the far side. A real TCG guest is driven over
 * each. Refusals: a wrong SASL password, a client that skips authentication, a client
 * certificate from another CA, a DN not on tls_allowed_dn_list.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MessageStatus, MessageType, REMOTE_PROGRAM, REMOTE_PROTOCOL_VERSION } from '../rpc/constants.js';
import { readRemoteError } from '../rpc/error.js';
import { PacketFramer } from '../rpc/framer.js';
import { decodePacket, encodePacket, type Packet } from '../rpc/header.js';
import { guestXml, hasVirsh, run, startTestDaemon, type TestDaemon, VIRSH } from '../test-support/harness.js';
import { XdrReader } from '../xdr/xdr.js';
import { openRemote } from './client-transports.js';
import { type NetworkConfValues, networkConfig, startNetworkListeners } from './network-config.js';
import { saslPasswdMain } from './sasl-passwd.js';
import type { NetworkListener } from './tcp.js';

const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist');
const have = (p: string) => existsSync(p);
const ready = hasVirsh && have('/usr/bin/openssl') && have('/usr/sbin/sshd') && have('/usr/bin/ssh');

const env = { ...process.env, LIBVIRT_AUTOSTART: '0', LC_ALL: 'C' };
const virshAs = (extra: NodeJS.ProcessEnv, uri: string, ...args: string[]) =>
  run(VIRSH, ['-c', uri, ...args], { ...env, ...extra });

function openssl(cwd: string, ...args: string[]): void {
  execFileSync('/usr/bin/openssl', args, { cwd, stdio: 'pipe' });
}

/** A CA, the daemon's certificate for localhost/127.0.0.1, and client certificates. */
function makePki(dir: string): { server: string; good: string; rogue: string; stranger: string } {
  mkdirSync(dir, { recursive: true });
  const ca = path.join(dir, 'ca');
  mkdirSync(ca);
  openssl(
    ca,
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'cakey.pem',
    '-out',
    'cacert.pem',
    '-days',
    '2',
    '-subj',
    '/O=qvirt test/CN=qvirt test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  writeFileSync(
    path.join(ca, 'server.ext'),
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\nbasicConstraints=CA:FALSE\n',
  );
  writeFileSync(
    path.join(ca, 'client.ext'),
    'extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature,keyEncipherment\nbasicConstraints=CA:FALSE\n',
  );
  const issue = (
    out: string,
    name: string,
    subj: string,
    ext: string,
    caDir = ca,
    caName = 'cacert.pem',
    caKey = 'cakey.pem',
  ) => {
    mkdirSync(out, { recursive: true });
    openssl(
      out,
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      `${name}key.pem`,
      '-out',
      'req.csr',
      '-subj',
      subj,
    );
    openssl(
      out,
      'x509',
      '-req',
      '-in',
      'req.csr',
      '-CA',
      path.join(caDir, caName),
      '-CAkey',
      path.join(caDir, caKey),
      '-CAcreateserial',
      '-out',
      `${name}cert.pem`,
      '-days',
      '2',
      '-extfile',
      path.join(ca, ext),
    );
  };
  const server = path.join(dir, 'server');
  issue(server, 'server', '/O=qvirt test/CN=localhost', 'server.ext');
  const good = path.join(dir, 'good');
  issue(good, 'client', '/C=GB/O=qvirt test/CN=client1', 'client.ext');
  writeFileSync(path.join(good, 'cacert.pem'), readText(path.join(ca, 'cacert.pem')));
  // Same DN, but signed by a CA the daemon does not trust. Its cacert.pem holds both CAs so that
  // virsh's own sanity check passes and the refusal is the daemon's, in the handshake.
  const rogue = path.join(dir, 'rogue');
  mkdirSync(rogue);
  openssl(
    rogue,
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'rcakey.pem',
    '-out',
    'rcacert.pem',
    '-days',
    '2',
    '-subj',
    '/CN=rogue CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
  );
  issue(rogue, 'client', '/C=GB/O=qvirt test/CN=client1', 'client.ext', rogue, 'rcacert.pem', 'rcakey.pem');
  writeFileSync(
    path.join(rogue, 'cacert.pem'),
    readText(path.join(ca, 'cacert.pem')) + readText(path.join(rogue, 'rcacert.pem')),
  );
  // Signed by the right CA, but not on tls_allowed_dn_list.
  const stranger = path.join(dir, 'stranger');
  issue(stranger, 'client', '/C=GB/O=elsewhere/CN=mallory', 'client.ext');
  writeFileSync(path.join(stranger, 'cacert.pem'), readText(path.join(ca, 'cacert.pem')));
  return { server, good, rogue, stranger };
}

function readText(p: string): string {
  return execFileSync('cat', [p], { encoding: 'utf8' });
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`port ${port} never opened`);
}

/** define, start, dumpxml, domstate, destroy, undefine of a real guest over `uri`. */
async function lifecycle(t: TestDaemon, extra: NodeJS.ProcessEnv, uri: string, name: string): Promise<void> {
  const v = (...args: string[]) => virshAs(extra, uri, ...args);
  const file = guestXml(t.dir, name);
  const def = await v('define', file);
  expect(def.stderr).toBe('');
  expect(def.stdout).toBe(`Domain '${name}' defined from ${file}\n\n`);
  expect((await v('list', '--all')).stdout).toMatch(new RegExp(` -\\s+${name}\\s+shut off`));
  const start = await v('start', name);
  expect(start.stderr).toBe('');
  expect(start.stdout).toBe(`Domain '${name}' started\n\n`);
  expect((await v('domstate', name)).stdout).toBe('running\n\n');
  expect((await v('dumpxml', name)).stdout).toMatch(
    new RegExp(`^<domain type='qemu' id='\\d+'>\\n {2}<name>${name}</name>`),
  );
  expect((await v('destroy', name)).stdout).toBe(`Domain '${name}' destroyed\n\n`);
  expect((await v('domstate', name)).stdout).toBe('shut off\n\n');
  expect((await v('undefine', name)).stdout).toBe(`Domain '${name}' has been undefined\n\n`);
}

/** A raw TCP client speaking the RPC framing (no auth), for the refusal tests. */
async function rawCall(
  port: number,
  proc: number,
  serial: number,
  body?: (w: import('../xdr/xdr.js').XdrWriter) => void,
): Promise<Packet> {
  return new Promise((resolve, reject) => {
    const framer = new PacketFramer();
    const s = net.connect(port, '127.0.0.1', () => {
      s.write(
        encodePacket(
          {
            prog: REMOTE_PROGRAM,
            vers: REMOTE_PROTOCOL_VERSION,
            proc,
            type: MessageType.CALL,
            serial,
            status: MessageStatus.OK,
          },
          body,
        ),
      );
    });
    s.on('data', (d: Buffer) => {
      const [p] = framer.push(d);
      if (p) {
        s.destroy();
        resolve(decodePacket(p));
      }
    });
    s.once('error', reject);
    s.once('close', () => reject(new Error('closed without a reply')));
  });
}

describe.skipIf(!ready)('virsh over qvirtd network transports', () => {
  let t: TestDaemon;
  const listeners: NetworkListener[] = [];
  let sshd: ChildProcess | undefined;
  let pki: ReturnType<typeof makePki>;
  let users: string;
  let authFile: string;
  let badAuthFile: string;
  const ports: Record<string, number> = {};

  const listen = async (name: string, values: NetworkConfValues) => {
    const started = await startNetworkListeners(
      t.daemon.server,
      networkConfig({ listen_addr: '127.0.0.1', tcp_port: 0, tls_port: 0, sasl_user_db: users, ...values }),
    );
    listeners.push(...started);
    ports[name] = started[0]!.address().port;
  };

  beforeAll(async () => {
    t = await startTestDaemon();
    users = path.join(t.dir, 'sasl-users.json');
    const { Readable } = await import('node:stream');
    const sink = { write: () => true } as unknown as NodeJS.WritableStream;
    const code = await saslPasswdMain(['-f', users, 'alice'], {
      stdin: Readable.from([Buffer.from('s3cret pass\n')]),
      stdout: sink,
      stderr: process.stderr,
    });
    expect(code).toBe(0);
    const creds = (password: string) =>
      `[credentials-qvirt]\nauthname=alice\nusername=alice\npassword=${password}\n\n[auth-libvirt-127.0.0.1]\ncredentials=qvirt\n\n[auth-libvirt-localhost]\ncredentials=qvirt\n`;
    authFile = path.join(t.dir, 'auth.conf');
    badAuthFile = path.join(t.dir, 'bad-auth.conf');
    writeFileSync(authFile, creds('s3cret pass'));
    writeFileSync(badAuthFile, creds('wrong'));
    pki = makePki(path.join(t.dir, 'pki'));
    const tls = {
      ca_file: path.join(t.dir, 'pki', 'ca', 'cacert.pem'),
      cert_file: path.join(pki.server, 'servercert.pem'),
      key_file: path.join(pki.server, 'serverkey.pem'),
      tls_allowed_dn_list: ['CN=client*,O=qvirt test,C=GB'],
    };
    await listen('tcpSasl', { listen_tcp: true, listen_tls: false });
    await listen('tcpNone', { listen_tcp: true, listen_tls: false, auth_tcp: 'none' });
    await listen('tls', { listen_tls: true, ...tls });
    await listen('tlsSasl', { listen_tls: true, auth_tls: 'sasl', ...tls });
  }, 120_000);

  afterAll(async () => {
    sshd?.kill('SIGTERM');
    await Promise.all(listeners.map((l) => l.close()));
    await t?.stop();
  });

  describe('qemu+tcp:// with SASL', () => {
    const uri = () => `qemu+tcp://127.0.0.1:${ports.tcpSasl}/system`;

    it('logs in with the auth.conf password (DIGEST-MD5, RC4 layer) and lists, prints capabilities', async () => {
      const list = await virshAs({ LIBVIRT_AUTH_FILE: authFile }, uri(), 'list', '--all');
      expect(list.stderr).toBe('');
      expect(list.stdout).toBe(' Id   Name   State\n--------------------\n\n');
      const caps = await virshAs({ LIBVIRT_AUTH_FILE: authFile }, uri(), 'capabilities');
      expect(caps.code).toBe(0);
      expect(caps.stdout).toMatch(/^<capabilities>\n/);
      expect(caps.stdout).toContain('</capabilities>');
    });

    it('drives a real guest', async () => {
      await lifecycle(t, { LIBVIRT_AUTH_FILE: authFile }, uri(), 'tcpguest');
    }, 120_000);

    it('refuses a wrong password, and keeps serving', async () => {
      const bad = await virshAs({ LIBVIRT_AUTH_FILE: badAuthFile }, uri(), 'list', '--all');
      expect(bad.code).not.toBe(0);
      expect(bad.stderr).toContain('authentication failed');
      expect((await virshAs({ LIBVIRT_AUTH_FILE: authFile }, uri(), 'list', '--all')).code).toBe(0);
    });

    it('answers "authentication required" to a client that skips SASL', async () => {
      // REMOTE_PROC_CONNECT_OPEN (1) { remote_string name = NULL; int flags = 0 }
      const reply = await rawCall(ports.tcpSasl!, 1, 7, (w) => {
        w.uint(0);
        w.int(0);
      });
      expect(reply.header.serial).toBe(7);
      expect(reply.header.status).toBe(MessageStatus.ERROR);
      const err = readRemoteError(new XdrReader(reply.payload));
      expect(err.message).toBe('authentication required');
      // AUTH_LIST (66) needs no auth and names SASL (1).
      const list = await rawCall(ports.tcpSasl!, 66, 8);
      expect(list.header.status).toBe(MessageStatus.OK);
      expect(list.payload.toString('hex')).toBe('0000000100000001');
    });

    it('with auth_tcp = "none" needs no credentials', async () => {
      const list = await virshAs({}, `qemu+tcp://127.0.0.1:${ports.tcpNone}/system`, 'list', '--all');
      expect(list.stderr).toBe('');
      expect(list.code).toBe(0);
    });
  });

  describe('qemu://localhost/system over TLS', () => {
    const uri = (dir: string, port = ports.tls) => `qemu://localhost:${port}/system?pkipath=${dir}`;

    it('lists and prints capabilities with the test CA and client certificate', async () => {
      const list = await virshAs({}, uri(pki.good), 'list', '--all');
      expect(list.stderr).toBe('');
      expect(list.stdout).toContain(' Id   Name   State');
      expect((await virshAs({}, uri(pki.good), 'capabilities')).stdout).toMatch(/^<capabilities>\n/);
    });

    it('drives a real guest', async () => {
      await lifecycle(t, {}, uri(pki.good), 'tlsguest');
    }, 120_000);

    it('refuses a client certificate from another CA in the handshake', async () => {
      const r = await virshAs({}, uri(pki.rogue), 'list', '--all');
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/TLS|certificate|handshake/i);
      expect(r.stdout).toBe('');
    });

    it('refuses a DN not on tls_allowed_dn_list, and keeps serving', async () => {
      const r = await virshAs({}, uri(pki.stranger), 'list', '--all');
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('Unable to read TLS confirmation');
      expect((await virshAs({}, uri(pki.good), 'list', '--all')).code).toBe(0);
    });

    it('with auth_tls = "sasl" logs in with SCRAM-SHA-256 on top of TLS', async () => {
      const ok = await virshAs(
        { LIBVIRT_AUTH_FILE: authFile },
        uri(pki.good, ports.tlsSasl),
        'list',
        '--all',
      );
      expect(ok.stderr).toBe('');
      expect(ok.code).toBe(0);
      const bad = await virshAs(
        { LIBVIRT_AUTH_FILE: badAuthFile },
        uri(pki.good, ports.tlsSasl),
        'list',
        '--all',
      );
      expect(bad.stderr).toContain('authentication failed');
    });
  });

  describe("qvirt's own client (qvirsh's RemoteClient)", () => {
    it('logs in over TCP with DIGEST-MD5 and talks through the security layer', async () => {
      const c = await openRemote(`qemu+tcp://127.0.0.1:${ports.tcpSasl}/system`, {
        env: { LIBVIRT_AUTH_FILE: authFile },
      });
      try {
        expect(await c.connectGetCapabilities()).toMatch(/^<capabilities>/);
        expect(Array.isArray(await c.connectListAllDomains(0))).toBe(true);
        // DIGEST-MD5 put a security layer on the TCP stream: secure and encrypted
        expect([await c.connectIsSecure(), await c.connectIsEncrypted()]).toEqual([1, 1]);
      } finally {
        await c.close();
      }
      await expect(
        openRemote(`qemu+tcp://127.0.0.1:${ports.tcpSasl}/system`, {
          env: { LIBVIRT_AUTH_FILE: badAuthFile },
        }),
      ).rejects.toThrow(/authentication failed/);
    });

    it('logs in over TLS with a client certificate, and with SCRAM-SHA-256 on top', async () => {
      const plain = await openRemote(`qemu://localhost:${ports.tls}/system?pkipath=${pki.good}`);
      expect(await plain.connectGetHostname()).toBeTruthy();
      expect([await plain.connectIsSecure(), await plain.connectIsEncrypted()]).toEqual([1, 1]);
      await plain.close();
      const scram = await openRemote(`qemu://localhost:${ports.tlsSasl}/system?pkipath=${pki.good}`, {
        env: { LIBVIRT_AUTH_FILE: authFile },
      });
      expect(await scram.connectGetCapabilities()).toMatch(/^<capabilities>/);
      await scram.close();
      await expect(
        openRemote(`qemu://localhost:${ports.tls}/system?pkipath=${pki.stranger}`),
      ).rejects.toThrow();
    });
  });

  describe('qemu+ssh://root@localhost/system', () => {
    let sshDir: string;
    let sshPort: number;
    let ssh: (q?: string) => string;

    beforeAll(async () => {
      sshDir = path.join(t.dir, 'ssh');
      mkdirSync(sshDir);
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(sshDir, 'hostkey')]);
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(sshDir, 'userkey')]);
      writeFileSync(path.join(sshDir, 'authorized_keys'), readText(path.join(sshDir, 'userkey.pub')), {
        mode: 0o600,
      });
      sshPort = await freePort();
      writeFileSync(
        path.join(sshDir, 'sshd_config'),
        [
          `Port ${sshPort}`,
          'ListenAddress 127.0.0.1',
          `HostKey ${path.join(sshDir, 'hostkey')}`,
          `PidFile ${path.join(sshDir, 'sshd.pid')}`,
          `AuthorizedKeysFile ${path.join(sshDir, 'authorized_keys')}`,
          'PermitRootLogin prohibit-password',
          'PasswordAuthentication no',
          'KbdInteractiveAuthentication no',
          'UsePAM no',
          'StrictModes no',
          '',
        ].join('\n'),
      );
      mkdirSync('/run/sshd', { recursive: true });
      sshd = spawn(
        '/usr/sbin/sshd',
        ['-D', '-f', path.join(sshDir, 'sshd_config'), '-E', path.join(sshDir, 'sshd.log')],
        {
          stdio: 'ignore',
        },
      );
      await waitForPort(sshPort);
      // The far side's bridge, as `nc -U SOCKET` would be called (virsh's ?netcat=).
      const helper = path.join(sshDir, 'qvirt-ssh-helper');
      writeFileSync(
        helper,
        `#!/bin/sh\nexec ${process.execPath} ${path.join(DIST, 'transport', 'ssh-helper-bin.js')} "$@"\n`,
        {
          mode: 0o755,
        },
      );
      // The ssh client, kept away from root's own ~/.ssh (?command=).
      const sshWrap = path.join(sshDir, 'ssh');
      writeFileSync(
        sshWrap,
        `#!/bin/sh\nexec /usr/bin/ssh -F /dev/null -o UserKnownHostsFile=${path.join(sshDir, 'known_hosts')} -o GlobalKnownHostsFile=/dev/null "$@"\n`,
        { mode: 0o755 },
      );
      ssh = (q = '') =>
        `qemu+ssh://root@localhost:${sshPort}/system?keyfile=${path.join(sshDir, 'userkey')}&no_verify=1&no_tty=1` +
        `&command=${sshWrap}&netcat=${helper}&socket=${t.daemon.sockets.rw}${q}`;
    }, 60_000);

    it('lists and prints capabilities through sshd and qvirt-ssh-helper', async () => {
      const list = await virshAs({}, ssh(), 'list', '--all');
      expect(list.stderr).toBe('');
      expect(list.stdout).toContain(' Id   Name   State');
      expect((await virshAs({}, ssh(), 'capabilities')).stdout).toMatch(/^<capabilities>\n/);
    });

    it('drives a real guest', async () => {
      await lifecycle(t, {}, ssh(), 'sshguest');
    }, 120_000);

    it("qvirt's own client runs the system ssh too", async () => {
      const c = await openRemote(ssh());
      try {
        expect(await c.connectGetCapabilities()).toMatch(/^<capabilities>/);
        expect([await c.connectIsSecure(), await c.connectIsEncrypted()]).toEqual([1, 0]);
      } finally {
        await c.connectClose();
      }
    });

    it('reaches the read-only socket when ?socket= names it', async () => {
      const ro = ssh().replace(t.daemon.sockets.rw, t.daemon.sockets.ro);
      expect((await virshAs({}, ro, 'list', '--all')).code).toBe(0);
      const def = await virshAs({}, ro, 'define', guestXml(t.dir, 'rossh'));
      expect(def.stderr).toContain('read only access prevents virDomainDefineXML');
    });
  });
});
