#!/bin/sh
# Install every build, run and test dependency of vstor from Debian 12 packages.
# Idempotent and quick when everything is present: apt is only called for
# packages that are missing. Kernel packages are installed with INITRD=No
# because the tests boot with their own initramfs and Debian's initrd
# generation costs minutes.
set -eu

PKGS="build-essential pkg-config clang llvm libclang-rt-14-dev
 liburing-dev libyajl-dev libcurl4-openssl-dev libssl-dev
 libjerasure-dev libgf-complete-dev liblpsolve55-dev
 libnl-3-dev libnl-genl-3-dev libibverbs-dev
 etcd-server etcd-client fio
 linux-headers-amd64 linux-image-amd64 kmod qemu-system-x86 busybox-static cpio
 valgrind python3 iproute2 procps dkms linux-source-6.1"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	echo "deps: all present"
	exit 0
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null || { echo "deps: need root or sudo to install:$missing" >&2; exit 1; }
	SUDO=sudo
fi
echo "deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive INITRD=No
# A stale package list makes apt fail on moved versions; refresh once.
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO env DEBIAN_FRONTEND=noninteractive INITRD=No \
	apt-get install -y -qq --no-install-recommends $missing
# etcd-server's package starts a system etcd on :2379; the tests run their
# own on random ports and do not need it.
if command -v systemctl >/dev/null 2>&1; then
	$SUDO systemctl disable --now etcd >/dev/null 2>&1 || true
fi
echo "deps: done"
