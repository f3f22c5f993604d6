/**
 * Sending descriptors to QEMU over the monitor socket (SCM_RIGHTS), as libvirt's
 * qemuMonitorSendFileHandle does for `getfd`: a hotplugged tap's descriptor goes to QEMU with the
 * command that names it. Node's sockets cannot attach descriptors, so the one message is written
 * with libc's sendmsg through koffi (loaded on first use, as net-tap.ts does).
 */
import { createRequire } from 'node:module';
import { virReportSystemError } from '@qvirt/core';

interface Koffi {
  load(path: string): { func(decl: string): (...args: unknown[]) => number };
  struct(name: string, def: Record<string, string>): unknown;
  errno(): number;
}

let sendmsg: ((fd: number, msg: unknown, flags: number) => number) | undefined;
let errno: (() => number) | undefined;

function load(): (fd: number, msg: unknown, flags: number) => number {
  if (sendmsg) return sendmsg;
  const koffi = createRequire(import.meta.url)('koffi') as Koffi;
  const lib = koffi.load('libc.so.6');
  koffi.struct('qvirt_iovec', { iov_base: 'void *', iov_len: 'size_t' });
  koffi.struct('qvirt_msghdr', {
    msg_name: 'void *',
    msg_namelen: 'uint32',
    msg_iov: 'qvirt_iovec *',
    msg_iovlen: 'size_t',
    msg_control: 'void *',
    msg_controllen: 'size_t',
    msg_flags: 'int',
  });
  sendmsg = lib.func('intptr_t sendmsg(int, const qvirt_msghdr *, int)') as (
    fd: number,
    msg: unknown,
    flags: number,
  ) => number;
  errno = () => koffi.errno();
  return sendmsg!;
}

const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const MSG_NOSIGNAL = 0x4000;

/** Writes `data` on the connected unix socket `sock` with `fds` attached (x86-64/aarch64 layout). */
export function sendWithFds(sock: number, data: string, fds: number[]): void {
  const send = load();
  const body = Buffer.from(data);
  // struct cmsghdr { size_t cmsg_len; int cmsg_level; int cmsg_type; } then the ints, 8-aligned
  const len = 16 + 4 * fds.length;
  const control = Buffer.alloc((len + 7) & ~7);
  control.writeBigUInt64LE(BigInt(len), 0);
  control.writeInt32LE(SOL_SOCKET, 8);
  control.writeInt32LE(SCM_RIGHTS, 12);
  for (const [i, fd] of fds.entries()) control.writeInt32LE(fd, 16 + 4 * i);
  const sent = send(
    sock,
    {
      msg_name: null,
      msg_namelen: 0,
      msg_iov: [{ iov_base: body, iov_len: body.length }],
      msg_iovlen: 1,
      msg_control: control,
      msg_controllen: control.length,
      msg_flags: 0,
    },
    MSG_NOSIGNAL,
  );
  if (sent !== body.length) {
    throw virReportSystemError(errno?.() ?? 0, 'qemu', 'Unable to send file handle to the monitor');
  }
}
