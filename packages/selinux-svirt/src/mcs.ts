/**
 * MCS category pairs: libvirt's virSecuritySELinuxMCSGetProcessRange, MCSFind, MCSAdd and
 * MCSRemove. Each running guest gets `SENS:cA,cB` with A<B drawn at random from the daemon's
 * own category range; a pair is never handed out twice while it is reserved.
 */
import { VirError, virReportError } from '@qvirt/core';
import { parseContext } from './context.js';

export interface McsRange {
  /** The sensitivity lower bound, e.g. `s0`. */
  sens: string;
  catMin: number;
  catMax: number;
}

const cannotParse = (cat: string) =>
  virReportError('INTERNAL_ERROR', 'security', `Cannot parse category in ${cat}`);

/**
 * The range MCS pairs are drawn from, given the daemon's context. Copes with
 * `…:virtd_t` (s0, c0.c1023), `…:s0`, `…:s0-s0` (c0.c1023 assumed) and `…:s0-s0:c0.c1023`;
 * only the lower sensitivity is kept.
 */
export function processRange(daemonContext: string): McsRange {
  const ctx = parseContext(daemonContext);
  if (!ctx) {
    throw new VirError(
      'SYSTEM_ERROR',
      'security',
      `Unable to parse current SELinux context '${daemonContext}'`,
    );
  }
  let sens = ctx.range ?? 's0';
  let cat: string | undefined;
  const colon = sens.indexOf(':');
  if (colon >= 0) {
    cat = sens.slice(colon + 1);
    sens = sens.slice(0, colon);
  }
  const dash = sens.indexOf('-');
  if (dash >= 0) sens = sens.slice(0, dash);
  if (cat === undefined) return { sens, catMin: 0, catMax: 1023 };

  const m = /^c([+-]?\d+)(.*)$/.exec(cat);
  if (!m) throw cannotParse(cat);
  const catMin = Number(m[1]);
  const rest = m[2]!;
  if (rest === '') {
    throw virReportError('INTERNAL_ERROR', 'security', 'No category range available');
  }
  const max = /^\.c([+-]?\d+)/.exec(rest);
  if (!max) throw cannotParse(cat);
  return { sens, catMin, catMax: Number(max[1]) };
}

/** A uniform integer in [0, n) (virRandomInt). */
export type RandomInt = (n: number) => number;

export const defaultRandomInt: RandomInt = (n) => Math.floor(Math.random() * n);

export interface McsPool {
  /** virSecuritySELinuxMCSFind: a free pair in the range (not reserved by this call). */
  find(range: McsRange): string;
  /** virSecuritySELinuxMCSAdd: false when it was already reserved. */
  add(mcs: string): boolean;
  remove(mcs: string): void;
  has(mcs: string): boolean;
  /** Every reserved level. */
  readonly reserved: ReadonlySet<string>;
}

export function mcsPool(random: RandomInt = defaultRandomInt): McsPool {
  const reserved = new Set<string>();
  return {
    find({ sens, catMin, catMax }) {
      const catRange = catMax - catMin + 1;
      if (catRange < 8) {
        throw virReportError('INTERNAL_ERROR', 'security', `Category range c${catMin}-c${catMax} too small`);
      }
      // Every pair taken would loop forever in libvirt; say so instead.
      const pairs = (catRange * (catRange - 1)) / 2;
      const inRange = [...reserved].filter((l) => {
        const m = /^(.*):c(\d+),c(\d+)$/.exec(l);
        return m?.[1] === sens && Number(m[2]) >= catMin && Number(m[3]) <= catMax;
      }).length;
      if (inRange >= pairs) {
        throw virReportError(
          'INTERNAL_ERROR',
          'security',
          `No free MCS category pair left in ${sens}:c${catMin}.c${catMax}`,
        );
      }
      for (;;) {
        let c1 = random(catRange);
        let c2 = random(catRange);
        // Equal categories would be a subset of every pair holding that category.
        if (c1 === c2) continue;
        if (c1 > c2) [c1, c2] = [c2, c1];
        const mcs = `${sens}:c${catMin + c1},c${catMin + c2}`;
        if (!reserved.has(mcs)) return mcs;
      }
    },
    add(mcs) {
      if (reserved.has(mcs)) return false;
      reserved.add(mcs);
      return true;
    },
    remove(mcs) {
      reserved.delete(mcs);
    },
    has: (mcs) => reserved.has(mcs),
    reserved,
  };
}
