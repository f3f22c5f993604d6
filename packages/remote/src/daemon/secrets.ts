/**
 * The instance's secret driver beside its QEMU driver, as libvirt's daemon has virtsecretd's
 * driver beside virtqemud's: `@qvirt/secrets` is loaded and opened on first use (a daemon whose
 * clients never touch a secret never reads the secrets directory), then shared by the wire
 * (`drivers.secret`) and by the QEMU driver's starts (`DriverOptions.secrets`).
 */
import type { SecretDriver, SecretValueSource } from '@qvirt/core/hypervisor';

export type InstanceSecrets = SecretDriver & SecretValueSource;

/** Opens the secret driver of `uri` once, when first asked. */
export function instanceSecrets(
  uri: string,
  env: Readonly<Record<string, string | undefined>>,
): () => Promise<InstanceSecrets> {
  let opening: Promise<InstanceSecrets> | undefined;
  return () => {
    opening ??= import('@qvirt/secrets')
      .then(({ SecretsDriver }) => SecretsDriver.open(uri, { env }))
      .catch((err) => {
        opening = undefined;
        throw err;
      });
    return opening;
  };
}
