/**
 * Which files a generated profile may name, and how a path becomes a rule: virt-aa-helper's
 * valid_path() and vah_add_path(). The lists exist so that a subverted daemon cannot grant QEMU
 * access to system files (binaries, libraries, /etc, /proc, /sys).
 */

/** What the policy needs from the file system (the real one, or a fake in tests). */
export interface PathFs {
  /** access(F_OK): follows symlinks, so a dangling link does not exist. */
  exists(path: string): Promise<boolean>;
  realpath(path: string): Promise<string>;
}

/** Never allowed, whatever the permissions. */
export const RESTRICTED_PREFIXES: readonly string[] = [
  '/bin/',
  '/etc/',
  '/lib',
  '/lost+found/',
  '/proc/',
  '/sbin/',
  '/selinux/',
  '/sys/',
  '/usr/bin/',
  '/usr/lib',
  '/usr/sbin/',
  '/usr/share/',
  '/usr/local/bin/',
  '/usr/local/etc/',
  '/usr/local/lib',
  '/usr/local/sbin/',
];

/** Allowed read-only (kernels, initrds, firmware), refused for writing. */
export const READONLY_ONLY_PREFIXES: readonly string[] = [
  '/boot/',
  '/vmlinuz',
  '/initrd',
  '/initrd.img',
  '/usr/share/edk2/',
  '/usr/share/OVMF/',
  '/usr/share/ovmf/',
  '/usr/share/AAVMF/',
  '/usr/share/qemu-efi/',
  '/usr/share/qemu-efi-aarch64/',
  '/usr/lib/u-boot/',
  '/usr/lib/riscv64-linux-gnu/opensbi',
];

/** Always allowed, overriding both lists (PCI and vhost-scsi host devices, virt-sandbox). */
export const ALWAYS_ALLOWED_PREFIXES: readonly string[] = [
  '/sys/devices/pci',
  '/sys/kernel/config/target/vhost',
  '/etc/libvirt-sandbox/services/',
];

/** One line of virt-aa-helper's stderr, without the `virt-aa-helper: ` prefix. */
export interface HelperMessage {
  level: 'warning' | 'error';
  text: string;
}

const startsWithAny = (path: string, list: readonly string[]) => list.some((p) => path.startsWith(p));

/**
 * valid_path(): `blocked` for a quote, a control character, a relative path, or a restricted prefix (read-only ones are
 * let through when `readonly`). A missing path only warns.
 */
export async function checkPath(
  path: string,
  readonly: boolean,
  fs: PathFs,
  messages: HelperMessage[],
): Promise<'ok' | 'blocked'> {
  if (path.includes('"')) return 'blocked';
  // Beyond libvirt: a line break or other control character would end the rule early and let the
  // rest of the path become rules of its own.
  if (/[\x00-\x1f\x7f]/.test(path)) return 'blocked';
  if (!path.startsWith('/')) return 'blocked';
  if (!(await fs.exists(path))) {
    messages.push({ level: 'warning', text: 'path does not exist, skipping file type checks' });
  }
  if (startsWithAny(path, ALWAYS_ALLOWED_PREFIXES)) return 'ok';
  if (readonly && startsWithAny(path, READONLY_ONLY_PREFIXES)) return 'ok';
  if (startsWithAny(path, RESTRICTED_PREFIXES) || startsWithAny(path, READONLY_ONLY_PREFIXES)) {
    return 'blocked';
  }
  return 'ok';
}

/** g_path_get_dirname(). */
export function dirname(path: string): string {
  let i = path.lastIndexOf('/');
  if (i < 0) return '.';
  while (i > 0 && path[i] === '/') i--;
  return path.slice(0, i + 1);
}

/**
 * The path with its longest existing prefix canonicalised (realpath) and the rest kept as
 * written: files QEMU creates later need rules too. A path of which nothing but `/` exists is
 * returned as it is.
 */
export async function canonicalise(path: string, fs: PathFs): Promise<string> {
  let dir = path;
  while (!(await fs.exists(dir))) dir = dirname(dir);
  if (dir.length === 1) return path;
  return (await fs.realpath(dir)) + path.slice(dir.length);
}

export class RuleError extends Error {}

/**
 * Collects rules and messages in virt-aa-helper's order. `add*` return false when the path was
 * refused (the run must fail with `invalid VM definition`).
 */
export class RuleBuffer {
  text = '';
  readonly messages: HelperMessage[] = [];
  constructor(readonly fs: PathFs) {}

  raw(line: string): void {
    this.text += line;
  }

  /**
   * vah_add_path(): `perms` are AppArmor permissions plus `R` (read, without the explicit deny
   * rule that read-only files get). `undefined` is libvirt's NULL path: an error without a
   * message.
   */
  async addPath(path: string | undefined, perms: string, recursive: boolean): Promise<boolean> {
    if (path === undefined) return false;
    if (!path.startsWith('/')) {
      this.messages.push({ level: 'warning', text: path });
      this.messages.push({ level: 'warning', text: 'skipped non-absolute path' });
      return true;
    }
    let real: string;
    try {
      real = await canonicalise(path, this.fs);
    } catch {
      let dir = path;
      while (!(await this.fs.exists(dir))) dir = dirname(dir);
      this.messages.push({ level: 'error', text: dir });
      this.messages.push({ level: 'error', text: 'could not find realpath' });
      return false;
    }
    let readonly = true;
    let deny = true;
    if (perms.includes('w')) {
      readonly = false;
      deny = false;
    }
    let p = perms;
    if (p.includes('R')) {
      p = p.replace('R', 'r');
      deny = false;
    }
    if ((await checkPath(real, readonly, this.fs, this.messages)) === 'blocked') {
      this.messages.push({ level: 'error', text: path });
      this.messages.push({ level: 'error', text: 'skipped restricted file' });
      return false;
    }
    if (real.endsWith('/')) real = real.slice(0, -1);
    const glob = recursive ? '/**' : '';
    this.text += `  "${real}${glob}" ${p},\n`;
    if (deny) {
      this.text += "  # don't audit writes to readonly files\n";
      this.text += `  deny "${real}${glob}" w,\n`;
    }
    if (recursive) this.text += `  "${real}/" r,\n`;
    return true;
  }

  addFile(path: string | undefined, perms: string): Promise<boolean> {
    return this.addPath(path, perms, false);
  }

  /** vah_add_file_chardev(): a pipe is two files, PATH.in and PATH.out. */
  async addChardevFile(path: string | undefined, perms: string, type: string | undefined): Promise<boolean> {
    if (type === 'pipe') {
      return (
        (await this.addFile(`${path ?? '(null)'}.in`, perms)) &&
        this.addFile(`${path ?? '(null)'}.out`, perms)
      );
    }
    return this.addFile(path, perms);
  }
}
