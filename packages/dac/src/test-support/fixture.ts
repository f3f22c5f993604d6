/** Helpers for the dac tests: a temp dir, a domain around some disks, a driver on a host. */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DomainDef, HostPort, QemuConf } from '@qvirt/core';
import { defaultQemuConf, parseDomainXML } from '@qvirt/core';
import dac, { type DacOptions } from '../dac.js';

export const QEMU_UID = 64123;
export const QEMU_GID = 64124;

export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'qvirt-dac-'));
  await chmod(dir, 0o755); // mkdtemp makes 0700, which the QEMU user could not traverse
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export function domain(name: string, devicesXml: string, extra = ''): DomainDef {
  return parseDomainXML(
    `<domain type='qemu'><name>${name}</name><memory>65536</memory><os><type>hvm</type></os>${extra}<devices>${devicesXml}</devices></domain>`,
  );
}

export function fileDisk(path: string, dev: string, more = ''): string {
  return `<disk type='file' device='disk'><source file='${path}'/><target dev='${dev}' bus='virtio'/>${more}</disk>`;
}

export function driver(host: HostPort, overrides: Partial<DacOptions> = {}) {
  const conf: QemuConf = { ...defaultQemuConf({ privileged: true }), rememberOwner: true };
  return dac(
    {
      virtDriver: 'QEMU',
      conf,
      privileged: true,
      user: QEMU_UID,
      group: QEMU_GID,
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
      rememberOwner: true,
      ...overrides,
    },
    host,
  );
}
