// Where the test guest built by build.sh is, for tests that need a real guest: they skip with the
// reason when it is missing (a machine that could not reach Debian's mirror at bootstrap).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The manifest build.sh writes beside the image. */
export interface TestGuestManifest {
  key: string;
  kernelRelease: string;
  kernel: string;
  initrd: string;
  disk?: string;
  append: string;
  kernelBytes: number;
  initrdBytes: number;
  /** Debian package name to the version the image was built from. */
  packages: Record<string, string>;
}

export interface TestGuest {
  /** Absolute path of the kernel (`<os><kernel>`, `-kernel`). */
  kernel: string;
  /** Absolute path of the initramfs (`<os><initrd>`, `-initrd`). */
  initrd: string;
  /** The kernel command line (`<os><cmdline>`, `-append`): console on ttyS0. */
  append: string;
  /**
   * A small ext4 image labelled qvirt-data that the guest mounts at /mnt/data when attached,
   * or undefined. Shared and read-only in the cache: attach a copy.
   */
  disk: string | undefined;
  manifest: TestGuestManifest;
}

/** The package's directory, from src/ (vitest) and from dist/ alike. */
const packageDir = fileURLToPath(new URL('..', import.meta.url));

/** The image directory build.sh points `current` at. */
export function testGuestDir(): string {
  const cache = process.env.QVIRT_TEST_GUEST_CACHE || join(packageDir, '.cache');
  return join(cache, 'current');
}

/** Why there is no test guest, or undefined when there is one. */
export function whyNoTestGuest(): string | undefined {
  const found = locate();
  return 'reason' in found ? found.reason : undefined;
}

let warned = false;

/**
 * The test guest, or undefined (with the reason on stderr, once) when it was not built.
 * Tests: `const guest = testGuest(); describe.skipIf(!guest)(...)`.
 */
export function testGuest(): TestGuest | undefined {
  const found = locate();
  if ('reason' in found) {
    if (!warned) {
      warned = true;
      process.stderr.write(`test-guest: ${found.reason}\n`);
    }
    return undefined;
  }
  return found.guest;
}

function locate(): { guest: TestGuest } | { reason: string } {
  const dir = testGuestDir();
  const manifestPath = join(dir, 'manifest.json');
  if (!existsSync(manifestPath)) {
    return { reason: `no test guest image at ${dir} (build it with tools/test-guest/build.sh)` };
  }
  let manifest: TestGuestManifest;
  try {
    manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as TestGuestManifest;
  } catch (err) {
    return { reason: `unreadable ${manifestPath}: ${(err as Error).message}` };
  }
  const kernel = join(dir, manifest.kernel);
  const initrd = join(dir, manifest.initrd);
  for (const file of [kernel, initrd]) {
    if (!existsSync(file)) return { reason: `the test guest image lacks ${file} (rebuild it)` };
  }
  const disk = manifest.disk && existsSync(join(dir, manifest.disk)) ? join(dir, manifest.disk) : undefined;
  return { guest: { kernel, initrd, append: manifest.append, disk, manifest } };
}
