/**
 * Opening the driver for one qvirsh command: the instance the URI names (`-c`, then
 * `LIBVIRT_DEFAULT_URI`, then session/system by uid), run in-process. The driver is closed after
 * the command; guests keep running.
 */
import { VirError } from '@qvirt/core';
import type { DomainSummary, QemuDriver } from '@qvirt/driver';
import type { Io, Session } from './command.js';

export async function withDriver<T>(session: Session, fn: (driver: QemuDriver) => Promise<T>): Promise<T> {
  // Loaded here, not at the top, so commands that need no driver start faster.
  const { QemuDriver: Driver } = await import('@qvirt/driver');
  const driver = await Driver.open(session.uri, { env: session.env });
  try {
    return await fn(driver);
  } finally {
    await driver.close();
  }
}

/** virsh's domain lookup (id, uuid, then name) with its error. */
export function lookupDomain(driver: QemuDriver, key: string): DomainSummary {
  const dom = driver.find(key);
  if (!dom) throw new VirError('NO_DOMAIN', 'none', `failed to get domain '${key}'`);
  return dom;
}

/** virsh prints a blank line after every command's output (vshCommandRun). */
export function print(io: Io, text: string): void {
  io.out(`${text}\n`);
}

/**
 * virsh reports a failed operation in two lines: what failed, then libvirt's error.
 * The first goes out here; the second is the thrown error, which qvirsh's main prints.
 */
export async function reporting<T>(io: Io, what: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    io.err(`error: ${what}\n`);
    throw err;
  }
}

export const DOMAIN_OPT = {
  name: 'domain',
  type: 'data' as const,
  required: true,
  help: 'domain name, id or uuid',
};
