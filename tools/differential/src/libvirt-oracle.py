#!/usr/bin/python3
"""libvirt 9.0's side of the differential run: one long-lived process on a throwaway
qemu:///embed root (no daemon), answering one JSON request per line on stdin:
  {"id": N, "xml": "..."}  ->  {"id": N, "define": {"xml": ...} | {"error": ...},
                                        "native": {"argv": ...} | {"error": ...}}
One process defining thousands of domains is far cheaper than a virsh per case."""
import json
import sys
import threading

import libvirt

# libvirt reports errors on stderr through its default handler as well; keep stderr quiet.
libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
libvirt.virEventRegisterDefaultImpl()
# The embed driver talks to QEMU (the capabilities probe) through the application's event loop.
threading.Thread(target=lambda: [libvirt.virEventRunDefaultImpl() for _ in iter(int, 1)], daemon=True).start()

# The caller prepares ROOT (0755, with ROOT/etc/qemu.conf naming root as QEMU's user: /dev/kvm
# is root's only here, and the capabilities cache is thrown away when QEMU's user cannot use KVM).
root = sys.argv[1]
conn = libvirt.open('qemu:///embed?root=' + root)


def message(err):
    return err.get_error_message()


def run(req):
    out = {'id': req['id']}
    xml = req['xml']
    if req.get('define', True):
        try:
            dom = conn.defineXML(xml)
            try:
                out['define'] = {'xml': dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)}
            finally:
                dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM | libvirt.VIR_DOMAIN_UNDEFINE_KEEP_TPM)
        except libvirt.libvirtError as err:
            out['define'] = {'error': message(err)}
    if req.get('native', True):
        try:
            out['native'] = {'argv': conn.domainXMLToNative('qemu-argv', xml, 0)}
        except libvirt.libvirtError as err:
            out['native'] = {'error': message(err)}
    return out


print(json.dumps({'ready': True, 'version': libvirt.getVersion()}), flush=True)
for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    req = json.loads(line)
    try:
        res = run(req)
    except Exception as err:  # a crash of the binding is reported, not fatal
        res = {'id': req.get('id'), 'crash': repr(err)}
    sys.stdout.write(json.dumps(res) + '\n')
    sys.stdout.flush()
