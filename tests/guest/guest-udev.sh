# guest-udev.sh: runs inside the VM as /test/main.sh (busybox sh).
# The installed udev rule (70-ivshmem.rules) under the real systemd-udevd:
# two ivshmem-plain devices, ASKED and OTHER; a local rule
# (/etc/udev/rules.d/60-ivshmem-local.rules) sets IVSHMEM_VFIO=1 and
# IVSHMEM_DAEMON=1 for ASKED only.  vfio-pci is not loaded at boot: the
# rule's kmod builtin must load it.
#
# Environment (from /test/env): ASKED OTHER (PCI addresses), UDEVD (path of
# systemd-udevd).
#
#@check udevd-runs
#@check vfio-pci-not-loaded-before
#@check trigger-settles
#@check rule-loaded-vfio-pci
#@check asked-bound-to-vfio-pci
#@check asked-vfio-group-node
#@check asked-wants-daemon-socket
#@check asked-info-vfio
#@check other-unbound
#@check other-no-override
#@check other-wants-nothing
. /test/lib.sh

mkdir -p /run/udev
"$UDEVD" --debug >/tmp/udevd.log 2>&1 &
i=0
while [ ! -S /run/udev/control ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
if [ -S /run/udev/control ]; then ok udevd-runs; else fail udevd-runs "no /run/udev/control after 30 s"; detail udevd-runs /tmp/udevd.log; fi
expect vfio-pci-not-loaded-before "vfio_pci is loaded before udev ran" test ! -d /sys/module/vfio_pci

check trigger-settles sh -c 'udevadm trigger --action=add --subsystem-match=pci && udevadm settle --timeout=60'
expect rule-loaded-vfio-pci "vfio_pci not loaded after the rule ran" test -d /sys/module/vfio_pci

drv=$(readlink /sys/bus/pci/devices/$ASKED/driver 2>/dev/null)
if [ "${drv##*/}" = vfio-pci ]; then ok asked-bound-to-vfio-pci
else fail asked-bound-to-vfio-pci "driver of $ASKED is '${drv##*/}'"; grep -i "ivshmem\|$ASKED" /tmp/udevd.log | tail -n 15 >/tmp/udevd.tail; detail asked-bound-to-vfio-pci /tmp/udevd.tail; fi
grp=$(readlink /sys/bus/pci/devices/$ASKED/iommu_group 2>/dev/null)
expect asked-vfio-group-node "no /dev/vfio/${grp##*/}" test -n "$grp" -a -c "/dev/vfio/${grp##*/}"
udevadm info -q property -p "/bus/pci/devices/$ASKED" >/tmp/asked.prop 2>&1
if grep -qx "SYSTEMD_WANTS=ivshmem-daemon@$ASKED.socket" /tmp/asked.prop && grep -q '^TAGS=.*:systemd:' /tmp/asked.prop; then
	ok asked-wants-daemon-socket
else
	fail asked-wants-daemon-socket "no SYSTEMD_WANTS=ivshmem-daemon@$ASKED.socket with TAGS :systemd:"
	detail asked-wants-daemon-socket /tmp/asked.prop 30
	grep -i "70-ivshmem\|wants\|ivshmem-daemon" /tmp/udevd.log | tail -n 20 >/tmp/udevd.tail
	detail asked-wants-daemon-socket /tmp/udevd.tail 20
fi
run asked-info ivshmem info "$ASKED"
expect asked-info-vfio "ivshmem info $ASKED: backend not vfio (exit $RC: $(head -c 200 /tmp/asked-info.err))" grep -q '^backend: *vfio' /tmp/asked-info.out

expect other-unbound "$OTHER has a driver: $(readlink /sys/bus/pci/devices/$OTHER/driver)" test ! -e "/sys/bus/pci/devices/$OTHER/driver"
ov=$(cat /sys/bus/pci/devices/$OTHER/driver_override 2>&1)
expect other-no-override "driver_override of $OTHER is '$ov'" test "$ov" = "(null)"
udevadm info -q property -p "/bus/pci/devices/$OTHER" >/tmp/other.prop 2>&1
expect other-wants-nothing "$OTHER: $(grep SYSTEMD_WANTS /tmp/other.prop)" sh -c '! grep -q "^SYSTEMD_WANTS=" /tmp/other.prop'
