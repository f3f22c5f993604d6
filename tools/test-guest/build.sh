#!/usr/bin/env bash
# Builds qvirt's Linux test guest (a kernel and an initramfs) from Debian's own packages:
# linux-image-cloud-amd64 (the kernel and the few modules a virtio guest needs), busybox-static
# (the userland) and qemu-guest-agent (with the shared libraries ldd names, taken from this
# machine, which runs the same Debian release). Nothing is installed into the machine: the
# packages are fetched with `apt-get download` and unpacked with `dpkg-deb -x`.
#
# The result is cached under $QVIRT_TEST_GUEST_CACHE (default: tools/test-guest/.cache), in a
# directory named after a hash of the package versions and of this directory's guest scripts,
# and `current` points at it. A second run with the same versions only checks and returns.
# The cache is world-readable: QEMU reads the kernel and initramfs as its own user.
#
# Usage: build.sh [--force]   Prints the directory of the image on stdout.
set -euo pipefail
umask 022
export LC_ALL=C
export PATH="$PATH:/usr/sbin:/sbin"

here="$(cd "$(dirname "$0")" && pwd)"
cache="${QVIRT_TEST_GUEST_CACHE:-$here/.cache}"
force=0
[ "${1:-}" = "--force" ] && force=1

log() { echo "test-guest: $*" >&2; }
die() {
  log "$*"
  exit 1
}
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

for tool in apt-get apt-cache dpkg-deb cpio gzip ldd sha256sum; do
  command -v "$tool" >/dev/null 2>&1 || die "missing tool '$tool' (tools/bootstrap.sh installs it)"
done

# One apt-cache call (it costs seconds on a busy machine): each package's candidate version and,
# for the cloud metapackage, the kernel package it currently points at.
resolve() {
  apt-cache show --no-all-versions linux-image-cloud-amd64 busybox-static qemu-guest-agent 2>/dev/null |
    awk '/^Package: / { p = $2 } /^Version: / { print p "=" $2 }
      /^Depends: / && p == "linux-image-cloud-amd64" { d = $2; sub(/,$/, "", d); print "kernel=" d }'
}
resolved="$(resolve)"
if ! grep -q '^kernel=linux-image-' <<<"$resolved"; then
  # A machine whose package lists were never fetched: fetch them once.
  log "refreshing the package lists"
  as_root apt-get update -qq || true
  resolved="$(resolve)"
fi
kpkg="$(sed -n 's/^kernel=//p' <<<"$resolved")"
if [ -z "$kpkg" ]; then
  if [ -e "$cache/current/manifest.json" ]; then
    log "no package lists; keeping the cached image"
    echo "$cache/current"
    exit 0
  fi
  die "cannot resolve linux-image-cloud-amd64 from the package lists"
fi
packages=("$kpkg" busybox-static qemu-guest-agent)
# The versions the image is keyed by (the kernel package carries its metapackage's version).
versions="$(grep -v '^kernel=' <<<"$resolved" | sort)"$'\n'
versions+="kernel-package=$kpkg"$'\n'
[ "$(grep -c = <<<"$versions")" -eq 4 ] || die "no candidate version of ${packages[*]}: $resolved"
scripts_hash="$(cat "$here/build.sh" "$here"/guest/* | sha256sum | cut -c1-64)"
key="$(printf '%s%s\n' "$versions" "$scripts_hash" | sha256sum | cut -c1-16)"
out="$cache/$key"

if [ "$force" -eq 0 ] && [ -e "$out/manifest.json" ]; then
  ln -sfn "$key" "$cache/current"
  echo "$out"
  exit 0
fi

mkdir -p "$cache"
work="$(mktemp -d "$cache/.build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
log "building $key from: $(echo $versions)"

# --- fetch and unpack ------------------------------------------------------------------------
mkdir -p "$work/debs" "$work/x"
sandbox=()
[ "$(id -u)" -eq 0 ] && sandbox=(-o APT::Sandbox::User=root)
(cd "$work/debs" && apt-get download -qq "${sandbox[@]}" "${packages[@]}" >/dev/null)
for deb in "$work"/debs/*.deb; do
  dpkg-deb -x "$deb" "$work/x"
done
x="$work/x"
kver="${kpkg#linux-image-}"
moddir="$x/lib/modules/$kver"
[ -f "$x/boot/vmlinuz-$kver" ] || die "no vmlinuz-$kver in $kpkg"

# --- the initramfs tree ----------------------------------------------------------------------
root="$work/root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc/qvirt-guest,proc,sys,dev,run,tmp,var,root,mnt}
mkdir -p "$root/lib/x86_64-linux-gnu" "$root/lib64" "$root/lib/modules/$kver"
ln -s ../run "$root/var/run"
chmod 1777 "$root/tmp"

# busybox, with a link per applet (made here: making them at boot costs time under TCG).
cp "$x/bin/busybox" "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list-full); do
  [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done

# Kernel modules: the drivers a virtio guest on q35 needs, with their dependencies (read from
# each module's .modinfo section), loaded in dependency order by /init.
wanted=(virtio_pci virtio_blk virtio_net virtio_console virtio_balloon virtio_scsi sd_mod sr_mod
  virtio_rng virtio_input virtio_mem vmw_vsock_virtio_transport button evdev)
declare -A modpath=()
while IFS= read -r -d '' f; do
  n="$(basename "$f" .ko)"
  modpath["${n//-/_}"]="$f"
done < <(find "$moddir/kernel" -name '*.ko' -print0)
declare -A placed=()
order=()
place() {
  local m="${1//-/_}" d deps
  [ -n "${placed[$m]:-}" ] && return 0
  placed[$m]=1
  local f="${modpath[$m]:-}"
  if [ -z "$f" ]; then
    grep -q "/${m}.ko\$" "$moddir/modules.builtin" 2>/dev/null ||
      grep -q "/${m//_/-}.ko\$" "$moddir/modules.builtin" 2>/dev/null ||
      die "module $m is neither built in nor shipped in $kpkg"
    return 0
  fi
  deps="$(tr '\0' '\n' <"$f" | sed -n 's/^depends=//p' | head -n1)"
  for d in ${deps//,/ }; do place "$d"; done
  order+=("$m")
}
for m in "${wanted[@]}"; do place "$m"; done
: >"$root/etc/qvirt-guest/modules"
for m in "${order[@]}"; do
  rel="${modpath[$m]#"$moddir/"}"
  mkdir -p "$root/lib/modules/$kver/$(dirname "$rel")"
  cp "${modpath[$m]}" "$root/lib/modules/$kver/$rel"
  echo "/lib/modules/$kver/$rel" >>"$root/etc/qvirt-guest/modules"
done

# qemu-guest-agent and the shared libraries it links (this machine's, same Debian release).
cp "$x/usr/sbin/qemu-ga" "$root/usr/sbin/qemu-ga"
ldd "$x/usr/sbin/qemu-ga" | while read -r name arrow path _; do
  case "$name" in linux-vdso.so.*) continue ;; esac
  if [ "$arrow" = "=>" ]; then
    [ -e "$path" ] || die "qemu-ga needs $name, which this machine does not have"
    cp -L "$path" "$root/lib/x86_64-linux-gnu/$name"
  elif [ -e "$name" ]; then
    cp -L "$name" "$root$name" # the dynamic loader, named by its absolute path
  fi
done
[ -e "$root/lib64/ld-linux-x86-64.so.2" ] || die "ldd named no dynamic loader for qemu-ga"

# The guest's own scripts and the few files its programs read.
install -m 0755 "$here/guest/init" "$root/init"
install -m 0644 "$here/guest/inittab" "$root/etc/inittab"
install -m 0755 "$here/guest/shutdown" "$root/sbin/shutdown"
for f in "$here"/guest/*.sh; do
  install -m 0755 "$f" "$root/etc/qvirt-guest/"
done
echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
echo "root:x:0:" >"$root/etc/group"
echo "qvirt-guest" >"$root/etc/hostname"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$root/etc/hosts"
cat >"$root/etc/os-release" <<EOF
NAME="qvirt test guest"
ID=qvirt-test-guest
ID_LIKE=debian
PRETTY_NAME="qvirt test guest (Debian $kver kernel)"
VERSION_ID="1"
EOF
printf '%s' "$versions" >"$root/etc/qvirt-guest/packages"

# --- pack ------------------------------------------------------------------------------------
staged="$work/out"
mkdir -p "$staged"
cp "$x/boot/vmlinuz-$kver" "$staged/vmlinuz"
(cd "$root" && find . -mindepth 1 -print0 | sort -z |
  cpio --null --create --format=newc --owner=0:0 --reproducible --quiet) |
  gzip -9n >"$staged/initrd.img"
# The optional data disk: a small ext4 the guest mounts at /mnt/data (tests use a copy).
if command -v mkfs.ext4 >/dev/null 2>&1; then
  truncate -s 8M "$staged/disk.raw"
  mkfs.ext4 -q -F -L qvirt-data -E root_owner=0:0 "$staged/disk.raw" >/dev/null
fi
append="console=ttyS0 panic=-1 quiet"
kbytes="$(stat -c %s "$staged/vmlinuz")"
ibytes="$(stat -c %s "$staged/initrd.img")"
{
  echo "{"
  echo "  \"key\": \"$key\","
  echo "  \"kernelRelease\": \"$kver\","
  echo "  \"kernel\": \"vmlinuz\","
  echo "  \"initrd\": \"initrd.img\","
  [ -e "$staged/disk.raw" ] && echo "  \"disk\": \"disk.raw\","
  echo "  \"append\": \"$append\","
  echo "  \"kernelBytes\": $kbytes,"
  echo "  \"initrdBytes\": $ibytes,"
  echo "  \"packages\": {"
  printf '%s' "$versions" | awk -F= '{ printf "%s    \"%s\": \"%s\"", (NR > 1 ? ",\n" : ""), $1, $2 } END { print "" }'
  echo "  }"
  echo "}"
} >"$staged/manifest.json"
chmod 0644 "$staged"/*
chmod 0755 "$staged"

rm -rf "$out"
mv "$staged" "$out"
ln -sfn "$key" "$cache/current"
# Older images are of no further use.
for old in "$cache"/*/; do
  old="${old%/}"
  case "$(basename "$old")" in "$key" | current) ;; *) rm -rf "$old" ;; esac
done
log "built $out (kernel $kbytes bytes, initramfs $ibytes bytes)"
echo "$out"
