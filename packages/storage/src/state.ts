/**
 * What a storage instance keeps on disk, as libvirt's storage driver: each persistent pool's
 * definition in `<config>/<name>.xml` (libvirt's auto-generated-file comment first), autostart as
 * a symlink `<config>/autostart/<name>.xml`, and each running pool's live definition in
 * `<run>/<name>.xml` inside `<poolstate>`, so a daemon restart finds its pools running.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, open, rename, symlink, unlink } from 'node:fs/promises';
import path from 'node:path';
import { formatPoolXml, type PoolDef, parsePoolXml } from './pool-xml.js';

export interface StorageDirs {
  /** Persistent definitions (libvirt's /etc/libvirt/storage). */
  configDir: string;
  /** Running pools' state (libvirt's /run/libvirt/storage). */
  runDir: string;
}

/** The directories of an instance whose QEMU layout has `configDir` and `runDir` (`…/qemu`). */
export function storageDirsFor(layout: { configDir: string; runDir: string }): StorageDirs {
  return {
    configDir: path.join(path.dirname(layout.configDir), 'storage'),
    runDir: path.join(path.dirname(layout.runDir), 'storage'),
  };
}

/** Writes atomically: a temp file, fsync, rename. */
async function writeAtomic(file: string, text: string, mode = 0o600): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${randomBytes(4).toString('hex')}.new`;
  const fh = await open(tmp, 'w', mode);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
}

/** virXMLPickShellSafeComment + virXMLSaveFile's header. */
function header(def: PoolDef): string {
  return `<!--
WARNING: THIS IS AN AUTO-GENERATED FILE. CHANGES TO IT ARE LIKELY TO BE
OVERWRITTEN AND LOST. Changes to this xml configuration should be made using:
  virsh pool-edit ${def.name}
or other application using the libvirt API.
-->

`;
}

export class StorageState {
  constructor(readonly dirs: StorageDirs) {}

  private configFile(name: string) {
    return path.join(this.dirs.configDir, `${name}.xml`);
  }
  private autostartLink(name: string) {
    return path.join(this.dirs.configDir, 'autostart', `${name}.xml`);
  }
  private stateFile(name: string) {
    return path.join(this.dirs.runDir, `${name}.xml`);
  }

  saveConfig(def: PoolDef): Promise<void> {
    return writeAtomic(
      this.configFile(def.name),
      header(def) + formatPoolXml({ ...def, capacity: 0, allocation: 0, available: 0 }),
    );
  }

  async removeConfig(name: string): Promise<void> {
    await unlink(this.configFile(name)).catch(() => {});
    await unlink(this.autostartLink(name)).catch(() => {});
  }

  saveStatus(def: PoolDef): Promise<void> {
    const xml = formatPoolXml(def)
      .split('\n')
      .map((l) => (l ? `  ${l}` : l))
      .join('\n');
    return writeAtomic(this.stateFile(def.name), `${header(def)}<poolstate>\n${xml}</poolstate>\n`);
  }

  async removeStatus(name: string): Promise<void> {
    await unlink(this.stateFile(name)).catch(() => {});
  }

  /** True the first time it is asked after the run directory was emptied (a host boot for /run). */
  async firstOpenThisBoot(): Promise<boolean> {
    const marker = path.join(this.dirs.runDir, 'autostarted');
    if (existsSync(marker)) return false;
    await writeAtomic(marker, '');
    return true;
  }

  autostart(name: string): boolean {
    return existsSync(this.autostartLink(name));
  }

  async setAutostart(name: string, on: boolean): Promise<void> {
    const link = this.autostartLink(name);
    if (on) {
      await mkdir(path.dirname(link), { recursive: true, mode: 0o700 });
      await unlink(link).catch(() => {});
      await symlink(this.configFile(name), link);
    } else await unlink(link).catch(() => {});
  }

  /** Every persistent definition (unreadable ones are skipped, as libvirt logs and skips them). */
  loadConfigs(): PoolDef[] {
    return this.readDir(this.dirs.configDir, (t) => parsePoolXml(t));
  }

  /** Every running pool's live definition. */
  loadStatus(): PoolDef[] {
    return this.readDir(this.dirs.runDir, (t) => {
      const inner = /<poolstate>([\s\S]*)<\/poolstate>/.exec(t)?.[1] ?? t;
      const def = parsePoolXml(inner);
      return def;
    });
  }

  private readDir(dir: string, parse: (text: string) => PoolDef): PoolDef[] {
    if (!existsSync(dir)) return [];
    const out: PoolDef[] = [];
    for (const f of readdirSync(dir)) {
      if (!f.endsWith('.xml')) continue;
      try {
        const def = parse(readFileSync(path.join(dir, f), 'utf8'));
        if (`${def.name}.xml` === f) out.push(def);
      } catch {
        // a broken file is skipped
      }
    }
    return out;
  }
}

/** An embedded instance's storage directories (`qemu:///embed?root=DIR`: DIR/etc/storage, DIR/run/storage, beside its QEMU layout's DIR/etc/qemu and DIR/run/qemu). */
export function embedStorageDirs(root: string): StorageDirs {
  return storageDirsFor({ configDir: `${root}/etc/qemu`, runDir: `${root}/run/qemu` });
}
