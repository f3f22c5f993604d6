/**
 * Temp directories for test instances that take the same path on every host. Left unset, the
 * driver's QEMU user is libvirt-qemu where Debian's libvirt is installed and root elsewhere; the
 * tests name one in qemu.conf instead, and open mkdtemp's 0700 so that user can reach the disks.
 */
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * The QEMU user and group of every test instance: nobody's ids as root (QEMU unprivileged on
 * every host); unprivileged, an instance runs QEMU as its caller and none are named.
 */
export const TEST_QEMU_IDS: { user: string; group: string } | undefined =
  process.geteuid?.() === 0 ? { user: '+65534', group: '+65534' } : undefined;

/**
 * A temp directory (0711, so QEMU's user passes through to the disks and logs the test puts in
 * it, as DAC's traversal check demands) with an embed root at `sub` (the directory itself by
 * default) whose qemu.conf names TEST_QEMU_IDS.
 */
export function makeTestDir(prefix: string, sub = ''): { dir: string; root: string } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  chmodSync(dir, 0o711);
  const root = path.join(dir, sub);
  mkdirSync(path.join(root, 'etc'), { recursive: true });
  const ids = TEST_QEMU_IDS;
  writeFileSync(
    path.join(root, 'etc/qemu.conf'),
    ids ? `user = "${ids.user}"\ngroup = "${ids.group}"\n` : '',
  );
  return { dir, root };
}
