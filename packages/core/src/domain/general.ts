// Placeholder declarations: kept lossless through $extra until each family is modelled.
import { element, leaf, one, raw } from '../schema/schema.js';
import { str, uint } from '../schema/value-types.js';

const open = () => element({});
export const metadata = raw();
export const maxMemory = element({ attrs: { slots: uint(), unit: str() }, text: uint() });
export const memory = element({ attrs: { unit: str(), dumpCore: str() }, text: uint() });
export const currentMemory = element({ attrs: { unit: str() }, text: uint() });
export const blkiotune = open();
export const memtune = open();
export const memoryBacking = open();
export const vcpu = element({ attrs: { placement: str(), cpuset: str(), current: uint() }, text: uint() });
export const vcpus = open();
export const iothreads = leaf(uint());
export const iothreadids = open();
export const cputune = open();
export const numatune = open();
export const resource = open();
export const sysinfo = element({ attrs: { type: str() } });
export const os = element({
  children: { type: one(element({ attrs: { arch: str(), machine: str() }, text: str() })) },
});
export const idmap = open();
export const features = open();
export const cpu = open();
export const clock = element({ attrs: { offset: str() } });
export const pm = open();
export const perf = open();
export const seclabel = element({ attrs: { type: str(), model: str(), relabel: str() } });
export const keywrap = open();
export const launchSecurity = element({ attrs: { type: str() } });
export const qemuCommandline = open();
export const qemuCapabilities = open();
export const qemuOverride = open();
export const qemuDeprecation = element({ attrs: { behavior: str() } });
