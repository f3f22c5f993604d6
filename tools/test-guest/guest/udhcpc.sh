#!/bin/sh
# busybox udhcpc's event script: apply the lease.
case "$1" in
deconfig) ip -4 addr flush dev "$interface" ;;
bound | renew)
  ip -4 addr flush dev "$interface"
  ip addr add "$ip/${mask:-24}" dev "$interface"
  for r in $router; do
    ip route replace default via "$r" dev "$interface"
    break
  done
  : >/etc/resolv.conf
  for s in $dns; do echo "nameserver $s" >>/etc/resolv.conf; done
  # The monitor reports the address at its next look.
  echo "net $1 $interface" >/run/qvirt-guest/wake
  ;;
esac
exit 0
