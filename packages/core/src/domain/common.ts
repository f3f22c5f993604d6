/** Pieces shared by many device families: addresses, aliases, boot order, ACPI index. */
import type { Infer } from '../schema/schema.js';
import { element, one, variant } from '../schema/schema.js';
import { enumOf, hex, onOff, str, uint } from '../schema/value-types.js';

const pciAddress = element({
  attrs: {
    type: enumOf('pci'),
    domain: hex(4, { max: 0xffff }),
    // libvirt's virPCIDeviceAddressIsValid wording.
    bus: hex(2, {
      max: 0xff,
      aboveMax: (n) => `Invalid PCI address bus='0x${n.toString(16)}', must be <= 0xFF`,
    }),
    slot: hex(2, {
      max: 0x1f,
      aboveMax: (n) => `Invalid PCI address slot='0x${n.toString(16)}', must be <= 0x1F`,
    }),
    function: hex(1, {
      max: 7,
      aboveMax: (n) => `Invalid PCI address function=0x${n.toString(16)}, must be <= 7`,
    }),
    multifunction: onOff(),
  },
  children: { zpci: one(element({ attrs: { uid: hex(4), fid: hex(8) } })) },
});

const driveAddress = element({
  attrs: { type: enumOf('drive'), controller: uint(), bus: uint(), target: uint(), unit: uint() },
});
const virtioSerialAddress = element({
  attrs: { type: enumOf('virtio-serial'), controller: uint(), bus: uint(), port: uint() },
});
const ccidAddress = element({ attrs: { type: enumOf('ccid'), controller: uint(), slot: uint() } });
const usbAddress = element({ attrs: { type: enumOf('usb'), bus: uint(), port: str() } });
const spaprVioAddress = element({ attrs: { type: enumOf('spapr-vio'), reg: hex(8) } });
const ccwAddress = element({ attrs: { type: enumOf('ccw'), cssid: hex(1), ssid: hex(1), devno: hex(4) } });
const isaAddress = element({ attrs: { type: enumOf('isa'), iobase: hex(1), irq: hex(1) } });
const dimmAddress = element({ attrs: { type: enumOf('dimm'), slot: uint(), base: hex(1) } });
const unassignedAddress = element({ attrs: { type: enumOf('unassigned') } });
const otherAddress = element({ attrs: { type: str() } });

/** `<address>` in all its types (libvirt's virDomainDeviceInfoFormat order per type). */
export const address = variant(
  'type',
  {
    pci: pciAddress,
    drive: driveAddress,
    'virtio-serial': virtioSerialAddress,
    ccid: ccidAddress,
    usb: usbAddress,
    'spapr-vio': spaprVioAddress,
    ccw: ccwAddress,
    isa: isaAddress,
    dimm: dimmAddress,
    unassigned: unassignedAddress,
  },
  otherAddress,
);
export type Address = Infer<typeof address>;

export const alias = element({ attrs: { name: str() } });
export const boot = element({ attrs: { order: uint({ min: 1 }), loadparm: str() } });
export const acpi = element({ attrs: { index: uint() } });
export const rom = element({ attrs: { enabled: enumOf('yes', 'no'), bar: onOff(), file: str() } });
export const master = element({ attrs: { startport: uint() } });

/** The `<driver>` attributes every virtio device shares (virtio options). */
export const virtioOptions = {
  iommu: onOff(),
  ats: onOff(),
  packed: onOff(),
  page_per_vq: onOff(),
} as const;

/** Children that close most device elements, in libvirt's order (virDomainDeviceInfoFormat). */
export const deviceInfoChildren = {
  boot: one(boot),
  alias: one(alias),
  master: one(master),
  rom: one(rom),
  acpi: one(acpi),
  address: one(address),
} as const;

export type PciAddress = Infer<typeof pciAddress>;
export type DriveAddress = Infer<typeof driveAddress>;
export type VirtioSerialAddress = Infer<typeof virtioSerialAddress>;
export type CcidAddress = Infer<typeof ccidAddress>;
export type UsbAddress = Infer<typeof usbAddress>;
export type CcwAddress = Infer<typeof ccwAddress>;
export type IsaAddress = Infer<typeof isaAddress>;
export type DimmAddress = Infer<typeof dimmAddress>;

/** Narrowing helpers: `Address` keeps a fallback for unknown types, so `type ===` alone cannot. */
export const isPciAddress = (a: Address | undefined): a is PciAddress => a?.type === 'pci';
export const isDriveAddress = (a: Address | undefined): a is DriveAddress => a?.type === 'drive';
export const isVirtioSerialAddress = (a: Address | undefined): a is VirtioSerialAddress =>
  a?.type === 'virtio-serial';
export const isCcidAddress = (a: Address | undefined): a is CcidAddress => a?.type === 'ccid';
export const isUsbAddress = (a: Address | undefined): a is UsbAddress => a?.type === 'usb';
export const isCcwAddress = (a: Address | undefined): a is CcwAddress => a?.type === 'ccw';
export const isIsaAddress = (a: Address | undefined): a is IsaAddress => a?.type === 'isa';
export const isDimmAddress = (a: Address | undefined): a is DimmAddress => a?.type === 'dimm';
