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

/** `-name`, `-S` (CPUs start paused; the driver resumes them) and the master key secret. */
export function identity(b: Build): void {
  add(
    b,
    '-name',
    opts(undefined, [
      ['guest', b.def.name],
      ['debug-threads', 'on'],
    ]),
  );
  add(b, '-S');
  add(
    b,
    '-object',
    jsonProps({ 'qom-type': 'secret', id: 'masterKey0', format: 'raw', file: `${b.libDir}/master-key.aes` }),
  );
}
