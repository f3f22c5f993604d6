import { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { AuthType, KEEPALIVE_PROGRAM, MessageStatus, MessageType } from '../rpc/constants.js';
import { RemoteError, readRemoteError } from '../rpc/error.js';
import { PacketFramer } from '../rpc/framer.js';
import { decodePacket, encodePacket, type Packet } from '../rpc/header.js';
import { XdrReader } from '../xdr/xdr.js';
import { type Procedure, Server } from './server.js';

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

  it('refuses clients beyond max_clients', () => {
    const server = testServer({ maxClients: 1 });
    expect(server.handle(duplexPair()[0])).toBeDefined();
    expect(server.handle(duplexPair()[0])).toBeUndefined();
    expect(server.clientCount).toBe(1);
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
});
