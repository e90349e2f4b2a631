#!/bin/sh
# Installation and packaging: make install lays out programs, units, udev
# rule, examples and the DKMS source; the systemd units pass
# systemd-analyze verify; make deb builds vstor and vstor-dkms packages
# that dpkg installs into (and removes from) a scratch root; DKMS builds
# vstor.ko from the packaged source for the installed Debian kernel; the
# man pages render. Usage: test_packages.sh BUILD_DIR (the gcc build is
# packaged when present: sanitizer builds are not for shipping).
set -u
BUILD=${1:-build}
[ -x build/vsctl ] && BUILD=build
T=$(mktemp -d "${TMPDIR:-/tmp}/vstor-pkg.XXXXXX")
trap 'rm -rf "$T"' EXIT
VERSION=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' dkms.conf)
PROGS="vsctl vstor-osd vstor-mon vstor-disk"

case_() { name=$1; shift; if "$@"; then echo "PASS: $name"; else echo "FAIL: $name"; fi; }
skip() { echo "SKIP: $1 ($2)"; }

t_version() {
	for p in $PROGS; do
		[ "$("$BUILD/$p" --version)" = "$p $VERSION" ] || { echo "$p --version"; return 1; }
	done
}

t_install() {
	make -s BUILD="$BUILD" DESTDIR="$T/inst" install >"$T/install.log" 2>&1 ||
		{ cat "$T/install.log"; return 1; }
	for f in usr/bin/vsctl usr/bin/vstor-osd usr/bin/vstor-mon usr/bin/vstor-disk \
		lib/systemd/system/vstor-osd@.service lib/systemd/system/vstor-mon.service \
		lib/systemd/system/vstor-map-agent.service lib/systemd/system/vstor.target \
		lib/udev/rules.d/60-vstor.rules usr/share/doc/vstor/examples/osd-1.env \
		usr/src/vstor-$VERSION/dkms.conf usr/src/vstor-$VERSION/kmod/vstor_main.c \
		usr/src/vstor-$VERSION/common/vstor_proto.h; do
		[ -s "$T/inst/$f" ] || { echo "missing $f"; return 1; }
	done
	"$T/inst/usr/bin/vsctl" --version | grep -qx "vsctl $VERSION"
}

# verify needs the basic targets and the binaries inside the root: a copy of
# this host's units under the installed tree gives it both.
t_units() {
	command -v systemd-analyze >/dev/null && [ -d /lib/systemd/system ] ||
		{ echo "no systemd-analyze"; return 1; }
	r=$T/inst
	cp -rn /lib/systemd/system/. "$r/lib/systemd/system/" 2>/dev/null
	mkdir -p "$r/etc/vstor" && cp "$r/usr/share/doc/vstor/examples/osd-1.env" "$r/etc/vstor/"
	systemd-analyze verify --man=no --root="$r" vstor-osd@1.service vstor-mon.service \
		vstor-map-agent.service vstor.target >"$T/verify.log" 2>&1 &&
		! grep -q . "$T/verify.log" || { cat "$T/verify.log"; return 1; }
}

t_deb() {
	make -s BUILD="$BUILD" deb >"$T/deb.log" 2>&1 || { cat "$T/deb.log"; return 1; }
	deb=$BUILD/deb/vstor_$VERSION-1_$(dpkg --print-architecture).deb
	ddeb=$BUILD/deb/vstor-dkms_$VERSION-1_all.deb
	dpkg-deb -c "$deb" >"$T/deb.list" && dpkg-deb -c "$ddeb" >"$T/ddeb.list" &&
	dpkg-deb -f "$deb" Depends | grep -q 'liburing2' &&
	dpkg-deb -f "$ddeb" Depends | grep -q '^dkms' &&
	grep -q ' ./usr/share/man/man8/vsctl.8.gz$' "$T/deb.list" &&
	grep -q " ./usr/src/vstor-$VERSION/kmod/vstor_dev.c$" "$T/ddeb.list" &&
	! grep -q ' ./usr/src/' "$T/deb.list" || { echo "package contents"; return 1; }
}

# dpkg into a scratch root, maintainer scripts run outside a chroot (they see
# DPKG_ROOT and leave this host's systemd, udev and DKMS alone).
t_dpkg_root() {
	r=$T/root
	mkdir -p "$r/var/lib/dpkg/updates" "$r/var/lib/dpkg/info"
	: >"$r/var/lib/dpkg/status"
	d="dpkg --root=$r --force-script-chrootless --force-depends --log=$T/dpkg.log"
	$d -i "$BUILD"/deb/vstor_*.deb "$BUILD"/deb/vstor-dkms_*.deb >"$T/dpkg.out" 2>&1 ||
		{ cat "$T/dpkg.out"; return 1; }
	"$r/usr/bin/vstor-osd" --version | grep -qx "vstor-osd $VERSION" &&
	[ -f "$r/lib/systemd/system/vstor-osd@.service" ] &&
	[ -f "$r/usr/src/vstor-$VERSION/Makefile" ] &&
	dpkg-query --root="$r" -W -f='${Status}\n' vstor | grep -q 'install ok installed' &&
	$d --purge vstor vstor-dkms >>"$T/dpkg.out" 2>&1 &&
	[ ! -e "$r/usr/bin/vsctl" ] && [ ! -e "$r/usr/src/vstor-$VERSION" ] ||
		{ cat "$T/dpkg.out"; return 1; }
}

# DKMS with its own source and build trees (nothing of this host's DKMS state
# is touched), for the newest installed Debian kernel.
t_dkms() {
	kver=$(ls /lib/modules | sort -V | tail -n 1)
	src=$T/inst/usr/src
	mkdir -p "$T/dkms"
	dkms build -m vstor -v "$VERSION" -k "$kver" --sourcetree "$src" \
		--dkmstree "$T/dkms" >"$T/dkms.log" 2>&1 || { tail -n 30 "$T/dkms.log"; return 1; }
	ko=$(find "$T/dkms" -name 'vstor.ko*' | head -n 1)
	[ -n "$ko" ] && modinfo -F vermagic "$ko" | grep -q "^$kver " ||
		{ echo "no vstor.ko for $kver"; tail -n 30 "$T/dkms.log"; return 1; }
}

t_man() {
	for p in $PROGS; do
		man -l "$T/root-man/$p.8.gz" >/dev/null 2>"$T/man.err" || return 1
	done
	! grep -q . "$T/man.err" || { cat "$T/man.err"; return 1; }
	man -l "$T/root-man/vsctl.8.gz" 2>/dev/null | grep -q 'vsctl pool create - add a pool'
}

case_ version t_version
case_ install t_install
if command -v systemd-analyze >/dev/null 2>&1; then case_ units t_units; else skip units "no systemd-analyze"; fi
case_ deb t_deb
case_ dpkg_root t_dpkg_root
if command -v dkms >/dev/null 2>&1 && ls /lib/modules/*/build >/dev/null 2>&1; then
	case_ dkms_build t_dkms
else
	skip dkms_build "no dkms or no kernel headers"
fi
if command -v man >/dev/null 2>&1; then
	sh packaging/mkman.sh "$BUILD" "$VERSION" "$T/root-man" && case_ man_pages t_man
else
	skip man_pages "no man"
fi
