#!/bin/sh
# deb.sh BUILD_DIR VERSION: Debian packages of the programs in BUILD_DIR,
# written to BUILD_DIR/deb/:
#   vstor_VERSION_ARCH.deb  vsctl, vstor-osd, vstor-mon, vstor-disk, systemd
#                           units, the udev rule, man pages, examples
#   vstor-dkms_VERSION_all.deb  the kernel module's source for DKMS
# Plain dpkg-deb (no debhelper): the layout is small and this script is
# all there is to it. Library dependencies come from dpkg-shlibdeps.
set -eu
build=$1 version=$2
deb=$build/deb
top=$(pwd)
rm -rf "$deb"
stage=$deb/stage
make -s BUILD="$build" DESTDIR="$top/$stage" install
sh packaging/mkman.sh "$build" "$version" "$stage/usr/share/man/man8"
arch=$(dpkg --print-architecture)
debver=$version-1

# Split the staged tree: the DKMS source goes to its own package.
pkg=$deb/vstor dkms=$deb/vstor-dkms
mkdir -p "$pkg" "$dkms/usr"
cp -a "$stage/." "$pkg/"
mv "$pkg/usr/src" "$dkms/usr/src"
# As Debian ships programs: without debug info (the build tree keeps it).
strip --strip-unneeded "$pkg"/usr/bin/*

# dpkg-shlibdeps wants a debian/control naming the package.
mkdir -p "$deb/shl/debian"
printf 'Source: vstor\n\nPackage: vstor\nArchitecture: any\n' >"$deb/shl/debian/control"
shlibs=$(cd "$deb/shl" && dpkg-shlibdeps -O \
	$(for b in "$top/$pkg"/usr/bin/*; do printf '%s ' "$b"; done) 2>/dev/null |
	sed -n 's/^shlibs:Depends=//p')

control() {	# control DIR NAME ARCH DEPENDS DESCRIPTION...
	dir=$1 name=$2 a=$3 dep=$4
	shift 4
	mkdir -p "$dir/DEBIAN"
	size=$(du -sk --exclude=DEBIAN "$dir" | cut -f1)
	cat >"$dir/DEBIAN/control" <<CTL
Package: $name
Version: $debver
Architecture: $a
Maintainer: vstor developers <dev@vstor.invalid>
Installed-Size: $size
Depends: $dep
Section: admin
Priority: optional
Description: $1
CTL
	shift
	for line in "$@"; do printf ' %s\n' "$line" >>"$dir/DEBIAN/control"; done
	(cd "$dir" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' |
		sort -z | xargs -0 md5sum >DEBIAN/md5sums)
}

control "$pkg" vstor "$arch" "$shlibs" \
	"clustered block storage: OSD, monitor and vsctl" \
	"vstor stores block device images in a cluster of OSDs with replication" \
	"or erasure codes, speaking Vitastor's wire protocol and etcd layout." \
	"This package has vstor-osd, vstor-mon, vstor-disk, vsctl, their" \
	"systemd units (vstor-osd@N, vstor-mon, vstor-map-agent, vstor.target)" \
	"and the udev rule for /dev/vstor/POOL/IMAGE links. Units are not" \
	"enabled on installation: see /usr/share/doc/vstor/examples."
sed -i 's/^Depends: \(.*\)$/Depends: \1\nRecommends: etcd-client\nSuggests: vstor-dkms, etcd-server/' \
	"$pkg/DEBIAN/control"
cp packaging/debian/vstor.postinst "$pkg/DEBIAN/postinst"
cp packaging/debian/vstor.postinst "$pkg/DEBIAN/postrm"

control "$dkms" vstor-dkms all "dkms, linux-headers-amd64 | linux-headers" \
	"vstor kernel module (vstor.ko, /dev/vsN) source for DKMS" \
	"The blk-mq driver that maps vstor and Vitastor images as /dev/vsN," \
	"talking to the OSDs over kernel TCP. DKMS builds it for every" \
	"installed kernel. Use it with vsctl map from the vstor package."
sed "s/@VERSION@/$version/g" packaging/debian/vstor-dkms.postinst >"$dkms/DEBIAN/postinst"
sed "s/@VERSION@/$version/g" packaging/debian/vstor-dkms.prerm >"$dkms/DEBIAN/prerm"
chmod 0755 "$pkg/DEBIAN/postinst" "$pkg/DEBIAN/postrm" "$dkms/DEBIAN/postinst" \
	"$dkms/DEBIAN/prerm"

dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb/vstor_${debver}_$arch.deb" >/dev/null
dpkg-deb --root-owner-group -Zxz --build "$dkms" "$deb/vstor-dkms_${debver}_all.deb" >/dev/null
rm -rf "$stage" "$pkg" "$dkms" "$deb/shl"
ls "$deb"/*.deb
