import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CliTestDaemon,
  hasVirsh,
  qvirshOn,
  type Run,
  startCliTestDaemon,
  virshOn,
} from '../test-support/test-daemon.js';

let t: CliTestDaemon;
let dir: string;
let uri: string;

const virsh = virshOn(() => uri);
const qvirsh = qvirshOn(() => uri);

/** Both print the same, exit status included. */
async function same(...argv: string[]): Promise<Run> {
  const v = await virsh(...argv);
  expect(await qvirsh(...argv)).toEqual(v);
  return v;
}

describe.skipIf(!hasVirsh)('domcapabilities and the CPU commands: virsh and qvirsh through qvirtd', () => {
  beforeAll(async () => {
    t = await startCliTestDaemon('qvirt-cli-cpu-');
    ({ dir, uri } = t);
  });

  afterAll(async () => {
    await t?.stop();
  });

  it('prints the same domain capabilities and refusals', async () => {
    const pc = await same('domcapabilities', '--machine', 'pc', '--virttype', 'qemu');
    expect(pc.out).toMatch(/^<domainCapabilities>\n[\s\S]*<\/domainCapabilities>\n\n\n$/);
    await same('domcapabilities', '--machine', 'q35', '--virttype', 'qemu');
    await same('domcapabilities', '--arch', 'i686', '--virttype', 'qemu');
    const bad = await same('domcapabilities', '--machine', 'nonesuch');
    expect(bad.err).toMatch(
      /^error: failed to get emulator capabilities\nerror: invalid argument: the machine/,
    );
    await same('domcapabilities', '--virttype', 'xyz');
  });

  it('prints the same CPU models, comparisons and baselines', async () => {
    await same('cpu-models', 'x86_64');
    await same('cpu-models', 'aarch64');
    await same('cpu-models', 'nonesuch');

    // a domain capabilities file gives its host-model CPU; an old model; one with a feature no host has
    const domcaps = path.join(dir, 'domcaps.xml');
    writeFileSync(domcaps, (await qvirsh('domcapabilities', '--virttype', 'qemu')).out);
    const old = path.join(dir, 'old.xml');
    writeFileSync(old, '<cpu>\n  <model>qemu64</model>\n</cpu>\n');
    const future = path.join(dir, 'future.xml');
    writeFileSync(future, "<cpu><model>qemu64</model><feature policy='require' name='amx-tile'/></cpu>\n");
    const identical = await same('hypervisor-cpu-compare', domcaps, '--virttype', 'qemu');
    expect(identical.out).toContain('is identical to the CPU provided by hypervisor on the host');
    await same('hypervisor-cpu-compare', old, '--virttype', 'qemu');
    const inc = await same('hypervisor-cpu-compare', future, '--virttype', 'qemu');
    expect(inc.code).toBe(1);
    await same('hypervisor-cpu-compare', future, '--virttype', 'qemu', '--error');
    await same('hypervisor-cpu-baseline', domcaps, '--virttype', 'qemu');
    await same('hypervisor-cpu-baseline', '--file', domcaps, '--virttype', 'qemu', '--features');
    await same('hypervisor-cpu-baseline', '--model', 'Westmere', '--virttype', 'qemu', '--migratable');

    // against the host CPU of capabilities
    const caps = path.join(dir, 'caps.xml');
    writeFileSync(caps, (await qvirsh('capabilities')).out);
    await same('cpu-compare', old);
    await same('cpu-baseline', caps);
    await same('cpu-baseline', caps, '--features');
    await same('cpu-baseline', old);
    await same('cpu-compare', path.join(dir, 'missing.xml'));
  });
});
