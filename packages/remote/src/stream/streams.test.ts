/**
 * The remote protocol's streams end to end, a RemoteClient against the server with a storage
 * driver whose streams the test controls: data in order, back-pressure counted against
 * max_client_requests, errors from either side, abort, and a client that goes away.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { VirError } from '@qvirt/core';
import type { HypervisorDriver, StorageDriver, StreamChunk, VirStream } from '@qvirt/core/hypervisor';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RemoteClient } from '../client/client.js';
import { createRemotePrograms } from '../remote/program.js';
import { Server } from '../server/server.js';

const VOL = { pool: 'p', name: 'v', key: '/p/v' };

/** A stream whose every call is recorded; `gate` holds sends until released. */
function recordingStream() {
  const log: string[] = [];
  const received: Buffer[] = [];
  let open = true;
  let release: () => void = () => {};
  let gate: Promise<void> | undefined;
  const st: VirStream & {
    log: string[];
    received: Buffer[];
    hold(): void;
    release(): void;
    failNext?: Error;
    out: StreamChunk[];
  } = {
    log,
    received,
    out: [],
    hold() {
      gate = new Promise((r) => {
        release = r;
      });
    },
    release() {
      gate = undefined;
      release();
    },
    async send(d) {
      if (st.failNext) throw st.failNext;
      await gate;
      received.push(Buffer.from(d));
      log.push(`send ${d.length}`);
    },
    async sendHole(n) {
      log.push(`hole ${n}`);
    },
    async recv() {
      if (st.failNext) throw st.failNext;
      return st.out.shift() ?? null;
    },
    async finish() {
      log.push('finish');
      open = false;
    },
    async abort() {
      if (open) log.push('abort');
      open = false;
    },
  };
  return st;
}

describe('remote protocol streams', () => {
  let dir: string;
  let server: Server;
  let listener: net.Server;
  let client: RemoteClient;
  let current: ReturnType<typeof recordingStream>;
  const MAX = 2;

  beforeEach(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'qvirt-streams-'));
    server = new Server({ maxClientRequests: MAX, keepaliveInterval: -1 });
    const storage = {
      storageVolUpload: async () => current,
      storageVolDownload: async () => current,
    } as unknown as StorageDriver;
    const { programs } = createRemotePrograms({
      drivers: { hypervisor: {} as HypervisorDriver, storage },
      onDomainEvent: () => () => {},
    });
    for (const p of programs) server.addProgram(p);
    const sock = path.join(dir, 'sock');
    listener = net.createServer((s) => server.handle(s));
    await new Promise<void>((r) => listener.listen(sock, r));
    client = await RemoteClient.connect(net.connect(sock), { name: 'qemu:///system', keepalive: false });
  });
  afterEach(async () => {
    await client.close().catch(() => {});
    server.closeAll();
    await new Promise((r) => listener.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('uploads in order; data waiting to be written counts against max_client_requests', async () => {
    current = recordingStream();
    current.hold();
    const st = await client.storageVolUpload(VOL, 0, 0, 0);
    const sends = [1, 2, 3, 4, 5, 6].map((n) => st.send(Buffer.alloc(n * 100, n)));
    await Promise.all(sends);
    // the daemon holds at most MAX packets of a client whose writes are not done
    await new Promise((r) => setTimeout(r, 50));
    expect(server.stats.outstandingCalls).toBe(MAX);
    expect(server.stats.pendingInput).toBeGreaterThan(0);
    expect(current.received).toEqual([]);
    current.release();
    await st.finish();
    expect(current.log).toEqual([
      'send 100',
      'send 200',
      'send 300',
      'send 400',
      'send 500',
      'send 600',
      'finish',
    ]);
    expect(server.stats.outstandingCalls).toBe(0);
  });

  it('carries holes on a sparse stream and refuses them on another', async () => {
    current = recordingStream();
    const sparse = await client.storageVolUpload(VOL, 0, 0, 1);
    await sparse.sendHole(4096);
    await sparse.finish();
    expect(current.log).toEqual(['hole 4096', 'finish']);
    current = recordingStream();
    const plain = await client.storageVolUpload(VOL, 0, 0, 0);
    await expect(plain.sendHole(4096)).rejects.toThrow('Unexpected stream hole');
    await plain.abort();
  });

  it("reports the daemon's write error to the uploader, once, and aborts its side", async () => {
    current = recordingStream();
    current.failNext = new VirError('SYSTEM_ERROR', 'storage', 'Unable to write: No space left on device');
    const st = await client.storageVolUpload(VOL, 0, 0, 0);
    await st.send(Buffer.alloc(10)).catch(() => {});
    await expect(st.finish()).rejects.toThrow('Unable to write: No space left on device');
    expect(current.log).toContain('abort');
  });

  it('aborts at the client: the daemon aborts its stream and confirms', async () => {
    current = recordingStream();
    const st = await client.storageVolUpload(VOL, 0, 0, 0);
    await st.send(Buffer.alloc(10));
    await st.abort();
    expect(current.log).toEqual(['send 10', 'abort']);
  });

  it('downloads data and holes, then finishes', async () => {
    current = recordingStream();
    current.out = [{ data: Buffer.from('abc') }, { hole: 100 }, { data: Buffer.alloc(300_000, 7) }];
    const st = await client.storageVolDownload(VOL, 0, 0, 1);
    const got: StreamChunk[] = [];
    for (let c = await st.recv(); c; c = await st.recv()) got.push(c);
    await st.finish();
    const sizes = got.map((c) => ('hole' in c ? `hole ${c.hole}` : c.data.length));
    // a data chunk larger than a packet arrives in libvirt's packet-sized pieces
    expect(sizes).toEqual([3, 'hole 100', 262120, 300_000 - 262120]);
    expect(current.log).toEqual(['finish']);
  });

  it("reports the daemon's read error to the downloader", async () => {
    current = recordingStream();
    current.failNext = new VirError('SYSTEM_ERROR', 'storage', 'Unable to read: Input/output error');
    const st = await client.storageVolDownload(VOL, 0, 0, 0);
    await expect(st.recv()).rejects.toThrow('Unable to read: Input/output error');
  });

  it('aborts the daemon side when the client goes away mid-stream', async () => {
    current = recordingStream();
    const st = await client.storageVolUpload(VOL, 0, 0, 0);
    await st.send(Buffer.alloc(10));
    await client.close();
    await new Promise((r) => setTimeout(r, 50));
    expect(current.log).toEqual(['send 10', 'abort']);
  });
});
