/**
 * The start of every virtio `-device` (qemuBuildVirtioDevProps): the driver name from a base name,
 * the address type (`-pci`, `-device` for virtio-mmio, `-ccw`) and the (non-)transitional model,
 * then the virtio `<driver>` options (`iommu_platform`, `ats`, `packed`, `page-per-vq`).
 */
import { type Address, virReportError } from '@qvirt/core';
import { hasFlag } from '../caps/qemu-caps.js';
import type { QemuContext } from '../context.js';
import type { PropObject } from './props.js';

export interface VirtioOptions {
  iommu?: 'on' | 'off';
  ats?: 'on' | 'off';
  packed?: 'on' | 'off';
  page_per_vq?: 'on' | 'off';
}

const tristate = (v: 'on' | 'off' | undefined): boolean | undefined =>
  v === undefined ? undefined : v === 'on';

/**
 * The virtio driver name: `base-pci`, `base-pci-transitional`, … (qemuBuildVirtioDevGetConfig).
 * `model` is the device's model attribute (`virtio-transitional`, `virtio-non-transitional`).
 */
export function virtioDriverName(
  ctx: QemuContext,
  baseName: string,
  address: Address | undefined,
  model: string | undefined,
  useBusSuffix = true,
): string {
  let name = baseName;
  const type = address?.type;
  const impl =
    type === 'pci' ? 'pci' : type === 'virtio-mmio' ? 'device' : type === 'ccw' ? 'ccw' : undefined;
  if (!impl) {
    if (type && type !== 'none' && type !== 'unassigned') {
      throw virReportError('INTERNAL_ERROR', 'qemu', `Unexpected address type for '${baseName}'`);
    }
    throw virReportError(
      'INTERNAL_ERROR',
      'qemu',
      `Unexpected value for enum virDomainDeviceAddressType: ${type === 'unassigned' ? 12 : 0}`,
    );
  }
  if (useBusSuffix) name += `-${impl}`;
  const transitional = model === 'virtio-transitional';
  const nonTransitional = model === 'virtio-non-transitional';
  if (transitional || nonTransitional) {
    const supported = hasFlag(ctx.caps, 'virtio-pci-non-transitional');
    if (transitional) {
      if (supported) name += '-transitional';
    } else if (supported) {
      name += '-non-transitional';
    } else {
      throw virReportError(
        'CONFIG_UNSUPPORTED',
        'qemu',
        'virtio non-transitional model not supported for this qemu',
      );
    }
  }
  return name;
}

/** `{driver, iommu_platform, ats, packed, page-per-vq}` of a virtio device. */
export function virtioDevProps(
  ctx: QemuContext,
  baseName: string,
  dev: { address?: Address; model?: string; driver?: VirtioOptions },
  opts: { useBusSuffix?: boolean; virtioOptions?: VirtioOptions | null } = {},
): PropObject {
  const v = opts.virtioOptions === undefined ? dev.driver : (opts.virtioOptions ?? undefined);
  return {
    driver: virtioDriverName(ctx, baseName, dev.address, dev.model, opts.useBusSuffix ?? true),
    iommu_platform: tristate(v?.iommu),
    ats: tristate(v?.ats),
    packed: tristate(v?.packed),
    'page-per-vq': tristate(v?.page_per_vq),
  };
}
