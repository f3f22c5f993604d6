#!/usr/bin/python3
"""
Records the domain events libvirtd (qemu:///system) sends for each lifecycle path, with the
qvirt test guest (tools/test-guest) so the guest's own shutdown and reboot take part, and writes
them as JSON: packages/remote/src/contract/fixtures/libvirt-events.json. Run as root where
Debian's libvirt-daemon-system runs:

    /usr/bin/python3 tools/event-sequences/record.py

Each path starts from a shut off domain; the events of every id qvirt serves are recorded in
arrival order, as [event id name, fields...].
"""
import json
import os
import shutil
import subprocess
import sys
import threading
import time

import libvirt

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMAGE = os.path.join(ROOT, 'tools/test-guest/.cache/current')
WORK = '/var/lib/libvirt/images/qvirt-event-sequences'
OUT = os.path.join(ROOT, 'packages/remote/src/contract/fixtures/libvirt-events.json')
NAME = 'qvirt-events'

EVENT_NAMES = {v: k[len('VIR_DOMAIN_EVENT_'):] for k, v in vars(libvirt).items()
               if k.startswith('VIR_DOMAIN_EVENT_') and not k.startswith('VIR_DOMAIN_EVENT_ID')
               and '_' not in k[len('VIR_DOMAIN_EVENT_'):] and isinstance(v, int)}


def detail_name(event, detail):
    prefix = 'VIR_DOMAIN_EVENT_%s_' % EVENT_NAMES[event]
    for k, v in vars(libvirt).items():
        if k.startswith(prefix) and v == detail and not k.endswith('_LAST'):
            return k[len(prefix):]
    return str(detail)


events = []
lock = threading.Condition()


def push(entry):
    with lock:
        events.append(entry)
        lock.notify_all()


def loop():
    while True:
        libvirt.virEventRunDefaultImpl()


def domain_xml():
    serial = os.path.join(WORK, 'serial.log')
    return f"""<domain type='qemu'>
  <name>{NAME}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type>
    <kernel>{WORK}/vmlinuz</kernel><initrd>{WORK}/initrd.img</initrd>
    <cmdline>console=ttyS0 panic=-1 quiet</cmdline></os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <serial type='file'><source path='{serial}'/><target port='0'/></serial>
  </devices>
</domain>"""


def serial_text():
    try:
        with open(os.path.join(WORK, 'serial.log'), errors='replace') as f:
            return f.read()
    except FileNotFoundError:
        return ''


def wait_ready(count=1, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if serial_text().count('QVIRT-GUEST ready') >= count:
            return
        time.sleep(0.5)
    raise SystemExit('the guest did not report ready:\n' + serial_text()[-2000:])


def wait_events(pred, timeout=90):
    deadline = time.time() + timeout
    with lock:
        while not pred(events):
            left = deadline - time.time()
            if left <= 0:
                raise SystemExit('timed out; events so far: %r' % events)
            lock.wait(left)


def stopped(evs):
    return any(e[0] == 'LIFECYCLE' and e[1] == 'STOPPED' for e in evs)


def main():
    os.makedirs(WORK, exist_ok=True)
    for f in ('vmlinuz', 'initrd.img'):
        shutil.copy(os.path.join(IMAGE, f), os.path.join(WORK, f))
    libvirt.virEventRegisterDefaultImpl()
    threading.Thread(target=loop, daemon=True).start()
    conn = libvirt.open('qemu:///system')
    try:
        old = conn.lookupByName(NAME)
        if old.isActive():
            old.destroy()
        old.undefine()
    except libvirt.libvirtError:
        pass
    dom = conn.defineXML(domain_xml())
    conn.domainEventRegisterAny(
        dom, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
        lambda c, d, ev, det, o: push(['LIFECYCLE', EVENT_NAMES[ev], detail_name(ev, det)]), None)
    conn.domainEventRegisterAny(dom, libvirt.VIR_DOMAIN_EVENT_ID_REBOOT,
                                lambda c, d, o: push(['REBOOT']), None)
    result = {}

    def path(name, action):
        with lock:
            del events[:]
        if os.path.exists(os.path.join(WORK, 'serial.log')):
            os.unlink(os.path.join(WORK, 'serial.log'))
        action()
        time.sleep(1)  # anything late
        with lock:
            result[name] = list(events)
        print(name, result[name], file=sys.stderr)

    def start():
        dom.create()
        wait_ready()

    def shutdown():
        start()
        dom.shutdown()
        wait_events(stopped)

    def guest_poweroff():
        # the guest powers itself off (its init's poweroff on the serial console's behalf):
        # the ACPI button pressed from QEMU's monitor, which libvirt does not know of
        start()
        subprocess.run(['virsh', '-c', 'qemu:///system', 'qemu-monitor-command', NAME,
                        '{"execute":"system_powerdown"}'], check=True, capture_output=True)
        wait_events(stopped)

    def reboot():
        start()
        dom.reboot(0)
        wait_events(lambda evs: any(e[0] == 'REBOOT' for e in evs))
        wait_ready(2)  # the same QEMU (a fake reboot) booted the guest again
        dom.destroy()
        wait_events(stopped)

    def crash():
        start()
        pid = int(open('/run/libvirt/qemu/%s.pid' % NAME).read())
        os.kill(pid, 9)
        wait_events(stopped)

    path('shutdown', shutdown)
    path('guest-poweroff', guest_poweroff)
    path('reboot', reboot)
    path('crash', crash)
    dom.undefine()
    conn.close()
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, 'w') as f:
        json.dump({'libvirt': libvirt.getVersion(), 'sequences': result}, f, indent=2)
        f.write('\n')
    shutil.rmtree(WORK, ignore_errors=True)


main()
