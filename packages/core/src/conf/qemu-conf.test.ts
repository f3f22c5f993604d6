import { readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfError, VirError } from '../errors.js';
import {
  defaultQemuConf,
  loadQemuConf,
  parseQemuConf,
  QEMU_CONF_KEYS,
  type QemuConf,
  unknownQemuConfKeys,
} from './qemu-conf.js';
import { corpusDir, haveCorpus, plain } from './test-support/corpus.js';
import { parseVirConf, serializeVirConf } from './vir-conf.js';

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

/** Fields of a QemuConf without the raw file, for comparisons. */
function fields(conf: QemuConf): Omit<QemuConf, 'raw'> {
  const { raw: _raw, ...rest } = conf;
  return rest;
}

interface KeyEntry {
  key: string;
  type: string;
  value?: string;
  values?: string[];
}
interface KeysJson {
  entries: KeyEntry[];
  keys_in_lens_but_not_in_example: string[];
}

const referenceDir = path.join(corpusDir, 'reference');
const readRef = (name: string) => readFileSync(path.join(referenceDir, name), 'utf8');

/** What the native parser stores for a value the augeas lens types as `type` (README type rules). */
function expectedStored(entry: KeyEntry): { type: string; value: unknown } {
  if (entry.values !== undefined) return { type: 'list', value: entry.values };
  const value = entry.value as string;
  if (entry.type.startsWith('bool') || entry.type === 'unsigned int')
    return { type: 'ullong', value: Number(value) };
  if (entry.type.startsWith('unsigned int or')) {
    return /^[0-9]+$/.test(value) ? { type: 'ullong', value: Number(value) } : { type: 'string', value };
  }
  return { type: 'string', value };
}

/** What the typed QemuConf field holds for that value. */
function expectedTyped(entry: KeyEntry, type: string): unknown {
  if (entry.values !== undefined) return entry.values;
  const value = entry.value as string;
  switch (type) {
    case 'bool':
      return value === '1';
    case 'uint':
    case 'int':
      return Number(value);
    case 'ullong-or-unlimited':
      return value === 'unlimited' ? value : Number(value);
    case 'string-or-list':
      return [value];
    default:
      return value;
  }
}

describe.skipIf(!haveCorpus)('qemu.conf reference', () => {
  const keys = JSON.parse(readRef('qemu.conf.keys.json')) as KeysJson;
  const uncommented = readRef('qemu.conf.all-uncommented');

  it('QEMU_CONF_KEYS is exactly the lens keys', () => {
    const lens = [...keys.entries.map((e) => e.key), ...keys.keys_in_lens_but_not_in_example].sort();
    expect(QEMU_CONF_KEYS.map((k) => k.key).sort()).toEqual(lens);
    expect(lens).toHaveLength(93);
  });

  it('every example, uncommented, is stored as qemu.conf.keys.json says', () => {
    const conf = parseVirConf(uncommented, { file: 'qemu.conf.all-uncommented' });
    expect(conf.names()).toEqual(keys.entries.map((e) => e.key));
    expect(keys.entries).toHaveLength(91);
    for (const entry of keys.entries) {
      const v = conf.getValue(entry.key)!;
      expect({ type: v.type, value: plain(v) }, entry.key).toEqual(expectedStored(entry));
    }
  });

  it('every example, uncommented, gives the typed values', () => {
    const conf = parseQemuConf(uncommented, { file: 'qemu.conf', privileged: true });
    const byKey = new Map(QEMU_CONF_KEYS.map((k) => [k.key, k]));
    for (const entry of keys.entries) {
      const k = byKey.get(entry.key)!;
      expect(k.field, entry.key).toBeDefined();
      expect(conf[k.field!], entry.key).toEqual(expectedTyped(entry, k.type));
    }
    expect(unknownQemuConfKeys(conf)).toEqual([]);
  });

  it('the stock qemu.conf (Debian user/group) parses to the defaults', () => {
    const stock = readRef('qemu.conf.default')
      .replaceAll('@QEMU_USER@', 'libvirt-qemu')
      .replaceAll('@QEMU_GROUP@', 'libvirt-qemu');
    for (const privileged of [true, false]) {
      const conf = parseQemuConf(stock, {
        file: '/etc/libvirt/qemu.conf',
        privileged,
        userConfigDir: '/h/.config/libvirt',
      });
      expect(fields(conf)).toEqual(
        fields(defaultQemuConf({ privileged, userConfigDir: '/h/.config/libvirt' })),
      );
      expect(conf.raw.names()).toEqual([]);
      expect(conf.raw.entries.length).toBeGreaterThan(500);
      // Comments survive a round trip (only blank lines are dropped).
      const out = serializeVirConf(conf.raw);
      expect(out).toBe(
        `${stock
          .split('\n')
          .filter((l) => l.trim() !== '')
          .map((l) => l.trimStart())
          .join('\n')}\n`,
      );
    }
  });
});

describe('qemu.conf defaults', () => {
  it('differ between the system and session daemons', () => {
    const sys = defaultQemuConf({ privileged: true });
    const session = defaultQemuConf({ privileged: false, userConfigDir: '/home/u/.config/libvirt' });
    expect(sys).toMatchObject({
      user: 'libvirt-qemu',
      group: 'libvirt-qemu',
      dynamicOwnership: true,
      rememberOwner: true,
      namespaces: ['mount'],
      swtpmUser: 'tss',
      autoDumpPath: '/var/lib/libvirt/qemu/dump',
    });
    expect(session).toMatchObject({
      user: undefined,
      group: undefined,
      dynamicOwnership: false,
      rememberOwner: false,
      namespaces: [],
      swtpmUser: undefined,
      autoDumpPath: '/home/u/.config/libvirt/qemu/dump',
    });
    expect(defaultQemuConf({ privileged: true, qemuUser: 'qemu', qemuGroup: 'kvm' })).toMatchObject({
      user: 'qemu',
      group: 'kvm',
    });
  });

  it('match libvirt 9.0', () => {
    expect(defaultQemuConf({ privileged: true })).toMatchObject({
      vncListen: '127.0.0.1',
      remoteDisplayPortMin: 5900,
      remoteWebsocketPortMin: 5700,
      migrationPortMin: 49152,
      migrationPortMax: 49215,
      keepaliveInterval: 5,
      keepaliveCount: 5,
      seccompSandbox: -1,
      logTimestamp: true,
      glusterDebugLevel: 4,
      stdioHandler: 'logd',
      maxCore: 0,
      securityDefaultConfined: true,
      securityRequireConfined: false,
      securityDriver: undefined,
      deprecationBehavior: 'none',
    });
  });

  it('has a default for every field of the key table', () => {
    const conf = defaultQemuConf({ privileged: true });
    for (const k of QEMU_CONF_KEYS) if (k.field) expect(Object.hasOwn(conf, k.field), k.key).toBe(true);
  });
});

describe('qemu.conf values', () => {
  const parse = (text: string, privileged = true) =>
    parseQemuConf(text, { file: '/etc/libvirt/qemu.conf', privileged });

  it('takes security_driver as a string or a list', () => {
    expect(parse('security_driver = "selinux"').securityDriver).toEqual(['selinux']);
    expect(parse('security_driver = [ "selinux", "apparmor" ]').securityDriver).toEqual([
      'selinux',
      'apparmor',
    ]);
    expect(parse('security_driver = "none"').securityDriver).toEqual(['none']);
  });

  it('takes max_core as a number or "unlimited"', () => {
    expect(parse('max_core = "unlimited"').maxCore).toBe('unlimited');
    expect(parse('max_core = 1073741824').maxCore).toBe(1073741824);
  });

  it('keeps user and group as written', () => {
    const conf = parse('user = "+0"\ngroup = "100"');
    expect([conf.user, conf.group]).toEqual(['+0', '100']);
  });

  it('takes hugetlbfs_mount as a string or a list', () => {
    expect(parse('hugetlbfs_mount = "/dev/hugepages"').hugetlbfsMount).toEqual(['/dev/hugepages']);
    expect(parse('hugetlbfs_mount = ["/a", "/b"]').hugetlbfsMount).toEqual(['/a', '/b']);
  });

  it('strips IPv6 brackets from migration addresses', () => {
    expect(parse('migration_address = "[::]"').migrationAddress).toBe('::');
  });

  it('keeps unknown keys in the raw file', () => {
    const conf = parse('# mine\nvnc_tls = 1\nmy_setting = [ 1, "x" ] # keep\n');
    expect(conf.vncTls).toBe(true);
    expect(unknownQemuConfKeys(conf)).toEqual(['my_setting']);
    expect(conf.raw.toString()).toBe('# mine\nvnc_tls = 1\nmy_setting = [ 1, "x" ] # keep\n');
  });

  it('accepts obsolete keys', () => {
    const conf = parse('clear_emulator_capabilities = 0\nallow_disk_format_probing = 0');
    expect(conf.allowDiskFormatProbing).toBe(false);
    expect(unknownQemuConfKeys(conf)).toEqual([]);
  });
});

describe('qemu.conf errors', () => {
  const F = '/etc/libvirt/qemu.conf';
  const cases: [string, string, string, boolean?][] = [
    [
      'unterminated string',
      'vnc_listen = "0.0.0.0\n',
      `configuration file syntax error: ${F}:1: unterminated string`,
    ],
    [
      'bad list',
      '# x\ncgroup_controllers = [ "cpu" "memory" ]\n',
      `configuration file syntax error: ${F}:2: expecting a separator in list`,
    ],
    [
      'list not closed',
      'cgroup_device_acl = [\n  "/dev/null"\n',
      `configuration file syntax error: ${F}:3: list is not closed with ]`,
    ],
    [
      'wrong type (bool)',
      '\n\nvnc_tls = "yes"\n',
      `internal error: ${F}:3: expected a bool for 'vnc_tls' parameter`,
    ],
    [
      'bool out of range',
      'vnc_tls = 2',
      `internal error: ${F}:1: value for 'vnc_tls' parameter must be 0 or 1`,
    ],
    [
      'wrong type (string)',
      'vnc_listen = 0',
      `internal error: ${F}:1: expected a string for 'vnc_listen' parameter`,
    ],
    [
      'wrong type (unsigned)',
      'max_processes = -1',
      `internal error: ${F}:1: expected an unsigned integer for 'max_processes' parameter`,
    ],
    [
      'wrong type (list)',
      'cgroup_controllers = "cpu"',
      `internal error: ${F}:1: expected a string list for 'cgroup_controllers' parameter`,
    ],
    [
      'unknown cgroup controller',
      'cgroup_controllers = [\n  "cpu",\n  "gpu"\n]',
      `configuration file syntax error: ${F}:3: Unknown cgroup controller 'gpu'`,
    ],
    [
      'duplicate security driver',
      'security_driver = [ "selinux", "apparmor", "selinux" ]',
      `configuration file syntax error: ${F}:1: Duplicate security driver selinux`,
    ],
    [
      'none not alone',
      'security_driver = [ "selinux", "none" ]',
      `configuration file syntax error: ${F}:1: Security driver "none" cannot be combined with other drivers`,
    ],
    ['bad max_core', 'max_core = "lots"', `unsupported configuration: ${F}:1: Unknown core size 'lots'`],
    [
      'bad stdio_handler',
      'stdio_handler = "pipe"',
      `unsupported configuration: ${F}:1: Unknown stdio handler pipe`,
    ],
    [
      'bad sched_core',
      'sched_core = "some"',
      `unsupported configuration: ${F}:1: Unknown sched_core value some`,
    ],
    [
      'disk format probing',
      'allow_disk_format_probing = 1',
      `unsupported configuration: ${F}:1: allow_disk_format_probing is no longer supported`,
    ],
    [
      'display port too low',
      'remote_display_port_min = 5000',
      `internal error: ${F}:1: remote_display_port_min: port must be greater than or equal to 5900`,
    ],
    [
      'websocket port max below min',
      'remote_websocket_port_min = 6000\nremote_websocket_port_max = 5800',
      `internal error: ${F}:2: remote_websocket_port_max: port must be between the minimal port and 65535`,
    ],
    [
      'migration port max too high',
      'migration_port_max = 70000',
      `internal error: ${F}:1: migration_port_max: port must be between the minimal port 49152 and 65535`,
    ],
    [
      'migration port min above the default max',
      'migration_port_min = 50000',
      `internal error: ${F}: migration_port_max: port must be between the minimal port 50000 and 65535`,
    ],
    [
      'migration port min zero',
      'migration_port_min = 0',
      `internal error: ${F}:1: migration_port_min: port must be greater than 0`,
    ],
    [
      'migration_host is local',
      'migration_host = "[::1]"',
      `configuration file syntax error: ${F}:1: migration_host must not be the address of the local machine: ::1`,
    ],
    [
      'migration_address is localhost',
      'migration_address = "localhost.localdomain"',
      `configuration file syntax error: ${F}:1: migration_address must not be the address of the local machine: localhost.localdomain`,
    ],
    [
      'bad nvram',
      'nvram = [ "a:b", "c" ]',
      `configuration file syntax error: ${F}:1: Invalid nvram format: 'c'`,
    ],
    [
      'unknown namespace',
      'namespaces = [ "pid" ]',
      `configuration file syntax error: ${F}:1: Unknown namespace: pid`,
    ],
    [
      'namespaces in session mode',
      'namespaces = [ "mount" ]',
      `unsupported configuration: ${F}:1: cannot use namespaces in session mode`,
      false,
    ],
  ];
  for (const [what, text, message, privileged] of cases) {
    it(what, () => {
      const err = thrown(() => parseQemuConf(text, { file: F, privileged: privileged ?? true }));
      expect(err).toBeInstanceOf(ConfError);
      expect(err.message).toBe(message);
      expect(err.message).not.toContain('\n');
    });
  }

  it('accepts localhost-like names that are not local', () => {
    expect(parseQemuConf('migration_host = "127.0.0.2"', { privileged: true }).migrationHost).toBe(
      '127.0.0.2',
    );
  });
});

describe('loadQemuConf', () => {
  it('uses the defaults when the file does not exist, as libvirt does', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'qvirt-qemuconf-'));
    try {
      const conf = await loadQemuConf(path.join(dir, 'qemu.conf'), { privileged: true });
      expect(fields(conf)).toEqual(fields(defaultQemuConf({ privileged: true })));
      expect(conf.raw.file).toBe(path.join(dir, 'qemu.conf'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reads a file and names it in errors', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'qvirt-qemuconf-'));
    try {
      const file = path.join(dir, 'qemu.conf');
      await writeFile(file, 'user = "qemu"\nvnc_tls = 1');
      expect(await loadQemuConf(file, { privileged: true })).toMatchObject({ user: 'qemu', vncTls: true });
      await writeFile(file, 'vnc_tls = 1\nuser = 0\n');
      await expect(loadQemuConf(file, { privileged: true })).rejects.toThrow(
        `internal error: ${file}:2: expected a string for 'user' parameter`,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reports a file that cannot be read', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'qvirt-qemuconf-'));
    try {
      const notAFile = path.join(dir, 'qemu.conf');
      await mkdir(notAFile);
      const err = await loadQemuConf(notAFile, { privileged: true }).catch((e: unknown) => e as VirError);
      expect(err).toBeInstanceOf(VirError);
      expect((err as VirError).code).toBe('SYSTEM_ERROR');
      expect((err as VirError).message).toBe(`Failed to read file '${notAFile}': Is a directory`);

      const locked = path.join(dir, 'locked.conf');
      await writeFile(locked, 'vnc_tls = 1\n');
      await chmod(locked, 0o000);
      // root reads any file, so the permission check only means something for other users.
      if (process.getuid?.() !== 0) {
        await expect(loadQemuConf(locked, { privileged: false })).rejects.toThrow(
          `Failed to open file '${locked}': Permission denied`,
        );
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
