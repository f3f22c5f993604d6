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

  it('defines secrets, sets and reads values; private ones and read-only connections get none', async () => {
    const script = `
import libvirt, sys
c = libvirt.open(sys.argv[1])
libvirt.registerErrorHandler(lambda ctx, err: None, None)
pub = c.secretDefineXML("<secret private='no'><uuid>3e0c1f5a-2b4d-4c6e-8f10-1a2b3c4d5e6f</uuid><usage type='iscsi'><target>iqn.t</target></usage></secret>")
pub.setValue(b'\\x00py\\xff')
print(pub.UUIDString(), pub.usageType(), pub.usageID(), pub.value())
priv = c.secretDefineXML("<secret private='yes' ephemeral='yes'><usage type='ceph'><name>c</name></usage></secret>")
priv.setValue(b'x')
try:
    priv.value()
except libvirt.libvirtError as e:
    print(e.get_error_code(), e.get_error_message())
print(sorted(s.usageID() for s in c.listAllSecrets(libvirt.VIR_CONNECT_LIST_SECRETS_EPHEMERAL)))
print(c.secretLookupByUsage(libvirt.VIR_SECRET_USAGE_TYPE_ISCSI, 'iqn.t').UUIDString())
ro = libvirt.openReadOnly(sys.argv[2])
r = ro.secretLookupByUUIDString(pub.UUIDString())
print(r.XMLDesc(0).splitlines()[0])
try:
    r.value()
except libvirt.libvirtError as e:
    print(e.get_error_code(), e.get_error_message())
pub.undefine()
priv.undefine()
print(c.numOfSecrets())
`;
    const r = await run(PYTHON, ['-c', script, t.rwUri, t.roUri], { ...process.env, LIBVIRT_AUTOSTART: '0' });
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n')).toEqual([
      `3e0c1f5a-2b4d-4c6e-8f10-1a2b3c4d5e6f 3 iqn.t ${String.raw`b'\x00py\xff'`}`,
      '65 Invalid secret: secret is private',
      "['c']",
      '3e0c1f5a-2b4d-4c6e-8f10-1a2b3c4d5e6f',
      "<secret ephemeral='no' private='no'>",
      '29 operation forbidden: read only access prevents virSecretGetValue',
      '0',
      '',
    ]);
  });
});
