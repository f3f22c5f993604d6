import { accelFor, findMachine } from '../../caps/qemu-caps.js';
import { add, type Build } from '../build.js';
import { opts } from '../props.js';

/** `-machine TYPE,…` and `-accel`. */
export function machine(b: Build): void {
  const name = b.def.os?.type?.machine ?? '';
  const m = findMachine(b.ctx.caps, accelFor(b.def.type), name);
  add(
    b,
    '-machine',
    opts(name, [
      ['usb', 'off'],
      ['dump-guest-core', 'off'],
      ['memory-backend', m?.defaultRAMid],
    ]),
  );
  add(b, '-accel', b.def.type === 'kvm' ? 'kvm' : 'tcg');
}

/** `-cpu MODEL`. */
export function cpu(b: Build): void {
  const model = b.def.cpu?.model?.value;
  if (model) add(b, '-cpu', model);
}

/** SMM TSEG size (`-global mch.extended-tseg-mbytes`). */
export function tseg(_b: Build): void {}

/** `<loader>` without pflash (`-bios`). */
export function loader(_b: Build): void {}
