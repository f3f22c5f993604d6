#!/usr/bin/env bash
# Sets up a fresh Debian machine for qvirt: system packages, pnpm, dependencies, build.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PNPM_VERSION=12.4.2
# Debian packages qvirt uses at run time or in its tests, with a command (or a file) that shows
# each is there. libvirt-clients, python3-libvirt, openssh-server, sasl2-bin, libsasl2-modules,
# gnutls-bin and openssl are test dependencies: real virsh and libvirt-python against qvirtd,
# sshd on loopback, SASL and TLS with certificates the tests make. ovmf brings UEFI and its QEMU
# firmware descriptors, which `<os firmware='efi'>` selects from (the corpus host had them too).
# golang-go and golang-github-digitalocean-go-libvirt-dev are test dependencies too: go-libvirt,
# an independent implementation of libvirt's protocol, built offline from /usr/share/gocode.
# lvm2 and e2fsprogs serve the storage driver's logical and fs pools (the tools it runs).
# cpio packs the initramfs of the Linux test guest (tools/test-guest, built below from Debian's
# packages fetched with apt-get download; nothing of it is installed).
# virtinst (virt-install) is a test dependency: it defines and starts a UEFI guest through qvirtd.
declare -A PACKAGES=(
  [qemu-system-x86]=qemu-system-x86_64
  [qemu-utils]=qemu-img
  [ovmf]=/usr/share/qemu/firmware/60-edk2-x86_64.json
  [attr]=getfattr
  [apparmor]=apparmor_parser
  [util-linux]=setpriv
  [libvirt-clients]=virsh
  [python3-libvirt]=/usr/lib/python3/dist-packages/libvirt.py
  [openssh-server]=sshd
  [openssh-client]=ssh
  [sasl2-bin]=saslpasswd2
  [libsasl2-modules]=/usr/lib/x86_64-linux-gnu/sasl2/libscram.so
  [gnutls-bin]=certtool
  [openssl]=openssl
  [golang-go]=go
  [golang-github-digitalocean-go-libvirt-dev]=/usr/share/gocode/src/github.com/digitalocean/go-libvirt/libvirt.go
  [lvm2]=lvcreate
  [e2fsprogs]=mkfs.ext4
  [cpio]=cpio
  [virtinst]=virt-install
)

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

present() {
  case "$1" in
    /*) [ -e "$1" ] ;;
    *) PATH="$PATH:/usr/sbin:/sbin" command -v "$1" >/dev/null 2>&1 ;;
  esac
}
missing=()
for pkg in "${!PACKAGES[@]}"; do
  present "${PACKAGES[$pkg]}" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]}"
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$(pnpm --version 2>/dev/null || true)" != "$PNPM_VERSION" ]; then
  echo "bootstrap: installing pnpm $PNPM_VERSION"
  npm install -g --silent "pnpm@$PNPM_VERSION"
fi

pnpm install --frozen-lockfile --reporter=silent
pnpm build --output-logs=errors-only
tools/test-guest/build.sh >/dev/null || echo "bootstrap: no test guest (tests that need a real Linux guest will skip)"
# the guest's own power-off, reboot, suspend and panic (pvpanic modules), for the event replays
tools/event-sequences/build-actions.sh >/dev/null || echo "bootstrap: no guest actions archive (event replays of guest-initiated paths will skip)"
echo "bootstrap: ready"
