/**
 * The calls orchestrators make through libvirt-python (Debian's python3-libvirt 9.0) for a
 * domain's vCPUs, memory, metadata, devices and statistics, answered by qvirtd.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guestXml, run, startTestDaemon, type TestDaemon } from '../test-support/harness.js';

const PYTHON = '/usr/bin/python3';
const hasPythonLibvirt = existsSync(PYTHON) && existsSync('/usr/lib/python3/dist-packages/libvirt.py');

describe.skipIf(!hasPythonLibvirt)('python3-libvirt: resources and statistics through qvirtd', () => {
  let t: TestDaemon;
  beforeAll(async () => {
    t = await startTestDaemon();
    const xml = readFileSync(guestXml(t.dir, 'py2'), 'utf8').replace(
      '<vcpu>1</vcpu>',
      "<vcpu current='1'>2</vcpu>",
    );
    await t.daemon.driver.defineXML(xml);
    writeFileSync(path.join(t.dir, 'extra.img'), Buffer.alloc(1 << 20));
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('answers vcpus, pinning, stats, memory, metadata with its event, devices and rename', async () => {
    const script = `
import libvirt, sys, threading, time
libvirt.virEventRegisterDefaultImpl()
threading.Thread(target=lambda: [libvirt.virEventRunDefaultImpl() for _ in iter(int, 1)], daemon=True).start()
libvirt.registerErrorHandler(lambda ctx, err: None, None)
c = libvirt.open(sys.argv[1])
d = c.lookupByName('py2')
seen = []
c.domainEventRegisterAny(d, libvirt.VIR_DOMAIN_EVENT_ID_METADATA_CHANGE, lambda c_, d_, t_, ns, o: seen.append((t_, ns)), None)
print(d.vcpusFlags(libvirt.VIR_DOMAIN_AFFECT_CONFIG | libvirt.VIR_DOMAIN_VCPU_MAXIMUM), d.vcpusFlags(libvirt.VIR_DOMAIN_AFFECT_CONFIG))
print(len(d.vcpuPinInfo(libvirt.VIR_DOMAIN_AFFECT_CONFIG)))
d.setMemoryFlags(32768, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
print(d.info()[1:3])
d.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, '<nova><flavor>m1</flavor></nova>', 'nova', 'http://openstack.org/xmlns/libvirt/nova/1.1', 0)
print(d.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, 'http://openstack.org/xmlns/libvirt/nova/1.1', 0))
d.attachDeviceFlags("<disk type='file' device='disk'><source file='%s'/><target dev='vdb' bus='virtio'/></disk>" % sys.argv[2], libvirt.VIR_DOMAIN_AFFECT_CONFIG)
print("dev='vdb'" in d.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
print(d.blockInfo('hda', 0)[0])
d.create()
print([v[0] for v in d.vcpus()[0]], d.jobInfo()[0], d.controlInfo())
stats = dict(c.getAllDomainStats(libvirt.VIR_DOMAIN_STATS_STATE | libvirt.VIR_DOMAIN_STATS_VCPU)[0][1])
print(stats['state.state'], stats['vcpu.current'], stats['vcpu.maximum'], 'vcpu.0.time' in stats)
print(c.domainListGetStats([d], libvirt.VIR_DOMAIN_STATS_BALLOON)[0][1]['balloon.maximum'])
d.pinVcpu(0, (True,))
print(d.vcpuPinInfo(libvirt.VIR_DOMAIN_AFFECT_LIVE)[0][0])
d.destroy()
d.rename('py3', 0)
print(c.lookupByName('py3').name())
time.sleep(0.5)
print(seen)
`;
    const r = await run(PYTHON, ['-c', script, t.rwUri, path.join(t.dir, 'extra.img')], {
      ...process.env,
      LIBVIRT_AUTOSTART: '0',
    });
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n')).toEqual([
      '2 1',
      // libvirt-python asks for as many maps as virDomainGetInfo counts vCPUs (the current ones)
      '1',
      '[65536, 32768]',
      '<nova:nova xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1">',
      '  <nova:flavor>m1</nova:flavor>',
      '</nova:nova>',
      'True',
      '512',
      '[0] 0 [0, 0, 0]',
      '1 1 2 True',
      '65536',
      'True',
      'py3',
      "[(2, 'http://openstack.org/xmlns/libvirt/nova/1.1')]",
      '',
    ]);
  });
});
