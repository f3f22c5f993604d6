import { add, type Build } from '../build.js';
import { jsonProps, opts } from '../props.js';

/** The environment libvirt gives QEMU: C locale, its PATH, HOME and XDG dirs in the private dir. */
export function environment(b: Build): void {
  b.env.push(
    ['LC_ALL', 'C'],
    ['PATH', b.ctx.path ?? '/usr/bin:/bin'],
    ['HOME', b.libDir],
    ['XDG_DATA_HOME', `${b.libDir}/.local/share`],
    ['XDG_CACHE_HOME', `${b.libDir}/.cache`],
    ['XDG_CONFIG_HOME', `${b.libDir}/.config`],
  );
}

export function name(b: Build): void {
  add(
    b,
    '-name',
    opts(undefined, [
      ['guest', b.def.name],
      ['debug-threads', 'on'],
    ]),
  );
}

/** CPUs start paused; the driver labels resources, then resumes them with `cont`. */
export function startPaused(b: Build): void {
  add(b, '-S');
}

/** The secret QEMU decrypts other secrets with. */
export function masterKey(b: Build): void {
  add(
    b,
    '-object',
    jsonProps({ 'qom-type': 'secret', id: 'masterKey0', format: 'raw', file: `${b.libDir}/master-key.aes` }),
  );
}

/** `-compat` from `<qemu:deprecation>`. */
export function compat(_b: Build): void {}

/** The D-Bus VM state object and the managed persistent-reservations helper. */
export function helperObjects(_b: Build): void {}

/** UEFI firmware and variables as `-blockdev` (pflash). */
export function pflash(_b: Build): void {}
