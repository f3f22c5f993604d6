/**
 * QEMU's private /dev (libvirt's qemu_namespace.c, qemu.conf `namespaces = ["mount"]`): a tmpfs
 * holding only the nodes QEMU may use, made in QEMU's own mount namespace by the launch chain
 * (`unshare --mount --propagation private`, tmpfs, mknod, bind /dev/pts, `mount --move` onto
 * /dev). The host's /dev is never changed: nodes QEMU must open read-write (/dev/kvm, block
 * disks, host devices, render nodes) are made owned by QEMU's user in the copy, the way libvirt
 * chowns them inside the namespace.
 */
import type { HostPort, LaunchDevNode, LaunchPrivateDev } from '@qvirt/core';
import type { Ids } from './ids.js';

/** Mount points libvirt carries into the new /dev (qemuDomainGetPreservedMounts). */
export const PRESERVED_DEV_MOUNTS = ['/dev/pts', '/dev/shm', '/dev/mqueue', '/dev/hugepages'];

/** Nodes whose copy gets QEMU's user and group (libvirt grants /dev/kvm through DAC in the namespace). */
const OWNED_BY_QEMU = new Set(['/dev/kvm']);

// Linux's dev_t encoding (glibc gnu_dev_major/minor).
export function devMajor(rdev: number): number {
  return Number(((BigInt(rdev) >> 32n) & 0xfffff000n) | ((BigInt(rdev) >> 8n) & 0xfffn));
}
export function devMinor(rdev: number): number {
  return Number(((BigInt(rdev) >> 12n) & 0xffffff00n) | (BigInt(rdev) & 0xffn));
}

type DevHost = Pick<HostPort, 'stat' | 'exists'>;

/**
 * Build the private /dev: `acl` (qemu.conf `cgroup_device_acl`, libvirt's default list) with the
 * host's owner and mode, then `qemuNodes` (the domain's own nodes) owned by their `ids` (the
 * host's owner when absent).
 * Paths that are missing or not device nodes are left out (no /dev/kvm on a TCG host).
 */
export async function buildPrivateDev(
  host: DevHost,
  acl: readonly string[],
  qemuNodes: ReadonlyArray<{ path: string; ids?: Ids }>,
  qemu: Ids,
): Promise<LaunchPrivateDev> {
  const nodes = new Map<string, LaunchDevNode>();
  const add = async (path: string, ids: Ids | undefined) => {
    if (!path.startsWith('/dev/')) return;
    const st = await host.stat(path).catch(() => undefined);
    if (!st || !(st.isCharacterDevice || st.isBlockDevice)) return;
    nodes.set(path, {
      path,
      kind: st.isBlockDevice ? 'b' : 'c',
      major: devMajor(st.rdev),
      minor: devMinor(st.rdev),
      mode: st.mode & 0o7777,
      uid: ids?.uid ?? st.uid,
      gid: ids?.gid ?? st.gid,
    });
  };
  for (const path of acl) await add(path, OWNED_BY_QEMU.has(path) ? qemu : undefined);
  for (const n of qemuNodes) await add(n.path, n.ids);
  const binds: string[] = [];
  for (const m of PRESERVED_DEV_MOUNTS) if (await host.exists(m)) binds.push(m);
  return { nodes: [...nodes.values()], binds };
}
