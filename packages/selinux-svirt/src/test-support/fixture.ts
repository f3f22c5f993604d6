/**
 * Helpers for the selinux tests: a temp dir, a domain around some devices, and a driver whose
 * kernel side is faked (this kernel has no SELinux) while file labels stay real xattrs.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DomainDef, HostPort } from '@qvirt/core';
import { defaultQemuConf, parseDomainXML } from '@qvirt/core';
import { type FakeSELinuxOptions, fakeSELinux } from '../kernel.js';
import selinux, { type SELinuxOptions } from '../selinux.js';

export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'qvirt-selinux-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export function domain(name: string, devicesXml: string, extra = '', type = 'kvm'): DomainDef {
  return parseDomainXML(
    `<domain type='${type}'><name>${name}</name><memory>65536</memory><os><type>hvm</type></os>${extra}<devices>${devicesXml}</devices></domain>`,
  );
}

export function fileDisk(path: string, dev: string, more = '', sourceMore = ''): string {
  return `<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${path}'>${sourceMore}</source><target dev='${dev}' bus='virtio'/>${more}</disk>`;
}

export const DYNAMIC = "<seclabel type='dynamic' model='selinux' relabel='yes'/>";

/** A sequence of virRandomInt answers, then cycling through 0..n-1. */
export function scriptedRandom(values: number[]): (n: number) => number {
  let i = 0;
  let k = 0;
  return (n) => (i < values.length ? values[i++]! % n : k++ % n);
}

export interface Made {
  driver: ReturnType<typeof selinux>;
  kernel: ReturnType<typeof fakeSELinux>;
  infos: string[];
  warnings: string[];
}

export function driver(
  host: HostPort,
  overrides: Partial<SELinuxOptions> = {},
  kernelOptions: FakeSELinuxOptions = {},
): Made {
  const kernel = fakeSELinux(kernelOptions);
  const infos: string[] = [];
  const warnings: string[] = [];
  const made = selinux(
    {
      virtDriver: 'QEMU',
      conf: defaultQemuConf({ privileged: true }),
      privileged: true,
      user: 107,
      group: 107,
      defaultConfined: true,
      requireConfined: false,
      dynamicOwnership: true,
      mountNamespace: false,
      dirs: {
        config: '/nonexistent',
        run: '/nonexistent',
        lib: '/nonexistent',
        cache: '/nonexistent',
        log: '/nonexistent',
      },
      kernel,
      contextsDir: '/nonexistent/contexts',
      fileContexts: async () => undefined,
      rememberOwner: true,
      fsType: async () => 'ext4',
      onInfo: (m) => infos.push(m),
      onWarn: (m) => warnings.push(m),
      ...overrides,
    },
    host,
  );
  return { driver: made, kernel, infos, warnings };
}
