# guest-topic.sh: runs inside the VM as /test/main.sh (busybox sh).
# Topics (one publisher, many subscribers; include/ivshmem.h "Topics")
# between two guests and the host, all on one shared memory region:
#   guest A  ivshmem-doorbell bound to vfio-pci (DO_BIND=1): its subscriber
#            sleeps and is woken by the publisher's doorbells
#   guest B  ivshmem-plain on the same /dev/shm object (sysfs backend): its
#            subscriber polls
# The host created two topics before boot:
#   h2g  host -> guests: every guest subscribes and takes H2G_COUNT lines;
#        the host publishes them (more than the ring holds: lossless, it
#        waits for the slower guest) once both guests' subscribers are live
#   g2h  guest -> host (G2H_PUB=1, guest A): once the host's two
#        subscribers are live, the guest publishes /test/g2h.txt line by line
#        (more than the ring holds: it waits for the host to take them)
# Guest A does h2g first, then g2h: a vfio group is one process's at a time.
#
# Environment (from /test/env): ROLE (A or B), DO_BIND, H2G_COUNT, H2G_MD5
# (md5 of all the lines the host publishes, newline-terminated), G2H_PUB,
# G2H_COUNT.
#
#@check device-present
#@check bind vfio
#@check topic-list
#@check topic-sub-missing-refused
#@check topic-sub-h2g
#@check topic-sub-h2g-content
#@check topic-stat-h2g
#@check g2h-subscribers-live pub
#@check topic-pub-g2h pub
#@check topic-stat-g2h pub

. /test/lib.sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

echo "GUEST-INFO role $ROLE"
devs=$(find_ivshmem)
n=$(echo $devs | wc -w)
expect device-present "want 1 IVSHMEM device, found $n: $devs" [ "$n" = 1 ]
[ "$n" = 1 ] || exit 1
[ "$DO_BIND" = 1 ] && check bind ivshmem bind auto

# topics are listed with the channels, kind "topic"
if capture topic-list ivshmem chan list auto &&
	grep -q '^h2g  *topic ' /tmp/topic-list.out && grep -q '^g2h  *topic ' /tmp/topic-list.out
then ok topic-list
else fail topic-list "exit $RC, want h2g and g2h listed as topics"; detail topic-list /tmp/topic-list.out; detail topic-list /tmp/topic-list.err; fi

run topic-sub-missing-refused ivshmem topic sub auto nosuch --count 1 --timeout 1
if [ $RC = 1 ] && grep -q nosuch /tmp/topic-sub-missing-refused.err; then ok topic-sub-missing-refused
else fail topic-sub-missing-refused "exit $RC, want 1 naming the topic"
	detail topic-sub-missing-refused /tmp/topic-sub-missing-refused.err; fi

# host -> guests: the host publishes once both guests' subscribers are live.
# Meanwhile, every 0.1 s, the lines taken so far and the vfio device's MSI-X
# counts (the doorbells that reached this subscriber; /proc/interrupts drops
# them when it closes the device): diagnostics for the host, by timing
ivshmem topic sub auto h2g --count "$H2G_COUNT" --timeout 90 >/tmp/topic-sub-h2g.out 2>/tmp/topic-sub-h2g.err &
sub=$!
: >/tmp/irq.log
while kill -0 $sub 2>/dev/null; do
	[ "$DO_BIND" = 1 ] && echo "$(wc -l </tmp/topic-sub-h2g.out) lines:" \
		$(awk '/vfio-msix/ { print $NF "=" $2 }' /proc/interrupts) >>/tmp/irq.log
	sleep 0.1
done
wait $sub
RC=$?
[ "$DO_BIND" = 1 ] && capture irq-h2g uniq -c /tmp/irq.log
if [ $RC = 0 ]; then ok topic-sub-h2g; else fail topic-sub-h2g "exit $RC"; detail topic-sub-h2g /tmp/topic-sub-h2g.err; fi
m=$(md5sum </tmp/topic-sub-h2g.out | cut -d' ' -f1)
l=$(wc -l </tmp/topic-sub-h2g.out)
expect topic-sub-h2g-content "md5 $m ($l lines), want $H2G_MD5 ($H2G_COUNT lines)" [ "$m" = "$H2G_MD5" ]
[ "$m" = "$H2G_MD5" ] || { head -n 3 /tmp/topic-sub-h2g.out >/tmp/h2g.head; detail topic-sub-h2g-content /tmp/h2g.head; }
capture topic-stat-h2g ivshmem topic stat auto h2g --json
if [ $RC = 0 ]; then ok topic-stat-h2g; else fail topic-stat-h2g "exit $RC"; detail topic-stat-h2g /tmp/topic-stat-h2g.err; fi

# guest -> host: wait (bounded: 60 s) for the host's two subscribers
if [ "$G2H_PUB" = 1 ]; then
	i=0 live=0
	while [ $i -lt 300 ]; do
		ivshmem topic stat auto g2h --json >/tmp/g2h-stat.json 2>/tmp/g2h-stat.err
		live=$(grep -o '"state":"live"' /tmp/g2h-stat.json | wc -l)
		[ "$live" -ge 2 ] && break
		sleep 0.2
		i=$((i + 1))
	done
	if [ "$live" -ge 2 ]; then ok g2h-subscribers-live
	else fail g2h-subscribers-live "$live live subscriber slot(s) after $i looks, want 2"
		detail g2h-subscribers-live /tmp/g2h-stat.json; detail g2h-subscribers-live /tmp/g2h-stat.err; fi
	check topic-pub-g2h sh -c 'ivshmem topic pub auto g2h --timeout 60 </test/g2h.txt'
	capture topic-stat-g2h ivshmem topic stat auto g2h --json
	if [ $RC = 0 ]; then ok topic-stat-g2h; else fail topic-stat-g2h "exit $RC"; detail topic-stat-g2h /tmp/topic-stat-g2h.err; fi
fi
sync
