import type { DomainDef } from '@qvirt/core';
import { referenceContext } from '../context.js';
import { canonicalizeDomain } from '../post-parse/index.js';

/**
 * Without `-nodefaults` or `-vga none`, a legacy QEMU creates its default VGA card in PCI slot 2
 * even with `-nographic`, so the guest saw its other PCI devices from slot 3 on. libvirt 9.0 would
 * hand slot 2 to the first of them, which the guest would notice.
 */
export function legacyVgaHoldsSlot2(def: DomainDef, args: string[]): boolean {
  if (args.includes('-nodefaults')) return false;
  const vga = args.lastIndexOf('-vga');
  if (vga >= 0 && args[vga + 1] === 'none') return false;
  return !def.devices?.video?.length;
}

type WithAddress = { address?: unknown };
const PCI_FAMILIES = ['disk', 'interface', 'hostdev', 'sound', 'watchdog'] as const;

/** Pins the PCI addresses the guest had, found by assigning them with slot 2 held by a VGA card. */
export function pinPciLayout(def: DomainDef): void {
  const probe = structuredClone(def);
  probe.name ||= 'imported';
  probe.devices = { ...probe.devices, video: [{ model: { type: 'cirrus' } }] };
  let placed: DomainDef;
  try {
    placed = canonicalizeDomain(probe, referenceContext());
  } catch {
    return; // the definition will be refused at define anyway, with its own message
  }
  for (const family of PCI_FAMILIES) {
    const mine = (def.devices?.[family] ?? []) as WithAddress[];
    const theirs = (placed.devices?.[family] ?? []) as WithAddress[];
    const match = (i: number): WithAddress | undefined =>
      family === 'disk'
        ? (theirs as Array<WithAddress & { target?: { dev?: string } }>).find(
            (d) => d.target?.dev === (mine[i] as { target?: { dev?: string } }).target?.dev,
          )
        : theirs[i];
    mine.forEach((dev, i) => {
      const address = match(i)?.address as { type?: string } | undefined;
      if (!dev.address && address?.type === 'pci') dev.address = address;
    });
  }
}
