#!/usr/bin/python3
"""virt-install against a qemu:///embed URI: the embed driver runs in the client's process and
needs an event loop, which virt-install itself does not register."""
import sys
import threading

import libvirt

sys.path.insert(0, '/usr/share/virt-manager')
from virtinst import virtinstall  # noqa: E402

libvirt.virEventRegisterDefaultImpl()
threading.Thread(target=lambda: [libvirt.virEventRunDefaultImpl() for _ in iter(int, 1)], daemon=True).start()
virtinstall.runcli()
