/**
 * libvirt's save-image format (src/qemu/qemu_saveimage.[ch]) and the QEMU migration that fills
 * it. An image is the header (virQEMUSaveHeader, host byte order: magic, version 2, data_len,
 * was_running, compressed, cookieOffset, 14 unused words), then `data_len` bytes holding the
 * domain XML (NUL-terminated), an optional save cookie and zero padding (64 KiB spare, so the XML
 * can be edited in place), then QEMU's migration stream, raw or through the compressor that
 * qemu.conf's `save_image_format` names. The magic says "LibvirtQemudPart" until the stream is
 * complete.
 *
 * Save: QEMU sends the stream over a unix socket in the domain's private directory (libvirt hands
 * QEMU a descriptor with `getfd`; Node cannot pass descriptors over a socket, so QEMU connects
 * instead) and the driver writes it after the header. Restore: QEMU starts with `-incoming defer`
 * and reads the stream from a descriptor it inherits (`migrate-incoming fd:N`), the image itself
 * positioned after the header, or a FIFO fed by the decompressor, as libvirt does.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, createWriteStream, constants as fsc, openSync, readSync } from 'node:fs';
import { chmod, chown, mkdtemp, open, rm, unlink } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { VirError } from '@qvirt/core';
import type { QmpClient } from './qmp.js';

export const QEMU_SAVE_MAGIC = 'LibvirtQemudSave';
export const QEMU_SAVE_PARTIAL = 'LibvirtQemudPart';
export const QEMU_SAVE_VERSION = 2;
/** sizeof(virQEMUSaveHeader): 16 bytes of magic and 19 uint32s. */
export const SAVE_HEADER_SIZE = 16 + 4 * 19;
/** virQEMUSaveFormat: the on-disk `compressed` numbers. */
export const SAVE_FORMATS = ['raw', 'gzip', 'bzip2', 'xz', 'lzop'] as const;
export type SaveFormat = (typeof SAVE_FORMATS)[number];

export interface SaveHeader {
  magic: string;
  version: number;
  dataLen: number;
  wasRunning: number;
  compressed: number;
  cookieOffset: number;
}

const failed = (msg: string) => new VirError('OPERATION_FAILED', 'qemu', `operation failed: ${msg}`);
const sysError = (err: unknown, msg: string) =>
  new VirError('SYSTEM_ERROR', 'qemu', `${msg}: ${(err as NodeJS.ErrnoException).message ?? String(err)}`);

export function encodeSaveHeader(h: SaveHeader): Buffer {
  const b = Buffer.alloc(SAVE_HEADER_SIZE);
  b.write(h.magic, 0, 16, 'latin1');
  const words = [h.version, h.dataLen, h.wasRunning, h.compressed, h.cookieOffset];
  // libvirt writes the struct as it is in memory: little-endian on x86
  words.forEach((w, i) => {
    b.writeUInt32LE(w >>> 0, 16 + 4 * i);
  });
  return b;
}

/** qemuSaveImageOpen's checks, with its words. */
export function decodeSaveHeader(b: Buffer): SaveHeader {
  if (b.length < SAVE_HEADER_SIZE) throw failed('failed to read qemu header');
  const magic = b.toString('latin1', 0, 16);
  if (magic !== QEMU_SAVE_MAGIC) {
    if (magic === QEMU_SAVE_PARTIAL) throw failed('save image is incomplete');
    throw failed('image magic is incorrect');
  }
  let read = (i: number) => b.readUInt32LE(16 + 4 * i);
  // an image of the other byte order (qemuSaveImageBswapHeader)
  if (read(0) > QEMU_SAVE_VERSION) read = (i: number) => b.readUInt32BE(16 + 4 * i);
  const h: SaveHeader = {
    magic,
    version: read(0),
    dataLen: read(1),
    wasRunning: read(2),
    compressed: read(3),
    cookieOffset: read(4),
  };
  if (h.version > QEMU_SAVE_VERSION)
    throw failed(`image version is not supported (${h.version} > ${QEMU_SAVE_VERSION})`);
  if ((h.dataLen | 0) <= 0) throw failed(`invalid header data length: ${h.dataLen | 0}`);
  return h;
}

/** virQEMUSaveDataWrite's layout: header, XML and NUL, cookie and NUL, zero padding. */
export function encodeSaveData(
  h: Omit<SaveHeader, 'dataLen' | 'cookieOffset' | 'magic'> & { dataLen?: number; magic?: string },
  xml: string,
  cookie?: string,
): Buffer {
  const x = Buffer.from(`${xml}\0`, 'utf8');
  const c = cookie === undefined ? Buffer.alloc(0) : Buffer.from(`${cookie}\0`, 'utf8');
  const len = x.length + c.length;
  const dataLen = h.dataLen ?? len + 64 * 1024;
  if (len > dataLen) throw failed('new xml too large to fit in file');
  const header = encodeSaveHeader({
    magic: h.magic ?? QEMU_SAVE_PARTIAL,
    version: h.version,
    dataLen,
    wasRunning: h.wasRunning,
    compressed: h.compressed,
    cookieOffset: cookie === undefined ? 0 : x.length,
  });
  return Buffer.concat([header, x, c, Buffer.alloc(dataLen - len)]);
}

export interface SaveImage {
  header: SaveHeader;
  xml: string;
  cookie?: string;
  /** Where QEMU's stream starts. */
  dataOffset: number;
}

/** Reads an image's header and XML (qemuSaveImageOpen). */
export async function readSaveImage(file: string): Promise<SaveImage> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    throw sysError(err, `Failed to open file '${file}'`);
  }
  try {
    const hb = Buffer.alloc(SAVE_HEADER_SIZE);
    const { bytesRead } = await fh.read(hb, 0, SAVE_HEADER_SIZE, 0);
    const header = decodeSaveHeader(hb.subarray(0, bytesRead));
    const data = Buffer.alloc(header.dataLen);
    const r = await fh.read(data, 0, header.dataLen, SAVE_HEADER_SIZE);
    if (r.bytesRead !== header.dataLen) throw failed('failed to read domain XML');
    const xmlLen = header.cookieOffset || header.dataLen;
    const cstr = (b: Buffer) => {
      const nul = b.indexOf(0);
      return b.toString('utf8', 0, nul === -1 ? b.length : nul);
    };
    const xml = cstr(data.subarray(0, xmlLen));
    const cookieBytes = data.subarray(xmlLen);
    const cookie = header.cookieOffset ? cstr(cookieBytes) : undefined;
    return {
      header,
      xml,
      ...(cookie ? { cookie } : {}),
      dataOffset: SAVE_HEADER_SIZE + header.dataLen,
    };
  } finally {
    await fh.close();
  }
}

/** Rewrites the XML of an image in place (qemuDomainSaveImageDefineXML), within its data_len. */
export async function rewriteSaveImageXml(file: string, image: SaveImage, xml: string): Promise<void> {
  const data = encodeSaveData(
    {
      magic: image.header.magic,
      version: image.header.version,
      dataLen: image.header.dataLen,
      wasRunning: image.header.wasRunning,
      compressed: image.header.compressed,
    },
    xml,
    image.cookie,
  );
  const fh = await open(file, 'r+');
  try {
    await fh.write(data, 0, data.length, 0);
  } finally {
    await fh.close();
  }
}

/** Sets was_running in an image (virDomainSaveImageDefineXML with RUNNING/PAUSED). */
export async function setSaveImageRunning(file: string, running: boolean): Promise<void> {
  const fh = await open(file, 'r+');
  try {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(running ? 1 : 0);
    await fh.write(b, 0, 4, 16 + 8);
  } finally {
    await fh.close();
  }
}

/** qemuSaveImageGetCompressionProgram for `save_image_format` (never falling back to raw). */
export function compressionFor(
  format: string | undefined,
  searchPath: string,
): { compressed: number; program?: string; args?: string[] } {
  if (!format) return { compressed: 0 };
  const n = (SAVE_FORMATS as readonly string[]).indexOf(format);
  if (n < 0) throw failed('Invalid save image format specified in configuration file');
  if (n === 0) return { compressed: 0 };
  const program = findInPath(format, searchPath);
  if (!program)
    throw failed("Compression program for save image format in configuration file isn't available");
  return { compressed: n, program, args: format === 'xz' ? ['-c', '-3'] : ['-c'] };
}

/** qemuSaveImageGetCompressionCommand: the decompressor of an image. */
function decompressorFor(compressed: number, searchPath: string): { program: string; args: string[] } {
  const name = SAVE_FORMATS[compressed];
  if (!name) throw failed(`Invalid compressed save format ${compressed}`);
  const program = findInPath(name, searchPath);
  if (!program) throw failed(`Invalid compressed save format ${compressed}`);
  return { program, args: name === 'lzop' ? ['-dc', '--ignore-warn'] : ['-dc'] };
}

function findInPath(name: string, searchPath: string): string | undefined {
  for (const dir of searchPath.split(':')) {
    if (!dir) continue;
    const p = path.join(dir, name);
    try {
      closeSync(openSync(p, fsc.O_RDONLY));
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** QEMU_DOMAIN_MIG_BANDWIDTH_MAX in bytes/s: libvirt lifts the limit for a save. */
const MIG_BANDWIDTH_MAX = 9223372036853727232n;

/** Waits for QEMU's migration (outgoing or incoming) to end; fails with QEMU's reason. */
async function waitForMigration(qmp: QmpClient, what: string): Promise<void> {
  for (;;) {
    const info = await qmp.execute<{ status?: string; 'error-desc'?: string }>('query-migrate');
    if (info.status === 'completed') return;
    if (info.status === 'failed' || info.status === 'cancelled')
      throw failed(`${what}: ${info['error-desc'] ?? info.status}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * qemuMigrationSrcWaitForCompletion for a job others may watch and abort: the end, with
 * qemuMigrationJobCheckStatus' words for a failed or cancelled (virDomainAbortJob) stream.
 */
async function waitForJobMigration(qmp: QmpClient, jobName: string): Promise<void> {
  for (;;) {
    const info = await qmp.execute<{ status?: string; 'error-desc'?: string }>('query-migrate');
    if (info.status === 'completed') return;
    if (info.status === 'cancelled')
      throw new VirError(
        'OPERATION_ABORTED',
        'qemu',
        `operation aborted: job '${jobName}' canceled by client`,
      );
    if (info.status === 'failed')
      throw failed(
        info['error-desc']
          ? `job '${jobName}' failed: ${info['error-desc']}`
          : `job '${jobName}' unexpectedly failed`,
      );
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface WriteImageOptions {
  file: string;
  xml: string;
  wasRunning: boolean;
  /** `save_image_format` of qemu.conf. */
  format: string | undefined;
  searchPath: string;
  qmp: QmpClient;
  /** The domain's private directory (QEMU may reach a socket there). */
  privateDir: string;
  /** QEMU's user, who connects to the socket. */
  qemuOwner?: { uid: number; gid: number };
  /**
   * The domain's async job this stream belongs to (./domain-job.ts): its name in errors
   * (qemuMigrationJobName), and what to do once QEMU sends (the job's status becomes MIGRATING).
   */
  job?: { name: string; onMigrating(): void };
}

/** qemuSaveImageCreate: the header, QEMU's stream after it, then the final magic. */
export async function writeSaveImage(o: WriteImageOptions): Promise<void> {
  const comp = compressionFor(o.format, o.searchPath);
  let created = false;
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(o.file, fsc.O_WRONLY | fsc.O_TRUNC | fsc.O_CREAT, 0o600);
    created = true;
  } catch (err) {
    throw sysError(err, `Failed to create file '${o.file}'`);
  }
  const sock = path.join(o.privateDir, 'save.sock');
  let server: net.Server | undefined;
  let compressor: ChildProcess | undefined;
  let out: ReturnType<typeof createWriteStream> | undefined;
  try {
    // an image is never readable by others, whatever the umask
    await fh.chmod(0o600);
    const head = encodeSaveData(
      { version: QEMU_SAVE_VERSION, wasRunning: o.wasRunning ? 1 : 0, compressed: comp.compressed },
      o.xml,
    );
    await fh.write(head, 0, head.length, 0);
    await fh.close();
    // the stream goes after the header: QEMU → socket → (compressor →) the file
    await rm(sock, { force: true });
    const file = createWriteStream(o.file, { flags: 'r+', start: head.length });
    out = file;
    const written = new Promise<void>((resolve, reject) => {
      file.on('close', resolve);
      file.on('error', (e) => reject(sysError(e, `failed to write domain save file '${o.file}'`)));
    });
    let sink: NodeJS.WritableStream = file;
    let compressed: Promise<void> = Promise.resolve();
    if (comp.program) {
      const child = spawn(comp.program, comp.args ?? [], { stdio: ['pipe', 'pipe', 'pipe'] });
      compressor = child;
      let errText = '';
      child.stderr!.on('data', (d: Buffer) => (errText += d.toString()));
      child.stdout!.pipe(file);
      sink = child.stdin!;
      compressed = new Promise<void>((resolve, reject) =>
        child.on('exit', (code) =>
          code === 0 ? resolve() : reject(failed(`compression program failed: ${errText.trim() || code}`)),
        ),
      );
    } else compressed = Promise.resolve();
    let gotConnection: () => void = () => {};
    const connected = new Promise<void>((r) => {
      gotConnection = r;
    });
    const srv = net.createServer((c) => {
      srv.close();
      gotConnection();
      c.pipe(sink as NodeJS.WritableStream);
    });
    server = srv;
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(sock, () => resolve());
    });
    await chmod(sock, 0o600);
    if (o.qemuOwner) await chown(sock, o.qemuOwner.uid, o.qemuOwner.gid);
    await o.qmp.execute('migrate-set-parameters', { 'max-bandwidth': Number(MIG_BANDWIDTH_MAX) });
    await o.qmp.execute('migrate', { uri: `unix:${sock}` });
    if (o.job) {
      o.job.onMigrating();
      await waitForJobMigration(o.qmp, o.job.name);
    } else await waitForMigration(o.qmp, 'migration job');
    await connected;
    await Promise.all([written, compressed]);
    // the image is complete: its final magic (virQEMUSaveDataFinish)
    const fin = await open(o.file, 'r+');
    try {
      await fin.write(Buffer.from(QEMU_SAVE_MAGIC, 'latin1'), 0, 16, 0);
    } finally {
      await fin.close();
    }
  } catch (err) {
    compressor?.kill('SIGKILL');
    out?.destroy();
    await fh.close().catch(() => {});
    if (created) await unlink(o.file).catch(() => {});
    throw err;
  } finally {
    server?.close();
    await rm(sock, { force: true }).catch(() => {});
  }
}

/** The descriptor QEMU reads a restore from, and how to tidy up after. */
export interface IncomingStream {
  /** This process's descriptor, to pass to QEMU. */
  fd: number;
  /** The number QEMU finds it at (set by the launch). */
  qemuFd?: number;
  /** Closes this process's copies (once QEMU has its own). */
  closeOurs(): void;
  /** After the restore: the decompressor's end and the FIFO's removal. */
  done(): Promise<void>;
}

/** The lowest number QEMU may find the stream at (`migrate-incoming fd:N`): above the launch chain's own. */
export const FIRST_INCOMING_FD = 5;

/** Opens an image's stream for QEMU: the file past its header, or a decompressor's output. */
export async function openIncoming(
  file: string,
  image: SaveImage,
  searchPath: string,
): Promise<IncomingStream> {
  let fd: number;
  try {
    fd = openSync(file, fsc.O_RDONLY);
  } catch (err) {
    throw sysError(err, `Failed to open file '${file}'`);
  }
  // read past the header so the descriptor's offset is the stream's start (QEMU reads from there)
  const skip = Buffer.alloc(64 * 1024);
  let left = image.dataOffset;
  while (left > 0) {
    const n = readSync(fd, skip, 0, Math.min(left, skip.length), null);
    if (n <= 0) {
      closeSync(fd);
      throw failed('failed to read domain XML');
    }
    left -= n;
  }
  if (image.header.compressed === 0) {
    return { fd, closeOurs: once(() => closeSync(fd)), done: async () => {} };
  }
  const dec = decompressorFor(image.header.compressed, searchPath);
  const dir = await mkdtemp(path.join(tmpdir(), 'qvirt-restore-'));
  const fifo = path.join(dir, 'stream');
  execFileSync('mkfifo', ['-m', '600', fifo]);
  const rfd = openSync(fifo, fsc.O_RDONLY | fsc.O_NONBLOCK);
  const wfd = openSync(fifo, fsc.O_WRONLY);
  const child = spawn(dec.program, dec.args, { stdio: [fd, wfd, 'ignore'] });
  closeSync(fd);
  closeSync(wfd);
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  return {
    fd: rfd,
    closeOurs: once(() => closeSync(rfd)),
    async done() {
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** qemuMigrationDstRun: QEMU reads the stream it inherited, until the end. */
export async function runIncoming(qmp: QmpClient, fd: number): Promise<void> {
  await qmp.execute('migrate-incoming', { uri: `fd:${fd}` });
  await waitForMigration(qmp, 'load of the saved state');
}

function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
}

/**
 * The definition an image keeps (qemuDomainDefFormatLive with inactive and migratable): the live
 * one without what a run adds (the id, device aliases, the ptys QEMU opened).
 */
export function saveableDefinition<T extends object>(live: T): T {
  const def = structuredClone(live) as Record<string, unknown>;
  delete def.id;
  const devices = def.devices as Record<string, unknown> | undefined;
  for (const value of Object.values(devices ?? {})) {
    const list = Array.isArray(value) ? value : [value];
    for (const dev of list as Array<Record<string, unknown>>) {
      if (!dev || typeof dev !== 'object') continue;
      delete dev.alias;
      if (dev.type === 'pty') {
        delete dev.tty;
        const src = dev.source as Array<Record<string, unknown>> | undefined;
        if (src?.[0]) delete src[0].path;
        if (src?.every((s) => Object.keys(s).length === 0)) delete dev.source;
      }
    }
  }
  return def as T;
}

/** libvirt-domain.c's VIR_EXCLUSIVE_FLAGS check for RUNNING and PAUSED. */
export function saveFlagsExclusive(flags: number): void {
  if (flags & 2 && flags & 4)
    throw new VirError(
      'INVALID_ARG',
      'domain',
      "Flags 'VIR_DOMAIN_SAVE_RUNNING' and 'VIR_DOMAIN_SAVE_PAUSED' are mutually exclusive",
    );
}
