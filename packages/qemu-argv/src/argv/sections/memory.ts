import { accelFor, findMachine } from '../../caps/qemu-caps.js';
import { add, type Build } from '../build.js';
import { jsonProps } from '../props.js';

/** Guest RAM: libvirt aligns it up to whole MiB for x86 before building `-m` and its backend. */
export function memory(b: Build): void {
  const kib = b.def.memory?.value ?? 0;
  const mib = Math.ceil(kib / 1024);
  add(b, '-m', String(mib));
  const m = findMachine(b.ctx.caps, accelFor(b.def.type), b.def.os?.type?.machine ?? '');
  if (m?.defaultRAMid) {
    add(
      b,
      '-object',
      jsonProps({ 'qom-type': 'memory-backend-ram', id: m.defaultRAMid, size: mib * 1024 * 1024 }),
    );
  }
  add(b, '-overcommit', 'mem-lock=off');
}

/** `-smp N,sockets=…,cores=…,threads=…`. */
export function smp(b: Build): void {
  const n = b.def.vcpu?.value ?? 1;
  add(b, '-smp', `${n},sockets=${n},cores=1,threads=1`);
}

/** `<iothreads>`: -object iothread. */
export function iothreads(_b: Build): void {}

/** `<cpu><numa>`: -numa node/dist and their memory backends. */
export function numa(_b: Build): void {}
