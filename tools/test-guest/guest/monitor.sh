#!/bin/sh
# Reports what the guest sees, then again whenever it changes: woken by uevents (a disk, NIC or
# CPU came or went) and at least once a second (the balloon changes MemTotal without a uevent).
. /etc/qvirt-guest/lib.sh
NL='
'
exec 3<>"$QVG_RUN/wake"
prev=
first=1
while :; do
  cur="$(qvg_snapshot)"
  # The lines are split on newlines and spaces below, never globbed.
  set -f
  IFS="$NL"
  for line in $prev; do
    IFS=' '
    set -- $line
    IFS="$NL"
    case "$2" in
    name=*)
      case "$NL$cur" in
      *"$NL$1 $2 "*) ;;
      *) say "$1-gone $2" ;;
      esac
      ;;
    esac
  done
  for line in $cur; do
    case "$NL$prev$NL" in
    *"$NL$line$NL"*) ;;
    *) say "$line" ;;
    esac
  done
  IFS=' '
  set +f
  prev="$cur"
  if [ -n "$first" ]; then
    first=
    read -r up _ </proc/uptime
    say "ready uptime=$up"
  fi
  # Wait for a uevent or a second, then let a burst of uevents settle.
  if read -r -t 1 _ <&3; then
    while read -r -t 0.1 _ <&3; do :; done
  fi
done
