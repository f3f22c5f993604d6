#!/usr/bin/python3
"""
Records, once, the domain events libvirt's libvirtd (qemu:///system) sends for each lifecycle
path of scenarios.json, with qvirt's test guest (tools/test-guest) so the guest itself takes part
(it boots, reports on its serial port, powers off on the ACPI button, sees hotplugged disks and
gives back ballooned memory; build-actions.sh's archive makes it power off, reboot, suspend or
panic on its own). Writes recorded/libvirt-<version>.json, which
packages/remote/src/contract/event-sequences*.test.ts replay against qvirt. As root, where
Debian's libvirt-daemon-system runs, after tools/test-guest/build.sh and build-actions.sh:

    /usr/bin/python3 tools/event-sequences/record.py [--uri URI] [--work DIR] [--out FILE] [SCENARIO...]

--uri picks another libvirt: `qemu:///embed?root=DIR` is libvirt's QEMU driver inside this
process (the same driver code, its own state and capabilities cache under DIR), which the
checked-in recording used while the machine's libvirtd was busy re-probing QEMU (with
`user = "root"` in DIR/etc/qemu.conf: see README.md). --work DIR puts the scenario's files
elsewhere and --out FILE writes there: the tests replay the scenarios through qvirtd this way,
with libvirt-python as the client.

Every event id libvirt-python can register is listened to (for any domain; the scenario's UUID
picks its own), in arrival order, each as [ID name, payload...] (see `entry`). A scenario's
domain and files under /var/lib/libvirt/images/qvirt-event-sequences are removed at its end.
Naming scenarios re-records only those, keeping the others of an existing recording.
"""
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid as uuidlib

import libvirt

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
IMAGE = os.path.join(ROOT, 'tools/test-guest/.cache/current')
WORK = '/var/lib/libvirt/images/qvirt-event-sequences'
SCENARIOS = json.load(open(os.path.join(HERE, 'scenarios.json')))

EVENT_NAMES = {v: k[len('VIR_DOMAIN_EVENT_'):] for k, v in vars(libvirt).items()
               if k.startswith('VIR_DOMAIN_EVENT_') and not k.startswith('VIR_DOMAIN_EVENT_ID')
               and '_' not in k[len('VIR_DOMAIN_EVENT_'):] and isinstance(v, int)}
ID_NAMES = {v: k[len('VIR_DOMAIN_EVENT_ID_'):] for k, v in vars(libvirt).items()
            if k.startswith('VIR_DOMAIN_EVENT_ID_') and k != 'VIR_DOMAIN_EVENT_ID_LAST'}


def const_name(prefix, value):
    for k, v in vars(libvirt).items():
        if k.startswith(prefix) and v == value and not k.endswith('_LAST') and isinstance(v, int):
            return k[len(prefix):]
    return value


def entry(eid, args):
    """An event as recorded: its id's name, then its payload (libvirt's constants by name)."""
    name = ID_NAMES[eid]
    if name == 'LIFECYCLE':
        ev, det = args
        return [name, EVENT_NAMES[ev], const_name('VIR_DOMAIN_EVENT_%s_' % EVENT_NAMES[ev], det)]
    if name == 'TRAY_CHANGE':
        return [name, args[0], const_name('VIR_DOMAIN_EVENT_TRAY_CHANGE_', args[1])]
    if name == 'AGENT_LIFECYCLE':
        return [name, const_name('VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_STATE_', args[0]),
                const_name('VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_REASON_', args[1])]
    if name == 'DISK_CHANGE':
        return [name, args[0], args[1], args[2], const_name('VIR_DOMAIN_EVENT_DISK_', args[3])]
    if name in ('PMSUSPEND', 'PMWAKEUP', 'PMSUSPEND_DISK'):
        return [name]
    if name == 'JOB_COMPLETED':  # times and sizes vary from run to run: the fields it has
        return [name, sorted(args[0].keys())]
    return [name] + list(args)


events = []
lock = threading.Condition()
current_uuid = [None]


def push(eid, dom, args):
    if dom.UUIDString() != current_uuid[0]:
        return
    with lock:
        events.append(entry(eid, args))
        lock.notify_all()


def serial_text(path):
    try:
        with open(path, errors='replace') as f:
            return f.read()
    except FileNotFoundError:
        return ''


def until(what, pred, timeout=150):
    deadline = time.time() + timeout
    with lock:
        while not pred():
            left = deadline - time.time()
            if left <= 0:
                raise SystemExit('timed out waiting for %s; events so far: %r' % (what, events))
            lock.wait(min(left, 0.5))


def run_scenario(conn, sc, uri):
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    os.chmod(WORK, 0o755)
    files = {
        'dir': WORK, 'kernel': os.path.join(WORK, 'vmlinuz'), 'initrd': os.path.join(WORK, 'initrd.img'),
        'serial': os.path.join(WORK, 'serial.log'), 'cdrom': os.path.join(WORK, 'cd.img'),
    }
    shutil.copy(os.path.join(IMAGE, 'vmlinuz'), files['kernel'])
    manifest = json.load(open(os.path.join(IMAGE, 'manifest.json')))
    cmdline = manifest['append']
    if sc['guest'] == 'actions':
        actions = subprocess.run([os.path.join(HERE, 'build-actions.sh')], check=True,
                                 capture_output=True, text=True).stdout.strip()
        with open(files['initrd'], 'wb') as out:
            for part in (os.path.join(IMAGE, 'initrd.img'), actions):
                with open(part, 'rb') as f:
                    shutil.copyfileobj(f, out)
        cmdline += ' rdinit=/act qvirt.action=' + sc['action']
    else:
        shutil.copy(os.path.join(IMAGE, 'initrd.img'), files['initrd'])
    for f in ('cd.img', 'hot.img'):
        with open(os.path.join(WORK, f), 'wb') as out:
            out.truncate(1 << 20)
    uuid = str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, 'qvirt-event-sequences/' + sc['name']))
    current_uuid[0] = uuid
    name = 'qvirt-ev-' + sc['name']
    xml = SCENARIOS['templates'][sc['guest']]
    fill = dict(files, name=name, uuid=uuid, cmdline=cmdline, emulator='/usr/bin/qemu-system-x86_64',
                on_poweroff=sc['on'][0], on_reboot=sc['on'][1], on_crash=sc['on'][2],
                extra=sc.get('extra', ''))
    if sc.get('pm'):  # S3 offered to the guest (dompmsuspend --target mem needs it)
        xml = xml.replace('</features>', "</features>\n  <pm><suspend-to-mem enabled='yes'/></pm>")
    for k, v in fill.items():
        xml = xml.replace('{%s}' % k, v)
    sub = lambda s: s.replace('{dir}', WORK).replace('{cdrom}', files['cdrom'])  # noqa: E731
    for stale in (name, 'qvirt-ev-renamed'):
        try:
            old = conn.lookupByName(stale)
            if old.isActive():
                old.destroy()
            old.undefine()
        except libvirt.libvirtError:
            pass
    time.sleep(1.5)  # the events of that cleanup are no segment's
    dom = [None]
    saved = os.path.join(WORK, 'saved.img')
    result = {}

    def step(s):
        op, args = s[0], s[1:]
        d = dom[0]
        if op == 'define':
            dom[0] = conn.defineXML(xml)
        elif op == 'start':
            d.createWithFlags(args[0] if args else 0)
        elif op == 'ready':
            until('ready #%d' % args[0],
                  lambda: serial_text(files['serial']).count('QVIRT-GUEST ready') >= args[0])
        elif op == 'serial':
            until(args[0], lambda: args[0] in serial_text(files['serial']))
        elif op == 'event':
            until(repr(args), lambda: any(e[:len(args)] == list(args) for e in events))
        elif op == 'suspend':
            d.suspend()
        elif op == 'resume':
            d.resume()
        elif op == 'setmem':
            d.setMemoryFlags(args[0], libvirt.VIR_DOMAIN_AFFECT_LIVE)
        elif op == 'metadata':
            d.setMetadata(args[0], args[1], args[2], args[3], args[4])
        elif op == 'attach':
            d.attachDeviceFlags(sub(args[0]), args[1])
        elif op == 'detach':
            d.detachDeviceFlags(sub(args[0]), args[1])
        elif op == 'update':
            d.updateDeviceFlags(sub(args[0]), args[1])
        elif op == 'reset':
            d.reset(0)
        elif op == 'reboot':
            d.reboot(0)
        elif op == 'shutdown':
            d.shutdownFlags(args[0])
        elif op == 'destroy':
            d.destroy()
        elif op == 'save':
            d.save(saved)
        elif op == 'restore':
            conn.restore(saved)
        elif op == 'kill':  # QEMU dies under libvirt (SIGKILL): its pid file names it
            with open(pid_file(uri, name)) as f:
                os.kill(int(f.read().strip()), 9)
        elif op == 'pmsuspend':
            d.pMSuspendForDuration(args[0], 0, 0)
        elif op == 'pmwakeup':
            d.pMWakeup(0)
        elif op == 'rename':
            d.rename(args[0], 0)
        elif op == 'undefine':
            d.undefine()
        else:
            raise SystemExit('unknown step %r' % (s,))

    try:
        for seg in sc['segments']:
            with lock:
                del events[:]
            for s in seg['steps']:
                step(s)
            time.sleep(1.5)  # anything late
            with lock:
                result[seg['name']] = list(events)
            print('%s/%s %r' % (sc['name'], seg['name'], result[seg['name']]), file=sys.stderr)
    finally:
        cleanup(conn, name)
    shutil.rmtree(WORK, ignore_errors=True)
    return result


def pid_file(uri, name):
    """Where the driver keeps the domain's pid file: libvirtd's run directory, an embedded
    driver's root, or (a test's qvirtd) somewhere beside the scenario's files."""
    if 'embed' in uri:
        return '%s/run/qemu/%s.pid' % (uri.split('root=')[1].split('&')[0], name)
    if uri == 'qemu:///system':
        return '/run/libvirt/qemu/%s.pid' % name
    for d, _, fs in os.walk(os.path.dirname(WORK)):
        if name + '.pid' in fs:
            return os.path.join(d, name + '.pid')
    raise SystemExit('no pid file of ' + name)


def cleanup(conn, name):
    """The scenario's domain goes, whatever happened (an embedded driver's QEMU outlives us)."""
    for left in (name, 'qvirt-ev-renamed'):
        try:
            d = conn.lookupByName(left)
            if d.isActive():
                d.destroy()
            d.undefine()
        except libvirt.libvirtError:
            pass


def main():
    global WORK
    args = sys.argv[1:]
    uri = 'qemu:///system'
    out = None
    while args[:1] and args[0].startswith('--'):
        if args[0] == '--uri':
            uri = args[1]
        elif args[0] == '--work':
            WORK = args[1]
        elif args[0] == '--out':
            out = args[1]
        else:
            raise SystemExit('unknown option ' + args[0])
        args = args[2:]
    only = args
    libvirt.virEventRegisterDefaultImpl()

    def loop():
        while True:
            libvirt.virEventRunDefaultImpl()
    threading.Thread(target=loop, daemon=True).start()
    conn = libvirt.open(uri)
    for eid in ID_NAMES:
        conn.domainEventRegisterAny(None, eid, lambda *a, eid=eid: push(eid, a[1], a[2:-1]), None)
    version = conn.getLibVersion()
    vtext = '%d.%d.%d' % (version // 1000000, version // 1000 % 1000, version % 1000)
    out = out or os.path.join(HERE, 'recorded', 'libvirt-%s.json' % vtext)
    recorded = {}
    if os.path.exists(out):
        recorded = json.load(open(out))['scenarios']
    qemu = subprocess.run(['/usr/bin/qemu-system-x86_64', '--version'], capture_output=True,
                          text=True).stdout.splitlines()[0]
    for sc in SCENARIOS['scenarios']:
        if only and sc['name'] not in only:
            continue
        recorded[sc['name']] = run_scenario(conn, sc, uri)
        save(out, vtext, qemu, uri, recorded)  # each scenario as it is done
    conn.close()
    print(out)


def save(out, vtext, qemu, uri, recorded):
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, 'w') as f:
        json.dump({
            'libvirt': vtext,
            'qemu': qemu,
            'guest': json.load(open(os.path.join(IMAGE, 'manifest.json')))['packages'],
            'how': 'tools/event-sequences/record.py on %s (TCG guest), libvirt-python as the '
                   'client; scenarios.json says what each segment does' % uri.split('?')[0],
            'scenarios': {sc['name']: recorded[sc['name']] for sc in SCENARIOS['scenarios']
                          if sc['name'] in recorded},
        }, f, indent=1)
        f.write('\n')


main()
