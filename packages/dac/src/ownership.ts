/**
 * chown with libvirt's rules (security_dac.c virSecurityDACSetOwnership,
 * virSecurityDACRestoreFileLabelInternal, virSecurityDACSetOwnershipInternal):
 * - a path that already has the owner is left alone;
 * - EPERM, EROFS, EOPNOTSUPP and EINVAL from chown are tolerated (NFS root_squash, read-only
 *   media) and reported to `onInfo`, anything else fails with libvirt's message;
 * - with `remember`, the first domain to take a path records its owner in xattrs, later ones
 *   only count themselves, and one asking for a different owner than the running ones is refused;
 * - restore recalls that owner when the last user leaves, and falls back to root:root when nothing
 *   was remembered (libvirt's default).
 */
import { type HostPort, type RememberStore, VirError, virReportError, XATTRS_UNSUPPORTED } from '@qvirt/core';
import { formatIds, type Ids, parseOwnershipIds } from './ids.js';

export type OwnershipHost = Pick<HostPort, 'stat' | 'chown' | 'lookupUser' | 'lookupGroup'>;

export interface Ownership {
  /** Give `path` to `ids`; with `remember`, record the previous owner first. */
  setOwnership(path: string, ids: Ids, remember: boolean): Promise<void>;
  /** Give `path` back: the remembered owner when `recall` and the last user leaves, else root. */
  restoreFileLabel(path: string, recall: boolean): Promise<void>;
}

const TOLERATED: Record<string, string> = {
  EOPNOTSUPP: 'not supported by filesystem',
  ENOTSUP: 'not supported by filesystem',
  EINVAL: 'not supported by filesystem',
  EPERM: 'not permitted',
  EROFS: 'not possible on readonly filesystem',
};

function reason(err: unknown): string {
  return (err as Error | undefined)?.message ?? String(err);
}

export function ownership(
  host: OwnershipHost,
  store: RememberStore,
  onInfo: (message: string) => void = () => {},
): Ownership {
  /** virSecurityDACSetOwnershipInternal */
  async function chownInternal(path: string, ids: Ids): Promise<void> {
    let st: Awaited<ReturnType<OwnershipHost['stat']>>;
    try {
      st = await host.stat(path);
    } catch (err) {
      throw new VirError('SYSTEM_ERROR', 'security', `unable to stat: ${path}: ${reason(err)}`, {
        cause: err,
      });
    }
    if (st.uid === ids.uid && st.gid === ids.gid) return;
    try {
      await host.chown(path, ids.uid, ids.gid);
    } catch (err) {
      const why = TOLERATED[(err as NodeJS.ErrnoException).code ?? ''];
      if (why === undefined) {
        throw new VirError(
          'SYSTEM_ERROR',
          'security',
          `unable to set user and group to '${ids.uid}:${ids.gid}' on '${path}': ${reason(err)}`,
          { cause: err },
        );
      }
      onInfo(`Setting user and group to '${ids.uid}:${ids.gid}' on '${path}' ${why}`);
    }
  }

  async function restoreFileLabel(path: string, recall: boolean): Promise<void> {
    let ids: Ids = { uid: 0, gid: 0 };
    if (recall) {
      const label = await store.get(path);
      if (label === null) return; // still used by another domain
      // A remembered label is always numeric ("+N:+N"), but libvirt parses it like any label.
      if (label !== XATTRS_UNSUPPORTED) ids = await parseOwnershipIds(host, label);
    }
    onInfo(`Restoring DAC user and group on '${path}' to ${ids.uid}:${ids.gid}`);
    await chownInternal(path, ids);
  }

  async function setOwnership(path: string, ids: Ids, remember: boolean): Promise<void> {
    let remembered = false;
    try {
      if (remember) {
        let st: Awaited<ReturnType<OwnershipHost['stat']>>;
        try {
          st = await host.stat(path);
        } catch (err) {
          throw new VirError('SYSTEM_ERROR', 'security', `unable to stat: ${path}: ${reason(err)}`, {
            cause: err,
          });
        }
        const refcount = await store.set(path, formatIds({ uid: st.uid, gid: st.gid }));
        remembered = refcount !== XATTRS_UNSUPPORTED;
        if (refcount !== XATTRS_UNSUPPORTED && refcount > 1 && (st.uid !== ids.uid || st.gid !== ids.gid)) {
          throw virReportError(
            'OPERATION_INVALID',
            'security',
            `Setting different DAC user or group on ${path} which is already in use`,
          );
        }
      }
      onInfo(`Setting DAC user and group on '${path}' to '${ids.uid}:${ids.gid}'`);
      await chownInternal(path, ids);
    } catch (err) {
      // Leave the xattrs as they were when we came in (libvirt's error path in SetOwnership).
      if (remembered) {
        await restoreFileLabel(path, true).catch(() =>
          onInfo(`Unable to restore label on '${path}'. XATTRs might have been left in inconsistent state.`),
        );
      }
      throw err;
    }
  }

  return { setOwnership, restoreFileLabel };
}
