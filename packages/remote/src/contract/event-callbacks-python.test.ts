/**
 * One connection's domain event callbacks as libvirt-python (libvirt's own client library) sees
 * them through qvirtd: the legacy virConnectDomainEventRegister and virConnectDomainEventRegisterAny
 * registered twice with the same callback and once with another, which are refused with
 * libvirt's text, which get a define's and an undefine's events, and the deregistrations.
 * tools/event-sequences/callbacks.py does the steps; its output against libvirtd
 * (tools/event-sequences/recorded/callbacks-libvirt-9.0.0.txt) is what qvirtd must give.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, startTestDaemon, type TestDaemon } from '../test-support/harness.js';

const PYTHON = '/usr/bin/python3';
const hasPythonLibvirt = existsSync(PYTHON) && existsSync('/usr/lib/python3/dist-packages/libvirt.py');
const TOOLS = path.resolve(import.meta.dirname, '../../../../tools/event-sequences');

describe.skipIf(!hasPythonLibvirt)('domain event callbacks through qvirtd, as libvirtd answers them', () => {
  let t: TestDaemon;
  beforeAll(async () => {
    t = await startTestDaemon();
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('refuses a second registration of the same callback and deletes only what is registered', async () => {
    const r = await run(PYTHON, [path.join(TOOLS, 'callbacks.py'), t.rwUri], {
      ...process.env,
      LIBVIRT_AUTOSTART: '0',
    });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(readFileSync(path.join(TOOLS, 'recorded/callbacks-libvirt-9.0.0.txt'), 'utf8'));
  });
});
