import type { DomainDef } from '@qvirt/core';
import { VirError } from '@qvirt/core';
import { bytesToKiB, scaledToBytes } from '../../domain-util.js';

function kib(value: number | undefined, unit: string | undefined, element: string): number {
  const bytes = scaledToBytes(value ?? 0, unit);
  if (bytes === undefined)
    throw new VirError('XML_ERROR', 'domain', `XML error: unknown unit '${unit}' for <${element}>`);
  return Number(bytesToKiB(bytes));
}

/** `<memory>`, `<currentMemory>`, `<maxMemory>` in KiB; the balloon defaults to all of memory. */
export function memoryUnits(def: DomainDef): void {
  if (def.memory)
    def.memory = { ...def.memory, value: kib(def.memory.value, def.memory.unit, 'memory'), unit: 'KiB' };
  if (def.maxMemory) {
    def.maxMemory = {
      ...def.maxMemory,
      value: kib(def.maxMemory.value, def.maxMemory.unit, 'maxMemory'),
      unit: 'KiB',
    };
  }
  const total = def.memory?.value ?? 0;
  if (def.currentMemory) {
    const cur = kib(def.currentMemory.value, def.currentMemory.unit, 'currentMemory');
    def.currentMemory = { ...def.currentMemory, value: cur > total || cur === 0 ? total : cur, unit: 'KiB' };
  } else {
    def.currentMemory = { unit: 'KiB', value: total };
  }
}
