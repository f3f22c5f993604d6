/**
 * The driver's view of device `<seclabel model='selinux'>` overrides and shared file systems; the
 * paths themselves come from core's path plan (domainSecurityPaths).
 */
import type { DeviceSeclabelDef } from '@qvirt/core';
import { deviceSeclabelFor } from '@qvirt/core';

export const MODEL = 'selinux';

/** A device `<seclabel>` relabels unless it says relabel='no'. */
export function deviceRelabel(d: DeviceSeclabelDef | undefined): boolean {
  return d?.relabel !== 'no';
}

export function ownLabel(labels: readonly DeviceSeclabelDef[] | undefined): DeviceSeclabelDef | undefined {
  return deviceSeclabelFor(labels, MODEL);
}

/** File systems libvirt treats as shared between hosts (virFileIsSharedFS). */
export const SHARED_FS = new Set([
  'nfs',
  'nfs4',
  'gfs2',
  'ocfs2',
  'afs',
  'cifs',
  'smb3',
  'ceph',
  'gpfs',
  'fuse.glusterfs',
  'fuse.quobyte',
  'beegfs',
]);
