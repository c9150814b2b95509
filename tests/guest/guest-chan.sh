# guest-chan.sh: runs inside the VM as /test/main.sh (busybox sh).
# Message channels (docs/channels.md) between the guest and the host: over
# an ivshmem-plain device (sysfs backend, no interrupts: both sides poll), or
# over an ivshmem-doorbell device bound to vfio-pci (DO_BIND=1: sleepers are
# woken by doorbells; the host side is a server: peer).
# The host created two channels in the memory before boot:
#   g2h  guest -> host: the guest sends /test/g2h.txt line by line (more than
#        the ring holds: the guest must wait for the host to drain it)
#   h2g  host -> guest: the guest receives H2G_COUNT lines (the host sent
#        some before boot and sends the rest once the guest is attached)
#
# Environment (from /test/env): G2H_COUNT, H2G_COUNT, H2G_MD5 (md5 of all
# the lines the host sends, newline-terminated), DO_BIND.
#
#@check device-present
#@check bind vfio
#@check chan-list
#@check chan-list-json
#@check chan-send-missing-refused
#@check chan-send-g2h
#@check chan-recv-h2g
#@check chan-recv-h2g-content
#@check chan-stat-g2h
#@check chan-stat-h2g

. /test/lib.sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

devs=$(find_ivshmem)
n=$(echo $devs | wc -w)
expect device-present "want 1 IVSHMEM device, found $n: $devs" [ "$n" = 1 ]
[ "$n" = 1 ] || exit 1
[ "$DO_BIND" = 1 ] && check bind ivshmem bind auto

if capture chan-list ivshmem chan list auto && grep -qw g2h /tmp/chan-list.out && grep -qw h2g /tmp/chan-list.out
then ok chan-list
else fail chan-list "exit $RC, want g2h and h2g listed"; detail chan-list /tmp/chan-list.out; detail chan-list /tmp/chan-list.err; fi
capture chan-list-json ivshmem chan list auto --json
if [ $RC = 0 ]; then ok chan-list-json; else fail chan-list-json "exit $RC"; detail chan-list-json /tmp/chan-list-json.err; fi

echo hello >/tmp/hello.txt
run chan-send-missing-refused sh -c 'ivshmem chan send auto nosuch </tmp/hello.txt'
if [ $RC = 1 ] && grep -q nosuch /tmp/chan-send-missing-refused.err; then ok chan-send-missing-refused
else fail chan-send-missing-refused "exit $RC, want 1 naming the channel"
	detail chan-send-missing-refused /tmp/chan-send-missing-refused.err; fi

# guest -> host: the host's receiver has been waiting since before boot
check chan-send-g2h sh -c 'ivshmem chan send auto g2h --timeout 60 </test/g2h.txt'

# host -> guest
run chan-recv-h2g ivshmem chan recv auto h2g --count "$H2G_COUNT" --timeout 60
if [ $RC = 0 ]; then ok chan-recv-h2g; else fail chan-recv-h2g "exit $RC"; detail chan-recv-h2g /tmp/chan-recv-h2g.err; fi
m=$(md5sum </tmp/chan-recv-h2g.out | cut -d' ' -f1)
l=$(wc -l </tmp/chan-recv-h2g.out)
expect chan-recv-h2g-content "md5 $m ($l lines), want $H2G_MD5 ($H2G_COUNT lines)" [ "$m" = "$H2G_MD5" ]
[ "$m" = "$H2G_MD5" ] || { head -n 3 /tmp/chan-recv-h2g.out >/tmp/h2g.head; detail chan-recv-h2g-content /tmp/h2g.head; }

capture chan-stat-g2h ivshmem chan stat auto g2h --json
if [ $RC = 0 ]; then ok chan-stat-g2h; else fail chan-stat-g2h "exit $RC"; detail chan-stat-g2h /tmp/chan-stat-g2h.err; fi
capture chan-stat-h2g ivshmem chan stat auto h2g --json
if [ $RC = 0 ]; then ok chan-stat-h2g; else fail chan-stat-h2g "exit $RC"; detail chan-stat-h2g /tmp/chan-stat-h2g.err; fi
sync
