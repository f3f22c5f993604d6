/**
 * Device nodes in QEMU's private /dev at hotplug (libvirt's qemuDomainNamespaceSetupDisk /
 * TeardownDisk, qemu_namespace.c): a block or character device a hotplugged device names is made
 * in QEMU's mount namespace, with the host node's type, numbers and mode, before it is labelled
 * (the labels of a namespaced QEMU are applied inside it) and removed when the device goes.
 * Nothing is done for a QEMU that shares the host's /dev or for paths that are no device nodes.
 */
import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { promisify } from 'node:util';
import { virReportError } from '@qvirt/core';
import type { Step } from './hotplug-steps.js';

const run = promisify(execFile);

// Linux's dev_t encoding (glibc gnu_dev_major/minor)
const major = (rdev: number) =>
  Number(((BigInt(rdev) >> 32n) & 0xfffff000n) | ((BigInt(rdev) >> 8n) & 0xfffn));
const minor = (rdev: number) => Number(((BigInt(rdev) >> 12n) & 0xffffff00n) | (BigInt(rdev) & 0xffn));

/** True when QEMU `pid` has a /dev of its own (a mount namespace, qemu.conf `namespaces`). */
function privateDev(pid: number): boolean {
  try {
    return statSync(`/proc/${pid}/root/dev`).dev !== statSync('/dev').dev;
  } catch {
    return false;
  }
}

const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

async function inNamespace(pid: number, script: string): Promise<void> {
  try {
    await run('nsenter', ['--target', String(pid), '--mount', '--', '/bin/sh', '-c', script]);
  } catch (err) {
    const detail = String((err as { stderr?: string }).stderr ?? (err as Error).message).trim();
    throw virReportError(
      'INTERNAL_ERROR',
      'qemu',
      `internal error: unable to create device node in the domain's namespace: ${detail}`,
    );
  }
}

/**
 * The steps that make `paths`' device nodes in QEMU's /dev (none when not namespaced), owned by
 * `owner` (QEMU's ids from the DAC label: libvirt chowns the copy, never the host's node).
 */
export function namespaceNodeSteps(
  pid: number | undefined,
  paths: (string | undefined)[],
  owner?: { uid: number; gid: number },
): Step[] {
  if (!pid || !privateDev(pid)) return [];
  const steps: Step[] = [];
  for (const path of paths) {
    if (!path?.startsWith('/dev/')) continue;
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(path);
    } catch {
      continue;
    }
    if (!st.isBlockDevice() && !st.isCharacterDevice()) continue;
    // already there (made at start, or by another device using it): leave it to its owner
    if (existsSync(`/proc/${pid}/root${path}`)) continue;
    const kind = st.isBlockDevice() ? 'b' : 'c';
    const dir = path.slice(0, path.lastIndexOf('/'));
    steps.push({
      name: `create ${path} in the domain's namespace`,
      run: () =>
        inNamespace(
          pid,
          `mkdir -p ${sq(dir)} && mknod ${sq(path)} ${kind} ${major(st.rdev)} ${minor(st.rdev)} && chmod ${(st.mode & 0o7777).toString(8)} ${sq(path)} && chown ${owner?.uid ?? st.uid}:${owner?.gid ?? st.gid} ${sq(path)}`,
        ),
      undo: () => inNamespace(pid, `rm -f ${sq(path)}`),
    });
  }
  return steps;
}

/** qemuDomainNamespaceTeardownDisk: the node goes from QEMU's /dev (best effort). */
export async function removeNamespaceNodes(
  pid: number | undefined,
  paths: (string | undefined)[],
): Promise<void> {
  if (!pid || !privateDev(pid)) return;
  for (const path of paths) {
    if (!path?.startsWith('/dev/') || !existsSync(`/proc/${pid}/root${path}`)) continue;
    await inNamespace(pid, `rm -f ${sq(path)}`).catch(() => {});
  }
}

/** QEMU's ids from a definition's DAC `<seclabel>` (`+uid:+gid`), when it has one. */
export function dacOwner(def: { seclabel?: unknown[] }): { uid: number; gid: number } | undefined {
  for (const l of (def.seclabel ?? []) as { model?: string; label?: string; imagelabel?: string }[]) {
    if (l.model !== 'dac') continue;
    const m = /^\+?(\d+):\+?(\d+)$/.exec(l.imagelabel ?? l.label ?? '');
    if (m) return { uid: Number(m[1]), gid: Number(m[2]) };
  }
  return undefined;
}
