/** libvirt-python (Debian's python3-libvirt 9.0) lists domains through qvirtd. */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guestXml, run, startTestDaemon, type TestDaemon } from '../test-support/harness.js';

const PYTHON = '/usr/bin/python3';
const hasPythonLibvirt = existsSync(PYTHON) && existsSync('/usr/lib/python3/dist-packages/libvirt.py');

describe.skipIf(!hasPythonLibvirt)('python3-libvirt against qvirtd', () => {
  let t: TestDaemon;
  beforeAll(async () => {
    t = await startTestDaemon();
    await t.daemon.driver.defineXML((await import('node:fs')).readFileSync(guestXml(t.dir, 'py1'), 'utf8'));
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('opens, lists all domains with their state, reads the XML and a read-only connection', async () => {
    const script = `
import libvirt, sys
c = libvirt.open(sys.argv[1])
print(c.getType(), c.getLibVersion())
for d in c.listAllDomains(0):
    print(d.name(), d.UUIDString() == d.UUIDString(), d.isActive(), d.isPersistent(), d.state())
print('py1' in c.lookupByName('py1').XMLDesc(0))
c.close()
ro = libvirt.openReadOnly(sys.argv[2])
print(len(ro.listAllDomains(0)))
try:
    ro.defineXML(c and '<domain/>')
except libvirt.libvirtError as e:
    print(e.get_error_code(), e.get_error_message())
`;
    const r = await run(PYTHON, ['-c', script, t.rwUri, t.roUri], { ...process.env, LIBVIRT_AUTOSTART: '0' });
    // libvirt's default error handler prints the refusal too
    expect(r.stderr).toBe(
      'libvirt: Domain Config error : operation forbidden: read only access prevents virDomainDefineXML\n',
    );
    expect(r.stdout.split('\n')).toEqual([
      'QEMU 9000000',
      'py1 True 0 1 [5, 0]',
      'True',
      '1',
      '29 operation forbidden: read only access prevents virDomainDefineXML',
      '',
    ]);
  });
});
