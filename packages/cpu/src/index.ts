/**
 * @qvirt/cpu: libvirt 9.0's x86 CPU model knowledge. The CPU map (generated from libvirt's
 * src/cpu_map and QEMU's model definitions by tools/cpu-map) and the algorithms of libvirt's
 * cpu_x86.c on top of it: decoding CPUID data to the closest model, comparing a guest CPU with
 * the host CPU, baselines, and making host-relative guest CPUs absolute.
 */

export { type X86BaselineOptions, x86Baseline } from './baseline.js';
export { x86CheckForbiddenFeatures, x86Compare, x86Compute } from './compare.js';
export {
  X86Data,
  type X86DataItem,
  x86DataFromFeatures,
  x86DataHasFeature,
  x86DataSetSignature,
  x86DataSignature,
  x86DataToFeatures,
  x86DataVendor,
  x86FeatureData,
  x86MakeSignature,
  x86SignatureFromCpuid,
  x86VendorData,
  x86VendorStringData,
} from './data.js';
export { type X86DecodeOptions, x86DataFromCpu, x86Decode } from './decode.js';
export { x86Translate, x86UpdateLive } from './live.js';
export {
  x86Feature,
  x86FeatureFromAlias,
  x86FeatureIndex,
  x86Features,
  x86MapSource,
  x86Model,
  x86Models,
  x86QemuModels,
  x86Vendor,
  x86VendorForModel,
  x86Vendors,
} from './map.js';
export { type AnyCpu, x86CheckFeature, x86ModelData, x86ModelFromCPU } from './model-data.js';
export type * from './types.js';
export { x86ExpandFeatures, x86FullHostCpu, x86UpdateGuest } from './update.js';
