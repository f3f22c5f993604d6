/**
 * The driver against the real file system and the real apparmor_parser in parse-only mode. This
 * kernel has no AppArmor, so enforcement is faked: `profilesPath` points at a file standing in
 * for /sys/kernel/security/apparmor/profiles (the injectable probe), and `apparmorParser` at a
 * script that compiles the profile with `apparmor_parser -Q -K` and then edits that file as the
 * kernel would on -a/-r/-R.
 */
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  baseLaunchSpec,
  type DomainDef,
  defaultQemuConf,
  diskImageSource,
  nodeHost,
  parseDomainXML,
  type SecurityDriverOptions,
} from '@qvirt/core';
import { afterEach, describe, expect, it } from 'vitest';
import apparmor, { DRIVER_NAME } from './index.js';
import { CORPUS } from './test-support/corpus.js';

const UUID = '11111111-2222-3333-4444-555555555555';
const NAME = `libvirt-${UUID}`;
const hasParser = spawnSync('apparmor_parser', ['--version']).status === 0 && existsSync(CORPUS);

let roots: string[] = [];
afterEach(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
  roots = [];
});

function world(listed: string[] = ['libvirtd (enforce)']) {
  const root = mkdtempSync(path.join(tmpdir(), 'aa-driver-'));
  roots.push(root);
  const dir = path.join(root, 'apparmor.d/libvirt');
  const base = path.join(root, 'apparmor.d');
  mkdirSync(dir, { recursive: true });
  mkdirSync(path.join(base, 'abstractions'));
  mkdirSync(path.join(base, 'local/abstractions'), { recursive: true });
  copyFileSync(path.join(CORPUS, 'reference/TEMPLATE.qemu'), path.join(dir, 'TEMPLATE.qemu'));
  copyFileSync(path.join(CORPUS, 'reference/libvirt-qemu'), path.join(base, 'abstractions/libvirt-qemu'));
  writeFileSync(path.join(base, 'local/abstractions/libvirt-qemu'), '');
  const profiles = path.join(root, 'profiles');
  writeFileSync(profiles, listed.map((l) => `${l}\n`).join(''));
  const log = path.join(root, 'parser.log');
  const parser = path.join(root, 'apparmor_parser');
  writeFileSync(
    parser,
    `#!/bin/sh
# The driver runs the parser with PATH=/sbin:/usr/sbin: absolute paths for everything else.
echo "$1 $2" >> ${log}
name=$(/usr/bin/basename "$2")
case "$1" in
  -a|-r) /usr/sbin/apparmor_parser -Q -K -I ${base} "$2" 2>/dev/null || exit 1
         /bin/grep -v "^$name " ${profiles} > ${profiles}.new; echo "$name (enforce)" >> ${profiles}.new
         /bin/mv ${profiles}.new ${profiles} ;;
  -R) /bin/grep -q "^$name " ${profiles} || exit 234
      /bin/grep -v "^$name " ${profiles} > ${profiles}.new; /bin/mv ${profiles}.new ${profiles} ;;
esac
`,
    { mode: 0o755 },
  );
  const disk = path.join(root, 'disk.img');
  writeFileSync(disk, '');
  const options: SecurityDriverOptions & Record<string, unknown> = {
    virtDriver: 'QEMU',
    conf: defaultQemuConf({ privileged: true }),
    privileged: true,
    user: 0,
    group: 0,
    defaultConfined: true,
    requireConfined: false,
    dynamicOwnership: true,
    mountNamespace: false,
    dirs: { config: root, run: root, lib: root, cache: root, log: root },
    apparmorDir: dir,
    apparmorParser: parser,
    profilesPath: profiles,
  };
  const def = (): DomainDef => {
    const d = parseDomainXML(`<domain type='qemu'><name>g1</name><uuid>${UUID}</uuid><memory>65536</memory>
      <os><type arch='x86_64'>hvm</type></os>
      <devices><disk type='file' device='disk'><source file='${disk}'/><target dev='vda' bus='virtio'/></disk></devices></domain>`);
    d.seclabel = [{ type: 'dynamic', model: 'apparmor', relabel: 'yes' }];
    return d;
  };
  return { root, dir, profiles, log, options, def, disk };
}

describe.skipIf(!hasParser)('apparmor driver', () => {
  it('probes through the profiles list and TEMPLATE.qemu (injected: this kernel has no AppArmor)', async () => {
    const w = world();
    const host = nodeHost();
    expect(apparmor.driverName).toBe(DRIVER_NAME);
    expect(await apparmor(w.options as never, host).probe('QEMU')).toBe('enable');
    writeFileSync(w.profiles, '/usr/sbin/cupsd (enforce)\n');
    expect(await apparmor(w.options as never, host).probe('QEMU')).toBe('disable');
    expect(
      await apparmor({ ...w.options, profilesPath: path.join(w.root, 'absent') } as never, host).probe(
        'QEMU',
      ),
    ).toBe('disable');
    // The real list does not exist here.
    expect(await apparmor({ ...w.options, profilesPath: undefined } as never, host).probe('QEMU')).toBe(
      'disable',
    );
  });

  it('generates, loads, updates and removes libvirt-<uuid>', async () => {
    const w = world();
    const drv = apparmor(w.options as never, nodeHost());
    const def = w.def();
    await drv.domainGenSecurityLabel!(def);
    expect(def.seclabel![0]).toMatchObject({ label: NAME, imagelabel: NAME });
    const profile = readFileSync(path.join(w.dir, NAME), 'utf8');
    expect(profile).toContain(`profile ${NAME} flags=(attach_disconnected) {`);
    expect(profile).toContain(`  #include "${w.dir}/${NAME}.files"\n\n}`);
    const files = readFileSync(path.join(w.dir, `${NAME}.files`), 'utf8');
    expect(files).toContain(`  "${w.disk}" rwk,\n`);
    expect(files).not.toContain('/dev/vhost-net'); // TCG: no vhost
    expect(readFileSync(w.profiles, 'utf8')).toContain(`${NAME} (enforce)`);
    expect(readFileSync(w.log, 'utf8')).toBe(`-a ${w.dir}/${NAME}\n`);

    const spec = baseLaunchSpec({
      binary: '/usr/bin/qemu-system-x86_64',
      args: [],
      env: [],
      cwd: '/',
      logFd: 2,
    });
    await drv.domainSetSecurityChildProcessLabel!(def, spec);
    expect(spec.appArmorProfile).toBe(NAME);
    expect(await drv.domainGetSecurityProcessLabel!(def, 1)).toEqual({ label: NAME, enforcing: true });

    // Hotplug: a new disk is appended, its removal regenerates.
    const extra = path.join(w.root, 'extra.img');
    writeFileSync(extra, '');
    const src = diskImageSource({ type: 'file', source: { file: extra }, target: { dev: 'vdb' } } as never);
    await drv.domainSetSecurityImageLabel!(def, src, {});
    expect(readFileSync(path.join(w.dir, `${NAME}.files`), 'utf8')).toBe(`${files}  "${extra}" rwk,\n`);
    await drv.domainRestoreSecurityImageLabel!(def, src, {});
    expect(readFileSync(path.join(w.dir, `${NAME}.files`), 'utf8')).toBe(files);
    await expect(
      drv.domainSetSecurityImageLabel!(def, { ...src, path: `${w.root}/missing.img` }, {}),
    ).rejects.toThrow(`internal error: '${w.root}/missing.img' does not exist`);

    // Stop: unloaded, rules deleted, the profile file kept.
    await drv.domainRestoreSecurityAllLabel!(def, {});
    await drv.domainReleaseSecurityLabel!(def);
    expect(readFileSync(w.profiles, 'utf8')).not.toContain(NAME);
    expect(existsSync(path.join(w.dir, `${NAME}.files`))).toBe(false);
    expect(existsSync(path.join(w.dir, NAME))).toBe(true);
    expect(def.seclabel![0]!.label).toBeUndefined();
  });

  it('never overwrites an administrator-tuned libvirt-<uuid>, but regenerates .files', async () => {
    const w = world();
    const drv = apparmor(w.options as never, nodeHost());
    const first = w.def();
    await drv.domainGenSecurityLabel!(first);
    await drv.domainRestoreSecurityAllLabel!(first, {});
    const tuned = readFileSync(path.join(w.dir, NAME), 'utf8').replace(
      'flags=(attach_disconnected)',
      'flags=(attach_disconnected, complain)',
    );
    writeFileSync(path.join(w.dir, NAME), tuned);
    writeFileSync(path.join(w.dir, `${NAME}.files`), '# stale\n');
    const again = w.def();
    await drv.domainGenSecurityLabel!(again);
    expect(readFileSync(path.join(w.dir, NAME), 'utf8')).toBe(tuned);
    expect(readFileSync(path.join(w.dir, `${NAME}.files`), 'utf8')).toContain(`"${w.disk}" rwk,`);
    expect(readFileSync(w.log, 'utf8').trim().split('\n').pop()).toBe(`-r ${w.dir}/${NAME}`);
    await drv.domainRestoreSecurityAllLabel!(again, {});
  });

  it('refuses what libvirt refuses', async () => {
    const w = world();
    const drv = apparmor(w.options as never, nodeHost());
    const base = w.def();
    base.seclabel![0]!.baselabel = 'x';
    await expect(drv.domainGenSecurityLabel!(base)).rejects.toThrow(
      'unsupported configuration: Cannot set a base label with AppArmour',
    );
    const bad = w.def();
    bad.devices!.disk![0]!.source = { file: '/etc/shadow' };
    await expect(drv.domainGenSecurityLabel!(bad)).rejects.toThrow(
      `internal error: cannot load AppArmor profile '${NAME}': /etc/shadow: skipped restricted file`,
    );
    expect(bad.seclabel![0]!.label).toBeUndefined();
    const stat = w.def();
    stat.seclabel = [{ type: 'static', model: 'apparmor', label: 'nope' }];
    await expect(drv.domainSecurityVerify!(stat)).rejects.toThrow("XML error: Invalid security label 'nope'");
  });
});
