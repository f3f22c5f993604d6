/**
 * Executing the launch spec (`@qvirt/core`'s `LaunchSpec`, filled by the driver and by each
 * security driver's `domainSetSecurityChildProcessLabel`). A spec that asks for nothing special
 * spawns QEMU directly. Otherwise QEMU is reached through a chain of standard tools, so no native
 * code runs between fork and exec (design.md, "Starting QEMU"):
 *
 *   sh -c 'echo $$ > CG/cgroup.procs …; exec [unshare --mount --propagation private sh -c PRIVATE_DEV]
 *          setpriv --reuid … --regid … --groups … --inh-caps … --bounding-set … --no-new-privs
 *          [--selinux-label …] [--apparmor-profile …] -- QEMU ARGS…'
 *
 * The cgroups are joined by the shell that then becomes QEMU, so QEMU's first instruction already
 * runs inside them. The private /dev is a tmpfs holding only the spec's nodes (plus bind mounts of
 * /dev/pts and the like) moved onto /dev in a new mount namespace, as libvirt's qemu_namespace.c
 * does. Every step fails loudly (`set -e`): its message lands in the domain log.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import type { LaunchSpec } from '@qvirt/core';

export type { LaunchDevNode, LaunchPrivateDev, LaunchSpec } from '@qvirt/core';

/** A hook that edits the spec before launch (in addition to the security drivers). */
export type LaunchHook = (spec: LaunchSpec) => void | Promise<void>;

function tool(name: string): string {
  for (const dir of ['/usr/bin', '/bin', '/usr/sbin', '/sbin']) {
    if (existsSync(`${dir}/${name}`)) return `${dir}/${name}`;
  }
  return name;
}

/** POSIX shell single-quoting. */
export function sq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

const CAP_NAME = /^[a-z_]+$/;

/** setpriv's options for the spec's ids, capabilities and labels (empty when none apply). */
export function setprivArgs(spec: LaunchSpec): string[] {
  const a: string[] = [];
  if (spec.uid !== undefined) a.push(`--reuid=${spec.uid}`);
  if (spec.gid !== undefined) a.push(`--regid=${spec.gid}`);
  if (spec.groups !== undefined) {
    a.push(spec.groups.length > 0 ? `--groups=${spec.groups.join(',')}` : '--clear-groups');
  } else if (spec.gid !== undefined || spec.uid !== undefined) {
    // setpriv needs a choice once ids change; never leak the daemon's groups
    a.push('--clear-groups');
  }
  if (spec.keepCaps !== undefined) {
    for (const c of spec.keepCaps) {
      if (!CAP_NAME.test(c)) throw new Error(`invalid capability name '${c}'`);
    }
    const list = ['-all', ...spec.keepCaps.map((c) => `+${c}`)].join(',');
    a.push(`--inh-caps=${list}`, `--bounding-set=${list}`);
    if (spec.keepCaps.length > 0 && spec.uid !== undefined && spec.uid !== 0) {
      a.push('--keep-caps', `--ambient-caps=${list}`);
    }
  }
  if (spec.noNewPrivs) a.push('--no-new-privs');
  if (spec.seLinuxLabel !== undefined) a.push(`--selinux-label=${spec.seLinuxLabel}`);
  if (spec.appArmorProfile !== undefined) a.push(`--apparmor-profile=${spec.appArmorProfile}`);
  return a;
}

/** Whether the host's node at the same path is the device asked for (so it can be copied). */
function hostNodeMatches(n: { path: string; kind: 'c' | 'b'; major: number; minor: number }): boolean {
  try {
    const st = statSync(n.path);
    if (n.kind === 'c' ? !st.isCharacterDevice() : !st.isBlockDevice()) return false;
    // glibc's dev_t layout (gnu_dev_major / gnu_dev_minor)
    const rdev = BigInt(st.rdev);
    const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
    const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
    return major === n.major && minor === n.minor;
  } catch {
    return false;
  }
}

/** The part of the launch script that builds the private /dev in the new mount namespace. */
export function privateDevScript(spec: LaunchSpec): string {
  const dev = spec.privateDev!;
  const lines = [
    'set -e',
    `T=$(${tool('mktemp')} -d /tmp/qvirt-dev.XXXXXX)`,
    // if anything below fails, leave no mount point behind in the host's /tmp
    `trap '${tool('umount')} "$T" 2>/dev/null; ${tool('rmdir')} "$T" 2>/dev/null' EXIT`,
    `${tool('mount')} -t tmpfs -o mode=755,size=65536k,nosuid devfs "$T"`,
  ];
  // Nodes the host has as asked are copied in one `cp -a` and fixed up with one chown/chmod per
  // owner and mode; the rest are made with mknod. Every process here delays QEMU's start.
  const copied: string[] = [];
  const owners = new Map<string, string[]>();
  const modes = new Map<string, string[]>();
  for (const n of dev.nodes) {
    const rel = n.path.replace(/^\/dev\/?/, '');
    if (rel === '' || rel.split('/').includes('..')) throw new Error(`invalid device path '${n.path}'`);
    const parent = rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '';
    if (parent) lines.push(`${tool('mkdir')} -p "$T"/${sq(parent)}`);
    const target = `"$T"/${sq(rel)}`;
    if (!parent && hostNodeMatches(n)) copied.push(sq(n.path));
    else lines.push(`${tool('mknod')} ${target} ${n.kind} ${n.major} ${n.minor}`);
    const owner = `${n.uid}:${n.gid}`;
    owners.set(owner, [...(owners.get(owner) ?? []), target]);
    const mode = (n.mode & 0o7777).toString(8);
    modes.set(mode, [...(modes.get(mode) ?? []), target]);
  }
  if (copied.length > 0) lines.push(`${tool('cp')} -a ${copied.join(' ')} "$T"/`);
  for (const [owner, targets] of owners) lines.push(`${tool('chown')} ${owner} ${targets.join(' ')}`);
  for (const [mode, targets] of modes) lines.push(`${tool('chmod')} ${mode} ${targets.join(' ')}`);
  for (const b of dev.binds) {
    const rel = b.replace(/^\/dev\/?/, '');
    if (rel === '' || rel.split('/').includes('..')) throw new Error(`invalid bind path '${b}'`);
    lines.push(
      `if [ -d ${sq(b)} ]; then ${tool('mkdir')} -p "$T"/${sq(rel)}; else ${tool('mkdir')} -p "$(dirname "$T"/${sq(rel)})"; : > "$T"/${sq(rel)}; fi`,
      `${tool('mount')} --bind ${sq(b)} "$T"/${sq(rel)}`,
    );
  }
  lines.push(`${tool('mount')} --move "$T" /dev`, `${tool('rmdir')} "$T" 2>/dev/null || true`, 'trap - EXIT');
  return lines.join('\n');
}

/** Options of `launchCommand` / `launch`. */
export interface LaunchOptions {
  /**
   * Stop just before QEMU is exec'd (ids, namespace and /dev in place, cgroups not yet joined)
   * and wait for `proceed()`: the window in which the driver labels the domain's resources with
   * QEMU's pid known, as libvirt's virCommandHandshakeWait/Notify. Uses file descriptor 3.
   */
  handshake?: boolean;
}

/** The argv that executes the spec: `[file, ...args]`. */
export function launchCommand(spec: LaunchSpec, options: LaunchOptions = {}): string[] {
  const priv = setprivArgs(spec);
  let exec: string[] = [spec.binary, ...spec.args];
  if (priv.length > 0) exec = [tool('setpriv'), ...priv, '--', ...exec];
  const stage: string[] = [];
  if (options.handshake) stage.push('echo ready >&3', 'read -r _go <&3', 'exec 3<&-');
  for (const p of spec.cgroupPaths) stage.push(`echo $$ > ${sq(`${p}/cgroup.procs`)}`);
  // One shell does it all (the private /dev, the handshake, joining the cgroups), then becomes
  // setpriv and QEMU: every extra process here delays the guest's start.
  if (spec.privateDev) {
    exec = [
      tool('unshare'),
      '--mount',
      '--propagation',
      'private',
      tool('sh'),
      '-c',
      [privateDevScript(spec), ...stage, 'exec "$@"'].join('\n'),
      'qvirt-launch',
      ...exec,
    ];
  } else if (stage.length > 0) {
    exec = [tool('sh'), '-c', ['set -e', ...stage, 'exec "$@"'].join('\n'), 'qvirt-launch', ...exec];
  }
  return exec;
}

/** A started launch chain. */
export interface LaunchHandle {
  child: ChildProcess;
  /** Resolves when the chain waits at the handshake; rejects if it ends first. */
  ready(): Promise<void>;
  /** Let the chain go on and exec QEMU. */
  proceed(): void;
}

export function launch(spec: LaunchSpec): ChildProcess;
export function launch(spec: LaunchSpec, options: LaunchOptions & { handshake: true }): LaunchHandle;
export function launch(spec: LaunchSpec, options: LaunchOptions = {}): ChildProcess | LaunchHandle {
  const [file, ...args] = launchCommand(spec, options);
  const child = spawn(file!, args, {
    cwd: spec.cwd,
    env: Object.fromEntries(spec.env),
    // Its own session: QEMU outlives the process that started it (a qvirsh run, an embed user).
    detached: true,
    stdio: options.handshake
      ? ['ignore', spec.logFd, spec.logFd, 'pipe']
      : ['ignore', spec.logFd, spec.logFd],
  });
  if (!options.handshake) return child;
  const channel = child.stdio[3] as import('node:net').Socket;
  channel.on('error', () => {});
  const ready = new Promise<void>((resolve, reject) => {
    let got = '';
    const fail = () => reject(new Error('the launch chain ended before QEMU was started'));
    channel.on('data', (chunk: Buffer) => {
      got += chunk.toString();
      if (got.includes('ready\n')) resolve();
    });
    channel.once('end', fail);
    channel.once('close', fail);
    child.once('error', reject);
  });
  ready.catch(() => {});
  return {
    child,
    ready: () => ready,
    proceed: () => {
      channel.end('go\n');
    },
  };
}
