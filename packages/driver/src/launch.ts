/**
 * Executing the launch spec (`@qvirt/core`'s `LaunchSpec`, filled by the driver and by each
 * security driver's `domainSetSecurityChildProcessLabel`). A spec that asks for nothing special
 * spawns QEMU directly. Otherwise QEMU is reached through a chain of standard tools, so no native
 * code runs between fork and exec (design.md, "Starting QEMU"):
 *
 *   [unshare --mount --propagation private] sh -c '[PRIVATE_DEV;] echo ready >&3; read go <&3;
 *          echo $$ > CG/cgroup.procs …; exec "$@"' qvirt-launch
 *          setpriv --reuid … --regid … --groups … --inh-caps … --bounding-set … --no-new-privs
 *          [--selinux-label …] [--apparmor-profile …] -- QEMU ARGS…
 *
 * The cgroups are joined by the shell that then becomes QEMU, so QEMU's first instruction already
 * runs inside them. The private /dev is a tmpfs holding only the spec's nodes (plus bind mounts of
 * /dev/pts and the like) moved onto /dev in a new mount namespace, as libvirt's qemu_namespace.c
 * does. Every step fails loudly (`set -e`): its message lands in the domain log. Every process
 * here delays the guest's start (each is a fork and exec of a dynamically linked tool), so the
 * chain runs as few as it can: one shell for everything, one `cp` for the nodes, one `mount -a`
 * for the binds, run at the same time.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, statSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { LaunchDevNode, LaunchSpec } from '@qvirt/core';
import { TEMP_MARK } from './atomic-file.js';
import { planPassedFds, stdioWithPassedFds } from './pass-fds.js';

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

/**
 * How the host's node at the same path compares with the one asked for: the same device (so `cp
 * -a` can copy it), and then whether the copy's owner and mode need fixing.
 */
function hostNode(n: LaunchDevNode): { sameOwner: boolean; sameMode: boolean } | undefined {
  try {
    const st = statSync(n.path);
    if (n.kind === 'c' ? !st.isCharacterDevice() : !st.isBlockDevice()) return undefined;
    // glibc's dev_t layout (gnu_dev_major / gnu_dev_minor)
    const rdev = BigInt(st.rdev);
    const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
    const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
    if (major !== n.major || minor !== n.minor) return undefined;
    return {
      sameOwner: st.uid === n.uid && st.gid === n.gid,
      sameMode: (st.mode & 0o7777) === (n.mode & 0o7777),
    };
  } catch {
    return undefined;
  }
}

/** A path below /dev as the part after `/dev/`, refusing anything that could leave it. */
function devRelative(p: string, what: string): string {
  const rel = p.replace(/^\/dev\/?/, '');
  if (rel === '' || rel.split('/').includes('..')) throw new Error(`invalid ${what} path '${p}'`);
  return rel;
}

/** An fstab field (libmount unmangles these octal escapes). */
function fstabField(s: string): string {
  return s.replace(/[\\ \t\n]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
}

/** The file descriptor the chain reads its fstab of bind mounts from. */
const FSTAB_FD = 4;

/**
 * The bind mounts of the private /dev as an fstab, mounted by one `mount -a` (their mount points
 * made by `X-mount.mkdir`) instead of a `mkdir` and a `mount` each. Undefined without
 * directory binds; `mountPoint` is where the new /dev is assembled.
 */
export function privateDevFstab(spec: LaunchSpec, mountPoint: string): string | undefined {
  const lines: string[] = [];
  for (const b of spec.privateDev?.binds ?? []) {
    const rel = devRelative(b, 'bind');
    if (!isDirectory(b)) continue;
    lines.push(`${fstabField(b)} ${fstabField(`${mountPoint}/${rel}`)} none bind,X-mount.mkdir 0 0`);
  }
  return lines.length > 0 ? `${lines.join('\n')}\n` : undefined;
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The part of the launch script that builds the private /dev in the new mount namespace:
 * a tmpfs at `mountPoint` (default: a fresh `mktemp -d` directory), the nodes, the binds, then
 * `mount --move` onto /dev. Every process here delays QEMU's start, so the host's nodes are copied
 * by one `cp -a`, owners and modes fixed only where they differ from the host's, and the binds
 * done by one `mount -a` over {@link privateDevFstab} (read from descriptor 4).
 */
export function privateDevScript(spec: LaunchSpec, mountPoint?: string): string {
  const dev = spec.privateDev!;
  const lines = ['set -e'];
  if (mountPoint === undefined) {
    lines.push(
      `T=$(${tool('mktemp')} -d /tmp/qvirt-dev.XXXXXX)`,
      // if anything below fails, leave no mount point behind in the host's /tmp
      `trap '${tool('umount')} "$T" 2>/dev/null; ${tool('rmdir')} "$T" 2>/dev/null' EXIT`,
    );
  } else {
    // Mounted over inside this namespace only, and moved away again before QEMU runs: the host
    // never sees it, and there is nothing to remove (libvirt: stateDir/NAME.dev).
    lines.push(`T=${sq(mountPoint)}`);
  }
  lines.push(`${tool('mount')} -t tmpfs -o mode=755,size=65536k,nosuid devfs "$T"`);
  const bindRoots = dev.binds.map((b) => devRelative(b, 'bind'));
  // a node under a bound directory would be hidden by the bind anyway
  const hidden = (rel: string) => bindRoots.some((b) => rel === b || rel.startsWith(`${b}/`));
  const copied: string[] = [];
  const made: string[] = [];
  const owners = new Map<string, string[]>();
  const modes = new Map<string, string[]>();
  for (const n of dev.nodes) {
    const rel = devRelative(n.path, 'device');
    if (hidden(rel)) continue;
    const target = `"$T"/${sq(rel)}`;
    const host = hostNode(n);
    if (host) copied.push(sq(rel));
    else {
      const parent = rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '';
      if (parent) made.push(`${tool('mkdir')} -p "$T"/${sq(parent)}`);
      made.push(`${tool('mknod')} ${target} ${n.kind} ${n.major} ${n.minor}`);
    }
    if (!host?.sameOwner) {
      const owner = `${n.uid}:${n.gid}`;
      owners.set(owner, [...(owners.get(owner) ?? []), target]);
    }
    if (!host?.sameMode) {
      const mode = (n.mode & 0o7777).toString(8);
      modes.set(mode, [...(modes.get(mode) ?? []), target]);
    }
  }
  const fstab = mountPoint === undefined ? undefined : privateDevFstab(spec, mountPoint);
  // The fstab's binds and the copies touch different directories of the tmpfs (a node under a
  // bound directory is left out above), so they are made at the same time when no top-level
  // directory is shared.
  const top = (rel: string) => rel.split('/')[0]!;
  const bindTops = new Set(bindRoots.map(top));
  const background =
    fstab !== undefined && !dev.nodes.some((n) => bindTops.has(top(devRelative(n.path, 'device'))));
  if (fstab !== undefined && background)
    lines.push(`${tool('mount')} -a -T /proc/self/fd/${FSTAB_FD} & B=$!`);
  // `cp -a` keeps the host's owner, mode and labels; --parents brings nodes in subdirectories
  if (copied.length > 0) lines.push(`(cd /dev && exec ${tool('cp')} -a --parents ${copied.join(' ')} "$T"/)`);
  lines.push(...made);
  for (const [owner, targets] of owners) lines.push(`${tool('chown')} ${owner} ${targets.join(' ')}`);
  for (const [mode, targets] of modes) lines.push(`${tool('chmod')} ${mode} ${targets.join(' ')}`);
  for (const b of dev.binds) {
    const dir = isDirectory(b);
    if (dir && fstab !== undefined) continue; // in the fstab
    const rel = devRelative(b, 'bind');
    lines.push(
      dir
        ? `${tool('mkdir')} -p "$T"/${sq(rel)}`
        : // a bound file needs a file to be mounted on
          `${tool('mkdir')} -p "$(dirname "$T"/${sq(rel)})"; : > "$T"/${sq(rel)}`,
      `${tool('mount')} --bind ${sq(b)} "$T"/${sq(rel)}`,
    );
  }
  // (set -e: a failed background mount fails the wait)
  if (fstab !== undefined) {
    lines.push(
      background ? 'wait $B' : `${tool('mount')} -a -T /proc/self/fd/${FSTAB_FD}`,
      `exec ${FSTAB_FD}<&-`,
    );
  }
  lines.push(`${tool('mount')} --move "$T" /dev`);
  if (mountPoint === undefined) lines.push(`${tool('rmdir')} "$T" 2>/dev/null || true`, 'trap - EXIT');
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
  /**
   * Where the private /dev is assembled before `mount --move` puts it on /dev: an existing
   * directory only root can change (the driver's run directory, as libvirt's stateDir). The
   * tmpfs covers it inside QEMU's new mount namespace only, and only until the move. Without it
   * a `mktemp -d` directory is made and removed, two more processes.
   */
  devMountPoint?: string;
  /**
   * Descriptors QEMU must find at given numbers: number in QEMU → descriptor of this process
   * (the tap devices of `-netdev tap,fd=N`). They wait above the chain's own numbers and are
   * moved into place just before QEMU (`pass-fds.ts`).
   */
  passFds?: ReadonlyMap<number, number>;
}

/** The argv that executes the spec: `[file, ...args]`. */
export function launchCommand(spec: LaunchSpec, options: LaunchOptions = {}): string[] {
  const priv = setprivArgs(spec);
  let exec: string[] = [spec.binary, ...spec.args];
  if (priv.length > 0) exec = [tool('setpriv'), ...priv, '--', ...exec];
  const stage: string[] = [];
  if (options.handshake) stage.push('echo ready >&3', 'read -r _go <&3', 'exec 3<&-');
  for (const p of spec.cgroupPaths) stage.push(`echo $$ > ${sq(`${p}/cgroup.procs`)}`);
  // last, once the handshake (3) and the fstab (4) are closed
  const passed = planPassedFds(options.passFds, FSTAB_FD + 1);
  if (passed.moves) stage.push(passed.moves);
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
      [privateDevScript(spec, options.devMountPoint), ...stage, 'exec "$@"'].join('\n'),
      'qvirt-launch',
      ...exec,
    ];
  } else if (stage.length > 0) {
    exec = [tool('sh'), '-c', ['set -e', ...stage, 'exec "$@"'].join('\n'), 'qvirt-launch', ...exec];
  }
  return exec;
}

/**
 * The fstab as a file only the chain can reach: made in the (root-only) mount point directory,
 * unlinked at once, passed as an open descriptor, so nothing is left behind whatever happens.
 */
function fstabFd(dir: string, text: string): number {
  const file = path.join(dir, `.qvirt-fstab${TEMP_MARK}${randomBytes(6).toString('hex')}`);
  const fd = openSync(file, 'wx+', 0o600);
  try {
    unlinkSync(file);
    writeSync(fd, text);
    return fd;
  } catch (err) {
    closeSync(fd);
    throw err;
  }
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
  const fstab =
    spec.privateDev && options.devMountPoint !== undefined
      ? privateDevFstab(spec, options.devMountPoint)
      : undefined;
  const fd = fstab === undefined ? undefined : fstabFd(options.devMountPoint!, fstab);
  let child: ChildProcess;
  try {
    child = spawn(file!, args, {
      cwd: spec.cwd,
      env: Object.fromEntries(spec.env),
      // Its own session: QEMU outlives the process that started it (a qvirsh run, an embed user).
      detached: true,
      stdio: stdioWithPassedFds(
        [
          'ignore',
          spec.logFd,
          spec.logFd,
          options.handshake ? 'pipe' : 'ignore',
          ...(fd === undefined ? [] : [fd]),
        ],
        planPassedFds(options.passFds, FSTAB_FD + 1),
      ),
    });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
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
