/** `<rom>` of a PCI device as `rombar`/`romfile` (qemuBuildRomProps). */
import { virReportError } from '@qvirt/core';
import type { PropObject } from '../props.js';

interface WithRom {
  rom?: { enabled?: 'yes' | 'no'; bar?: 'on' | 'off'; file?: string };
  address?: { type?: string };
}

export function romProps(dev: WithRom): PropObject {
  const rom = dev.rom;
  if (!rom || (rom.enabled === undefined && rom.bar === undefined && rom.file === undefined)) return {};
  if (dev.address?.type !== 'pci') {
    throw virReportError('CONFIG_UNSUPPORTED', 'qemu', 'ROM tuning is only supported for PCI devices');
  }
  if (rom.enabled === 'no') return { romfile: '' };
  return {
    rombar: rom.bar === undefined ? undefined : rom.bar === 'on' ? 1 : 0,
    romfile: rom.file,
  };
}
