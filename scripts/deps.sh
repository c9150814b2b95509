#!/bin/sh
# Install what the build ("build") or the full test suite ("check") needs.
# Only acts as root; otherwise names what is missing.
set -e
what=${1:-build}
need=""
have() { command -v "$1" >/dev/null 2>&1; }
pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
have meson || need="$need meson"
have ninja || need="$need ninja-build"
have cc || need="$need gcc"
have pkg-config || need="$need pkg-config"
if [ "$what" = check ]; then
	have qemu-system-x86_64 || need="$need qemu-system-x86"
	pkg busybox-static || need="$need busybox-static"
	have cpio || need="$need cpio"
	have xz || need="$need xz-utils"
	have python3 || need="$need python3"
	have spin || need="$need spin"
	have scdoc || need="$need scdoc"
	have man || need="$need man-db"
	have col || need="$need bsdextrautils"
	have systemd-socket-activate || need="$need systemd"
	have udevadm || need="$need udev"       # the guest's udev scenario runs the real udevd
	[ -x /sbin/depmod ] || need="$need kmod" # ... which loads vfio-pci through libkmod's index
	have dpkg-buildpackage || need="$need dpkg-dev" # make deb (its build dependencies: scripts/deb.sh)
	have lintian || need="$need lintian"
	# docs/libvirt.md's XML (virt-xml-validate) and the guest test's libvirt
	# scenario (a session libvirtd with the QEMU driver)
	have virt-xml-validate || need="$need libvirt-clients"
	have xmllint || need="$need libxml2-utils"
	[ -x /usr/sbin/libvirtd ] || need="$need libvirt-daemon"
	pkg libvirt-daemon-driver-qemu || need="$need libvirt-daemon-driver-qemu"
	# the Python binding's tests (Debian's interpreter; numpy for the
	# zero-copy test that an array made over the memory works)
	/usr/bin/python3 -c 'import pytest' 2>/dev/null || need="$need python3-pytest"
	/usr/bin/python3 -c 'import numpy' 2>/dev/null || need="$need python3-numpy"
	# ... and its pip install into a venv, offline: Debian's wheels of pip,
	# setuptools and wheel
	pkg python3-venv || need="$need python3-venv"
	pkg python3-wheel-whl || need="$need python3-wheel-whl"
fi
[ -z "$need" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "missing:$need; install them (apt-get install$need) or run as root" >&2
	exit 1
fi
echo "installing:$need"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null || true
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $need >/dev/null
