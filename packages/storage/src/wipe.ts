/**
 * virStorageBackendVolWipeLocal: the zero algorithm writes zeros over the whole volume here; the
 * others go to `scrub -f -p ALG`, as libvirt does (its error when scrub is missing); trim is not
 * supported on files, as in libvirt.
 */
import { open } from 'node:fs/promises';
import { virReportError, virReportSystemError } from '@qvirt/core';
import { VIR_STORAGE_VOL_WIPE_ALG } from '@qvirt/core/hypervisor';
import { runOrThrow } from './util.js';

const SCRUB: Record<number, string> = {
  [VIR_STORAGE_VOL_WIPE_ALG.NNSA]: 'nnsa',
  [VIR_STORAGE_VOL_WIPE_ALG.DOD]: 'dod',
  [VIR_STORAGE_VOL_WIPE_ALG.BSI]: 'bsi',
  [VIR_STORAGE_VOL_WIPE_ALG.GUTMANN]: 'gutmann',
  [VIR_STORAGE_VOL_WIPE_ALG.SCHNEIER]: 'schneier',
  [VIR_STORAGE_VOL_WIPE_ALG.PFITZNER7]: 'pfitzner7',
  [VIR_STORAGE_VOL_WIPE_ALG.PFITZNER33]: 'pfitzner33',
  [VIR_STORAGE_VOL_WIPE_ALG.RANDOM]: 'random',
};

export async function wipePath(file: string, size: number, algorithm: number): Promise<void> {
  if (algorithm < 0 || algorithm > VIR_STORAGE_VOL_WIPE_ALG.TRIM) {
    throw virReportError('INVALID_ARG', 'storage', `unsupported algorithm ${algorithm}`);
  }
  if (algorithm === VIR_STORAGE_VOL_WIPE_ALG.TRIM) {
    throw virReportError('NO_SUPPORT', 'storage', "'trim' algorithm not supported");
  }
  if (algorithm !== VIR_STORAGE_VOL_WIPE_ALG.ZERO) {
    await runOrThrow('scrub', ['-f', '-p', SCRUB[algorithm]!, file]);
    return;
  }
  let fh: import('node:fs/promises').FileHandle;
  try {
    fh = await open(file, 'r+');
  } catch (err) {
    throw virReportSystemError(err, 'storage', `Failed to open storage volume with path '${file}'`);
  }
  try {
    const zeros = Buffer.alloc(1024 * 1024);
    for (let pos = 0; pos < size; pos += zeros.length) {
      const n = Math.min(zeros.length, size - pos);
      await fh.write(zeros, 0, n, pos);
    }
    await fh.sync();
  } catch (err) {
    throw virReportSystemError(err, 'storage', `Failed to write to storage volume with path '${file}'`);
  } finally {
    await fh.close();
  }
}
