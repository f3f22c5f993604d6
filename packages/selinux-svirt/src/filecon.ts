/**
 * Putting a context on a file and taking it back, with libvirt's rules
 * (virSecuritySELinuxSetFilecon, SetFileconImpl, RestoreFileLabel). The label is the file's
 * `security.selinux` extended attribute, which is what setfilecon(3) writes; on ext4, xfs and
 * btrfs it can be written and read even on a kernel without SELinux.
 *
 * - With `remember`, the first guest records the file's previous context in libvirt's xattrs and
 *   later ones only count themselves; one asking for another context is refused.
 * - A file system that cannot hold labels (EOPNOTSUPP, ENOTSUP) or is read-only (EROFS) is
 *   skipped, never fatal: the message names the way out (the `virt_use_nfs` boolean on NFS,
 *   a `context=` mount option elsewhere). Any other failure is fatal only when SELinux
 *   enforces (and, unprivileged, not for EPERM).
 * - Restore recalls the remembered context when the last user leaves, else the policy's default
 *   for the path (file_contexts); a path without a default keeps its label.
 */
import {
  type HostPort,
  type RememberStore,
  systemErrorText,
  virReportError,
  virReportSystemError,
  XATTRS_UNSUPPORTED,
} from '@qvirt/core';
import type { SELinuxKernel } from './kernel.js';
import type { FileContextLookup } from './policy.js';

export const SELINUX_XATTR = 'security.selinux';

const errnoOf = (err: unknown) => (err as NodeJS.ErrnoException | undefined)?.code ?? '';

/** File systems that cannot keep per-file labels; QEMU reaches them only through a mount option or a boolean. */
const NO_LABEL_FS = new Set([
  'nfs',
  'nfs4',
  'vfat',
  'msdos',
  'exfat',
  'ntfs',
  'ntfs3',
  'fuseblk',
  'cifs',
  'smb3',
]);

export type FsTypeOf = (path: string) => Promise<string | undefined>;

/** The type of the file system holding `path`, from /proc/self/mountinfo (the longest mount point above it). */
export function mountInfoFsType(host: Pick<HostPort, 'readFile' | 'realpath'>): FsTypeOf {
  return async (path) => {
    let real = path;
    for (let p = path; ; p = p.slice(0, Math.max(p.lastIndexOf('/'), 1))) {
      try {
        real = await host.realpath(p);
        break;
      } catch {
        if (p === '/') break;
      }
    }
    let text: string;
    try {
      text = await host.readFile('/proc/self/mountinfo');
    } catch {
      return undefined;
    }
    let best: { dir: string; type: string } | undefined;
    for (const line of text.split('\n')) {
      const [left, right] = line.split(' - ');
      const dir = left?.split(' ')[4]?.replace(/\\040/g, ' ');
      const type = right?.split(' ')[0];
      if (!dir || !type) continue;
      const under = dir === '/' || real === dir || real.startsWith(`${dir}/`);
      if (under && (!best || dir.length >= best.dir.length)) best = { dir, type };
    }
    return best?.type;
  };
}

export interface FileconDeps {
  host: HostPort;
  kernel: SELinuxKernel;
  store: RememberStore;
  privileged: boolean;
  fsType: FsTypeOf;
  defaultContext: FileContextLookup;
  info: (message: string) => void;
  warn: (message: string) => void;
}

/** `done`: labelled; `skipped`: could not be labelled, in a way that is not an error. */
export type FileconResult = 'done' | 'skipped';

export interface Filecon {
  /** getfilecon: the context, undefined when the file has none. Throws EOPNOTSUPP where labels are unsupported. */
  get(path: string): Promise<string | undefined>;
  set(path: string, tcon: string, remember: boolean): Promise<FileconResult>;
  restore(path: string, recall: boolean): Promise<void>;
}

export function filecon(deps: FileconDeps): Filecon {
  const { host, kernel, store } = deps;

  async function get(path: string): Promise<string | undefined> {
    return host.getxattr(path, SELINUX_XATTR);
  }

  /** virSecuritySELinuxSetFileconImpl */
  async function setImpl(path: string, tcon: string): Promise<FileconResult> {
    deps.info(`Setting SELinux context on '${path}' to '${tcon}'`);
    try {
      await host.setxattr(path, SELINUX_XATTR, tcon);
      return 'done';
    } catch (err) {
      const code = errnoOf(err);
      if (code !== 'EOPNOTSUPP' && code !== 'ENOTSUP' && code !== 'EROFS') {
        if ((await kernel.enforcing()) && (code !== 'EPERM' || deps.privileged)) {
          throw virReportSystemError(
            err,
            'security',
            `unable to set security context '${tcon}' on '${path}'`,
          );
        }
        deps.warn(`unable to set security context '${tcon}' on '${path}' (${systemErrorText(err)})`);
        return 'skipped';
      }
      const fs = code === 'EROFS' ? undefined : await deps.fsType(path);
      const enforcing = await kernel.enforcing();
      const say = enforcing ? deps.warn : deps.info;
      if ((fs === 'nfs' || fs === 'nfs4') && (await kernel.booleanActive('virt_use_nfs')) !== true) {
        say(`Setting security context '${tcon}' on '${path}' not supported. Consider setting virt_use_nfs`);
      } else if (fs !== undefined && NO_LABEL_FS.has(fs)) {
        say(
          `Setting security context '${tcon}' on '${path}' not supported by its ${fs} file system; ` +
            `mount it with context="${tcon}" to give QEMU access`,
        );
      } else {
        deps.info(`Setting security context '${tcon}' on '${path}' not supported`);
      }
      return 'skipped';
    }
  }

  async function restore(path: string, recall: boolean): Promise<void> {
    deps.info(`Restoring SELinux context on '${path}'`);
    let real: string;
    try {
      real = await host.realpath(path);
    } catch (err) {
      deps.warn(`cannot resolve symlink ${path}: ${systemErrorText(err)}`);
      throw virReportSystemError(err, 'security', `cannot resolve symlink ${path}`);
    }
    let fcon: string | undefined;
    let recalled = false;
    if (recall) {
      const got = await store.get(real);
      if (got === null) return; // still used by another guest
      if (got !== XATTRS_UNSUPPORTED) {
        fcon = got;
        recalled = true;
      }
    }
    if (!recalled) {
      let mode: number;
      try {
        mode = (await host.stat(real)).mode;
      } catch (err) {
        deps.warn(`cannot stat ${real}: ${systemErrorText(err)}`);
        throw virReportSystemError(err, 'security', `cannot stat ${real}`);
      }
      fcon = await deps.defaultContext(real, mode);
      if (fcon === undefined) {
        // A path the user made likely has no default label: not an error.
        deps.warn(`cannot lookup default selinux label for ${real}`);
        return;
      }
    }
    await setImpl(real, fcon!);
  }

  /** virSecuritySELinuxSetFilecon */
  async function set(path: string, tcon: string, remember: boolean): Promise<FileconResult> {
    let rollback = false;
    try {
      if (remember) {
        let econ: string | undefined;
        try {
          econ = await get(path);
        } catch (err) {
          const code = errnoOf(err);
          if (code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENODATA') {
            throw virReportSystemError(err, 'security', `unable to get SELinux context of ${path}`);
          }
        }
        if (econ !== undefined) {
          const refcount = await store.set(path, econ);
          if (refcount !== XATTRS_UNSUPPORTED) {
            rollback = true;
            if (refcount > 1 && econ !== tcon) {
              throw virReportError(
                'OPERATION_INVALID',
                'security',
                `Setting different SELinux label on ${path} which is already in use`,
              );
            }
          }
        }
      }
      const rc = await setImpl(path, tcon);
      // Nothing changed: nothing to give back.
      if (rc === 'skipped') rollback = false;
      if (rc === 'skipped' && remember) await undoRemember(path);
      return rc;
    } catch (err) {
      if (rollback) {
        await restore(path, remember).catch(() =>
          deps.warn(
            `Unable to restore label on '${path}'. XATTRs might have been left in inconsistent state.`,
          ),
        );
      }
      throw err;
    }
  }

  /**
   * A skipped label leaves the count libvirt added behind (it only rolls back on errors); give it
   * back so the file does not look in use forever.
   */
  async function undoRemember(path: string): Promise<void> {
    await store.get(path).catch(() => undefined);
  }

  return { get, set, restore };
}
