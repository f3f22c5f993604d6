/**
 * The daemon's side of streams (libvirt's remote_daemon_stream.c with virnetserverprogram.c's
 * stream sends): a call whose procedure is `@readstream` or `@writestream` leaves a
 * {@link VirStream} registered under the client and the call's serial once its reply is written;
 * the client's STREAM packets for that serial feed it, and a read stream's data is sent back.
 *
 * Back-pressure: an incoming packet's handling (the write into the volume) is what the server's
 * dispatch awaits, so stream data counts against `max_client_requests` like a call until it is
 * written; the packets of one stream are handled in order. Outgoing data is read from the stream
 * only once the previous packet has been handed to the socket (daemonStreamMessageFinished).
 */
import type { VirStream } from '@qvirt/core/hypervisor';
import { MessageStatus, MessageType } from '../rpc/constants.js';
import { RemoteError, toRemoteErrorData, writeRemoteError } from '../rpc/error.js';
import type { MessageHeader } from '../rpc/header.js';
import type { ServerClient } from '../server/server.js';
import { XdrReader } from '../xdr/xdr.js';
import { chunks, readHole, writeHole } from './packets.js';

interface Entry {
  st: VirStream;
  header: MessageHeader;
  /** The client may send holes (the call had the procedure's sparse flag). */
  allowSkip: boolean;
  /** Handling of this stream's packets, in order. */
  tail: Promise<void>;
  closed: boolean;
}

const KEY = 'streams';

function table(client: ServerClient): Map<number, Entry> {
  let t = client.state.get(KEY) as Map<number, Entry> | undefined;
  if (!t) {
    t = new Map();
    client.state.set(KEY, t);
  }
  return t;
}

const streamHeader = (e: Entry, type: number, status: number): MessageHeader => ({
  ...e.header,
  type: type as MessageHeader['type'],
  status: status as MessageHeader['status'],
});

/** A STREAM ERROR packet carrying `err` (virNetServerProgramSendStreamError). */
function sendError(client: ServerClient, e: Entry, err: unknown, type = MessageType.STREAM): Promise<void> {
  e.closed = true;
  return client.sendPacket(streamHeader(e, type, MessageStatus.ERROR), (w) =>
    writeRemoteError(w, toRemoteErrorData(err)),
  );
}

/** Registers the stream a served call returned (before its reply is written). */
export function registerServerStream(
  client: ServerClient,
  header: MessageHeader,
  st: VirStream,
  direction: 'read' | 'write',
  allowSkip: boolean,
): () => void {
  const e: Entry = { st, header, allowSkip, tail: Promise.resolve(), closed: false };
  table(client).set(header.serial, e);
  // once the reply is out: a read stream starts sending
  return () => {
    if (direction === 'read') void pumpOut(client, e);
  };
}

/** Sends a read stream's data until its end (then an empty OK) or an error. */
async function pumpOut(client: ServerClient, e: Entry): Promise<void> {
  try {
    for (;;) {
      if (e.closed || client.isClosed) return;
      const c = await e.st.recv();
      if (e.closed || client.isClosed) return;
      if (c === null) {
        // EOF is an empty CONTINUE (virNetServerProgramSendStreamData with no bytes; OK is only the
        // finish confirmation); the entry stays for the client's finish (daemonStreamHandleRead)
        await client.sendPacket(streamHeader(e, MessageType.STREAM, MessageStatus.CONTINUE));
        return;
      }
      if ('hole' in c) {
        await client.sendPacket(streamHeader(e, MessageType.STREAM_HOLE, MessageStatus.CONTINUE), (w) =>
          writeHole(w, c.hole),
        );
        continue;
      }
      for (const piece of chunks(c.data)) {
        await client.sendPacket(streamHeader(e, MessageType.STREAM, MessageStatus.CONTINUE), (w) =>
          w.raw(piece),
        );
      }
    }
  } catch (err) {
    if (!e.closed && !client.isClosed) {
      await e.st.abort().catch(() => {});
      await sendError(client, e, err);
    }
  }
}

/**
 * A STREAM or STREAM_HOLE packet from the client; resolves once it is handled (its data written).
 * Packets for no stream (one already finished or aborted) are dropped, as libvirt does.
 */
export function serverStreamPacket(
  client: ServerClient,
  header: MessageHeader,
  payload: Buffer,
): Promise<void> {
  const t = table(client);
  const e = t.get(header.serial);
  if (!e) return Promise.resolve();
  const run = async () => {
    if (e.closed && header.status === MessageStatus.CONTINUE) return;
    try {
      if (header.status === MessageStatus.CONTINUE) {
        if (header.type === MessageType.STREAM_HOLE) {
          // daemonStreamHandleHole
          if (!e.allowSkip) throw RemoteError.of('RPC', 'rpc', 'Unexpected stream hole');
          const h = readHole(new XdrReader(payload));
          await e.st.sendHole(h.length, h.flags);
        } else if (payload.length > 0) {
          await e.st.send(payload);
        }
        return;
      }
      t.delete(header.serial);
      if (header.status === MessageStatus.OK) {
        // daemonStreamHandleFinish: finish, then a zero-length confirmation (or the error as a reply)
        const wasClosed = e.closed;
        e.closed = true;
        try {
          if (!wasClosed) await e.st.finish();
        } catch (err) {
          await client.sendPacket({ ...header, type: MessageType.REPLY, status: MessageStatus.ERROR }, (w) =>
            writeRemoteError(w, toRemoteErrorData(err)),
          );
          return;
        }
        await client.sendPacket(streamHeader(e, MessageType.STREAM, MessageStatus.OK));
        return;
      }
      // daemonStreamHandleAbort: the client gave up
      e.closed = true;
      await e.st.abort().catch(() => {});
      await client.sendPacket(streamHeader(e, MessageType.STREAM, MessageStatus.OK));
    } catch (err) {
      // a failed write ends the stream with the error (the client sees it on its next send/finish)
      t.delete(header.serial);
      await e.st.abort().catch(() => {});
      await sendError(client, e, err);
    }
  };
  e.tail = e.tail.then(run, run);
  return e.tail;
}

/** The client went away: every open stream is aborted (daemonRemoveClientStream). */
export function closeServerStreams(client: ServerClient): void {
  const t = client.state.get(KEY) as Map<number, Entry> | undefined;
  if (!t) return;
  for (const e of t.values()) {
    e.closed = true;
    void e.st.abort().catch(() => {});
  }
  t.clear();
}
