/**
 * virStream as the contracts carry it: an API whose procedure is annotated `@readstream` or
 * `@writestream` in libvirt's protocol (virStorageVolUpload/Download, later the consoles) returns
 * one of these, in process (`@qvirt/storage`) and over the wire (`@qvirt/remote`) alike. The
 * methods are libvirt's stream calls; holes are sparse streams (VIR_STREAM_RECV_STOP_AT_HOLE with
 * virStreamRecvHole folded into `recv`). `toReadable`/`sendAll` adapt one to Node streams.
 */
import { Readable } from 'node:stream';

/** What a read brings: data, a hole of `hole` bytes (sparse streams only), or null at the end. */
export type StreamChunk = { data: Uint8Array } | { hole: number };

export interface VirStream {
  /** virStreamSend: resolves once the data is taken (the caller's back-pressure). */
  send(data: Uint8Array): Promise<void>;
  /** virStreamSendHole: skips `length` bytes (only on a stream opened with the sparse flag). */
  sendHole(length: number, flags?: number): Promise<void>;
  /** virStreamRecv/RecvHole: the next chunk or hole; null once the other end finished. */
  recv(): Promise<StreamChunk | null>;
  /** virStreamFinish: no more data; resolves once the other end confirmed (or rejects with its error). */
  finish(): Promise<void>;
  /** virStreamAbort: drops the transfer. */
  abort(): Promise<void>;
}

/** A Node Readable over a read stream (holes come out as zeros unless `holes` is given). */
export function toReadable(st: VirStream, holes?: (length: number) => void): Readable {
  return new Readable({
    async read() {
      try {
        for (;;) {
          const c = await st.recv();
          if (c === null) {
            await st.finish();
            this.push(null);
            return;
          }
          if ('hole' in c) {
            if (holes) {
              holes(c.hole);
              continue;
            }
            this.push(Buffer.alloc(c.hole));
            return;
          }
          if (c.data.length === 0) continue;
          this.push(c.data);
          return;
        }
      } catch (err) {
        this.destroy(err as Error);
      }
    },
  });
}

/** Sends every chunk of `source` then finishes; aborts the stream if the source fails. */
export async function sendAll(st: VirStream, source: AsyncIterable<Uint8Array>): Promise<void> {
  try {
    for await (const chunk of source) await st.send(chunk);
  } catch (err) {
    await st.abort().catch(() => {});
    throw err;
  }
  await st.finish();
}
