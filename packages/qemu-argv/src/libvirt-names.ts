/**
 * Names libvirt 9.0 knows, in libvirt's own spelling and order, for every module that needs them
 * (post-parse, the command line and the import read the same lists).
 */

/** virDomainNetModel (libvirt spells one of them `scm91c111`, and so do we). */
export const NET_MODELS = [
  'netfront',
  'rtl8139',
  'virtio',
  'e1000',
  'e1000e',
  'virtio-transitional',
  'virtio-non-transitional',
  'usb-net',
  'spapr-vlan',
  'lan9118',
  'scm91c111',
  'vlance',
  'vmxnet',
  'vmxnet2',
  'vmxnet3',
  'Am79C970A',
  'Am79C973',
  '82540EM',
  '82545EM',
  '82543GC',
] as const;

/** A NIC model libvirt knows, matched without regard to case as libvirt matches it. */
export function knownNetModel(model: string): (typeof NET_MODELS)[number] | undefined {
  const lower = model.toLowerCase();
  return NET_MODELS.find((m) => m.toLowerCase() === lower);
}

/** virDomainHyperv: the Hyper-V enlightenments, in the order libvirt prints and passes them. */
export const HYPERV_FEATURES = [
  'relaxed',
  'vapic',
  'spinlocks',
  'vpindex',
  'runtime',
  'synic',
  'stimer',
  'reset',
  'vendor_id',
  'frequencies',
  'reenlightenment',
  'tlbflush',
  'ipi',
  'evmcs',
  'avic',
] as const;

/** libvirt's x86 CPU feature names that QEMU spells differently (virQEMUCapsCPUFeaturesX86). */
export const X86_FEATURE_TO_QEMU: Readonly<Record<string, string>> = {
  cmp_legacy: 'cmp-legacy',
  ds_cpl: 'ds-cpl',
  fxsr_opt: 'fxsr-opt',
  kvm_pv_eoi: 'kvm-pv-eoi',
  kvm_pv_unhalt: 'kvm-pv-unhalt',
  lahf_lm: 'lahf-lm',
  nodeid_msr: 'nodeid-msr',
  pclmuldq: 'pclmulqdq',
  perfctr_core: 'perfctr-core',
  perfctr_nb: 'perfctr-nb',
  tsc_adjust: 'tsc-adjust',
};
