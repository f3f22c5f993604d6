/**
 * The host's swtpm as libvirt 9.0 sees it (util/virtpm.c virTPMHasSwtpm,
 * virTPMSwtpmSetupCapsGet): the three programs on the search path, and the TPM versions
 * `swtpm_setup --print-capabilities` announces. Domain capabilities and a define's TPM
 * validation (qemuValidateDomainDeviceDefTPM) both read it.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import type { SwtpmSupport } from '@qvirt/qemu-argv';

const execFileP = promisify(execFile);

/** The TPM versions in `swtpm_setup --print-capabilities`' answer (virTPMSwtpmSetupCapsGet). */
function swtpmVersions(stdout: string): Array<'1.2' | '2.0'> {
  const features = (JSON.parse(stdout) as { features?: string[] }).features ?? [];
  return (['1.2', '2.0'] as const).filter((v) => features.includes(`tpm-${v}`));
}

/** virTPMHasSwtpm: swtpm, swtpm_setup and swtpm_ioctl all found; answers swtpm_setup's path. */
function swtpmSetup(findInPath: (name: string) => string | undefined): string | undefined {
  const setup = findInPath('swtpm_setup');
  return findInPath('swtpm') && setup && findInPath('swtpm_ioctl') ? setup : undefined;
}

/** virTPMHasSwtpm and the TPM versions `swtpm_setup --print-capabilities` announces. */
export async function hostSwtpm(
  findInPath: (name: string) => string | undefined,
): Promise<{ versions: Array<'1.2' | '2.0'> } | undefined> {
  const setup = swtpmSetup(findInPath);
  if (!setup) return undefined;
  try {
    const { stdout } = await execFileP(setup, ['--print-capabilities'], { timeout: 10_000 });
    return { versions: swtpmVersions(stdout) };
  } catch {
    // an swtpm_setup without capabilities supports neither explicitly
    return { versions: [] };
  }
}

/** hostSwtpm for a define's validation, which is synchronous: asked once per driver. */
export function hostSwtpmSync(findInPath: (name: string) => string | undefined): SwtpmSupport | null {
  const setup = swtpmSetup(findInPath);
  if (!setup) return null;
  try {
    return {
      versions: swtpmVersions(
        execFileSync(setup, ['--print-capabilities'], { timeout: 10_000, encoding: 'utf8' }),
      ),
    };
  } catch {
    return { versions: [] };
  }
}
