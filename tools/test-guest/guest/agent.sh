#!/bin/sh
# Runs Debian's qemu-guest-agent on the virtio-serial port named org.qemu.guest_agent.0 once
# one exists (at boot or hotplugged); busybox init respawns it if it ends.
. /etc/qvirt-guest/lib.sh
while :; do
  for f in /sys/class/virtio-ports/*/name; do
    [ -r "$f" ] || continue
    read -r n <"$f" || continue
    if [ "$n" = org.qemu.guest_agent.0 ]; then
      p="${f%/name}"
      port="/dev/${p##*/}"
      say "agent state=starting port=$port"
      exec /usr/sbin/qemu-ga -m virtio-serial -p "$port" -t /run/qemu-ga -l /run/qemu-ga.log
    fi
  done
  sleep 1
done
