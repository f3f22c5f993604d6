import { add, type Build } from '../build.js';
import { jsonProps, type PropObject } from '../props.js';
import { unsupported } from './head-util.js';
import { hasNvram } from './machine.js';

/**
 * The environment libvirt's privileged daemon gives QEMU: C locale, its PATH, HOME and the XDG
 * dirs in the private dir.
 */
export function environment(b: Build): void {
  b.env.push(['LC_ALL', 'C'], ['PATH', b.ctx.path ?? '/usr/bin:/bin']);
  b.env.push(
    ['HOME', b.libDir],
    ['XDG_DATA_HOME', `${b.libDir}/.local/share`],
    ['XDG_CACHE_HOME', `${b.libDir}/.cache`],
    ['XDG_CONFIG_HOME', `${b.libDir}/.config`],
  );
}

/** `-name guest=NAME[,process=qemu:NAME],debug-threads=on` (commas in the name doubled). */
export function name(b: Build): void {
  const n = b.def.name ?? '';
  const esc = n.replace(/,/g, ',,');
  let text = `guest=${esc}`;
  if (b.ctx.conf.setProcessName) text += `,process=qemu:${n}`;
  text += ',debug-threads=on';
  add(b, '-name', text);
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

/**
 * `-compat` from `<qemu:deprecation behavior=…>` or qemu.conf `deprecation_behavior`
 * (qemuBuildCompatDeprecatedCommandLine). Unknown behaviours are ignored, as libvirt only warns.
 */
export function compat(b: Build): void {
  const behavior = b.def.qemuDeprecation?.behavior ?? b.ctx.conf.deprecationBehavior ?? 'none';
  let input: string | undefined;
  switch (behavior) {
    case 'omit':
      break;
    case 'reject':
      input = 'reject';
      break;
    case 'crash':
      input = 'crash';
      break;
    default:
      return;
  }
  if (!b.ctx.caps.flags.has('compat-deprecated')) return;
  add(b, '-compat', jsonProps({ 'deprecated-output': 'hide', 'deprecated-input': input }));
}

/**
 * The managed persistent-reservations helper (a disk with `<reservations managed='yes'/>`).
 * The D-Bus VM state object only exists for running domains with D-Bus helpers, never here.
 */
export function helperObjects(b: Build): void {
  const managed = (b.def.devices?.disk ?? []).some((d) => d.source?.reservations?.managed === 'yes');
  if (!managed) return;
  add(
    b,
    '-object',
    jsonProps({ 'qom-type': 'pr-manager-helper', id: 'pr-helper0', path: `${b.libDir}/pr-helper0.sock` }),
  );
}

type NvramSource = NonNullable<NonNullable<NonNullable<Build['def']['os']>['nvram']>['source']>;

function storageProps(type: string, path: string | undefined, src: NvramSource | undefined): PropObject {
  switch (type) {
    case 'file':
      return { driver: 'file', filename: path ?? src?.file };
    case 'block':
      return { driver: 'host_device', filename: path ?? src?.dev };
    case 'network': {
      if (src?.protocol !== 'nbd') {
        throw unsupported(`<nvram> network protocol '${src?.protocol ?? ''}' is not supported here`);
      }
      const host = src.host?.[0];
      const server: PropObject =
        host?.transport === 'unix'
          ? { type: 'unix', path: host.socket }
          : { type: 'inet', host: host?.name, port: host?.port ?? '10809' };
      return { driver: 'nbd', server, export: src.name };
    }
    default:
      throw unsupported(`<nvram> type '${type}' is not supported here`);
  }
}

function pflashBlockdev(b: Build, n: 0 | 1, storage: PropObject, readOnly: boolean): void {
  const node = `libvirt-pflash${n}`;
  add(
    b,
    '-blockdev',
    jsonProps({ ...storage, 'node-name': `${node}-storage`, 'auto-read-only': true, discard: 'unmap' }),
  );
  add(
    b,
    '-blockdev',
    jsonProps({
      'node-name': `${node}-format`,
      'read-only': readOnly,
      driver: 'raw',
      file: `${node}-storage`,
    }),
  );
}

/** UEFI firmware (pflash0) and its variable store (pflash1) as `-blockdev`s. */
export function pflash(b: Build): void {
  const os = b.def.os;
  const loader = os?.loader;
  if (loader?.type !== 'pflash') return;
  if (loader.value)
    pflashBlockdev(b, 0, storageProps('file', loader.value, undefined), loader.readonly === 'yes');
  if (hasNvram(b)) {
    const nv = os!.nvram!;
    const type = nv.type ?? 'file';
    pflashBlockdev(b, 1, storageProps(type, nv.value, nv.source), false);
  }
}
