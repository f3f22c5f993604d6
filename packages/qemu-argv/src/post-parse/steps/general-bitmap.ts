/**
 * libvirt's bitmap strings (virBitmapParse / virBitmapFormat): CPU and node sets such as
 * `0-5,^4` are read into a set of bits and written back as sorted ranges (`0-3,5`).
 */
import { type VirError, virReportError } from '@qvirt/core';

/** VIR_DOMAIN_CPUMASK_LEN: the bitmaps of CPU and node sets have this many bits. */
export const CPUMASK_LEN = 16384;

function failed(str: string): VirError {
  return virReportError('INVALID_ARG', 'domain', `Failed to parse bitmap '${str}'`);
}

/** The set bits of a libvirt bitmap string; `limit` bounds the bit numbers (exclusive). */
export function parseBitmap(str: string, limit: number = CPUMASK_LEN): Set<number> {
  const bits = new Set<number>();
  let i = 0;
  const spaces = (): void => {
    while (i < str.length && /\s/.test(str[i]!)) i++;
  };
  const number = (): number => {
    const m = /^[+-]?\d+/.exec(str.slice(i));
    if (!m) throw failed(str);
    i += m[0].length;
    const n = Number(m[0]);
    if (!Number.isSafeInteger(n) || n > 2147483647) throw failed(str);
    return n;
  };
  const set = (n: number, on: boolean): void => {
    if (n >= limit) throw failed(str);
    if (on) bits.add(n);
    else bits.delete(n);
  };
  spaces();
  if (i >= str.length) throw failed(str);
  while (i < str.length) {
    let neg = false;
    if (str[i] === '^') {
      i++;
      neg = true;
    }
    if (!/\d/.test(str[i] ?? '')) throw failed(str);
    const start = number();
    if (start < 0) throw failed(str);
    spaces();
    if (str[i] === ',' || i >= str.length) {
      set(start, !neg);
    } else if (str[i] === '-') {
      if (neg) throw failed(str);
      i++;
      spaces();
      const last = number();
      if (last < start) throw failed(str);
      for (let n = start; n <= last; n++) set(n, true);
      spaces();
    }
    if (str[i] === ',') {
      i++;
      spaces();
    } else if (i >= str.length) {
      break;
    } else {
      throw failed(str);
    }
  }
  return bits;
}

/** Sorted ranges: `0-3,5`; the empty set is the empty string. */
export function formatBitmap(bits: Iterable<number>): string {
  const sorted = [...new Set(bits)].sort((a, b) => a - b);
  const parts: string[] = [];
  let k = 0;
  while (k < sorted.length) {
    const start = sorted[k]!;
    let end = start;
    while (k + 1 < sorted.length && sorted[k + 1] === end + 1) end = sorted[++k]!;
    parts.push(start === end ? `${start}` : `${start}-${end}`);
    k++;
  }
  return parts.join(',');
}

/** A bitmap string as libvirt writes it back. */
export function canonicalBitmap(str: string, limit: number = CPUMASK_LEN): string {
  return formatBitmap(parseBitmap(str, limit));
}
