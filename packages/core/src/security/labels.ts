/**
 * Finding a model's labels in a definition: libvirt's virDomainDefGetSecurityLabelDef and
 * virDomain*GetSecurityLabelDef, plus the disk → virStorageSource view the image hooks take.
 */
import type { ChardevSourceDef } from '../domain/chardev.js';
import type { DomainDef } from '../domain/domain-xml.js';
import type { DeviceSeclabelDef, SeclabelDef } from '../domain/general.js';
import type { BackingStoreDef, DiskDef, StorageSourceDef, StorageType } from '../domain/storage.js';
import type { SecurityChardev, SecurityImageSource } from './driver.js';

/** The domain's `<seclabel>` for `model` (virDomainDefGetSecurityLabelDef). */
export function domainSeclabelFor(def: DomainDef, model: string): SeclabelDef | undefined {
  return def.seclabel?.find((s) => s.model === model);
}

/** A device's `<seclabel>` for `model` in a list of overrides. */
export function deviceSeclabelFor(
  labels: readonly DeviceSeclabelDef[] | undefined,
  model: string,
): DeviceSeclabelDef | undefined {
  return labels?.find((s) => s.model === model);
}

/** The chardev `<seclabel>` for `model` across the device's sources. */
export function chardevSeclabelFor(dev: SecurityChardev, model: string): DeviceSeclabelDef | undefined {
  for (const src of dev.source ?? []) {
    const found = (src as ChardevSourceDef).seclabel?.find((s) => s.model === model);
    if (found) return found;
  }
  return undefined;
}

function localPath(type: StorageType | undefined, src: StorageSourceDef | undefined): string | undefined {
  if (!src) return undefined;
  switch (type ?? 'file') {
    case 'file':
      return src.file;
    case 'block':
      return src.dev;
    case 'dir':
      return src.dir;
    default:
      return undefined;
  }
}

function layer(
  type: StorageType | undefined,
  src: StorageSourceDef | undefined,
  format: string | undefined,
  readonly: boolean,
  shared: boolean,
  backing: BackingStoreDef | undefined,
): SecurityImageSource {
  const out: SecurityImageSource = {
    type: type ?? 'file',
    readonly,
    shared,
    seclabels: src?.seclabel ?? [],
  };
  const path = localPath(type, src);
  if (path !== undefined) out.path = path;
  if (format !== undefined) out.format = format;
  // `<backingStore/>` without a type ends the chain.
  if (backing?.type !== undefined) {
    out.backingStore = layer(
      backing.type,
      backing.source,
      backing.format?.type,
      true,
      false,
      backing.backingStore,
    );
  }
  return out;
}

/** A disk as libvirt's virStorageSource chain: the top layer, then its backing stores (readonly). */
export function diskImageSource(disk: DiskDef): SecurityImageSource {
  const format = disk.driver?.type;
  return layer(
    disk.type,
    disk.source,
    format === 'aio' ? undefined : format,
    disk.readonly === true,
    disk.shareable === true,
    disk.backingStore,
  );
}

/** Every layer of a chain, top first. */
export function imageChain(src: SecurityImageSource): SecurityImageSource[] {
  const out: SecurityImageSource[] = [];
  for (let s: SecurityImageSource | undefined = src; s; s = s.backingStore) out.push(s);
  return out;
}
