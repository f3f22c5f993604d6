/**
 * The whole host probe: KVM usability, emulator discovery, a cached QMP probe per binary (one
 * failing binary never stops the others), and progress on a terminal.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { QemuCaps } from '@qvirt/qemu-argv';
import { cacheKeyFor, readCache, writeCache } from './cache.js';
import {
  type DiscoverOptions,
  discoverEmulators,
  type EmulatorChoice,
  hostArch,
  type KvmState,
  kvmState,
} from './discover.js';
import { groupList } from './kvm-access.js';
import { type ProbeResult, probeBinary } from './probe.js';

/** qvirt's version (this package's), part of every cache key. */
export const QVIRT_VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

export interface HostProbeOptions extends Omit<DiscoverOptions, 'kvmUsable'> {
  /** Cache directory (the instance's `<cacheDir>/qemu/capabilities`); no caching when absent. */
  cacheDir?: string;
  /** The QEMU user and group; probes run as them when different from ours. */
  uid: number;
  gid: number;
  groups?: number[];
  /** /dev/kvm, injectable for tests. */
  kvmDevice?: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Run the QEMU processes as uid/gid (needs root). Default: only when we are root. */
  dropPrivileges?: boolean;
  /** Where progress goes; shown only when it is a TTY. Default `process.stderr`. */
  progress?: NodeJS.WriteStream | { isTTY?: boolean; write(s: string): unknown };
  /** Overrides the version in cache keys (tests). */
  qvirtVersion?: string;
}

export interface EmulatorProbe extends EmulatorChoice {
  /** The probe, or undefined when it failed (`error` says why) or for xenner. */
  result?: ProbeResult;
  error?: string;
  /** Whether the result came from the cache. */
  cached?: boolean;
}

export interface HostProbe {
  hostArch: string;
  kvm: KvmState;
  emulators: EmulatorProbe[];
  /** One line per binary that failed. */
  errors: string[];
}

function progressWriter(stream: HostProbeOptions['progress']) {
  const out = stream ?? process.stderr;
  if (!out.isTTY) return { step: (_: string) => {}, done: () => {} };
  let shown = false;
  return {
    step(text: string) {
      shown = true;
      out.write(`\r\x1b[K${text}`);
    },
    done() {
      if (shown) out.write('\r\x1b[K');
    },
  };
}

/** Probes every emulator this host has, with the cache, and reports errors per binary. */
export async function probeHost(opts: HostProbeOptions): Promise<HostProbe> {
  const kvm = kvmState({
    ...(opts.kvmDevice ? { device: opts.kvmDevice } : {}),
    uid: opts.uid,
    gid: opts.gid,
    ...(opts.groups ? { groups: opts.groups } : {}),
  });
  // libvirt probes with accel=kvm:tcg whatever the QEMU user may do (as root the probe keeps
  // CAP_DAC_OVERRIDE); the access answer only invalidates cached probes (virQEMUCapsIsValid)
  const kvmPresent = existsSync(opts.kvmDevice ?? '/dev/kvm');
  const choices = discoverEmulators({ ...opts, kvmUsable: kvm.usable });
  const host = opts.hostArch ?? hostArch();
  const version = opts.qvirtVersion ?? QVIRT_VERSION;
  const drop = opts.dropPrivileges ?? process.getuid?.() === 0;
  const progress = progressWriter(opts.progress);
  const byBinary = new Map<string, Promise<{ result?: ProbeResult; error?: string; cached?: boolean }>>();
  const binaries = [...new Set(choices.filter((c) => c.osType === 'hvm').map((c) => c.binary))];
  let n = 0;

  const probeOne = async (binary: string) => {
    const i = ++n;
    const label = `probing ${basename(binary)} (${i}/${binaries.length})`;
    try {
      const key = await cacheKeyFor(binary, version, kvm.usable);
      if (opts.cacheDir) {
        const hit = await readCache(opts.cacheDir, key);
        if (hit) return { result: hit, cached: true };
      }
      progress.step(label);
      const result = await probeBinary(binary, {
        kvmUsable: kvmPresent,
        ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
        ...(opts.env ? { env: opts.env } : {}),
        ...(drop ? { uid: opts.uid, gid: opts.gid, groups: groupList(opts.uid, opts.gid) } : {}),
        onStep: (s) => progress.step(`${label}: ${s}`),
      });
      // an unwritable cache only costs the next run a probe
      if (opts.cacheDir) await writeCache(opts.cacheDir, key, result).catch(() => {});
      return { result, cached: false };
    } catch (err) {
      return { error: (err as Error).message.split('\n')[0]! };
    }
  };
  // One at a time: probes are CPU-heavy and progress stays readable.
  for (const b of binaries) {
    const p = probeOne(b);
    byBinary.set(b, p);
    await p;
  }
  progress.done();

  const emulators: EmulatorProbe[] = [];
  const errors: string[] = [];
  for (const c of choices) {
    if (c.osType !== 'hvm') {
      emulators.push(c);
      continue;
    }
    const r = await byBinary.get(c.binary)!;
    emulators.push({ ...c, ...r });
  }
  for (const b of binaries) {
    const r = await byBinary.get(b)!;
    if (r.error) errors.push(r.error);
  }
  return { hostArch: host, kvm, emulators, errors };
}

/** The live QemuCaps for one binary (or the host's emulator for `arch`), for the argv codec. */
export function capsFor(probe: HostProbe, archOrBinary: string): QemuCaps | undefined {
  const e =
    probe.emulators.find((x) => x.binary === archOrBinary && x.result) ??
    probe.emulators.find((x) => x.arch === archOrBinary && x.osType === 'hvm' && x.result);
  return e?.result?.caps;
}
