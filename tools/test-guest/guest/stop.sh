#!/bin/sh
# busybox init's shutdown action: stop the agent, flush, unmount, say so. init then signals
# everything else and powers off or reboots.
. /etc/qvirt-guest/lib.sh
say shutdown
killall qemu-ga 2>/dev/null
sync
awk '$1 ~ /^\/dev\// { print $2 }' /proc/mounts | sort -r | while read -r m; do umount "$m"; done
exit 0
