/**
 * Volume data as a VirStream (libvirt's virFDStreamOpenFile / virFDStreamOpenBlock): upload
 * writes what it is sent at `offset` onward, download reads from `offset`; `length` 0 means to
 * the end. Sparse streams: an uploaded hole is skipped (the file grows by truncation at the end),
 * and a download sends a run of zeros as a hole, as libvirt's sparse read does for the file's
 * holes (a zero run reads the same).
 */
import { type FileHandle, open } from 'node:fs/promises';
import { virReportError, virReportSystemError } from '@qvirt/core';
import type { StreamChunk, VirStream } from '@qvirt/core/hypervisor';

/** How much a download reads at once (libvirt's stream buffer). */
const READ_CHUNK = 256 * 1024;

const isZero = (b: Uint8Array): boolean => {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
};

/** Upload into `path` (a regular file or a block device). */
export async function openUploadStream(
  path: string,
  offset: number,
  length: number,
  sparse: boolean,
  done?: () => Promise<void>,
): Promise<VirStream> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r+');
  } catch (err) {
    throw virReportSystemError(err, 'storage', `Unable to open stream for '${path}'`);
  }
  let pos = offset;
  const end = length > 0 ? offset + length : Number.POSITIVE_INFINITY;
  // a hole past the file's end is a skip (the file stays sparse); over old data it reads as zeros
  const st0 = await fh.stat();
  const size = st0.isFile() ? st0.size : Number.POSITIVE_INFINITY;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await fh.close().catch(() => {});
  };
  const room = (n: number) => {
    if (pos + n > end) {
      throw virReportError('OPERATION_INVALID', 'storage', 'stream data exceeds the requested length');
    }
  };
  return {
    async send(data) {
      room(data.length);
      let off = 0;
      while (off < data.length) {
        const { bytesWritten } = await fh.write(data, off, data.length - off, pos);
        off += bytesWritten;
        pos += bytesWritten;
      }
    },
    async sendHole(n) {
      if (!sparse) throw virReportError('OPERATION_INVALID', 'storage', 'this stream is not sparse');
      room(n);
      const zeros = Math.max(0, Math.min(n, size - pos));
      const block = Buffer.alloc(Math.min(zeros, 1024 * 1024));
      for (let done = 0; done < zeros; ) {
        const { bytesWritten } = await fh.write(block, 0, Math.min(block.length, zeros - done), pos + done);
        done += bytesWritten;
      }
      pos += n;
    },
    async recv(): Promise<StreamChunk | null> {
      throw virReportError('OPERATION_INVALID', 'storage', 'stream is not open for reading');
    },
    async finish() {
      try {
        const st = await fh.stat();
        if (st.isFile() && st.size < pos) await fh.truncate(pos);
        await fh.sync().catch(() => {});
      } finally {
        await close();
      }
      await done?.();
    },
    async abort() {
      await close();
      await done?.();
    },
  };
}

/** Download from `path`. */
export async function openDownloadStream(
  path: string,
  offset: number,
  length: number,
  sparse: boolean,
  done?: () => Promise<void>,
): Promise<VirStream> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    throw virReportSystemError(err, 'storage', `Unable to open stream for '${path}'`);
  }
  let pos = offset;
  let left = length > 0 ? length : Number.POSITIVE_INFINITY;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await fh.close().catch(() => {});
  };
  return {
    async send() {
      throw virReportError('OPERATION_INVALID', 'storage', 'stream is not open for writing');
    },
    async sendHole() {
      throw virReportError('OPERATION_INVALID', 'storage', 'stream is not open for writing');
    },
    async recv() {
      if (closed || left <= 0) return null;
      const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, left));
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) return null;
      pos += bytesRead;
      left -= bytesRead;
      const data = buf.subarray(0, bytesRead);
      if (sparse && isZero(data)) return { hole: bytesRead };
      return { data };
    },
    async finish() {
      await close();
      await done?.();
    },
    async abort() {
      await close();
      await done?.();
    },
  };
}
