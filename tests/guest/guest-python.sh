# guest-python.sh: runs inside the VM as /test/main.sh (busybox sh).
# Python in the guest: Debian's interpreter (only the modules the test
# loads), the binding and libivshmem.so.0.1, over an ivshmem-plain device
# (sysfs).  guest-python.py does the work and reports its own checks.
#
# Environment (from /test/env): H2G_COUNT, G2H_COUNT, SIZE.
#
#@check device-present
#@check python-imports
#@check py-open
#@check py-mem-marker
#@check py-peek-release
#@check py-recv-h2g
#@check py-send-g2h
#@check py-mem-write
#@check python-exit

. /test/lib.sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export PYTHONPATH=/test/py PYTHONUTF8=1 PYTHONDONTWRITEBYTECODE=1 IVSHMEM_LIBRARY=/usr/lib/libivshmem.so.0.1

devs=$(find_ivshmem)
n=$(echo $devs | wc -w)
expect device-present "want 1 IVSHMEM device, found $n: $devs" [ "$n" = 1 ]
[ "$n" = 1 ] || exit 1
check python-imports python3 -S -c 'import ivshmem; print(ivshmem.library_version)'
python3 -S /test/consumer.py 2>/tmp/python.err
RC=$?
if [ $RC = 0 ]; then ok python-exit; else fail python-exit "exit $RC"; detail python-exit /tmp/python.err; fi
