import type { ConformanceSet } from '../set.js';
import { qemuConfSet } from './qemu-conf.js';
import { xmlRoundtripSet } from './xml-roundtrip.js';

/** Every set the runner knows, in the order it prints them. */
export const allSets: ConformanceSet[] = [xmlRoundtripSet, qemuConfSet];
