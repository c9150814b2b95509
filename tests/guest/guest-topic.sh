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
#   state  latest mode: the host publishes "state NNNNNN" (numbered from 1)
#        all along and never waits; every guest takes STATE_COUNT of them,
#        the newest at each look: well-formed and strictly increasing.
#        STATE_RO=1 (guest B): with --read-only, a passive subscriber on a
#        read-only mapping: it takes no slot and writes nothing (it polls)
# Guest A does h2g first, then g2h, then state: a vfio group is one
# process's at a time.
#
# Environment (from /test/env): ROLE (A or B), DO_BIND, H2G_COUNT, H2G_MD5
# (md5 of all the lines the host publishes, newline-terminated), G2H_PUB,
# G2H_COUNT, STATE_COUNT, STATE_RO.
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
#@check topic-sub-lossless-readonly-refused plain
#@check topic-sub-state-passive-no-slot plain
#@check topic-sub-state
#@check topic-sub-state-content

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
: >/tmp/topic-sub-h2g.out # before the job: the loop below reads it at once
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

# state (latest).  Read-only: a lossless topic refuses the subscriber (it
# would have to write its position); a latest one takes it, passive
ro=
if [ "$STATE_RO" = 1 ]; then
	ro=--read-only
	run topic-sub-lossless-readonly-refused ivshmem topic sub auto h2g --read-only --count 1 --timeout 5
	if [ $RC = 1 ] && [ "$(wc -l </tmp/topic-sub-lossless-readonly-refused.err)" = 1 ] &&
		grep -q "is lossless.*drop --read-only" /tmp/topic-sub-lossless-readonly-refused.err
	then ok topic-sub-lossless-readonly-refused
	else fail topic-sub-lossless-readonly-refused "exit $RC, want 1 and one line saying the topic is lossless"
		detail topic-sub-lossless-readonly-refused /tmp/topic-sub-lossless-readonly-refused.err; fi
	# a passive subscriber that cannot end by itself (no --count, the
	# host publishes all along): once it has taken a message, the topic
	# shows no slot of this guest (its device has no peer ID: "id":-1)
	# (the file exists before the job: the background shell may open it
	# after the loop first reads it, which ended the loop at once)
	: >/tmp/state-probe.out
	ivshmem topic sub auto state --read-only --timeout 60 >/tmp/state-probe.out 2>/tmp/state-probe.err &
	probe=$!
	i=0
	while kill -0 $probe 2>/dev/null && [ "$(wc -l </tmp/state-probe.out)" -lt 1 ] && [ $i -lt 600 ]; do
		sleep 0.1; i=$((i + 1))
	done
	ivshmem topic stat auto state --json >/tmp/state-probe.json 2>&1
	if [ "$(wc -l </tmp/state-probe.out)" -ge 1 ] && kill -0 $probe 2>/dev/null &&
		grep -q '"mode":"latest"' /tmp/state-probe.json && ! grep -q '"id":-1,"pid"' /tmp/state-probe.json
	then ok topic-sub-state-passive-no-slot
	else fail topic-sub-state-passive-no-slot "want a running passive subscriber with a message and no slot of this guest"
		detail topic-sub-state-passive-no-slot /tmp/state-probe.json; detail topic-sub-state-passive-no-slot /tmp/state-probe.err; fi
	kill $probe 2>/dev/null
	wait $probe
fi
run topic-sub-state ivshmem topic sub auto state $ro --count "$STATE_COUNT" --timeout 60
if [ $RC = 0 ]; then ok topic-sub-state; else fail topic-sub-state "exit $RC"; detail topic-sub-state /tmp/topic-sub-state.err; fi
capture topic-state-lines cat /tmp/topic-sub-state.out
# "state NNNNNN", each after the one before
prev=0 why=
while IFS= read -r l; do
	case $l in
	"state "[0-9][0-9][0-9][0-9][0-9][0-9]) ;;
	*) why="not a line of the host's: '$l'"; break ;;
	esac
	v=$(expr "${l#state }" + 0)
	[ "$v" -gt "$prev" ] || { why="$v after $prev"; break; }
	prev=$v
done </tmp/topic-sub-state.out
l=$(wc -l </tmp/topic-sub-state.out)
[ -z "$why" ] && [ "$l" != "$STATE_COUNT" ] && why="$l lines, want $STATE_COUNT"
expect topic-sub-state-content "$why" [ -z "$why" ]
sync
