import type { HostDescription, QemuConf } from '@qvirt/core';
import { defaultQemuConf } from '@qvirt/core';
import type { StartSecrets } from './argv/storage-blockdev.js';
import type { QemuCaps } from './caps/qemu-caps.js';
import { qemu72Caps } from './caps/snapshot.js';
import { type DirLayout, libvirtLayout } from './layout.js';
import type { FirmwareDescriptor } from './prepare/firmware-descriptor.js';

/** Everything conversion depends on besides the domain itself. */
/** What the host's swtpm offers a TPM emulator (virQEMUCapsFillDomainDeviceTPMCaps). */
export interface SwtpmSupport {
  versions: ReadonlyArray<'1.2' | '2.0'>;
}

export interface QemuContext {
  /** The target QEMU. */
  caps: QemuCaps;
  conf: QemuConf;
  layout: DirLayout;
  /** -1 for a domain that is not running (domxml-to-native). */
  domainId: number;
  /**
   * `native` prints what `domxml-to-native` prints (paths for the monitor and log files);
   * `start` is a real start, where the driver passes such files as descriptors.
   */
  purpose: 'native' | 'start';
  /** PATH handed to QEMU (libvirt passes its own); default `/usr/bin:/bin`. */
  path?: string;
  /**
   * The host's QEMU firmware descriptors in libvirt's order (`@qvirt/host-prober`'s
   * `readFirmwareDescriptors`), for `<os firmware=…>` autoselection; a function is called only
   * when a domain needs them (as libvirt reads them then, so a bad file fails only those).
   * Unset means none: `firmware='efi'` then fails as on a host without descriptors.
   */
  firmwares?: FirmwareDescriptor[] | (() => FirmwareDescriptor[]);
  /**
   * The host the guest runs on (NUMA nodes, host CPU, host-model CPUs), for libvirt's checks and
   * expansions against the host at start and `domxml-to-native`; unset means unknown: NUMA
   * availability is not checked and `<cpu mode='host-model'>` is refused.
   */
  host?: HostDescription;
  /**
   * swtpm on the host (virTPMHasSwtpm) with the TPM versions `swtpm_setup` supports, `null` when
   * it is not installed, or a function answering either on first use. Unset means not known:
   * treated as libvirt's test suite treats it, swtpm present with both versions.
   */
  swtpm?: SwtpmSupport | null | (() => SwtpmSupport | null);
  /**
   * A start's master key and the secret values its disks need (fetched by the driver from the
   * secret driver beforehand); unset, every secret lookup fails as on a host without secrets.
   */
  secrets?: StartSecrets;
}

/** The context libvirt 9.0 on Debian 12 with QEMU 7.2 converts with (the corpus's reference). */
export function referenceContext(overrides: Partial<QemuContext> = {}): QemuContext {
  return {
    caps: qemu72Caps(),
    conf: defaultQemuConf({ privileged: true }),
    layout: libvirtLayout(),
    domainId: -1,
    purpose: 'native',
    ...overrides,
  };
}
