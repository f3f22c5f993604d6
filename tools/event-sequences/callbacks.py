#!/usr/bin/python3
"""
One connection's domain event callbacks through libvirt-python (libvirt's own client library):
the legacy virConnectDomainEventRegister and virConnectDomainEventRegisterAny, each registered
twice with the same callback and once with another, which are refused and which get the events
(a define and an undefine), and the deregistrations. Prints one line per step; run against
libvirtd and qvirtd, the two outputs must be equal (recorded/callbacks-libvirt-9.0.0.txt is
libvirtd's):

    /usr/bin/python3 tools/event-sequences/callbacks.py URI > out.txt
"""
import sys
import threading
import time

import libvirt

uri = sys.argv[1]
reported = []
libvirt.registerErrorHandler(lambda ctx, err: reported.append(err[2]), None)
libvirt.virEventRegisterDefaultImpl()


def loop():
    while True:
        libvirt.virEventRunDefaultImpl()


threading.Thread(target=loop, daemon=True).start()
c = libvirt.open(uri)
got = {k: [] for k in ('a', 'b', 'x', 'y')}
lock = threading.Lock()


def legacy(name):
    def cb(conn, dom, event, detail, opaque):
        if dom.name() == 'qvirt-evcb':
            with lock:
                got[name].append(event)
    return cb


a, b, x, y = legacy('a'), legacy('b'), legacy('x'), legacy('y')


def step(what, f):
    del reported[:]
    try:
        r = f()
        print(what, 'ok', r if isinstance(r, int) and r >= 0 else '')
    except libvirt.libvirtError as e:
        print(what, 'error', e.get_error_code(), e.get_error_domain(), e.get_error_message())
    except Exception as e:  # the binding's own bookkeeping (a KeyError)
        print(what, 'raised', type(e).__name__)
    for m in reported:
        print('  reported:', m)


ids = {}
step('legacy a', lambda: c.domainEventRegister(a, None))
step('legacy a again', lambda: c.domainEventRegister(a, None))
step('legacy b', lambda: c.domainEventRegister(b, None))
step('any x', lambda: ids.setdefault('x', c.domainEventRegisterAny(None, 0, x, None)) and None)
step('any x again', lambda: c.domainEventRegisterAny(None, 0, x, None))
step('any y', lambda: ids.setdefault('y', c.domainEventRegisterAny(None, 0, y, None)) and None)
xml = ("<domain type='qemu'><name>qvirt-evcb</name><memory>65536</memory>"
       "<os><type arch='x86_64'>hvm</type></os></domain>")
step('define', lambda: c.defineXML(xml) and None)
step('undefine', lambda: c.lookupByName('qvirt-evcb').undefine())
time.sleep(2)
with lock:
    print('events', ' '.join('%s=%s' % (k, got[k]) for k in sorted(got)))
step('deregister a', lambda: c.domainEventDeregister(a))
step('deregister a again', lambda: c.domainEventDeregister(a))
step('deregister any x', lambda: c.domainEventDeregisterAny(ids['x']))
step('deregister any x again', lambda: c.domainEventDeregisterAny(ids['x']))
step('deregister b', lambda: c.domainEventDeregister(b))
step('deregister any y', lambda: c.domainEventDeregisterAny(ids['y']))
c.close()
