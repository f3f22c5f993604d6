#!/bin/sh
# sysinit: drivers, names, network. Runs once before the respawned services start.
. /etc/qvirt-guest/lib.sh
mkdir -p "$QVG_RUN" /run/qemu-ga
mkfifo "$QVG_RUN/wake"
# Drivers in dependency order (build.sh wrote the list): virtio, SCSI, the ACPI button, evdev.
while read -r m; do
  insmod "$m" || say "warning module=${m##*/}"
done </etc/qvirt-guest/modules
hostname -F /etc/hostname
# The optional data disk (build.sh's disk.raw, an ext4 labelled qvirt-data): mounted, so that
# the agent's guest-get-fsinfo and guest-fsfreeze-* have a real file system to act on.
if dev="$(findfs LABEL=qvirt-data 2>/dev/null)"; then
  mkdir -p /mnt/data
  mount -t ext4 "$dev" /mnt/data || say "warning mount=$dev"
fi
ip link set lo up
for d in /sys/class/net/*; do
  n="${d##*/}"
  [ "$n" = lo ] || /etc/qvirt-guest/net-up.sh "$n"
done
exit 0
