/**
 * The pre-flight check the seed advised in prose: before QEMU starts as a non-root user, every
 * directory above a file it must open has to let that user through (search permission, `x`).
 * Otherwise the start fails here, naming the directory and the fix, instead of QEMU failing
 * later with a bare "Permission denied" (a classic: images under /root or a 0700 home).
 *
 * Decided from the mode bits like the kernel does for a process without CAP_DAC_OVERRIDE:
 * owner bits if the uid owns the directory, else group bits if the gid or a supplementary group
 * owns it, else the other bits. A directory with a POSIX ACL is given the benefit of the doubt
 * (the ACL may grant what the bits deny); QEMU reports it if not.
 */
import type { HostPort, HostStat } from '@qvirt/core';
import { VirError } from '@qvirt/core';

export interface Credentials {
  uid: number;
  gid: number;
  groups: number[];
}

type TraverseHost = Pick<HostPort, 'stat' | 'listxattr'>;

function ancestors(path: string): string[] {
  const parts = path.split('/').filter(Boolean);
  const out = ['/'];
  for (let i = 1; i < parts.length; i++) out.push(`/${parts.slice(0, i).join('/')}`);
  return out;
}

function canSearch(st: HostStat, who: Credentials): boolean {
  if (who.uid === 0) return true;
  if (st.uid === who.uid) return (st.mode & 0o100) !== 0;
  if (st.gid === who.gid || who.groups.includes(st.gid)) return (st.mode & 0o010) !== 0;
  return (st.mode & 0o001) !== 0;
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

export interface TraverseTarget {
  path: string;
  /** `storage file` for disks (libvirt's wording), `file` otherwise. */
  noun: 'storage file' | 'file';
}

/**
 * Throw for the first target whose directories the user cannot pass. Paths that do not exist
 * are skipped (QEMU, or the rest of the start, reports them with their own message).
 */
export async function checkTraversal(
  host: TraverseHost,
  targets: readonly TraverseTarget[],
  who: Credentials,
): Promise<void> {
  if (who.uid === 0) return;
  const seen = new Map<string, HostStat | null>();
  const statDir = async (dir: string): Promise<HostStat | null> => {
    if (!seen.has(dir)) seen.set(dir, await host.stat(dir).catch(() => null));
    return seen.get(dir)!;
  };
  for (const t of targets) {
    if (!t.path.startsWith('/')) continue;
    for (const dir of ancestors(t.path)) {
      const st = await statDir(dir);
      if (!st?.isDirectory || canSearch(st, who)) continue;
      const acl = await host.listxattr(dir).catch(() => [] as string[]);
      if (acl.includes('system.posix_acl_access')) continue;
      throw new VirError(
        'SYSTEM_ERROR',
        'security',
        `Cannot access ${t.noun} '${t.path}' (as uid:${who.uid}, gid:${who.gid}): Permission denied: ` +
          `directory '${dir}' (owner ${st.uid}:${st.gid}, mode ${octal(st.mode)}) does not let that user through; ` +
          `fix: chmod o+x ${dir}, or give the directory to that user or group`,
      );
    }
  }
}
