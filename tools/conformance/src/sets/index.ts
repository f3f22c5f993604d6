import type { ConformanceSet } from '../set.js';
import { aaHelperSet } from './aa-helper.js';
import { argvRoundtripSet } from './argv-roundtrip.js';
import { argv2xmlSet } from './argv2xml.js';
import { qemuConfSet } from './qemu-conf.js';
import { selinuxLabelsSet } from './selinux-labels.js';
import { xmlRoundtripSet } from './xml-roundtrip.js';
import { xml2argvSet } from './xml2argv.js';
import { xml2xmlSet } from './xml2xml.js';

/** Every set the runner knows, in the order it prints them. */
export const allSets: ConformanceSet[] = [
  xmlRoundtripSet,
  qemuConfSet,
  xml2xmlSet,
  xml2argvSet,
  argv2xmlSet,
  argvRoundtripSet,
  selinuxLabelsSet,
  aaHelperSet,
];
