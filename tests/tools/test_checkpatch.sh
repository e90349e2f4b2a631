#!/bin/sh
# Kernel style: scripts/checkpatch.pl --no-tree on every source file of the
# module (kmod/) must report no error and no warning. checkpatch comes from
# $CHECKPATCH, or from Debian's linux-source-6.1 tarball (installed by
# tests/deps.sh), extracted once into BUILD_DIR/checkpatch.
# Usage: test_checkpatch.sh BUILD_DIR
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${1:-build}
CP=${CHECKPATCH:-}
if [ -z "$CP" ]; then
	CP="$BUILD/checkpatch/scripts/checkpatch.pl"
	tarball=$(ls /usr/src/linux-source-*.tar.xz 2>/dev/null | tail -1)
	if [ ! -f "$CP" ] && [ -n "$tarball" ]; then
		top=$(basename "$tarball" .tar.xz)
		mkdir -p "$BUILD/checkpatch" &&
		tar -xJf "$tarball" -C "$BUILD/checkpatch" --strip-components=1 \
			"$top/scripts/checkpatch.pl" "$top/scripts/spelling.txt" \
			"$top/scripts/const_structs.checkpatch" || rm -rf "$BUILD/checkpatch"
	fi
fi
if [ ! -f "$CP" ] || ! command -v perl >/dev/null; then
	echo "SKIP: checkpatch.pl not found (install linux-source-6.1 or set CHECKPATCH)"
	exit 0
fi
for f in kmod/*.c kmod/*.h; do
	case "$f" in *.mod.c) continue ;; esac
	out=$(perl "$CP" --no-tree --show-types -f "$f" 2>&1)
	if echo "$out" | grep -q '^total: 0 errors, 0 warnings,'; then
		echo "PASS: $f"
	else
		echo "$out" | head -30
		echo "FAIL: $f"
	fi
done
