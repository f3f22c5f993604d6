/**
 * How the DAC driver turns core's path plan (domainSecurityPaths) into chowns: the items to give to
 * QEMU's user at start (virSecurityDACSetAllLabel) and to give back at stop
 * (virSecurityDACRestoreAllLabel). They differ on purpose, as in libvirt: readonly and shareable
 * disks are labelled but never restored (other domains may still use them), and only the top of
 * a backing chain has its owner remembered and restored.
 */
import type {
  DeviceSeclabelDef,
  DomainDef,
  SeclabelDef,
  SecurityChardev,
  SecurityImageSource,
} from '@qvirt/core';
import { imageChain } from '@qvirt/core';

export const MODEL = 'dac';

/** One chown: `label` (a `USER:GROUP` text) or the domain's ids when undefined. */
export interface SetItem {
  path: string;
  label?: string;
  remember: boolean;
  /** `dev`: a device node that a private /dev can carry instead of a host chown. */
  what: 'image' | 'file' | 'dev';
}

export interface RestoreItem {
  path: string;
  recall: boolean;
  what: 'image' | 'file' | 'dev';
}

/** relabel as libvirt defaults it: yes, except for `type='none'`. */
export function relabelOf(sec: { relabel?: 'yes' | 'no'; type?: string } | undefined): boolean {
  if (!sec) return true;
  if (sec.relabel !== undefined) return sec.relabel === 'yes';
  // libvirt's parser: static and none labels default to relabel='no', dynamic ones to 'yes'.
  return sec.type !== 'none' && sec.type !== 'static';
}

export function dacSeclabel(def: DomainDef): SeclabelDef | undefined {
  return def.seclabel?.find((s) => s.model === MODEL);
}

function deviceLabel(labels: readonly DeviceSeclabelDef[] | undefined): DeviceSeclabelDef | undefined {
  return labels?.find((s) => s.model === MODEL);
}

// ---------------------------------------------------------------------------------------------
// Disks (virSecurityDACSetImageLabelInternal / RestoreImageLabelSingle)

/** The owner label for one layer, `null` to skip it, undefined for the domain's image ids. */
export function imageLabelFor(
  src: SecurityImageSource,
  parent: SecurityImageSource | undefined,
): string | null | undefined {
  const own = deviceLabel(src.seclabels);
  if (own && (!relabelOf(own) || own.label !== undefined)) return relabelOf(own) ? own.label! : null;
  const up = parent ? deviceLabel(parent.seclabels) : undefined;
  if (up && (!relabelOf(up) || up.label !== undefined)) return relabelOf(up) ? up.label! : null;
  return undefined;
}

/** Layers libvirt's DAC driver can chown: local, not passed by fd. */
function localPath(src: SecurityImageSource): string | undefined {
  if (src.type !== 'file' && src.type !== 'block' && src.type !== 'dir') return undefined;
  return src.path || undefined;
}

export function imageSetItems(src: SecurityImageSource, chainTop: boolean, backingChain: boolean): SetItem[] {
  const out: SetItem[] = [];
  let top = chainTop;
  for (const layer of backingChain ? imageChain(src) : [src]) {
    const path = localPath(layer);
    const label = imageLabelFor(layer, src);
    if (path !== undefined && label !== null) {
      const item: SetItem = {
        path,
        remember: top && !layer.readonly && !layer.shared,
        what: layer.type === 'block' ? 'dev' : 'image',
      };
      if (label !== undefined) item.label = label;
      out.push(item);
    }
    top = false;
  }
  return out;
}

export function imageRestoreItems(src: SecurityImageSource): RestoreItem[] {
  if (src.readonly || src.shared) return [];
  const own = deviceLabel(src.seclabels);
  if (own && !relabelOf(own)) return [];
  const path = localPath(src);
  return path === undefined ? [] : [{ path, recall: true, what: src.type === 'block' ? 'dev' : 'image' }];
}

/** One chardev file: its `<seclabel model='dac'><label>` when it has one, else the process ids. */
export function chardevItem(e: {
  path: string;
  chardev: SecurityChardev;
  seclabel?: DeviceSeclabelDef;
}): SetItem {
  const item: SetItem = { path: e.path, remember: true, what: e.chardev.type === 'dev' ? 'dev' : 'file' };
  if (e.seclabel?.label !== undefined) item.label = e.seclabel.label;
  return item;
}

/** Sockets of `<graphics>` (VNC `socket=`, `<listen type='socket'>`): QEMU makes them. */
export function graphicsSockets(def: DomainDef): string[] {
  const out: string[] = [];
  for (const g of def.devices?.graphics ?? []) {
    const r = g as Record<string, any>;
    if (typeof r.socket === 'string' && r.socket) out.push(r.socket);
    for (const l of r.listens ?? []) if (l.type === 'socket' && l.socket) out.push(l.socket);
  }
  return [...new Set(out)];
}
