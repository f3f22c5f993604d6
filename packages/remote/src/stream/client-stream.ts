/**
 * The client's side of a stream (libvirt's virnetclientstream.c): a {@link VirStream} over the
 * packets of one call's serial. Data sent is written as STREAM CONTINUE packets of at most
 * {@link STREAM_CHUNK} bytes, each awaited until the socket took it; data received queues here
 * until read, and the connection stops being read while more than {@link RX_HIGH} bytes wait
 * (the daemon then stops sending: its writes are not taken). `finish` and `abort` send the empty
 * OK or ERROR packet and wait for the daemon's confirmation, as virStreamFinish/Abort do.
 */

import { VirError } from '@qvirt/core/errors';
import type { StreamChunk, VirStream } from '@qvirt/core/hypervisor';
import { MessageStatus, MessageType } from '../rpc/constants.js';
import { RemoteError, readRemoteError } from '../rpc/error.js';
import { XdrReader, type XdrWriter } from '../xdr/xdr.js';
import { chunks, readHole, writeHole } from './packets.js';

/** Queued bytes beyond which the connection is paused. */
export const RX_HIGH = 4 * 1024 * 1024;

export interface StreamPort {
  /** Writes a packet of this stream (type, status, body); resolves once the socket took it. */
  write(type: number, status: number, body?: (w: XdrWriter) => void): Promise<void>;
  /** Pauses or resumes reading the connection. */
  flow(paused: boolean): void;
  /** The stream is over: forget its serial. */
  done(): void;
}

type Waiter = { resolve: () => void; reject: (e: Error) => void };

export class ClientStream implements VirStream {
  private readonly queue: StreamChunk[] = [];
  private queued = 0;
  private paused = false;
  private eof = false;
  private error: Error | undefined;
  private reader: Waiter | undefined;
  /** Waiting for the daemon's confirmation of finish/abort. */
  private confirm: Waiter | undefined;
  private ended = false;

  constructor(
    private readonly port: StreamPort,
    readonly sparse: boolean,
  ) {}

  /** A STREAM or STREAM_HOLE packet from the daemon. */
  packet(type: number, status: number, payload: Buffer): void {
    if (status === MessageStatus.ERROR) {
      let err: Error;
      try {
        const e = RemoteError.fromData(readRemoteError(new XdrReader(payload)));
        err = new VirError(e.codeName as never, e.domainName as never, e.message);
      } catch (e) {
        err = e as Error;
      }
      this.fail(err);
      return;
    }
    if (status === MessageStatus.OK) {
      // end of the daemon's data, or its confirmation of our finish/abort
      if (this.confirm) {
        const c = this.confirm;
        this.confirm = undefined;
        this.close();
        c.resolve();
        return;
      }
      this.eof = true;
      this.wake();
      return;
    }
    if (type === MessageType.STREAM_HOLE) {
      const h = readHole(new XdrReader(payload));
      this.push({ hole: h.length }, 0);
    } else if (payload.length > 0) {
      this.push({ data: payload }, payload.length);
    } else {
      // libvirtd marks the end of some streams with an empty CONTINUE (go-libvirt notes it too)
      this.eof = true;
      this.wake();
    }
  }

  /** The connection failed: everything waiting rejects. */
  fail(err: Error): void {
    if (!this.error) this.error = err;
    const c = this.confirm;
    this.confirm = undefined;
    this.close();
    c?.reject(err);
    this.wake();
  }

  private push(c: StreamChunk, n: number): void {
    this.queue.push(c);
    this.queued += n;
    if (this.queued > RX_HIGH && !this.paused) {
      this.paused = true;
      this.port.flow(true);
    }
    this.wake();
  }

  private wake(): void {
    const r = this.reader;
    this.reader = undefined;
    r?.resolve();
  }

  private close(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.paused) {
      this.paused = false;
      this.port.flow(false);
    }
    this.port.done();
  }

  async send(data: Uint8Array): Promise<void> {
    if (this.error) throw this.error;
    for (const piece of chunks(data)) {
      await this.port.write(MessageType.STREAM, MessageStatus.CONTINUE, (w) => w.raw(piece));
      if (this.error) throw this.error;
    }
  }

  async sendHole(length: number, flags = 0): Promise<void> {
    if (this.error) throw this.error;
    if (!this.sparse) throw new VirError('RPC', 'rpc', 'Unexpected stream hole');
    await this.port.write(MessageType.STREAM_HOLE, MessageStatus.CONTINUE, (w) =>
      writeHole(w, length, flags),
    );
  }

  async recv(): Promise<StreamChunk | null> {
    for (;;) {
      const c = this.queue.shift();
      if (c) {
        if ('data' in c) this.queued -= c.data.length;
        if (this.paused && this.queued <= RX_HIGH / 2) {
          this.paused = false;
          this.port.flow(false);
        }
        return c;
      }
      if (this.error) throw this.error;
      if (this.eof) return null;
      await new Promise<void>((resolve, reject) => {
        this.reader = { resolve, reject };
      });
    }
  }

  finish(): Promise<void> {
    return this.end(MessageStatus.OK);
  }

  abort(): Promise<void> {
    return this.end(MessageStatus.ERROR);
  }

  private end(status: number): Promise<void> {
    if (this.error) return status === MessageStatus.ERROR ? Promise.resolve() : Promise.reject(this.error);
    if (this.ended) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.confirm = { resolve, reject };
      this.port.write(MessageType.STREAM, status).catch((e) => this.fail(e as Error));
    });
  }
}
