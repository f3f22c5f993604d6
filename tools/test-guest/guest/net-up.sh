#!/bin/sh
# Brings an interface up and asks for an address in the background, so that the agent's
# guest-network-get-interfaces (virsh domifaddr) has one to tell where a DHCP server answers.
ip link set "$1" up 2>/dev/null || exit 0
udhcpc -i "$1" -b -q -t 5 -T 2 -A 10 -s /etc/qvirt-guest/udhcpc.sh >/dev/null 2>&1 </dev/null &
