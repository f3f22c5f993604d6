import type { PostParseStep } from './index.js';
import { addressDefaults, ccidAddresses, dimmAddresses, spaprVioAddresses } from './steps/address-misc.js';
import { usbAddresses } from './steps/address-usb.js';
import { virtioSerialAddresses } from './steps/address-virtio-serial.js';
import { driveAddresses } from './steps/drive-addresses.js';
import { pciAddresses } from './steps/pci-addresses.js';

/**
 * Address assignment, in libvirt's order: drive addresses and CCID slots (device post-parse and
 * implicit devices), then qemuDomainAssignAddresses: virtio-serial, PCI, USB, memory slots.
 */
export const ADDRESS_STEPS: PostParseStep[] = [
  addressDefaults,
  driveAddresses,
  ccidAddresses,
  virtioSerialAddresses,
  spaprVioAddresses,
  pciAddresses,
  usbAddresses,
  dimmAddresses,
];
