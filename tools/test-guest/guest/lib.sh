# Shared by the guest's scripts: the report format and the guest's view of its hardware.
# Every report is one line on the console (the serial port with console=ttyS0):
#   QVIRT-GUEST <kind> key=value ...
# Values never hold spaces. Kinds: kernel, cpus, memory, disk, mount, nic (one line each,
# repeated when a value changes), disk-gone, mount-gone and nic-gone (it left), ready (the
# first full report is out), agent, power-button, shutdown, warning.

QVG_RUN=/run/qvirt-guest

say() { echo "QVIRT-GUEST $*"; }

# Sets $qvg_count to the number of CPUs in a kernel CPU list such as "0-1,3".
qvg_count_list() {
  local r IFS=,
  qvg_count=0
  for r in $1; do
    case "$r" in
    *-*) qvg_count=$((qvg_count + ${r#*-} - ${r%-*} + 1)) ;;
    ?*) qvg_count=$((qvg_count + 1)) ;;
    esac
  done
}

# One line per fact, in a stable order; the monitor prints what changed since the last time.
# Builtins only, apart from `ip` for addresses: this runs every second under TCG.
qvg_snapshot() {
  local v k u d n size serial ro rm mac state addr online present
  read -r v </proc/sys/kernel/osrelease
  echo "kernel release=$v"
  read -r online </sys/devices/system/cpu/online
  read -r present </sys/devices/system/cpu/present
  qvg_count_list "$online"
  echo "cpus count=$qvg_count online=$online present=$present"
  while read -r k v u; do
    if [ "$k" = "MemTotal:" ]; then
      echo "memory total-kib=$v"
      break
    fi
  done </proc/meminfo
  for d in /sys/block/*; do
    [ -e "$d/device" ] || continue
    n="${d##*/}"
    read -r size <"$d/size"
    serial=-
    if [ -r "$d/serial" ]; then read -r serial <"$d/serial" || true; fi
    [ -n "$serial" ] || serial=-
    read -r ro <"$d/ro"
    read -r rm <"$d/removable"
    echo "disk name=$n bytes=$((size * 512)) serial=${serial// /_} ro=$ro removable=$rm"
  done
  while read -r d n v _; do
    case "$d" in /dev/*) echo "mount name=$n source=$d type=$v" ;; esac
  done </proc/mounts
  for d in /sys/class/net/*; do
    n="${d##*/}"
    [ "$n" = lo ] && continue
    [ -e "$d/address" ] || continue
    read -r mac <"$d/address"
    read -r state <"$d/operstate"
    addr="$(ip -4 -o addr show dev "$n" 2>/dev/null | awk '{ printf "%s%s", s, $4; s = "," }')"
    echo "nic name=$n mac=$mac state=$state ipv4=${addr:--}"
  done
}
