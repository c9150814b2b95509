# guest-plain.sh: runs inside the VM as /test/main.sh (busybox sh).
# One ivshmem-plain device; the CLI under test is /bin/ivshmem.
#
# Environment (from /test/env, written by run.sh):
#   BACKEND     backend `info` must report: sysfs or vfio
#   DO_BIND     1: bind the device to vfio-pci with `ivshmem bind` first
#   SHM_SIZE    size of the shared memory in bytes
#   MD5_FULL    md5 of the whole shared memory as the host wrote it
#   MD5_HEAD    md5 of its first 4096 bytes
#   SLICE_OFF SLICE_LEN MD5_SLICE      a slice read with --offset/--length
#   MARK MARK_OFF                      marker written with write --offset
#   END_MARK                           8 bytes written at SHM_SIZE-8
#   RW_HOST_OFF RW_HOST_HEX            32 bytes the host wrote, as hex, that
#                                      bar-rw reads with bar_read
#   RW_MARK RW_MARK_OFF                marker bar-rw writes with bar_write
#
# The host lists the checks it expects from the "#@check NAME [TAGS]" lines
# below (a check with tags is expected only when run.sh selects one of them).
# Keep them in sync with what the script prints.
#
#@check device-present
#@check bind                  vfio
#@check bind-driver           vfio
#@check vfio-group-node       vfio
#@check bind-refused-no-iommu sysfs
#@check bind-refused-no-driver sysfs
#@check bind-refused-unchanged sysfs
#@check list
#@check list-device-line
#@check list-json
#@check info
#@check info-backend
#@check info-bar2-size
#@check info-json
#@check info-cache-uc         vfio
#@check info-vfio-not-bound   sysfs
#@check info-cache-wc         sysfs
#@check info-cache-uc-req     sysfs
#@check read-full
#@check read-slice
#@check read-hex-suffix
#@check read-past-end-refused
#@check read-auto
#@check read-backend-explicit
#@check bind-again           vfio
#@check write-marker
#@check write-marker-readback
#@check write-at-end
#@check write-past-end-refused
#@check write-past-end-one-line
#@check write-past-end-untouched
#@check write-offset-outside-refused
#@check write-empty
# /bin/bar-rw (tests/guest/bar-rw.c): BAR access without mmap
#@check bar-rw-open
#@check bar-rw-bar0-ivposition
#@check bar-rw-bar2-host-bytes
#@check bar-rw-bar2-vs-map
#@check bar-rw-bar2-write
#@check bar-rw-bar2-write-readback
#@check bar-rw-range
#@check bar-rw-endpoint

. /test/lib.sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

devs=$(find_ivshmem)
n=$(echo $devs | wc -w)
expect device-present "want 1 IVSHMEM device, found $n: $devs" [ "$n" = 1 ]
DEV=$(echo $devs | cut -d' ' -f1)
[ -n "$DEV" ] || exit 1
echo "GUEST-INFO device $DEV driver $(pci_driver $DEV)"

if [ "$DO_BIND" = 1 ]; then
	check bind ivshmem bind $DEV
	drv=$(pci_driver $DEV)
	expect bind-driver "driver is $drv after 'ivshmem bind $DEV'" [ "$drv" = vfio-pci ]
	grp=$(basename "$(readlink /sys/bus/pci/devices/$DEV/iommu_group)")
	expect vfio-group-node "no /dev/vfio/$grp (group '$grp'): $(ls /dev/vfio 2>&1 | tr '\n' ' ')" \
		[ -c "/dev/vfio/$grp" ]
fi
if [ "$BACKEND" = sysfs ]; then
	# machine pc has no IOMMU: binding to vfio-pci must be refused, saying why
	run bind-refused-no-iommu ivshmem bind $DEV
	if [ $RC = 1 ] && grep -qi iommu /tmp/bind-refused-no-iommu.err &&
		[ "$(wc -l </tmp/bind-refused-no-iommu.err)" = 1 ]; then ok bind-refused-no-iommu
	else fail bind-refused-no-iommu "exit $RC, want 1 and one line naming the IOMMU"
		detail bind-refused-no-iommu /tmp/bind-refused-no-iommu.err; fi
	run bind-refused-no-driver ivshmem bind $DEV nosuchdriver
	if [ $RC = 1 ] && [ "$(wc -l </tmp/bind-refused-no-driver.err)" = 1 ]; then ok bind-refused-no-driver
	else fail bind-refused-no-driver "exit $RC, want 1 and one line"
		detail bind-refused-no-driver /tmp/bind-refused-no-driver.err; fi
	sed 's/^/GUEST-INFO bind-refused stderr: /' /tmp/bind-refused-no-iommu.err /tmp/bind-refused-no-driver.err
	ovr=$(cat /sys/bus/pci/devices/$DEV/driver_override 2>&1)
	drv=$(pci_driver $DEV)
	if [ "$drv" = none ] && [ "$ovr" = "(null)" ]; then ok bind-refused-unchanged
	else fail bind-refused-unchanged "after refused binds: driver $drv, driver_override '$ovr'"; fi
fi
want_drv=$(pci_driver $DEV)

# --- list ---------------------------------------------------------------
if capture list ivshmem list; then ok list; else fail list "exit $RC"; detail list /tmp/list.err; fi
line=$(grep "^$DEV " /tmp/list.out)
if [ -n "$line" ] && echo "$line" | grep -qw "$SHM_SIZE" && echo "$line" | grep -qw "$want_drv"; then
	ok list-device-line
else
	fail list-device-line "no line for $DEV with size $SHM_SIZE and driver $want_drv"
	detail list-device-line /tmp/list.out
fi
# the host validates the JSON it captures
capture list-json ivshmem list --json
if [ $RC = 0 ]; then ok list-json; else fail list-json "exit $RC"; detail list-json /tmp/list-json.err; fi

# --- info ---------------------------------------------------------------
if capture info ivshmem info $DEV; then ok info; else fail info "exit $RC"; detail info /tmp/info.err; fi
if grep -qE "^backend:[[:space:]]+$BACKEND\$" /tmp/info.out; then ok info-backend
else fail info-backend "want backend $BACKEND"; detail info-backend /tmp/info.out; fi
if grep -E '^bar2:' /tmp/info.out | grep -qw "$SHM_SIZE"; then ok info-bar2-size
else fail info-bar2-size "want a bar2 line with size $SHM_SIZE"; detail info-bar2-size /tmp/info.out; fi
capture info-json ivshmem info $DEV --json
if [ $RC = 0 ]; then ok info-json; else fail info-json "exit $RC"; detail info-json /tmp/info-json.err; fi

if [ "$BACKEND" = vfio ]; then
	if grep -qE '^cache:[[:space:]]+uc$' /tmp/info.out; then ok info-cache-uc
	else fail info-cache-uc "want cache uc with vfio"; detail info-cache-uc /tmp/info.out; fi
else
	# not bound to vfio-pci: --backend vfio must be refused with a reason
	run info-vfio-not-bound ivshmem info $DEV --backend vfio
	if [ $RC = 1 ] && grep -q 'not bound to vfio-pci' /tmp/info-vfio-not-bound.err; then
		ok info-vfio-not-bound
	else
		fail info-vfio-not-bound "exit $RC, want 1 and 'not bound to vfio-pci'"
		detail info-vfio-not-bound /tmp/info-vfio-not-bound.err
	fi
	# BAR2 is prefetchable: the default and --cache wc give wc; --cache uc gives uc
	run info-cache-wc ivshmem info $DEV --cache wc
	if [ $RC = 0 ] && grep -qE '^cache:[[:space:]]+wc$' /tmp/info-cache-wc.out; then ok info-cache-wc
	else fail info-cache-wc "exit $RC, want cache wc"; detail info-cache-wc /tmp/info-cache-wc.out
		detail info-cache-wc /tmp/info-cache-wc.err; fi
	run info-cache-uc-req ivshmem info $DEV --cache uc
	if [ $RC = 0 ] && grep -qE '^cache:[[:space:]]+uc$' /tmp/info-cache-uc-req.out; then ok info-cache-uc-req
	else fail info-cache-uc-req "exit $RC, want cache uc"; detail info-cache-uc-req /tmp/info-cache-uc-req.out
		detail info-cache-uc-req /tmp/info-cache-uc-req.err; fi
	cat /tmp/info-cache-wc.out | sed 's/^/GUEST-INFO /'
fi

# --- read ---------------------------------------------------------------
m=$(md5_of ivshmem read $DEV)
expect read-full "md5 $m, want $MD5_FULL ($(head -c 200 /tmp/md5_of.err))" [ "$m" = "$MD5_FULL" ]
m=$(md5_of ivshmem read $DEV --offset $SLICE_OFF --length $SLICE_LEN)
expect read-slice "md5 $m, want $MD5_SLICE ($(head -c 200 /tmp/md5_of.err))" [ "$m" = "$MD5_SLICE" ]
# 0x hex and K suffixes: 0x1000 / 4K is the same as 4096 / 4096
a=$(md5_of ivshmem read $DEV --offset 0x1000 --length 4K)
b=$(md5_of ivshmem read $DEV --offset 4096 --length 4096)
if [ -n "$a" ] && [ "${a#failed}" = "$a" ] && [ "$a" = "$b" ]; then ok read-hex-suffix
else fail read-hex-suffix "md5 $a (0x1000/4K) vs $b (4096/4096)"; fi
# DEV "auto": the only IVSHMEM device
m=$(md5_of ivshmem read auto --length 4096)
expect read-auto "md5 $m, want $MD5_HEAD ($(head -c 200 /tmp/md5_of.err))" [ "$m" = "$MD5_HEAD" ]
m=$(md5_of ivshmem read $DEV --backend $BACKEND --length 4096)
expect read-backend-explicit "md5 $m, want $MD5_HEAD ($(head -c 200 /tmp/md5_of.err))" [ "$m" = "$MD5_HEAD" ]
if [ "$DO_BIND" = 1 ]; then
	# binding a device already bound to vfio-pci is fine
	check bind-again ivshmem bind $DEV vfio-pci
fi
run read-past-end-refused ivshmem read $DEV --offset $((SHM_SIZE - 8)) --length 16
if [ $RC = 1 ] && [ ! -s /tmp/read-past-end-refused.out ]; then ok read-past-end-refused
else fail read-past-end-refused "exit $RC, $(wc -c </tmp/read-past-end-refused.out) bytes out, want 1 and none"
	detail read-past-end-refused /tmp/read-past-end-refused.err; fi

# --- write --------------------------------------------------------------
printf '%s' "$MARK" >/tmp/mark.bin
check write-marker sh -c "ivshmem write $DEV --offset $MARK_OFF </tmp/mark.bin"
r=$(ivshmem read $DEV --offset $MARK_OFF --length ${#MARK} 2>&1)
expect write-marker-readback "read back '$r', want '$MARK'" [ "$r" = "$MARK" ]

printf '%s' "$END_MARK" >/tmp/end.bin
check write-at-end sh -c "ivshmem write $DEV --offset $((SHM_SIZE - 8)) </tmp/end.bin"

# 16 bytes at SHM_SIZE-12: 4 past the end, must be refused, nothing written
before=$(md5_of ivshmem read $DEV --offset $((SHM_SIZE - 12)))
printf 'OVERFLOW-OVERFLOW' | head -c 16 >/tmp/oob.bin
run write-past-end-refused sh -c "ivshmem write $DEV --offset $((SHM_SIZE - 12)) </tmp/oob.bin"
if [ $RC = 1 ]; then ok write-past-end-refused
else fail write-past-end-refused "exit $RC, want 1"; detail write-past-end-refused /tmp/write-past-end-refused.err; fi
nl=$(wc -l </tmp/write-past-end-refused.err)
if [ $RC = 1 ] && [ "$nl" = 1 ] && [ ! -s /tmp/write-past-end-refused.out ]; then ok write-past-end-one-line
else fail write-past-end-one-line "exit $RC, $nl lines on stderr, want 1 and 1"; detail write-past-end-one-line /tmp/write-past-end-refused.err; fi
sed 's/^/GUEST-INFO write-past-end stderr: /' /tmp/write-past-end-refused.err
after=$(md5_of ivshmem read $DEV --offset $((SHM_SIZE - 12)))
expect write-past-end-untouched "last 12 bytes changed: md5 $before -> $after" [ "$before" = "$after" ]

run write-offset-outside-refused sh -c "ivshmem write $DEV --offset $((SHM_SIZE + 4096)) </tmp/mark.bin"
if [ $RC = 1 ] && [ "$(wc -l </tmp/write-offset-outside-refused.err)" = 1 ]; then ok write-offset-outside-refused
else fail write-offset-outside-refused "exit $RC, want 1 and one line"
	detail write-offset-outside-refused /tmp/write-offset-outside-refused.err; fi

check write-empty sh -c "ivshmem write $DEV --offset 0 </dev/null"

# --- register access without mmap (ivshmem_pci_bar_read/_write) ---------
# bar-rw prints its own GUEST-OK / GUEST-FAIL lines
if command -v bar-rw >/dev/null 2>&1; then
	bar-rw plain $DEV $BACKEND $RW_HOST_OFF $RW_HOST_HEX $RW_MARK_OFF "$RW_MARK" 2>/tmp/bar-rw.err
	sed 's/^/GUEST-INFO bar-rw stderr: /' /tmp/bar-rw.err
else
	fail bar-rw-open "no /bin/bar-rw (build tests/guest/bar-rw.c, pass it with --bin)"
fi
sync
