/**
 * Where an instance keeps things. One value passed down from the driver (or the conformance
 * runner); nothing below spells a directory out itself.
 */
export interface DirLayout {
  /** Persistent definitions (`/etc/libvirt/qemu`). */
  configDir: string;
  /** Status, pid files, sockets (`/run/libvirt/qemu`). */
  runDir: string;
  /** Per-domain private directories, monitor sockets (`/var/lib/libvirt/qemu`). */
  libDir: string;
  logDir: string;
  cacheDir: string;
  /** UEFI variable stores (`/var/lib/libvirt/qemu/nvram`). */
  nvramDir: string;
  /** Guest agent and other channel sockets (`/var/lib/libvirt/qemu/channel/target`). */
  channelTargetDir: string;
  /** Memory backing files (`/var/lib/libvirt/qemu/ram`). */
  memoryBackingDir: string;
}

/** libvirt's own directories, so qvirt can take over a host's libvirt definitions. */
export function libvirtLayout(): DirLayout {
  return layoutUnder({
    configDir: '/etc/libvirt/qemu',
    runDir: '/run/libvirt/qemu',
    libDir: '/var/lib/libvirt/qemu',
    logDir: '/var/log/libvirt/qemu',
    cacheDir: '/var/cache/libvirt/qemu',
  });
}

/** A layout from its five roots; the rest are placed below them as libvirt places them. */
export function layoutUnder(
  roots: Pick<DirLayout, 'configDir' | 'runDir' | 'libDir' | 'logDir' | 'cacheDir'>,
): DirLayout {
  return {
    ...roots,
    nvramDir: `${roots.libDir}/nvram`,
    channelTargetDir: `${roots.libDir}/channel/target`,
    memoryBackingDir: `${roots.libDir}/ram`,
  };
}

/**
 * libvirt's short domain name (virDomainDefGetShortName): `ID-NAME` with the name cut to 20
 * characters, used for per-domain directories and sockets.
 */
export function shortName(id: number, name: string): string {
  return `${id}-${[...name].slice(0, 20).join('')}`;
}

/** The private directory of a domain (`domain-ID-NAME`), HOME of its QEMU. */
export function domainLibDir(layout: DirLayout, id: number, name: string): string {
  return `${layout.libDir}/domain-${shortName(id, name)}`;
}

/** The system instance (`qemu:///system`): qvirt's own directories, beside libvirt's. */
export function systemLayout(): DirLayout {
  return layoutUnder({
    configDir: '/etc/qvirt/qemu',
    runDir: '/run/qvirt/qemu',
    libDir: '/var/lib/qvirt/qemu',
    logDir: '/var/log/qvirt/qemu',
    cacheDir: '/var/cache/qvirt/qemu',
  });
}

/** The session instance (`qemu:///session`), placed as libvirt places a session daemon's. */
export function sessionLayout(env: Record<string, string | undefined>, home: string): DirLayout {
  const config = env.XDG_CONFIG_HOME || `${home}/.config`;
  const cache = env.XDG_CACHE_HOME || `${home}/.cache`;
  const runtime = env.XDG_RUNTIME_DIR || `${cache}`;
  return layoutUnder({
    configDir: `${config}/qvirt/qemu`,
    runDir: `${runtime}/qvirt/qemu/run`,
    libDir: `${config}/qvirt/qemu/lib`,
    logDir: `${cache}/qvirt/qemu/log`,
    cacheDir: `${cache}/qvirt/qemu`,
  });
}

/** An embedded instance (`qemu:///embed?root=DIR`): everything under DIR, as libvirt's embed driver. */
export function embedLayout(root: string): DirLayout {
  return layoutUnder({
    configDir: `${root}/etc/qemu`,
    runDir: `${root}/run/qemu`,
    libDir: `${root}/lib/qemu`,
    logDir: `${root}/log/qemu`,
    cacheDir: `${root}/cache/qemu`,
  });
}
