/**
 * Atomic replacement of a file: the data goes to a temporary file in the same directory, is
 * flushed to disk, then renamed over the target, and the directory is flushed too. A crash at any
 * point leaves either the old file or the new one, never a mix (a stray temporary file at most,
 * which {@link removeStaleTempFiles} clears on the next start).
 */
import { randomBytes } from 'node:crypto';
import { open, readdir, rename, unlink } from 'node:fs/promises';
import path from 'node:path';

export interface AtomicWriteOptions {
  mode?: number;
  /** Test hook: runs after the temporary file is written and flushed, before the rename. */
  beforeRename?: (tempPath: string) => void | Promise<void>;
}

export const TEMP_MARK = '.qvirt-tmp-';

export function isTempFile(name: string): boolean {
  return name.includes(TEMP_MARK);
}

export async function writeFileAtomic(
  file: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const dir = path.dirname(file);
  const temp = path.join(dir, `.${path.basename(file)}${TEMP_MARK}${randomBytes(6).toString('hex')}`);
  let renamed = false;
  try {
    const fh = await open(temp, 'wx', options.mode ?? 0o600);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await options.beforeRename?.(temp);
    await rename(temp, file);
    renamed = true;
    await syncDir(dir);
  } finally {
    if (!renamed) await unlink(temp).catch(() => {});
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } catch {
    // some file systems refuse fsync on a directory; the rename itself is still atomic
  } finally {
    await fh.close();
  }
}

/** Removes temporary files a crash left between write and rename. */
export async function removeStaleTempFiles(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  await Promise.all(names.filter(isTempFile).map((n) => unlink(path.join(dir, n)).catch(() => {})));
}
