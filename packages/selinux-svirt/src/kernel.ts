/**
 * What the driver asks of the kernel's SELinux, in one injectable object: libselinux's
 * is_selinux_enabled, security_getenforce, security_get_boolean_active, security_check_context,
 * getcon, getpidcon and setsockcreatecon. `hostSELinux(host)` answers through selinuxfs and
 * /proc on the real machine; `fakeSELinux()` stands in where the kernel has no SELinux (tests,
 * the conformance corpus), which is the only part of the driver that is faked. File labels are
 * not here: they are `security.selinux` xattrs, real on any file system with xattrs.
 */
import type { HostPort } from '@qvirt/core';

export interface SELinuxKernel {
  /** is_selinux_enabled() > 0: selinuxfs is mounted and a policy is loaded. */
  enabled(): Promise<boolean>;
  /** security_getenforce() == 1. */
  enforcing(): Promise<boolean>;
  /** security_get_boolean_active(name): undefined when the boolean does not exist. */
  booleanActive(name: string): Promise<boolean | undefined>;
  /** security_check_context: whether the loaded policy accepts the context. */
  checkContext(context: string): Promise<boolean>;
  /** getcon_raw: the daemon's own context. */
  currentContext(): Promise<string>;
  /** getpidcon_raw. */
  pidContext(pid: number): Promise<string>;
  /** setsockcreatecon_raw (undefined clears it). */
  setSocketCreateContext(context: string | undefined): Promise<void>;
}

type KernelHost = Pick<HostPort, 'readFile' | 'writeFile' | 'exists'>;

function trimNul(s: string): string {
  return s.replace(/\0+$/, '').trim();
}

/** Where selinuxfs is mounted (libselinux's selinux_mnt), from /proc/self/mounts. */
export async function selinuxfsMount(host: Pick<HostPort, 'readFile'>): Promise<string | undefined> {
  let mounts: string;
  try {
    mounts = await host.readFile('/proc/self/mounts');
  } catch {
    return undefined;
  }
  for (const line of mounts.split('\n')) {
    const [, dir, type] = line.split(' ');
    if (type === 'selinuxfs' && dir) return dir.replace(/\\040/g, ' ');
  }
  return undefined;
}

/** The real kernel, through selinuxfs and /proc. */
export function hostSELinux(host: KernelHost): SELinuxKernel {
  let mnt: Promise<string | undefined> | undefined;
  const fs = () => {
    mnt ??= selinuxfsMount(host);
    return mnt;
  };
  return {
    async enabled() {
      const dir = await fs();
      if (!dir) return false;
      // A mounted selinuxfs without a loaded policy reads no current context.
      try {
        const ctx = trimNul(await host.readFile('/proc/self/attr/current'));
        return ctx !== '' && ctx !== 'kernel' ? true : await host.exists(`${dir}/enforce`);
      } catch {
        return false;
      }
    },
    async enforcing() {
      const dir = await fs();
      if (!dir) return false;
      try {
        return trimNul(await host.readFile(`${dir}/enforce`)) === '1';
      } catch {
        return false;
      }
    },
    async booleanActive(name) {
      const dir = await fs();
      if (!dir) return undefined;
      try {
        // "CURRENT PENDING"
        return trimNul(await host.readFile(`${dir}/booleans/${name}`)).split(/\s+/)[0] === '1';
      } catch {
        return undefined;
      }
    },
    async checkContext(context) {
      const dir = await fs();
      if (!dir) return false;
      try {
        await host.writeFile(`${dir}/context`, `${context}\0`);
        return true;
      } catch {
        return false;
      }
    },
    async currentContext() {
      return trimNul(await host.readFile('/proc/self/attr/current'));
    },
    async pidContext(pid) {
      return trimNul(await host.readFile(`/proc/${pid}/attr/current`));
    },
    async setSocketCreateContext(context) {
      await host.writeFile('/proc/thread-self/attr/sockcreate', context ?? '');
    },
  };
}

export interface FakeSELinuxOptions {
  enabled?: boolean;
  enforcing?: boolean;
  /** The daemon's context (libvirt's tests use `system_u:system_r:virtd_t:s0-s0:c0.c1023`). */
  currentContext?: string;
  /** Contexts of running processes, for ReserveLabel and GetProcessLabel. */
  pids?: Record<number, string>;
  booleans?: Record<string, boolean>;
  /** Contexts the fake policy rejects (default: any string that parses). */
  invalidContexts?: string[];
}

export interface FakeSELinux extends SELinuxKernel {
  /** What setSocketCreateContext last set. */
  socketCreateContext: string | undefined;
  options: FakeSELinuxOptions;
}

/** A kernel with SELinux, in memory: what tests of the enabled paths run against. */
export function fakeSELinux(options: FakeSELinuxOptions = {}): FakeSELinux {
  const o = options;
  const fake: FakeSELinux = {
    options: o,
    socketCreateContext: undefined,
    enabled: async () => o.enabled ?? true,
    enforcing: async () => o.enforcing ?? true,
    booleanActive: async (name) => o.booleans?.[name],
    checkContext: async (c) => c.split(':').length >= 3 && !(o.invalidContexts ?? []).includes(c),
    currentContext: async () => o.currentContext ?? 'system_u:system_r:virtd_t:s0-s0:c0.c1023',
    pidContext: async (pid) => {
      const c = o.pids?.[pid];
      if (c === undefined) {
        throw Object.assign(new Error('No such process'), { code: 'ESRCH' });
      }
      return c;
    },
    setSocketCreateContext: async (c) => {
      fake.socketCreateContext = c;
    },
  };
  return fake;
}
