/**
 * The registry: from qemu.conf `security_driver` to a security manager (design.md, "qemu.conf
 * `security_driver` and the registry").
 *
 * - libvirt mode (the list is unset or holds only `selinux`, `apparmor`, `none`): libvirt 9.0's
 *   qemuSecurityInit. Unset autoprobes selinux, apparmor, then none (a backend package that is
 *   not installed counts as not compiled in); `none` stands alone; duplicates are errors; when
 *   privileged, `dac` is appended, then `capng` (caps of a non-root QEMU) and `cgroup-devices`
 *   (when `devices` is among cgroup_controllers). The last two are not secmodels in libvirt, so
 *   they are left out of the capabilities XML.
 * - explicit mode (any other name): exactly that stack, in that order, nothing implied.
 *
 * Names map to packages: built-in ones to `@qvirt/<backend>`, anything else is itself an npm
 * package name, resolved from the config file's folder, then the application. The package
 * default-exports a `SecurityDriverFactory` whose driver has that name. `register(factory)` makes a
 * factory known without a package (and takes precedence).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { QemuConf } from '../conf/qemu-conf.js';
import { VirError, virReportError } from '../errors.js';
import type { SecurityDriver, SecurityDriverFactory, SecurityDriverOptions } from './driver.js';
import type { HostPort } from './host.js';
import { type ManagedSecurityDriver, SecurityManager } from './manager.js';
import { NONE_DRIVER_NAME, noneSecurityDriver } from './none.js';

/** The built-in names and the packages that implement them. */
export const BUILTIN_SECURITY_PACKAGES: Readonly<Record<string, string>> = {
  selinux: '@qvirt/selinux-svirt',
  apparmor: '@qvirt/apparmor-svirt',
  dac: '@qvirt/dac',
  capng: '@qvirt/capng',
  'cgroup-devices': '@qvirt/cgroup-devices',
};

/** Names that keep libvirt mode (everything libvirt 9.0 accepts in `security_driver`). */
export const LIBVIRT_MODE_NAMES: readonly string[] = ['selinux', 'apparmor', 'none'];

/** libvirt's autoprobe order. */
const AUTOPROBE: readonly string[] = ['selinux', 'apparmor', 'none'];

type AnyFactory = SecurityDriverFactory<any>;

export interface SecurityResolveContext {
  conf: QemuConf;
  host: HostPort;
  privileged: boolean;
  /** Where qemu.conf lives: plugin packages are resolved from its folder first. */
  confPath?: string;
  /** Further places to resolve packages from, in order (default: the main script's folder, cwd). */
  resolveFrom?: string[];
  dirs: SecurityDriverOptions['dirs'];
  virtDriver?: string;
  warn?: (message: string) => void;
  /** Override the package a name maps to (default BUILTIN_SECURITY_PACKAGES, else the name). */
  packageNames?: Record<string, string>;
  /** Extra options merged into every factory's options (a backend documents its own). */
  extraOptions?: Record<string, unknown>;
}

export interface ResolvedSecurityDriver {
  name: string;
  /** Where it came from: `builtin`, `registered`, or the package's resolved file. */
  source: string;
}

export const notFound = (name: string) =>
  virReportError('INTERNAL_ERROR', 'security', `Security driver ${name} not found`);
export const notEnabled = (name: string) =>
  virReportError('CONFIG_UNSUPPORTED', 'security', `Security driver ${name} not enabled`);

/** Whether a `security_driver` list keeps libvirt's semantics. */
export function isLibvirtMode(names: readonly string[] | undefined): boolean {
  return !names || names.every((n) => LIBVIRT_MODE_NAMES.includes(n));
}

/** qemu.conf `user`/`group` as libvirt's virGetUserID/virGetGroupID read them: `+N`, a name, or N. */
export async function resolveQemuIds(
  conf: QemuConf,
  host: HostPort,
  privileged: boolean,
): Promise<{ user: number; group: number }> {
  if (!privileged || conf.user === undefined) {
    return {
      user: conf.user === undefined ? host.getuid() : await userId(conf.user, host),
      group: conf.group === undefined ? host.getgid() : await groupId(conf.group, host),
    };
  }
  return { user: await userId(conf.user, host), group: await groupId(conf.group ?? '+0', host) };
}

async function userId(text: string, host: HostPort): Promise<number> {
  if (/^\+\d+$/.test(text)) return Number(text.slice(1));
  const u = await host.lookupUser(text);
  if (u) return u.uid;
  if (/^\d+$/.test(text)) return Number(text);
  throw virReportError('INTERNAL_ERROR', 'conf', `Failed to parse user '${text}'`);
}

async function groupId(text: string, host: HostPort): Promise<number> {
  if (/^\+\d+$/.test(text)) return Number(text.slice(1));
  const g = await host.lookupGroup(text);
  if (g) return g.gid;
  if (/^\d+$/.test(text)) return Number(text);
  throw virReportError('INTERNAL_ERROR', 'conf', `Failed to parse group '${text}'`);
}

type PackageLoader = () => Promise<unknown>;
const PROVIDED_PACKAGES = new Map<string, PackageLoader>();

/**
 * Supplies a backend package's module to every registry of this process, by the package name
 * BUILTIN_SECURITY_PACKAGES (or packageNames) maps to. A bundled program provides its own copy
 * this way: loading the package's files from disk beside it would give a second @qvirt/core, whose
 * errors the bundle's `instanceof VirError` would not recognise.
 */
export function provideSecurityPackage(pkg: string, load: PackageLoader): void {
  PROVIDED_PACKAGES.set(pkg, load);
}

export class SecurityRegistry {
  readonly #registered: AnyFactory[] = [];
  /** What the last `createManager` loaded, in stack order. */
  resolved: ResolvedSecurityDriver[] = [];

  /** Make a factory available by its driver's name (without a package). Later wins. */
  register(factory: AnyFactory): this {
    this.#registered.unshift(factory);
    return this;
  }

  /** The factory for `name`: registered, built in (`none`), or from its package; undefined when absent. */
  async find(
    name: string,
    ctx: SecurityResolveContext,
    options: SecurityDriverOptions,
  ): Promise<{ factory: AnyFactory; source: string } | undefined> {
    for (const f of this.#registered) {
      if (f.driverName === name) return { factory: f, source: 'registered' };
    }
    for (const f of this.#registered) {
      if (f.driverName === undefined && f(options, ctx.host).name === name)
        return { factory: f, source: 'registered' };
    }
    if (name === NONE_DRIVER_NAME) return { factory: noneSecurityDriver, source: 'builtin' };
    const pkg = ctx.packageNames?.[name] ?? BUILTIN_SECURITY_PACKAGES[name] ?? name;
    // a package beside the config file wins; then the copy the application provides; then the
    // application's and the caller's own dependencies
    let file = resolvePackage(pkg, ctx.confPath ? [path.dirname(path.resolve(ctx.confPath))] : []);
    const provided = file ? undefined : PROVIDED_PACKAGES.get(pkg);
    if (!file && !provided) file = resolvePackage(pkg, searchBases(ctx));
    if (!file && !provided) return undefined;
    let mod: { default?: unknown };
    try {
      mod = (await (provided ? provided() : import(pathToFileURL(file!).href))) as { default?: unknown };
    } catch (err) {
      throw virReportError(
        'INTERNAL_ERROR',
        'security',
        `Security driver ${name} cannot be loaded from ${pkg}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    if (typeof mod.default !== 'function') {
      throw virReportError(
        'INTERNAL_ERROR',
        'security',
        `Security driver package ${pkg} does not default-export a driver factory`,
      );
    }
    return { factory: mod.default as AnyFactory, source: file ?? pkg };
  }

  /** Build one driver: find, construct, check its name, probe. */
  async #load(
    name: string,
    ctx: SecurityResolveContext,
    options: SecurityDriverOptions,
    required: boolean,
  ): Promise<SecurityDriver | undefined> {
    const found = await this.find(name, ctx, options);
    if (!found) {
      if (required) throw notFound(name);
      return undefined;
    }
    const driver = found.factory(options, ctx.host);
    if (driver.name !== name) {
      throw virReportError(
        'INTERNAL_ERROR',
        'security',
        `Security driver ${name} not found (${found.source} provides driver ${driver.name})`,
      );
    }
    const status = await driver.probe(options.virtDriver);
    if (status !== 'enable') {
      if (required) throw notEnabled(name);
      return undefined;
    }
    this.resolved.push({ name, source: found.source });
    return driver;
  }

  /** qemuSecurityInit: the manager for an instance. */
  async createManager(ctx: SecurityResolveContext): Promise<SecurityManager> {
    const { conf, privileged } = ctx;
    const names = conf.securityDriver && conf.securityDriver.length > 0 ? conf.securityDriver : undefined;
    names?.forEach((n, i) => {
      if (names.indexOf(n) !== i) throw new VirError('CONF_SYNTAX', 'conf', `Duplicate security driver ${n}`);
    });
    const ids = await resolveQemuIds(conf, ctx.host, privileged);
    const options: SecurityDriverOptions = {
      ...(ctx.extraOptions ?? {}),
      virtDriver: ctx.virtDriver ?? 'QEMU',
      conf,
      privileged,
      user: ids.user,
      group: ids.group,
      defaultConfined: conf.securityDefaultConfined,
      requireConfined: conf.securityRequireConfined,
      dynamicOwnership: privileged && conf.dynamicOwnership,
      mountNamespace: privileged && conf.namespaces.includes('mount'),
      dirs: ctx.dirs,
    };
    this.resolved = [];
    const entries: ManagedSecurityDriver[] = [];
    const add = (driver: SecurityDriver, visible = true) => {
      let defaultConfined = conf.securityDefaultConfined;
      if (driver.name === NONE_DRIVER_NAME) {
        if (conf.securityRequireConfined) {
          throw virReportError(
            'CONFIG_UNSUPPORTED',
            'security',
            'Security driver "none" cannot create confined guests',
          );
        }
        // Configured or auto-probed, "none" disables default confinement (virSecurityManagerNew).
        defaultConfined = false;
      }
      entries.push({ driver, defaultConfined, requireConfined: conf.securityRequireConfined, visible });
    };

    if (isLibvirtMode(names)) {
      if (names) {
        for (const n of names) add((await this.#load(n, ctx, options, true))!);
      } else {
        let picked: SecurityDriver | undefined;
        for (const n of AUTOPROBE) {
          picked = await this.#load(n, ctx, options, false);
          if (picked) break;
        }
        add(picked ?? (await this.#load(NONE_DRIVER_NAME, ctx, options, true))!);
      }
      if (privileged) {
        add((await this.#load('dac', ctx, options, true))!);
        add((await this.#load('capng', ctx, options, true))!, false);
        if (await devicesControllerWanted(conf, ctx.host)) {
          add((await this.#load('cgroup-devices', ctx, options, true))!, false);
        }
      }
    } else {
      for (const n of names!) add((await this.#load(n, ctx, options, true))!);
    }

    return new SecurityManager(entries, {
      virtDriver: options.virtDriver,
      ...(ctx.warn ? { warn: ctx.warn } : {}),
      mountNamespace: options.mountNamespace,
      rememberOwner: privileged && conf.rememberOwner,
    });
  }
}

/** `devices` in cgroup_controllers, or unset and the host has a devices hierarchy (v1) or cgroup2. */
export async function devicesControllerWanted(conf: QemuConf, host: HostPort): Promise<boolean> {
  if (conf.cgroupControllers !== undefined) return conf.cgroupControllers.includes('devices');
  const mounts = await host.cgroupMounts();
  return mounts.some((m) => (m.type === 'cgroup' ? m.controllers.includes('devices') : true));
}

function searchBases(ctx: SecurityResolveContext): string[] {
  const bases: string[] = [];
  if (ctx.confPath) bases.push(path.dirname(path.resolve(ctx.confPath)));
  if (ctx.resolveFrom) bases.push(...ctx.resolveFrom);
  else {
    if (process.argv[1]) bases.push(path.dirname(path.resolve(process.argv[1])));
    bases.push(process.cwd());
  }
  return bases;
}

/** The entry file of `pkg` as seen from `base` (a folder or a file URL/path), or undefined. */
function resolvePackage(pkg: string, bases: string[]): string | undefined {
  for (const base of bases) {
    const from = base.startsWith('file:')
      ? base
      : pathToFileURL(path.join(path.resolve(base), 'noop.js')).href;
    try {
      return createRequire(from).resolve(pkg);
    } catch {
      // not there, or an import-only package: look for it by hand
    }
    const manual = findImportEntry(
      pkg,
      base.startsWith('file:') ? path.dirname(fileURLToPath(base)) : path.resolve(base),
    );
    if (manual) return manual;
  }
  return undefined;
}

/** node_modules lookup for a package whose `exports` only has an `import` condition. */
function findImportEntry(pkg: string, start: string): string | undefined {
  for (let dir = start; ; dir = path.dirname(dir)) {
    const root = path.join(dir, 'node_modules', pkg);
    try {
      const json = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
        exports?: unknown;
        main?: string;
      };
      let entry: unknown = json.exports;
      if (entry && typeof entry === 'object' && '.' in entry) entry = (entry as Record<string, unknown>)['.'];
      while (entry && typeof entry === 'object') {
        const c = entry as Record<string, unknown>;
        entry = c.import ?? c.node ?? c.default;
      }
      const rel = typeof entry === 'string' ? entry : (json.main ?? 'index.js');
      return path.join(root, rel);
    } catch {
      // not in this node_modules
    }
    if (path.dirname(dir) === dir) return undefined;
  }
}

/** A registry with nothing registered (a fresh one per driver keeps tests apart). */
export function securityRegistry(): SecurityRegistry {
  return new SecurityRegistry();
}
