#!/bin/busybox sh
# /init of the Linux guest the tests and benches boot (scripts/linux-guest.mjs puts it,
# busybox, Debian's network modules and vpio-net in the initramfs). What it does comes
# from the kernel command line: Linux hands parameters it does not know to init as
# environment variables.
#
#   vpio_driver=8139too|ne2k-pci|8139cp  load it (8139too: vpio_io=1 for use_io=1, ports not
#                                 BAR1; 8139cp drives QEMU's C+ RTL8139 in the reference runs)
#   vpio_ip=10.0.2.15             eth0's address (10.0.2.0/24; the peers are 10.0.2.2)
#   vpio_promisc=1                eth0 promiscuous (the card takes every frame it is given), and
#                                 at the end "init: eth0 received N frames" (what a test checks
#                                 that a shared card gives each guest only its own unicast by)
#   vpio_work=ping,bigping,flood,tx,rx  the workloads, in order:
#       ping     ping -c vpio_pings (4) 10.0.2.2
#       bigping  ping -c 4 -s 1400 10.0.2.2
#       flood    ping -A -q -c 200 10.0.2.2 (the next as soon as a reply is in)
#       tx       vpio-net tx to the sink (10.0.2.2:9): vpio_count (1000) of vpio_size (1024);
#                tx:COUNT:SIZE gives them for this stream (the bench sends two)
#       rx       vpio-net rx on port 9 from the source peer: vpio_count, 5 s without one ends it
#                (give the peer start= past the boot, e.g. --peer source,count=300,start=3500)
#
#   vpio_end=reboot               end with reboot -f instead of poweroff -f
#
# Every line it prints itself starts "init: "; it powers off (or reboots) at the end.
/bin/busybox mkdir -p /proc /sys /usr/bin /usr/sbin /sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
say() { echo "init: $*"; }
say "hello from /init"
case "$vpio_driver" in
  8139too) insmod /lib/modules/mii.ko && insmod /lib/modules/8139too.ko use_io="${vpio_io:-0}" || say "8139too did not load" ;;
  8139cp) insmod /lib/modules/mii.ko && insmod /lib/modules/8139cp.ko || say "8139cp did not load" ;;
  ne2k-pci) insmod /lib/modules/8390.ko && insmod /lib/modules/ne2k-pci.ko || say "ne2k-pci did not load" ;;
  "") ;;
  *) say "unknown vpio_driver $vpio_driver" ;;
esac
if [ -n "$vpio_driver" ]; then
  # pfifo_fast, the kernel's own default, rather than the fq_codel Debian's config picks:
  # fq_codel drops from a long burst through a 10 Mbit/s card when its queue's delay
  # passes 5 ms, which is a loss of the stack's choosing, not the card's or the mode's.
  # (Set before eth0 comes up: a device's root qdisc is made then.)
  [ -w /proc/sys/net/core/default_qdisc ] && echo pfifo_fast > /proc/sys/net/core/default_qdisc
  if ifconfig eth0 "${vpio_ip:-10.0.2.15}" netmask 255.255.255.0 up; then
    say "eth0 $(cat /sys/class/net/eth0/address) ${vpio_ip:-10.0.2.15}"
    [ "$vpio_promisc" = 1 ] && ifconfig eth0 promisc
  else
    say "eth0 did not come up"
  fi
fi
for w in $(echo "$vpio_work" | tr , ' '); do
  case "$w" in
    ping) ping -c "${vpio_pings:-4}" 10.0.2.2 ;;
    bigping) ping -c 4 -s 1400 10.0.2.2 ;;
    flood) ping -A -q -c 200 10.0.2.2 ;;
    tx) vpio-net tx 10.0.2.2 9 "${vpio_count:-1000}" "${vpio_size:-1024}" ;;
    tx:*:*) set -- $(echo "$w" | tr : ' '); vpio-net tx 10.0.2.2 9 "$2" "$3" ;;
    rx) vpio-net rx 9 "${vpio_count:-1000}" 5 ;;
    *) say "unknown workload $w" ;;
  esac
  say "$w status $?"
done
[ "$vpio_promisc" = 1 ] && say "eth0 received $(cat /sys/class/net/eth0/statistics/rx_packets) frames"
say "done"
if [ "$vpio_end" = reboot ]; then reboot -f; else poweroff -f; fi
