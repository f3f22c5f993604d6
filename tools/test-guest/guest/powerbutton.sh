#!/bin/sh
# ACPI power-off: QEMU's system_powerdown presses the ACPI power button, which the kernel's
# button driver turns into a key on an input device named "Power Button". Any event read from
# that device is a press: report it and power off through init (its shutdown actions run).
. /etc/qvirt-guest/lib.sh
found=
for d in /sys/class/input/event*; do
  [ -r "$d/device/name" ] || continue
  read -r name <"$d/device/name"
  [ "$name" = "Power Button" ] || continue
  found=1
  (dd if="/dev/input/${d##*/}" of=/dev/null bs=24 count=1 2>/dev/null && say power-button && poweroff) &
done
[ -n "$found" ] || say "warning power-button=absent"
wait
# Pressed (init is shutting down) or absent: stay, so that init does not respawn this.
exec sleep 2147483647
