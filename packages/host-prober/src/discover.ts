/**
 * Which emulator serves which guest arch (virQEMUCapsGetDefaultEmulator): `qemu-system-<arch>` on
 * PATH, then the native target's binary, then `/usr/libexec/qemu-kvm` for native arches; plus the
 * legacy names the project seed lists when they are present (`qemu`, `qemu-kvm`, `xenner`).
 * And whether /dev/kvm is usable by the QEMU user (virQEMUCapsKVMUsable).
 */
import { accessSync, constants, statSync } from 'node:fs';
import { arch as nodeArch } from 'node:os';
import { delimiter, isAbsolute, join } from 'node:path';
import { type KvmAccess, kvmAccess } from './kvm-access.js';

/** libvirt's arch names and word sizes (src/util/virarch.c), in its enum order. */
export const ARCHES: ReadonlyArray<readonly [string, number]> = [
  ['alpha', 64],
  ['armv6l', 32],
  ['armv7l', 32],
  ['armv7b', 32],
  ['aarch64', 64],
  ['cris', 32],
  ['i686', 32],
  ['ia64', 64],
  ['lm32', 32],
  ['m68k', 32],
  ['microblaze', 32],
  ['microblazeel', 32],
  ['mips', 32],
  ['mipsel', 32],
  ['mips64', 64],
  ['mips64el', 64],
  ['openrisc', 32],
  ['parisc', 32],
  ['parisc64', 64],
  ['ppc', 32],
  ['ppcle', 32],
  ['ppc64', 64],
  ['ppc64le', 64],
  ['ppcemb', 32],
  ['riscv32', 32],
  ['riscv64', 64],
  ['s390', 32],
  ['s390x', 64],
  ['sh4', 32],
  ['sh4eb', 64],
  ['sparc', 32],
  ['sparc64', 64],
  ['unicore32', 32],
  ['x86_64', 64],
  ['xtensa', 32],
  ['xtensaeb', 32],
];

export function wordsize(arch: string): number {
  return ARCHES.find(([a]) => a === arch)?.[1] ?? 64;
}

/** Node's `process.arch` as a libvirt arch name. */
export function hostArch(): string {
  const a = nodeArch();
  return (
    (
      {
        x64: 'x86_64',
        ia32: 'i686',
        arm64: 'aarch64',
        arm: 'armv7l',
        ppc64: 'ppc64le',
        s390x: 's390x',
        riscv64: 'riscv64',
        mips: 'mips',
        mipsel: 'mipsel',
        loong64: 'loongarch64',
      } as Record<string, string>
    )[a] ?? a
  );
}

/** The QEMU target name for a libvirt arch (virQEMUCapsArchToString). */
export function qemuTarget(arch: string): string {
  if (arch === 'i686') return 'i386';
  if (arch === 'armv6l' || arch === 'armv7l') return 'arm';
  if (arch === 'openrisc') return 'or1k';
  return arch;
}

const isPpc64 = (a: string) => a === 'ppc64' || a === 'ppc64le';

export function guestIsNative(host: string, guest: string): boolean {
  return (
    host === guest ||
    (host === 'x86_64' && guest === 'i686') ||
    (host === 'aarch64' && guest === 'armv7l') ||
    (isPpc64(host) && isPpc64(guest))
  );
}

function findTarget(host: string, guest: string): string {
  if (guestIsNative(host, guest)) guest = host;
  if (isPpc64(guest)) guest = 'ppc64';
  return guest;
}

function isExecutableFile(path: string): boolean {
  try {
    const st = statSync(path);
    if (!st.isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** virFindFileInPath: an absolute name as is, else the first executable along PATH. */
export function findInPath(name: string, path: string): string | undefined {
  if (isAbsolute(name)) return isExecutableFile(name) ? name : undefined;
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const full = join(dir, name);
    if (isExecutableFile(full)) return full;
  }
  return undefined;
}

export interface EmulatorChoice {
  /** libvirt guest arch. */
  arch: string;
  osType: 'hvm' | 'xen';
  binary: string;
  /** How it was found: `path`, `target`, `libexec`, `legacy`. */
  via: 'path' | 'target' | 'libexec' | 'legacy';
}

export interface DiscoverOptions {
  /** Search path; default `process.env.PATH`. */
  path?: string;
  hostArch?: string;
  /** Where RHEL's `qemu-kvm` lives; default `/usr/libexec/qemu-kvm`. */
  libexecQemuKvm?: string;
  /** Whether /dev/kvm is usable: needed for the seed's xenner guests. */
  kvmUsable?: boolean;
}

/** One emulator per guest arch, as libvirt 9.0 picks them, plus the seed's legacy names. */
export function discoverEmulators(opts: DiscoverOptions = {}): EmulatorChoice[] {
  const path = opts.path ?? process.env.PATH ?? '/usr/bin:/bin';
  const host = opts.hostArch ?? hostArch();
  const libexec = opts.libexecQemuKvm ?? '/usr/libexec/qemu-kvm';
  const found: EmulatorChoice[] = [];
  for (const [guest] of ARCHES) {
    let binary: string | undefined;
    let via: EmulatorChoice['via'] = 'path';
    if (host === 'aarch64' && guest === 'armv7l')
      binary = findInPath(`qemu-system-${qemuTarget(host)}`, path);
    binary ??= findInPath(`qemu-system-${qemuTarget(guest)}`, path);
    const target = findTarget(host, guest);
    if (!binary && target !== guest) {
      binary = findInPath(`qemu-system-${qemuTarget(target)}`, path);
      via = 'target';
    }
    if (!binary && guestIsNative(host, guest)) {
      binary = findInPath(libexec, path);
      via = 'libexec';
    }
    // The seed's legacy names, only when nothing modern serves the arch.
    if (!binary && guest === 'i686') {
      binary = findInPath('qemu', path);
      via = 'legacy';
    }
    if (!binary && guestIsNative(host, guest)) {
      binary = findInPath('qemu-kvm', path);
      via = 'legacy';
    }
    if (binary) found.push({ arch: guest, osType: 'hvm', binary, via });
  }
  if (opts.kvmUsable) {
    const xenner = findInPath('xenner', path);
    if (xenner) found.push({ arch: host, osType: 'xen', binary: xenner, via: 'legacy' });
  }
  return found;
}

export interface KvmOptions {
  /** Default `/dev/kvm`. */
  device?: string;
  /** The QEMU user and group (qemu.conf `user`/`group`). */
  uid: number;
  gid: number;
  /** Ignored: the user's groups are looked up as libvirt's virGetGroupList does (kvm-access.ts). */
  groups?: number[];
}

export type KvmState = KvmAccess;

/** /dev/kvm present and read-write for the QEMU user, as libvirt decides (see kvm-access.ts). */
export function kvmState(opts: KvmOptions): KvmState {
  return kvmAccess({ uid: opts.uid, gid: opts.gid, ...(opts.device ? { device: opts.device } : {}) });
}
