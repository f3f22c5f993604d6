/**
 * The guest agent and libvirt-qemu through qvirtd, with libvirt's own virsh and libvirt-python
 * beside qvirsh: the Linux test guest (tools/test-guest) with its agent channel answers domtime,
 * domifaddr, domhostname, domfsinfo, fsfreeze/thaw, guestinfo, guestvcpus and
 * qemu-agent-command; qemu-monitor-command runs QMP and HMP; the agent's lifecycle event says
 * connected; the refusals carry libvirt's text; `shutdown --mode agent` ends with
 * SHUTDOWN/FINISHED and STOPPED/SHUTDOWN.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { greetingBootSector } from '@qvirt/driver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CliTestDaemon,
  hasVirsh,
  qvirshOn,
  type Run,
  startCliTestDaemon,
  virshOn,
} from '../test-support/test-daemon.js';

/**
 * The test guest's image (tools/test-guest; this package does not depend on its module, so it is
 * found where tools/test-guest/build.sh leaves it).
 */
const guest = (() => {
  const dir =
    process.env.QVIRT_TEST_GUEST_CACHE !== undefined
      ? path.join(process.env.QVIRT_TEST_GUEST_CACHE, 'current')
      : fileURLToPath(new URL('../../../../tools/test-guest/.cache/current', import.meta.url));
  const manifest = path.join(dir, 'manifest.json');
  if (!existsSync(manifest)) return undefined;
  const m = JSON.parse(readFileSync(manifest, 'utf8')) as {
    kernel: string;
    initrd: string;
    disk?: string;
    append: string;
  };
  return {
    kernel: path.join(dir, m.kernel),
    initrd: path.join(dir, m.initrd),
    disk: path.join(dir, m.disk ?? 'disk.raw'),
    append: m.append,
  };
})();

/** Polls `probe` until it answers truthy (the guest's agent and DHCP client take their time). */
async function until<T>(what: string, probe: () => Promise<T | undefined | false>, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}
const PYTHON = '/usr/bin/python3';
const hasPython = existsSync(PYTHON) && existsSync('/usr/lib/python3/dist-packages/libvirt_qemu.py');

let t: CliTestDaemon;
let uri: string;
const virsh = virshOn(() => uri);
const qvirsh = qvirshOn(() => uri);

/** Both print the same for `argv` (after `mask`). */
async function same(argv: string[], mask: (s: string) => string = (s) => s): Promise<Run> {
  const real = await virsh(...argv);
  const ours = await qvirsh(...argv);
  expect({ ...ours, out: mask(ours.out), err: mask(ours.err) }, argv.join(' ')).toEqual({
    ...real,
    out: mask(real.out),
    err: mask(real.err),
  });
  return real;
}

/** Runs a libvirt-python script with the URI as argv[1]; resolves with its stdout. */
function python(script: string, ...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(PYTHON, ['-c', script, uri, ...args], { timeout: 120_000 }, (e, out, err) =>
      resolve({ code: e ? Number(e.code ?? 1) : 0, out, err }),
    );
  });
}

/** The guest's clock and the QMP ids move between two calls. */
const moving = (s: string) =>
  s
    .replace(/^Time: \d+$/gm, 'Time: N')
    .replace(/"id":"libvirt-\d+"/g, '"id":"libvirt-N"')
    .replace(/"id": "libvirt-\d+"/g, '"id": "libvirt-N"')
    .replace(/^(user\.count +: )\d+$/gm, '$1N')
    .replace(/^(fs\.0\.used-bytes +: )\d+$/gm, '$1N');

describe.skipIf(!hasVirsh || !guest)('the guest agent and the QEMU program through qvirtd', () => {
  beforeAll(async () => {
    t = await startCliTestDaemon('qvirt-cli-agent-');
    uri = t.uri;
    const dir = t.dir;
    copyFileSync(guest!.kernel, path.join(dir, 'vmlinuz'));
    copyFileSync(guest!.initrd, path.join(dir, 'initrd.img'));
    copyFileSync(guest!.disk, path.join(dir, 'data.raw'));
    const serial = path.join(dir, 'serial.log');
    writeFileSync(
      path.join(dir, 'ag.xml'),
      `<domain type='qemu'><name>ag</name><memory unit='MiB'>256</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='q35'>hvm</type><kernel>${dir}/vmlinuz</kernel><initrd>${dir}/initrd.img</initrd>
<cmdline>${guest!.append}</cmdline></os><features><acpi/></features>
<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>
<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${dir}/data.raw'/><target dev='vda' bus='virtio'/></disk>
<interface type='user'><mac address='52:54:00:11:22:33'/><model type='virtio'/></interface>
<serial type='file'><source path='${serial}'/><target port='0'/></serial>
<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
</devices></domain>`,
    );
    // a guest without an agent channel: a boot sector is enough
    writeFileSync(path.join(dir, 'boot.img'), greetingBootSector());
    writeFileSync(
      path.join(dir, 'na.xml'),
      `<domain type='qemu'><name>na</name><memory unit='MiB'>32</memory>
<os><type arch='i686' machine='pc'>hvm</type><boot dev='hd'/></os>
<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>
<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${dir}/boot.img'/><target dev='hda' bus='ide'/></disk>
</devices></domain>`,
    );
    expect((await qvirsh('define', path.join(dir, 'ag.xml'))).code).toBe(0);
    expect((await qvirsh('define', path.join(dir, 'na.xml'))).code).toBe(0);
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
  });

  it('refuses as libvirt does while the guest is off and where no agent is configured', async () => {
    for (const argv of [
      ['domtime', 'ag'],
      ['domhostname', 'ag'],
      ['domifaddr', 'ag', '--source', 'agent'],
      ['domfsinfo', 'ag'],
      ['guestinfo', 'ag'],
      ['qemu-agent-command', 'ag', '{"execute":"guest-ping"}'],
      ['qemu-monitor-command', 'ag', '{"execute":"query-status"}'],
      ['domifaddr', 'ag', '--source', 'bogus'],
      ['qemu-attach', '1234'],
      ['guest-agent-timeout', 'ag', '--timeout', '-3'],
      ['guest-agent-timeout', 'ag', '--timeout', 'x'],
      ['guest-agent-timeout', 'ag', '--timeout', '10'],
      ['guest-agent-timeout', 'ag'],
      ['dompmsuspend', 'ag', 'mem'],
      ['dompmsuspend', 'ag', 'bogus'],
      ['dompmsuspend', 'ag', 'mem', '--duration', '5'],
      ['dompmwakeup', 'ag'],
    ])
      await same(argv);
    expect((await qvirsh('start', 'na')).code).toBe(0);
    for (const argv of [
      ['domtime', 'na'],
      ['domhostname', 'na'],
      ['domfsfreeze', 'na'],
      ['guestvcpus', 'na'],
      ['set-user-password', 'na', 'root', 'x'],
      ['qemu-agent-command', 'na', '{"execute":"guest-ping"}'],
      ['shutdown', 'na', '--mode', 'agent'],
      ['domifaddr', 'na'],
      ['domhostname', 'na', '--source', 'lease'],
      ['dompmsuspend', 'na', 'disk'],
    ])
      await same(argv);
    expect((await qvirsh('destroy', 'na')).code).toBe(0);
  });

  it('answers through the agent of the running Linux guest', async () => {
    const events = python(
      `import sys, libvirt, threading
libvirt.virEventRegisterDefaultImpl()
c = libvirt.open(sys.argv[1])
seen = []
done = threading.Event()
def agent(conn, dom, state, reason, opaque):
    seen.append((state, reason))
    if state == libvirt.VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_STATE_CONNECTED: done.set()
c.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE, agent, None)
print('ready', flush=True)
import time
end = time.time() + 110
while not done.is_set() and time.time() < end: libvirt.virEventRunDefaultImpl()
print(seen)`,
    );
    await new Promise((r) => setTimeout(r, 1500));
    expect((await qvirsh('start', 'ag')).code).toBe(0);
    const ev = await events;
    // started with the port closed, then the agent opened it
    expect(ev.out).toContain('[(2, 1), (1, 2)]');
    // the guest's DHCP client has given eth0 its address
    await until(
      'an address on eth0',
      async () => {
        const out = (await qvirsh('domifaddr', 'ag', '--source', 'agent')).out;
        // (and its IPv6 addresses, which come later than the DHCP one)
        return out.includes('10.0.2.15/24') && out.includes('fec0::') && out.includes('fe80::');
      },
      120_000,
    );
    const live = await qvirsh('dumpxml', 'ag');
    expect(live.out).toContain("<target type='virtio' name='org.qemu.guest_agent.0' state='connected'/>");
    expect(live.out).toMatch(
      /<source mode='bind' path='[^']*\/channel\/target\/domain-\d+-ag\/org\.qemu\.guest_agent\.0'\/>/,
    );
    for (const argv of [
      ['domtime', 'ag'],
      ['domhostname', 'ag'],
      ['domhostname', 'ag', '--source', 'lease'],
      ['domifaddr', 'ag', '--source', 'agent'],
      ['domifaddr', 'ag', '--source', 'agent', '--full'],
      ['domifaddr', 'ag', '--source', 'agent', '--interface', 'eth0'],
      ['domifaddr', 'ag'],
      ['domfsinfo', 'ag'],
      ['domfsthaw', 'ag', '--mountpoint', '/mnt/data'],
      ['domfsthaw', 'ag'],
      ['domfstrim', 'ag', '--mountpoint', '/'],
      ['guestinfo', 'ag'],
      ['guestinfo', 'ag', '--os', '--hostname'],
      ['guestvcpus', 'ag'],
      ['guestvcpus', 'ag', '--cpulist', '0', '--disable'],
      ['guestvcpus', 'ag', '--cpulist', '5', '--enable'],
      ['vcpucount', 'ag', '--guest'],
      ['domtime', 'ag', '--sync'],
      ['qemu-agent-command', 'ag', '{"execute":"guest-get-host-name"}'],
      ['qemu-agent-command', 'ag', '--pretty', '{"execute":"guest-get-host-name"}'],
      ['qemu-agent-command', 'ag', '{"execute":"nonexist"}'],
      ['qemu-agent-command', 'ag', '--timeout', '0', '{"execute":"guest-ping"}'],
      ['qemu-monitor-command', 'ag', '{"execute":"query-status"}'],
      ['qemu-monitor-command', 'ag', '--pretty', '{"execute":"query-status"}'],
      ['qemu-monitor-command', 'ag', 'query-status'],
      ['qemu-monitor-command', 'ag', '--return-value', 'query-status'],
      ['qemu-monitor-command', 'ag', '{"execute":"nonexist"}'],
      ['qemu-monitor-command', 'ag', '--hmp', 'info', 'status'],
      ['qemu-monitor-command', 'ag', '--hmp', 'nonexist'],
    ])
      await same(argv, moving);
    // the run is tainted by both kinds of custom commands: dominfo's Messages (virDomainGetMessages)
    const info = await same(['dominfo', 'ag'], (o) => o.replace(/^(CPU time: +)[\d.]+s$/m, '$1Ns'));
    expect(info.out).toContain(
      'Messages:       tainted: custom monitor control commands issued\n' +
        '                tainted: custom guest agent control commands issued\n',
    );
    // freezing changes the guest: each tool freezes and thaws in turn
    for (const freeze of [
      ['domfsfreeze', 'ag'],
      ['domfsfreeze', 'ag', '--mountpoint', '/mnt/data'],
    ]) {
      const real = [await virsh(...freeze), await virsh('domfsthaw', 'ag')];
      const ours = [await qvirsh(...freeze), await qvirsh('domfsthaw', 'ag')];
      expect(ours).toEqual(real);
      expect(real[0]!.out).toBe('Froze 1 filesystem(s)\n\n');
    }
  }, 240_000);

  it('refuses a read-only connection what libvirt refuses it', async () => {
    const ro = `qemu+unix:///system?socket=${t.daemon.sockets.ro}`;
    const roVirsh = virshOn(() => ro);
    expect(await roVirsh('domifaddr', 'ag', '--source', 'agent')).toEqual({
      code: 1,
      out: '\n',
      err: 'error: Failed to query for interfaces addresses\nerror: operation forbidden: read only access prevents virDomainInterfaceAddresses\n',
    });
    expect((await roVirsh('domifaddr', 'ag', '--source', 'arp')).code).toBe(0);
    expect((await roVirsh('qemu-monitor-command', 'ag', 'query-status')).err).toBe(
      'error: operation forbidden: read only access prevents virDomainQemuMonitorCommand\n',
    );
    expect((await roVirsh('domtime', 'ag')).err).toBe(
      'error: operation forbidden: read only access prevents virDomainGetTime\n',
    );
  });

  it.skipIf(!hasPython)('serves libvirt-python and libvirt_qemu', async () => {
    const r = await python(
      `import sys, json, libvirt, libvirt_qemu
c = libvirt.open(sys.argv[1])
d = c.lookupByName('ag')
print(json.loads(libvirt_qemu.qemuMonitorCommand(d, '{"execute":"query-status"}', 0))['return']['status'])
print(libvirt_qemu.qemuMonitorCommand(d, 'info status', libvirt_qemu.VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP).strip())
print(json.loads(libvirt_qemu.qemuAgentCommand(d, '{"execute":"guest-get-host-name"}', -1, 0))['return']['host-name'])
print(d.hostname())
ifs = d.interfaceAddresses(libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT)
print(ifs['eth0']['hwaddr'], [a['addr'] for a in ifs['eth0']['addrs'] if a['type'] == 0])
print(d.fsInfo())
print(d.fsFreeze(), d.fsThaw())
print(sorted(d.guestInfo(libvirt.VIR_DOMAIN_GUEST_INFO_HOSTNAME | libvirt.VIR_DOMAIN_GUEST_INFO_OS).items())[0:2])
print(d.guestVcpus())
print(d.getTime()['seconds'] > 0)
try:
    d.setUserPassword('root', 'x')
except libvirt.libvirtError as e:
    print(e.get_error_code(), e.get_error_message())`,
    );
    // (libvirt-python also prints the last error on stderr)
    expect(r.err).not.toContain('Traceback');
    expect(r.out.split('\n')).toEqual([
      'running',
      'VM status: running',
      'qvirt-guest',
      'qvirt-guest',
      "52:54:00:11:22:33 ['10.0.2.15']",
      "[('/mnt/data', 'vda', 'ext4', ['vda'])]",
      '1 1',
      "[('hostname', 'qvirt-guest'), ('os.id', 'qvirt-test-guest')]",
      "{'vcpus': '0', 'online': '0', 'offlinable': ''}",
      'True',
      // the test guest has no passwd program: the agent's error, in libvirt's words
      "1 internal error: unable to execute QEMU agent command 'guest-set-user-password': cannot find 'passwd' program in PATH",
      '',
    ]);
  });

  it('sends the QEMU monitor events to qemu-monitor-event', async () => {
    const listening = virsh('qemu-monitor-event', 'ag', '--event', 'stop', '--no-case', '--timeout', '60');
    await new Promise((r) => setTimeout(r, 1500));
    expect((await qvirsh('suspend', 'ag')).code).toBe(0);
    const r = await listening;
    // QEMU's STOP carries no data: libvirt passes no details
    expect(r.out).toMatch(/^event STOP at \d+\.\d{6} for domain 'ag': <null>\nevents received: 1\n\n$/);
    expect((await qvirsh('resume', 'ag')).code).toBe(0);
  });

  it('shuts the guest down through its agent, with libvirt events', async () => {
    const events = python(
      `import sys, libvirt, threading, time
libvirt.virEventRegisterDefaultImpl()
c = libvirt.open(sys.argv[1])
seen = []
def life(conn, dom, event, detail, opaque):
    seen.append((event, detail))
def agent(conn, dom, state, reason, opaque):
    seen.append(('agent', state, reason))
c.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, life, None)
c.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE, agent, None)
end = time.time() + 100
while time.time() < end and (libvirt.VIR_DOMAIN_EVENT_STOPPED, libvirt.VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN) not in seen:
    libvirt.virEventRunDefaultImpl()
print(seen)`,
    );
    await new Promise((r) => setTimeout(r, 1500));
    await same(['shutdown', 'ag', '--mode', 'bogus']);
    const r = await qvirsh('shutdown', 'ag', '--mode', 'agent');
    expect(r).toEqual({ code: 0, out: "Domain 'ag' is being shutdown\n\n", err: '' });
    // as libvirtd 9.0 reports it: the agent's port closes, then "Shutdown Finished after guest
    // request" (SHUTDOWN/GUEST: QEMU's SHUTDOWN says guest) and STOPPED/SHUTDOWN
    expect((await events).out.trim()).toBe("[('agent', 2, 2), (6, 1), (5, 0)]");
    expect((await qvirsh('domstate', 'ag')).out).toBe('shut off\n\n');
  }, 150_000);
});
