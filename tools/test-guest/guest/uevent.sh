#!/bin/sh
# Run by `busybox uevent` for each kernel uevent (the environment holds it). Onlines what a
# hotplug added, as udev's rules do on a full distribution, and wakes the monitor.
case "$SUBSYSTEM:$ACTION" in
cpu:add) [ -w "/sys$DEVPATH/online" ] && echo 1 >"/sys$DEVPATH/online" ;;
memory:add) [ -w "/sys$DEVPATH/state" ] && echo online >"/sys$DEVPATH/state" ;;
net:add) /etc/qvirt-guest/net-up.sh "$INTERFACE" ;;
esac
case "$SUBSYSTEM" in
block | cpu | memory | net | virtio-ports) echo "$SUBSYSTEM $ACTION" >/run/qvirt-guest/wake ;;
esac
exit 0
