/**
 * Where a domain's cgroup lives, named as libvirt 9.0 names it (vircgroup.c, domain_driver.c)
 * with qvirt's suffix: `/machine/qemu-<id>-<name>.qvirt-qemu`, and for an embed instance
 * `/machine/qemu-embed-<8 hex of sha256(root)>-<id>-<name>.qvirt-qemu`. A `<resource><partition>`
 * replaces `/machine` (components get libvirt's `.partition` suffix and `_` escape).
 */
import { createHash } from 'node:crypto';

/** libvirt's machine name (virDomainDriverGenerateMachineName). */
export function machineName(opts: {
  /** `qemu`. */
  drivername: string;
  /** The embed instance's root directory; undefined for system/session. */
  embedRoot?: string;
  id: number;
  name: string;
  privileged: boolean;
  /** The caller's user name (only used when not privileged). */
  username?: string;
}): string {
  let out: string;
  if (opts.embedRoot !== undefined) {
    const hash = createHash('sha256').update(opts.embedRoot).digest('hex');
    out = `${opts.drivername}-embed-${hash.slice(0, 8)}-`;
  } else {
    out = `${opts.drivername}-`;
    if (!opts.privileged) out += `${opts.username ?? 'unknown'}-`;
  }
  out += `${opts.id}-`;
  return appendValid(out, opts.name);
}

const HOSTNAME_CHARS = /^[a-zA-Z0-9-]$/;

/** virDomainMachineNameAppendValid: hostname characters, no runs of `-`/`.`, at most 64 chars. */
function appendValid(prefix: string, name: string): string {
  let buf = prefix;
  let skip = true;
  for (const ch of name) {
    if (buf.length >= 64) break;
    if (ch === '.' || ch === '-') {
      if (!skip) {
        buf += ch;
        skip = true;
      }
      continue;
    }
    if (!HOSTNAME_CHARS.test(ch)) continue;
    buf += ch;
    skip = false;
  }
  return buf.replace(/[-.]+$/, '');
}

/**
 * virCgroupPartitionEscape: a component that starts with `cgroup.`, `_`, `.` or
 * `<controller>.` gets a leading `_`.
 */
export function escapeComponent(component: string, controllers: readonly string[]): string {
  const needs =
    component.startsWith('cgroup.') ||
    component.startsWith('_') ||
    component.startsWith('.') ||
    controllers.some((c) => component.startsWith(`${c}.`));
  return needs ? `_${component}` : component;
}

/** virCgroupSetPartitionSuffix: `/machine/prod` → `/machine/prod.partition`. */
export function partitionPath(partition: string, controllers: readonly string[]): string {
  if (!partition.startsWith('/')) {
    throw new Error(`Partition path '${partition}' must start with '/'`);
  }
  return partition
    .split('/')
    .map((tok, i) => {
      if (tok === '') return tok;
      if (i === 1 && (tok === 'machine' || tok === 'system' || tok === 'user')) return tok;
      return escapeComponent(tok.includes('.') ? tok : `${tok}.partition`, controllers);
    })
    .join('/');
}

/** The domain's cgroup path relative to a hierarchy's root, e.g. `/machine/qemu-1-demo.qvirt-qemu`. */
export function domainCgroupPath(opts: {
  machineName: string;
  /** `<resource><partition>`, default `/machine`. */
  partition?: string;
  /** Controller names, for the escape rule (`/proc/cgroups`). */
  controllers?: readonly string[];
  /** The suffix's driver part: `qvirt-qemu` (libvirt: `libvirt-qemu`). */
  suffix?: string;
}): string {
  const controllers = opts.controllers ?? [];
  const partition = partitionPath(opts.partition ?? '/machine', controllers);
  const group = escapeComponent(`${opts.machineName}.${opts.suffix ?? 'qvirt-qemu'}`, controllers);
  return `${partition === '/' ? '' : partition}/${group}`;
}
