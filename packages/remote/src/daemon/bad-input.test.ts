/**
 * Bad input on the wire: each gets an error reply or a closed connection, and the daemon keeps
 * serving other clients (checked after each with a fresh client and with virsh).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RemoteClient } from '../client/client.js';
import {
  KEEPALIVE_PROGRAM,
  KEEPALIVE_PROTOCOL_VERSION,
  KeepaliveProc,
  MESSAGE_MAX,
  MessageStatus,
  MessageType,
  REMOTE_PROGRAM,
  REMOTE_PROTOCOL_VERSION,
} from '../rpc/constants.js';
import { readRemoteError } from '../rpc/error.js';
import { encodePacket, type MessageHeader } from '../rpc/header.js';
import { hasVirsh, RawClient, startTestDaemon, type TestDaemon, virsh } from '../test-support/harness.js';
import { XdrReader } from '../xdr/xdr.js';

const call = (proc: number, serial: number, extra: Partial<MessageHeader> = {}): MessageHeader => ({
  prog: REMOTE_PROGRAM,
  vers: REMOTE_PROTOCOL_VERSION,
  proc,
  type: MessageType.CALL,
  serial,
  status: MessageStatus.OK,
  ...extra,
});

describe('qvirtd and bad input', () => {
  let t: TestDaemon;
  beforeAll(async () => {
    t = await startTestDaemon();
  });
  afterAll(async () => {
    await t?.stop();
  });

  /** Another client still gets full service. */
  async function stillServes(): Promise<void> {
    const c = await RemoteClient.connect(await connect(), { name: 'qemu:///system' });
    expect(await c.connectGetType()).toBe('QEMU');
    expect(await c.connectListAllDomains(0)).toEqual([]);
    await c.connectClose();
  }
  const connect = async () => (await RawClient.connect(t.daemon.sockets.rw)).sock;

  async function errorReply(raw: RawClient, serial: number) {
    expect(await raw.until(() => raw.packets.some((p) => p.header.serial === serial))).toBe(true);
    const p = raw.packets.find((x) => x.header.serial === serial)!;
    expect(p.header.type).toBe(MessageType.REPLY);
    expect(p.header.status).toBe(MessageStatus.ERROR);
    return readRemoteError(new XdrReader(p.payload));
  }

  it('a truncated packet (the peer goes away mid-packet) closes that connection only', async () => {
    const raw = await RawClient.connect(t.daemon.sockets.rw);
    const whole = encodePacket(call(1, 1), (w) => w.bool(false).uint(0));
    raw.send(whole.subarray(0, whole.length - 3));
    raw.sock.end();
    expect(await raw.until(() => raw.closed)).toBe(true);
    expect(raw.packets).toEqual([]);
    await stillServes();
  });

  it('an oversized length closes the connection before reading the body', async () => {
    const raw = await RawClient.connect(t.daemon.sockets.rw);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(MESSAGE_MAX + 4 + 1);
    raw.send(len);
    expect(await raw.until(() => raw.closed)).toBe(true);
    await stillServes();
  });

  it('a length too small for a header closes the connection', async () => {
    const raw = await RawClient.connect(t.daemon.sockets.rw);
    raw.send(Buffer.from([0, 0, 0, 8, 0, 0, 0, 0]));
    expect(await raw.until(() => raw.closed)).toBe(true);
    await stillServes();
  });

  it('an unknown program gets an error reply and the connection stays usable', async () => {
    const raw = await RawClient.connect(t.daemon.sockets.rw);
    raw.send(encodePacket(call(1, 7, { prog: 0x12345678 })));
    const e = await errorReply(raw, 7);
    expect(e.code).toBe(39); // VIR_ERR_RPC
    expect(e.domain).toBe(7); // VIR_FROM_RPC
    expect(e.message).toBe(`Cannot find program ${0x12345678} version 1`);
    raw.send(encodePacket(call(66, 8)));
    expect(
      await raw.until(() => raw.packets.some((p) => p.header.serial === 8 && p.header.status === 0)),
    ).toBe(true);
    raw.close();
    await stillServes();
  });

  it('unknown procedures: a number libvirt lacks, and one qvirt does not serve', async () => {
    const raw = await RawClient.connect(t.daemon.sockets.rw);
    raw.send(encodePacket(call(1, 1), (w) => w.optional('qemu:///system', (x, v) => x.string(v)).uint(0)));
    raw.send(encodePacket(call(99999, 2)));
    raw.send(encodePacket(call(152, 3))); // NETWORK_IS_ACTIVE: in libvirt, no network driver here
    const unknown = await errorReply(raw, 2);
    expect(unknown.code).toBe(39);
    expect(unknown.message).toBe('unknown procedure: 99999');
    const nosup = await errorReply(raw, 3);
    expect(nosup.code).toBe(3); // VIR_ERR_NO_SUPPORT
    expect(nosup.message).toBe('this function is not supported by the connection driver: virNetworkIsActive');
    raw.close();
    await stillServes();
  });

  it('garbage XDR arguments get "Unable to decode message payload"', async () => {
    const raw = await RawClient.connect(t.daemon.sockets.rw);
    // CONNECT_OPEN whose optional string has a bool of 7
    raw.send(encodePacket(call(1, 1), (w) => w.uint(7).uint(0)));
    const e = await errorReply(raw, 1);
    expect(e.code).toBe(39);
    expect(e.message).toBe('Unable to decode message payload');
    // a string length far beyond the packet
    raw.send(encodePacket(call(1, 2), (w) => w.uint(1).uint(0x7fffffff)));
    expect((await errorReply(raw, 2)).message).toBe('Unable to decode message payload');
    // a call before open
    raw.send(encodePacket(call(3, 3)));
    expect((await errorReply(raw, 3)).message).toBe('internal error: hypervisor connection not open');
    // a reply type from a client is dropped, and so is stream data for no open stream
    // (virNetServerProgramDispatch ignores it: data may trail a stream that just ended)
    raw.send(encodePacket(call(3, 4, { type: MessageType.STREAM })));
    raw.send(encodePacket(call(3, 5)));
    expect((await errorReply(raw, 5)).message).toBe('internal error: hypervisor connection not open');
    expect(raw.packets.some((p) => p.header.serial === 4)).toBe(false);
    raw.close();
    await stillServes();
  });

  it('answers keepalive PING with PONG', async () => {
    const raw = await RawClient.connect(t.daemon.sockets.rw);
    raw.send(
      encodePacket({
        prog: KEEPALIVE_PROGRAM,
        vers: KEEPALIVE_PROTOCOL_VERSION,
        proc: KeepaliveProc.PING,
        type: MessageType.MESSAGE,
        serial: 0,
        status: MessageStatus.OK,
      }),
    );
    expect(
      await raw.until(() =>
        raw.packets.some((p) => p.header.prog === KEEPALIVE_PROGRAM && p.header.proc === 2),
      ),
    ).toBe(true);
    raw.close();
  });

  it.skipIf(!hasVirsh)('virsh still works after all of that', async () => {
    const r = await virsh(t.rwUri, 'list', '--all');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
  });
});
