import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { AuthType, KEEPALIVE_PROGRAM, MESSAGE_MAX, MessageStatus, MessageType } from '../rpc/constants.js';
import { RemoteError, readRemoteError } from '../rpc/error.js';
import { PacketFramer } from '../rpc/framer.js';
import { decodePacket, encodePacket, type Packet } from '../rpc/header.js';
import { XdrReader } from '../xdr/xdr.js';
import { type Procedure, Server, type ServerClient } from './server.js';

/** Two connected in-memory streams: the server needs nothing of a socket. */
function duplexPair(): [Duplex, Duplex] {
  let a!: Duplex;
  let b!: Duplex;
  const make = (peer: () => Duplex) =>
    new Duplex({
      read() {},
      write(chunk, _enc, cb) {
        peer().push(chunk);
        cb();
      },
      final(cb) {
        peer().push(null);
        cb();
      },
    });
  a = make(() => b);
  b = make(() => a);
  return [a, b];
}

const PROG = 0x11223344;

function testServer(opts: ConstructorParameters<typeof Server>[0] = {}) {
  const procs = new Map<number, Procedure>([
    [
      1,
      {
        name: 'virEcho',
        handle: (r) => {
          const s = r.string();
          return (w) => w.string(s);
        },
      },
    ],
    [2, { name: 'virChange', mutating: true, handle: () => undefined }],
    [
      3,
      {
        name: 'virLogin',
        needAuth: false,
        handle: (_r, ctx) => {
          ctx.client.setAuthenticated();
          return undefined;
        },
      },
    ],
    [
      4,
      {
        name: 'virFail',
        handle: () => {
          throw RemoteError.of('OPERATION_INVALID', 'qemu', 'Requested operation is not valid: no');
        },
      },
    ],
  ]);
  return new Server(opts).addProgram({ program: PROG, version: 1, procedures: procs });
}

function peer(stream: Duplex) {
  const framer = new PacketFramer();
  const got: Packet[] = [];
  let closed = false;
  stream.on('data', (d: Buffer) => got.push(...framer.push(d).map(decodePacket)));
  stream.on('end', () => (closed = true));
  const send = (proc: number, serial: number, body?: Parameters<typeof encodePacket>[1]) =>
    stream.write(
      encodePacket(
        { prog: PROG, vers: 1, proc, type: MessageType.CALL, serial, status: MessageStatus.OK },
        body,
      ),
    );
  const reply = async (serial: number) => {
    for (let i = 0; i < 100 && !got.some((p) => p.header.serial === serial); i++)
      await new Promise((r) => setTimeout(r, 10));
    return got.find((p) => p.header.serial === serial)!;
  };
  return { got, send, reply, isClosed: () => closed };
}

describe('Server over an in-memory duplex', () => {
  it('dispatches, refuses mutating calls when read-only, requires auth, reports errors', async () => {
    const [srvSide, cliSide] = duplexPair();
    testServer().handle(srvSide, { readOnly: true, auth: { type: AuthType.SASL } });
    const c = peer(cliSide);
    c.send(1, 1, (w) => w.string('hi'));
    let e = readRemoteError(new XdrReader((await c.reply(1)).payload));
    expect(e.message).toBe('authentication required');
    c.send(3, 2);
    expect((await c.reply(2)).header.status).toBe(MessageStatus.OK);
    c.send(1, 3, (w) => w.string('hi'));
    const r = await c.reply(3);
    expect(r.header).toMatchObject({ type: MessageType.REPLY, status: MessageStatus.OK, proc: 1 });
    expect(new XdrReader(r.payload).string()).toBe('hi');
    c.send(2, 4);
    e = readRemoteError(new XdrReader((await c.reply(4)).payload));
    expect(e).toMatchObject({
      code: 29,
      message: 'operation forbidden: read only access prevents virChange',
    });
    c.send(4, 5);
    e = readRemoteError(new XdrReader((await c.reply(5)).payload));
    expect(e).toMatchObject({ code: 55, domain: 10, message: 'Requested operation is not valid: no' });
  });

  it('pings a silent client once it asked for keepalive and closes it after keepalive_count', async () => {
    const [srvSide, cliSide] = duplexPair();
    const client = testServer({ keepaliveInterval: 0.05, keepaliveCount: 2 }).handle(srvSide)!;
    const c = peer(cliSide);
    client.startKeepAlive();
    for (let i = 0; i < 100 && !client.isClosed; i++) await new Promise((r) => setTimeout(r, 10));
    expect(client.isClosed).toBe(true);
    expect(c.got.filter((p) => p.header.prog === KEEPALIVE_PROGRAM && p.header.proc === 1).length).toBe(2);
  });

  it('closes on a packet larger than maxMessage', async () => {
    const [srvSide, cliSide] = duplexPair();
    const client = testServer({ maxMessage: 64 }).handle(srvSide)!;
    const c = peer(cliSide);
    c.send(1, 1, (w) => w.string('x'.repeat(100)));
    for (let i = 0; i < 50 && !client.isClosed; i++) await new Promise((r) => setTimeout(r, 10));
    expect(client.isClosed).toBe(true);
    expect(c.got).toEqual([]);
  });

  it('keeps clients beyond max_clients waiting unread, serves them when one leaves, refuses beyond max_queued_clients', async () => {
    const server = testServer({ maxClients: 1, maxAnonymousClients: 1, maxQueuedClients: 1 });
    const [s1, c1] = duplexPair();
    const first = server.handle(s1)!;
    expect(first).toBeDefined();
    const [s2, c2] = duplexPair();
    expect(server.handle(s2)).toBeUndefined();
    const [s3] = duplexPair();
    expect(server.handle(s3)).toBeUndefined();
    expect(s3.destroyed).toBe(true);
    expect(server.stats).toMatchObject({ clients: 1, waiting: 1 });
    // the waiting connection's call is not read while the first client is connected
    const p2 = peer(c2);
    p2.send(1, 7, (w) => w.string('later'));
    const p1 = peer(c1);
    p1.send(1, 1, (w) => w.string('now'));
    await p1.reply(1);
    expect(p2.got).toEqual([]);
    const served = new Promise<ServerClient>((r) => server.once('client', r));
    first.close();
    await served;
    expect(new XdrReader((await p2.reply(7)).payload).string()).toBe('later');
    expect(server.stats).toMatchObject({ clients: 1, waiting: 0 });
  });

  it('stops accepting while max_anonymous_clients are unauthenticated, and resumes when one authenticates', async () => {
    const server = testServer({ maxAnonymousClients: 1 });
    const sasl = { auth: { type: AuthType.SASL } };
    const [s1, c1] = duplexPair();
    expect(server.handle(s1, sasl)).toBeDefined();
    const [s2, c2] = duplexPair();
    expect(server.handle(s2, sasl)).toBeUndefined();
    // even a client that needs no authentication waits behind the limit, as virNetServerCheckLimits
    const [s3] = duplexPair();
    expect(server.handle(s3)).toBeUndefined();
    expect(server.stats).toMatchObject({ clients: 1, anonymous: 1, waiting: 2 });
    const p2 = peer(c2);
    p2.send(3, 1);
    peer(c1).send(3, 1); // virLogin: the first client authenticates
    await p2.reply(1);
    // the second is now served and anonymous until its own login was answered; the third waits for it
    expect(server.stats).toMatchObject({ clients: 3, anonymous: 0, waiting: 0 });
  });

  it('refuses a configuration with fewer max_clients than max_anonymous_clients, as virNetServerNew', () => {
    expect(() => new Server({ maxClients: 1, maxAnonymousClients: 2 })).toThrow(
      /must not be less than the number of clients waiting for authentication/,
    );
  });

  it('stops reading a client that does not read its replies once max_client_requests calls are outstanding', async () => {
    const server = testServer({ maxClientRequests: 5 });
    let dispatched = 0;
    server.on('dispatch', () => dispatched++);
    const [srvSide, cliSide, link] = blockedPair();
    const client = server.handle(srvSide)!;
    const c = peer(cliSide);
    for (let i = 1; i <= 50; i++) c.send(1, i, (w) => w.string(`call ${i}`));
    await until(() => client.outstandingCalls === 5);
    // replies are produced but not written: nothing more is dispatched, however long we wait
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(dispatched).toBe(5);
    expect(srvSide.isPaused()).toBe(true);
    link.drain();
    await c.reply(50);
    expect(dispatched).toBe(50);
    expect(c.got.map((p) => p.header.serial)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(client.outstandingCalls).toBe(0);
  });

  it('over a real Unix socket, a pipelining client that does not read stalls at a full socket buffer', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'qvirt-server-test-'));
    const big = Buffer.alloc(256 * 1024, 1);
    const server = testServer({ maxClientRequests: 5 });
    server.addProgram({
      program: PROG + 1,
      version: 1,
      procedures: new Map([[1, { name: 'virBig', handle: () => (w) => w.opaque(big) }]]),
    });
    let dispatched = 0;
    server.on('dispatch', () => dispatched++);
    const listener = net.createServer((s) => server.handle(s));
    const sockPath = path.join(dir, 'sock');
    await new Promise<void>((r) => listener.listen(sockPath, r));
    try {
      const sock = net.connect(sockPath);
      await new Promise((r) => sock.once('connect', r));
      sock.pause();
      const calls = 200;
      for (let i = 1; i <= calls; i++) {
        sock.write(
          encodePacket({ prog: PROG + 1, vers: 1, proc: 1, type: MessageType.CALL, serial: i, status: 0 }),
        );
      }
      await until(() => server.stats.outstandingCalls === 5);
      for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 5));
      // a few replies fit in the socket buffers; the rest wait for the client
      expect(dispatched).toBeLessThan(20);
      expect(server.stats.outstandingCalls).toBe(5);
      const framer = new PacketFramer();
      let replies = 0;
      sock.on('data', (d: Buffer) => (replies += framer.push(d).length));
      sock.resume();
      await until(() => replies === calls, 10_000);
      expect(dispatched).toBe(calls);
      sock.destroy();
      await until(() => server.clientCount === 0);
    } finally {
      server.closeAll();
      listener.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('buffers a half-sent 32 MiB packet only as it arrives and releases it when the client leaves', async () => {
    const server = testServer();
    const [srvSide, cliSide] = duplexPair();
    server.handle(srvSide);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(MESSAGE_MAX + 4, 0);
    cliSide.write(len);
    const half = Buffer.alloc(MESSAGE_MAX / 2, 0x41);
    for (let at = 0; at < half.length; at += 65536) cliSide.write(half.subarray(at, at + 65536));
    await until(() => server.stats.pendingInput === half.length);
    cliSide.end();
    await until(() => server.clientCount === 0);
    expect(server.stats.pendingInput).toBe(0);
  });

  it('closes a client that lets events pile up unread beyond maxMessageBacklog', async () => {
    const server = testServer({ maxMessageBacklog: 64 * 1024 });
    const errors: Error[] = [];
    server.on('protocolError', (_c, e: Error) => errors.push(e));
    const [srvSide, , link] = blockedPair();
    const client = server.handle(srvSide)!;
    const event = Buffer.alloc(1024, 2);
    for (let i = 0; i < 100; i++) client.sendMessage(PROG, 1, 9, (w) => w.opaque(event));
    await until(() => client.isClosed);
    expect(errors[0]?.message).toMatch(/client not reading: \d+ bytes of messages unread/);
    // a client that reads keeps its events flowing: the backlog drains to nothing
    const [srv2, cli2, link2] = blockedPair();
    const reader = server.handle(srv2)!;
    const p = peer(cli2);
    link2.drain();
    for (let i = 0; i < 1000; i++) reader.sendMessage(PROG, 1, 9, (w) => w.opaque(event));
    await until(() => p.got.length === 1000);
    expect(reader.isClosed).toBe(false);
    expect(reader.messageBacklog).toBe(0);
    link.drain();
  });
});

/**
 * Like duplexPair, but the server side's writes are not completed (their callbacks held) until
 * `drain()`: a client whose socket buffer is full because it does not read. The bytes still reach
 * the client side, so the test can see what was produced.
 */
function blockedPair(): [Duplex, Duplex, { drain(): void }] {
  let draining = false;
  const held: (() => void)[] = [];
  let cli!: Duplex;
  const srv = new Duplex({
    read() {},
    write(chunk, _enc, cb) {
      cli.push(chunk);
      if (draining) cb();
      else held.push(cb);
    },
    final(cb) {
      cli.push(null);
      cb();
    },
  });
  cli = new Duplex({
    read() {},
    write(chunk, _enc, cb) {
      srv.push(chunk);
      cb();
    },
    final(cb) {
      srv.push(null);
      cb();
    },
  });
  return [
    srv,
    cli,
    {
      drain() {
        draining = true;
        for (const cb of held.splice(0)) cb();
      },
    },
  ];
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  for (const end = Date.now() + ms; !cond(); await new Promise((r) => setTimeout(r, 5))) {
    if (Date.now() > end) throw new Error('condition not reached');
  }
}
