/**
 * `<filesystem>` (qemuBuildFilesystemCommandLine): 9p shares as `-fsdev` + `virtio-9p`, virtiofs
 * as a vhost-user socket `-chardev` + `vhost-user-fs`.
 */
import { type DomainDef, virReportError } from '@qvirt/core';
import { add, type Build } from '../build.js';
import { deviceAddressProps } from '../device-address.js';
import { opts } from '../props.js';
import { deviceJson } from '../storage-device-json.js';
import { virtioDevProps } from '../storage-virtio-props.js';
import { effectiveBootIndexes } from './disks.js';

type Filesystem = NonNullable<NonNullable<DomainDef['devices']>['filesystem']>[number];

const SECURITY_MODELS: Record<string, string> = {
  mapped: 'mapped',
  passthrough: 'passthrough',
  squash: 'none',
};

/** The `-fsdev` option string (qemuBuildFSStr). */
function fsdevString(fs: Filesystem): string {
  const driver = fs.driver?.type ?? 'default';
  const props: Array<[string, string | undefined]> = [];
  let first = '';
  if (driver === 'path' || driver === 'default') {
    first = 'local';
    props.push(['security_model', SECURITY_MODELS[fs.accessmode ?? '']]);
    const md = fs.multidevs;
    if (md === 'remap' || md === 'forbid' || md === 'warn') props.push(['multidevs', md]);
    if (fs.fmode) props.push(['fmode', fs.fmode.toString(8).padStart(4, '0')]);
    if (fs.dmode) props.push(['dmode', fs.dmode.toString(8).padStart(4, '0')]);
  } else if (driver === 'handle') {
    first = 'handle';
  }
  const wr = fs.driver?.wrpolicy;
  if (wr && wr !== 'default') props.push(['writeout', wr]);
  props.push(['id', `fsdev-${fs.alias?.name ?? ''}`]);
  props.push(['path', fsSourcePath(fs)]);
  let text = opts(first, props);
  if (fs.readonly) text += ',readonly';
  return text;
}

/** The host path a filesystem exports (virDomainFSDef src->path). */
function fsSourcePath(fs: Filesystem): string | undefined {
  const s = fs.source ?? {};
  return s.dir ?? s.dev ?? s.file ?? s.name ?? s.socket;
}

export function filesystems(b: Build): void {
  const boot = effectiveBootIndexes(b.def);
  for (const fs of b.def.devices?.filesystem ?? []) {
    const driver = fs.driver?.type ?? 'default';
    const alias = fs.alias?.name ?? '';
    if (driver === 'default' || driver === 'path' || driver === 'handle') {
      add(b, '-fsdev', fsdevString(fs));
      add(
        b,
        '-device',
        deviceJson(b.def, {
          ...virtioDevProps(b.ctx, 'virtio-9p', { address: fs.address, model: fs.model, driver: fs.driver }),
          id: alias,
          fsdev: `fsdev-${alias}`,
          mount_tag: fs.target?.dir,
          ...deviceAddressProps(b.def, fs),
        }),
      );
    } else if (driver === 'virtiofs') {
      const chardev = `chr-vu-${alias}`;
      const path = fs.source?.socket ?? `${b.libDir}/${alias}-fs.sock`;
      add(
        b,
        '-chardev',
        opts('socket', [
          ['id', chardev],
          ['path', path],
        ]),
      );
      const queue = fs.driver?.queue;
      add(
        b,
        '-device',
        deviceJson(b.def, {
          ...virtioDevProps(b.ctx, 'vhost-user-fs', {
            address: fs.address,
            model: fs.model,
            driver: fs.driver,
          }),
          id: alias,
          chardev,
          'queue-size': queue ? Number(queue) : undefined,
          tag: fs.target?.dir,
          bootindex: boot.get(fs),
          ...deviceAddressProps(b.def, fs),
        }),
      );
    } else if (driver !== 'loop' && driver !== 'nbd' && driver !== 'ploop') {
      throw virReportError(
        'CONFIG_UNSUPPORTED',
        'qemu',
        `filesystem driver type '${driver}' is not supported`,
      );
    }
  }
}
