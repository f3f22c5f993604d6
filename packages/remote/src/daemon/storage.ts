/**
 * The daemon's storage driver, loaded lazily: `@qvirt/storage` is imported and the instance's
 * pools opened in the background once the daemon listens (autostart pools start then); the
 * dispatch layer waits for `load()` on a storage call, so the daemon's start stays light.
 */
import type { SecretValueSource, StorageDriver } from '@qvirt/core/hypervisor';

export interface LazyStorage {
  /** Starts loading (idempotent) and resolves with the real driver. */
  load(): Promise<StorageDriver & { close?(): Promise<void> }>;
  close(): Promise<void>;
}

export function lazyStorageDriver(
  layout: { configDir: string; runDir: string },
  secrets?: () => Promise<SecretValueSource>,
): LazyStorage {
  let loading: Promise<StorageDriver & { close?(): Promise<void> }> | undefined;
  const load = () => {
    // the secret driver gives encrypted volumes their passphrases
    loading ??= import('@qvirt/storage').then((m) => m.openStorageDriver(layout, secrets ? { secrets } : {}));
    return loading;
  };
  return {
    load,
    async close() {
      if (loading) await (await loading.catch(() => undefined))?.close?.();
    },
  };
}
