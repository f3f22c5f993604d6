/**
 * CPU sets as libvirt writes them (virBitmapParse / virBitmapFormat: "0-3,^2,8") and as the API
 * passes them (a byte map, CPU n at bit n % 8 of byte n / 8: VIR_CPU_USABLE / VIR_USE_CPU).
 */
import { VirError } from '@qvirt/core';

/** virBitmapParse: the CPUs of `text`, refusing what libvirt refuses. */
export function parseCpuset(text: string, max = 8192): number[] {
  const on = new Set<number>();
  const off = new Set<number>();
  const bad = () => new VirError('INVALID_ARG', 'none', `Failed to parse bitmap '${text}'`);
  for (const raw of text.split(',')) {
    const part = raw.trim();
    if (part === '') throw bad();
    const neg = part.startsWith('^');
    const m = /^(\d+)(?:-(\d+))?$/.exec(neg ? part.slice(1) : part);
    if (!m) throw bad();
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a || b >= max || (neg && m[2] !== undefined)) throw bad();
    for (let c = a; c <= b; c++) (neg ? off : on).add(c);
  }
  return [...on].filter((c) => !off.has(c)).sort((x, y) => x - y);
}

/** virBitmapFormat: ranges of consecutive CPUs ("0-3,5"). */
export function formatCpuset(cpus: Iterable<number>): string {
  const sorted = [...new Set(cpus)].sort((a, b) => a - b);
  const out: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    out.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return out.join(',');
}

/** The CPUs a byte map names (at most `ncpus` of them, when given). */
export function cpusOfMap(map: Uint8Array, ncpus = map.length * 8): number[] {
  const cpus: number[] = [];
  for (let c = 0; c < Math.min(ncpus, map.length * 8); c++) if (map[c >> 3]! & (1 << (c & 7))) cpus.push(c);
  return cpus;
}

/** A byte map of `maplen` bytes with `cpus` set (those beyond it dropped, as libvirt's copy does). */
export function mapOfCpus(cpus: Iterable<number>, maplen: number): Uint8Array {
  const map = new Uint8Array(maplen);
  for (const c of cpus) if (c >= 0 && c < maplen * 8) map[c >> 3]! |= 1 << (c & 7);
  return map;
}
