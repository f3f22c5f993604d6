/** virStorageBackendDeviceIsEmpty with libvirt's wording, probing with blkid(8). */
import { virReportError } from '@qvirt/core';
import { run } from '../util.js';

/** Throws unless `device` carries no file system or label (`format` is blkid's name for ours). */
export async function checkDeviceEmpty(
  device: string,
  format: string,
  libvirtFormat = format,
): Promise<void> {
  const r = await run('blkid', ['-p', '-o', 'value', '-s', 'TYPE', device]);
  const found = r.stdout.trim();
  if (!found) return;
  if (found === format) {
    throw virReportError(
      'STORAGE_POOL_BUILT',
      'storage',
      `Device '${device}' already formatted using '${libvirtFormat}'`,
    );
  }
  throw virReportError(
    'STORAGE_POOL_BUILT',
    'storage',
    `Format of device '${device}' does not match the expected format '${libvirtFormat}', forced overwrite is necessary`,
  );
}
