/**
 * The `apparmor` security driver: libvirt 9.0's security_apparmor.c as a qvirt plugin, with
 * virt-aa-helper's profile generation run in-process (no exec per start). Each domain gets the
 * profile `libvirt-<uuid>`: the file of that name is made once from TEMPLATE.qemu and never
 * overwritten (an administrator may tune one guest), `libvirt-<uuid>.files` holds the generated
 * rules and is regenerated. Profiles are loaded, replaced and removed with apparmor_parser, and
 * QEMU is exec'd under its profile through the launch spec.
 */
import {
  type DomainDef,
  type HostdevDef,
  type HostPort,
  type InputDef,
  type InterfaceDef,
  imageChain,
  type LaunchSpec,
  type MemoryDeviceDef,
  type SeclabelDef,
  type SecurityChardev,
  type SecurityDriver,
  type SecurityDriverOptions,
  type SecurityImageSource,
  type SecurityProcessLabel,
  virErrorMessage,
  virReportError,
} from '@qvirt/core';
import {
  filesContent,
  includeLine,
  profileFromTemplate,
  profileNameOf,
  SYSTEM_APPARMOR_DIR,
} from './profile.js';
import { generateRules, type RulesFs } from './rules.js';

export const DRIVER_NAME = 'apparmor';
/** The kernel's list of loaded profiles: `NAME (enforce)` / `NAME (complain)` per line. */
export const APPARMOR_PROFILES_PATH = '/sys/kernel/security/apparmor/profiles';

export interface AppArmorOptions extends SecurityDriverOptions {
  /** Where profiles live: `/etc/apparmor.d/libvirt` when privileged, else `<config>/apparmor`. */
  apparmorDir?: string;
  /** The parser (default `/sbin/apparmor_parser`). */
  apparmorParser?: string;
  /**
   * The loaded-profiles list (default /sys/kernel/security/apparmor/profiles). AppArmor counts as
   * enabled when it is readable and lists one of `daemonProfiles`; tests point it at a file.
   */
  profilesPath?: string;
  /** Profiles the daemon may run under (default: this process's executable, `libvirtd`). */
  daemonProfiles?: string[];
  /** libvirt's LOCALSTATEDIR and RUNSTATEDIR in the base rules (default `/var`, `/run`). */
  localStateDir?: string;
  runStateDir?: string;
}

const internal = (msg: string) => virReportError('INTERNAL_ERROR', 'security', msg);

export default function apparmor(options: AppArmorOptions, host: HostPort): SecurityDriver {
  const dir =
    options.apparmorDir ?? (options.privileged ? SYSTEM_APPARMOR_DIR : `${options.dirs.config}/apparmor`);
  const parserPath = options.apparmorParser ?? '/sbin/apparmor_parser';
  const profilesPath = options.profilesPath ?? APPARMOR_PROFILES_PATH;
  const rulesFs: RulesFs = {
    exists: (p) => host.exists(p),
    realpath: (p) => host.realpath(p),
    readdir: (p) => host.readdir(p),
    readText: (p) => host.readFile(p),
  };

  const secdefOf = (def: DomainDef): SeclabelDef | undefined =>
    def.seclabel?.find((s) => s.model === DRIVER_NAME);
  const relabel = (s: SeclabelDef) => s.relabel !== 'no';
  const profileName = (def: DomainDef) => profileNameOf(def.uuid ?? '');

  async function profilesList(): Promise<string | undefined> {
    try {
      return await host.readFile(profilesPath);
    } catch {
      return undefined;
    }
  }

  /** profile_status(): -2 unreadable, -1 not loaded, 0 complain, 1 enforce. */
  async function profileStatus(name: string): Promise<-2 | -1 | 0 | 1> {
    const list = await profilesList();
    if (list === undefined) return -2;
    if (!list.includes(`${name} `)) return -1;
    return list.includes(`${name} (enforce)`) ? 1 : 0;
  }

  /** use_apparmor(): the daemon is confined (enforce or complain). */
  async function useAppArmor(): Promise<boolean> {
    let names = options.daemonProfiles;
    if (!names) {
      let exe = process.execPath;
      try {
        exe = await host.realpath('/proc/self/exe');
      } catch {
        // keep execPath
      }
      names = [exe, 'libvirtd'];
    }
    for (const n of names) if ((await profileStatus(n)) >= 0) return true;
    return false;
  }

  async function parser(flag: '-a' | '-r' | '-R', name: string): Promise<void> {
    const r = await host.exec(parserPath, [flag, `${dir}/${name}`], { env: { PATH: '/sbin:/usr/sbin' } });
    if (r.code === 0 || (flag === '-R' && r.code === 234)) return;
    const detail = r.stderr.trim().split('\n').pop() ?? '';
    throw internal(`apparmor_parser exited with error${detail ? `: ${detail}` : ''}`);
  }

  /**
   * load_profile(): write `.files` (and the profile from TEMPLATE.qemu if it has none yet), then
   * load (new) or replace it. `file`/`append`: virt-aa-helper's -f/-F.
   */
  async function loadProfile(def: DomainDef, name: string, file?: string, append = false): Promise<void> {
    const profile = `${dir}/${name}`;
    const create = !(await host.exists(profile));
    const generated = await generateRules(
      def,
      {
        profileName: name,
        ...(!create && file !== undefined ? { newFile: file, append } : {}),
        ...(options.localStateDir ? { localStateDir: options.localStateDir } : {}),
        ...(options.runStateDir ? { runStateDir: options.runStateDir } : {}),
      },
      rulesFs,
    );
    if (!generated.ok) {
      const why = generated.messages.filter((m) => m.level === 'error').map((m) => m.text);
      throw internal(`cannot load AppArmor profile '${name}'${why.length ? `: ${why.join(': ')}` : ''}`);
    }
    const includeFile = `${profile}.files`;
    let existing: string | undefined;
    try {
      existing = await host.readFile(includeFile);
    } catch {
      existing = undefined;
    }
    const content = filesContent(generated.rules, existing, append && !create);
    if (content !== existing) await host.writeFile(includeFile, content, { mode: 0o644 });
    if (create) {
      let template: string;
      try {
        template = await host.readFile(`${dir}/TEMPLATE.qemu`);
      } catch {
        throw internal(`template '${dir}/TEMPLATE.qemu' does not exist`);
      }
      await host.writeFile(profile, profileFromTemplate(template, name, includeLine(dir, name)), {
        mode: 0o644,
      });
    }
    await parser(create ? '-a' : '-r', name);
  }

  /** reload_profile(): only a loaded profile of a relabelled domain is updated. */
  async function reloadProfile(def: DomainDef, file?: string, append = false): Promise<void> {
    const secdef = secdefOf(def);
    if (!secdef || !relabel(secdef) || !secdef.imagelabel) return;
    if ((await profileStatus(secdef.imagelabel)) < 0) return;
    try {
      await loadProfile(def, secdef.imagelabel, file, append);
    } catch (err) {
      throw internal(`cannot update AppArmor profile '${secdef.imagelabel}': ${(err as Error).message}`);
    }
  }

  async function mustExist(path: string, what: string): Promise<void> {
    if (!(await host.exists(path))) throw internal(`${what}'${path}' does not exist`);
  }

  return {
    name: DRIVER_NAME,

    async probe() {
      if (!(await useAppArmor())) return 'disable';
      if (!(await host.exists(`${dir}/TEMPLATE.qemu`))) return 'disable';
      return 'enable';
    },
    getModel: () => DRIVER_NAME,
    getDOI: () => '0',

    async domainSecurityVerify(def) {
      const secdef = secdefOf(def);
      if (secdef?.type !== 'static') return;
      if (!(await useAppArmor()) || !secdef.label || (await profileStatus(secdef.label)) < 0) {
        throw virReportError('XML_ERROR', 'security', `Invalid security label '${secdef.label ?? ''}'`);
      }
    },

    async domainGenSecurityLabel(def) {
      const secdef = secdefOf(def);
      if (!secdef || secdef.type === 'static' || secdef.type === 'none') return;
      if (secdef.baselabel) {
        throw virReportError('CONFIG_UNSUPPORTED', 'security', 'Cannot set a base label with AppArmour');
      }
      if (secdef.label || secdef.imagelabel) throw internal('security label already defined for VM');
      const name = profileName(def);
      secdef.label = name;
      secdef.imagelabel = name;
      try {
        await loadProfile(def, name);
      } catch (err) {
        delete secdef.label;
        delete secdef.imagelabel;
        // The detail of an internal error, without its "internal error: " (it gets one again below).
        const raw = (err as Error).message;
        const prefix = virErrorMessage('INTERNAL_ERROR', '');
        const msg = raw.startsWith(prefix) ? raw.slice(prefix.length) : raw;
        throw internal(
          msg.startsWith('cannot load') ? msg : `cannot load AppArmor profile '${name}': ${msg}`,
        );
      }
    },

    async domainReserveSecurityLabel() {},

    async domainReleaseSecurityLabel(def) {
      const secdef = secdefOf(def);
      if (secdef?.type === 'dynamic') {
        delete secdef.label;
        delete secdef.imagelabel;
      }
    },

    async domainSetSecurityAllLabel(def, opts) {
      const secdef = secdefOf(def);
      if (!secdef || !relabel(secdef)) return;
      if (opts.incomingPath) await reloadProfile(def, opts.incomingPath, true);
    },

    /** remove_profile(): unload (when AppArmor is on) and delete the generated rules. */
    async domainRestoreSecurityAllLabel(def) {
      const secdef = secdefOf(def);
      if (secdef?.type !== 'dynamic' || !secdef.label) return;
      const name = secdef.label;
      try {
        if ((await profileStatus(name)) >= 0) await parser('-R', name);
        await host.unlink(`${dir}/${name}.files`).catch((e: NodeJS.ErrnoException) => {
          if (e.code !== 'ENOENT') throw e;
        });
      } catch (err) {
        throw internal(`could not remove profile for '${name}': ${(err as Error).message}`);
      }
    },

    async domainGetSecurityProcessLabel(def): Promise<SecurityProcessLabel> {
      const name = profileName(def);
      const status = await profileStatus(name);
      if (status < -1) throw internal('error getting profile status');
      return { label: status === -1 ? '' : name, enforcing: status === 1 };
    },

    async domainSetSecurityChildProcessLabel(def: DomainDef, spec: LaunchSpec) {
      const secdef = secdefOf(def);
      if (!secdef?.label) return;
      spec.appArmorProfile = secdef.type === 'static' ? secdef.label : profileName(def);
    },

    async domainSetSecurityImageLabel(def, src) {
      const secdef = secdefOf(def);
      if (!secdef || !relabel(secdef) || !secdef.imagelabel) return;
      for (const layer of imageChain(src)) {
        if (!layer.path || !['file', 'block', 'dir'].includes(layer.type)) continue;
        await mustExist(layer.path, '');
        await reloadProfile(def, layer.path, true);
      }
    },
    async domainRestoreSecurityImageLabel(def, src: SecurityImageSource) {
      if (!['file', 'block', 'dir'].includes(src.type)) return;
      await reloadProfile(def);
    },

    async domainSetSecurityMemoryLabel(def, mem: MemoryDeviceDef) {
      const m = mem as { model?: string; source?: { path?: string } };
      if (m.model !== 'nvdimm' && m.model !== 'virtio-pmem') return;
      const path = m.source?.path ?? '';
      await mustExist(path, 'AppArmorSetMemoryLabel: ');
      await reloadProfile(def, path, true);
    },
    async domainRestoreSecurityMemoryLabel(def) {
      await reloadProfile(def);
    },

    async domainSetSecurityInputLabel(def, input: InputDef) {
      const i = input as { type?: string; source?: { evdev?: string; dev?: string } };
      if (i.type !== 'passthrough' && i.type !== 'evdev') return;
      const path = i.source?.evdev ?? i.source?.dev;
      if (!path) throw internal('AppArmorSetInputLabel: passthrough input device has no source');
      await mustExist(path, 'AppArmorSetInputLabel: ');
      await reloadProfile(def, path, true);
    },
    async domainRestoreSecurityInputLabel(def) {
      await reloadProfile(def);
    },

    async domainSetSecurityHostdevLabel(def, dev: HostdevDef, vroot?: string) {
      const secdef = secdefOf(def);
      if (!secdef || !relabel(secdef) || !secdef.imagelabel) return;
      for (const file of await hostdevFiles(host, dev, vroot)) await reloadProfile(def, file, true);
    },
    async domainRestoreSecurityHostdevLabel(def) {
      await reloadProfile(def);
    },

    async domainSetSecurityChardevLabel(def, dev: SecurityChardev) {
      if (!secdefOf(def)) return;
      const path = dev.source?.find((s) => s.path !== undefined)?.path;
      switch (dev.type) {
        case 'dev':
        case 'file':
        case 'unix':
        case 'pty':
          await reloadProfile(def, path, true);
          break;
        case 'pipe':
          for (const p of [`${path}.in`, `${path}.out`])
            if (await host.exists(p)) await reloadProfile(def, p, true);
          await reloadProfile(def, path, true);
          break;
        default:
      }
    },
    async domainRestoreSecurityChardevLabel(def) {
      if (secdefOf(def)) await reloadProfile(def);
    },

    async domainSetSecurityNetdevLabel(def, net: InterfaceDef) {
      const n = net as { type?: string; source?: { type?: string; path?: string } };
      if (!secdefOf(def) || n.type !== 'vhostuser' || !n.source?.path) return;
      await reloadProfile(def, n.source.path, true);
    },
    async domainRestoreSecurityNetdevLabel(def) {
      if (secdefOf(def)) await reloadProfile(def);
    },

    async domainSetSavedStateLabel(def, savefile) {
      await reloadProfile(def, savefile, true);
    },
    async domainRestoreSavedStateLabel(def) {
      await reloadProfile(def);
    },

    async domainSetPathLabel(def, path, allowSubtree) {
      await reloadProfile(def, allowSubtree ? `${path}/{,**}` : path, true);
    },
    async domainSetPathLabelRO(def, path) {
      await reloadProfile(def, path, true);
    },
    async domainRestorePathLabel(def) {
      await reloadProfile(def);
    },
  };
}

/** The device files of a host device, as libvirt's hostdev hook names them. */
async function hostdevFiles(host: HostPort, dev: HostdevDef, vroot?: string): Promise<string[]> {
  const h = dev as {
    mode?: string;
    type?: string;
    driver?: { name?: string };
    source?: {
      address?: {
        bus?: number;
        device?: number;
        domain?: number;
        slot?: number;
        function?: number;
        uuid?: string;
      };
    };
  };
  if ((h.mode ?? 'subsystem') !== 'subsystem') return [];
  const a = h.source?.address ?? {};
  const hex = (n: number | undefined, w: number) => (n ?? 0).toString(16).padStart(w, '0');
  const iommuGroup = async (sysdir: string) => {
    const link = await host.readlink(`${sysdir}/iommu_group`);
    return `/dev/vfio/${link.slice(link.lastIndexOf('/') + 1)}`;
  };
  switch (h.type) {
    case 'usb':
      return [
        `${vroot ?? ''}/dev/bus/usb/${String(a.bus ?? 0).padStart(3, '0')}/${String(a.device ?? 0).padStart(3, '0')}`,
      ];
    case 'pci': {
      const sysdir = `/sys/bus/pci/devices/${hex(a.domain, 4)}:${hex(a.bus, 2)}:${hex(a.slot, 2)}.${hex(a.function, 1)}`;
      if ((h.driver?.name ?? 'vfio') === 'vfio') return [await iommuGroup(sysdir)];
      const names = await host.readdir(sysdir);
      return names
        .filter(
          (e) =>
            e === 'config' || e.startsWith('resource') || ['rom', 'vendor', 'device', 'reset'].includes(e),
        )
        .map((e) => `${sysdir}/${e}`);
    }
    case 'mdev':
      return a.uuid ? [await iommuGroup(`/sys/bus/mdev/devices/${a.uuid}`)] : [];
    default:
      return [];
  }
}
