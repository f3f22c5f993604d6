/**
 * The context conversions run in for a connection: the instance's directory layout and qemu.conf,
 * and the QEMU description (the checked-in QEMU 7.2 snapshot until the host prober supplies a
 * live one), and the host's QEMU firmware descriptors for `<os firmware=…>` (read when a domain
 * needs them). `QVIRT_LAYOUT=libvirt` converts with libvirt's own directories, as the conformance
 * corpus was made.
 */
import { homedir } from 'node:os';
import { defaultUri, loadQemuConf, parseConnectionUri } from '@qvirt/core';
// the two light entry points, not the whole prober (QMP, probing): every conversion loads them
import { readFirmwareDescriptors } from '@qvirt/host-prober/firmware-descriptors';
import { readHostDescription } from '@qvirt/host-prober/host-description';
import {
  type DirLayout,
  embedLayout,
  libvirtLayout,
  type QemuContext,
  qemu72Caps,
  sessionLayout,
  systemLayout,
} from '@qvirt/qemu-argv';
import type { Session } from './command.js';

export async function conversionContext(session: Session): Promise<QemuContext> {
  const uri = parseConnectionUri(
    session.uri ?? defaultUri({ uid: process.getuid?.() ?? 0, env: session.env }),
  );
  let layout: DirLayout;
  let confPath: string;
  let privileged = true;
  if (uri.instance === 'embed') {
    layout = embedLayout(uri.root!);
    confPath = `${uri.root}/etc/qemu.conf`;
  } else if (uri.instance === 'session') {
    layout = sessionLayout(session.env, homedir());
    confPath = `${session.env.XDG_CONFIG_HOME || `${homedir()}/.config`}/qvirt/qemu.conf`;
    privileged = false;
  } else {
    layout = systemLayout();
    confPath = '/etc/qvirt/qemu.conf';
  }
  if (session.env.QVIRT_LAYOUT === 'libvirt') layout = libvirtLayout();
  const conf = await loadQemuConf(confPath, { privileged });
  return {
    caps: qemu72Caps(),
    conf,
    layout,
    domainId: -1,
    purpose: 'native',
    path: session.env.PATH ?? '/usr/bin:/bin',
    // qemuFirmwareFillDomain reads the host's descriptors when a domain asks for autoselection
    firmwares: () => readFirmwareDescriptors({ privileged, env: session.env, home: homedir() }),
    // the host's NUMA nodes and CPU, which domxml-to-native checks against as libvirt does
    host: readHostDescription(),
  };
}
