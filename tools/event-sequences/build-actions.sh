#!/bin/bash
# Builds the "actions" initramfs the event recordings and their replay use for what the guest
# does on its own: a power-off, a reboot, a suspend to RAM and a kernel panic reported through
# pvpanic. It is a
# second cpio archive, appended to the test guest's initramfs (the kernel unpacks concatenated
# archives in order), holding /act (run as `rdinit=/act`, so the guest acts 2 to 3 s after the
# kernel starts instead of after its whole boot) and the pvpanic modules of the guest's kernel
# (the test guest's initramfs has no pvpanic driver, and a panic QEMU is not told of is only a
# reboot). The guest's command line picks the action: `qvirt.action=poweroff|reboot|suspend|panic`.
#
#     tools/event-sequences/build-actions.sh [--cached]   # prints the archive's path
#
# Needs the test guest built (tools/test-guest/build.sh), apt-get, dpkg-deb, cpio, gzip.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
guest="$(readlink -f "$here/../test-guest/.cache/current")"
manifest="$guest/manifest.json"
[ -f "$manifest" ] || { echo "build-actions.sh: no test guest (run tools/test-guest/build.sh)" >&2; exit 1; }
kpkg="$(sed -n 's/.*"kernel-package": "\([^"]*\)".*/\1/p' "$manifest")"
kver="${kpkg#linux-image-}"
cache="$here/.cache"
key="$(cat "$0" "$manifest" | sha256sum | cut -c1-16)"
out="$cache/actions-$key.cpio.gz"
if [ -f "$out" ]; then
  echo "$out"
  exit 0
fi
# --cached: only say where a built one is (tests do not download)
[ "${1:-}" = --cached ] && exit 1
mkdir -p "$cache"
work="$(mktemp -d "$cache/.build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
sandbox=()
[ "$(id -u)" -eq 0 ] && sandbox=(-o APT::Sandbox::User=root)
(cd "$work" && apt-get download -qq "${sandbox[@]}" "$kpkg" >/dev/null)
dpkg-deb -x "$work"/*.deb "$work/x"
mkdir -p "$work/root"
for m in pvpanic pvpanic-mmio; do
  cp "$work/x/lib/modules/$kver/kernel/drivers/misc/pvpanic/$m.ko" "$work/root/$m.ko"
done
cat >"$work/root/act" <<'SH'
#!/bin/busybox sh
# PID 1 of an actions boot: does what qvirt.action= on the command line says, at once.
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox mount -t sysfs sysfs /sys
for w in $(/bin/busybox cat /proc/cmdline); do
  case "$w" in qvirt.action=*) action="${w#qvirt.action=}" ;; esac
done
echo "QVIRT-ACTION $action" >/dev/ttyS0
case "$action" in
  poweroff) /bin/busybox poweroff -f ;;
  reboot) /bin/busybox reboot -f ;;
  suspend) echo mem >/sys/power/state ;;
  panic)
    /bin/busybox insmod /pvpanic.ko
    /bin/busybox insmod /pvpanic-mmio.ko
    echo c >/proc/sysrq-trigger
    ;;
esac
while :; do /bin/busybox sleep 1000; done
SH
chmod 755 "$work/root/act"
(cd "$work/root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 | gzip -9n) >"$work/a.cpio.gz"
mv "$work/a.cpio.gz" "$out"
echo "$out"
