#!/bin/sh
# vstor-disk: format computes the layout, show reads it back, an existing
# blockstore is not overwritten without --force, bad arguments are refused.
# Usage: test_vstor_disk.sh BUILD_DIR
set -u
BUILD=${1:-build}
D="$BUILD/vstor-disk"
T=$(mktemp -d "${TMPDIR:-/tmp}/vstor-disk.XXXXXX")
trap 'rm -rf "$T"' EXIT

case_() { name=$1; shift; if "$@"; then echo "PASS: $name"; else echo "FAIL: $name"; fi; }

t_format_show() {
	truncate -s 256M "$T/a" &&
	"$D" format --data_path "$T/a" --osd_num 3 --journal_size 8M --json >"$T/f.json" &&
	"$D" show "$T/a" --json >"$T/s.json" &&
	grep -q '"osd_num":3,' "$T/s.json" &&
	grep -q '"block_size":131072,' "$T/s.json" &&
	grep -q '"journal_size":8388608,' "$T/s.json" &&
	grep -q '"area":"journal"' "$T/s.json" &&
	cmp -s "$T/f.json" "$T/s.json" &&
	"$D" show "$T/a" | grep -q 'osd_num  *3'
}

t_refuse_reformat() {
	! "$D" format --data_path "$T/a" --osd_num 4 2>"$T/err" &&
	grep -q 'already holds .* OSD 3; give --force' "$T/err" &&
	"$D" format --data_path "$T/a" --osd_num 4 --force --json | grep -q '"osd_num":4,'
}

t_separate_devices() {
	truncate -s 64M "$T/d" && truncate -s 16M "$T/j" &&
	"$D" format --data_path "$T/d" --journal_path "$T/j" --osd_num 5 --block_size 64k >/dev/null &&
	"$D" show "$T/j" --json | grep -q '"area":"journal"' &&
	"$D" show "$T/d" --json | grep -q '"separate_journal":true' &&
	"$D" show "$T/d" --json | grep -q '"block_size":65536,'
}

t_bad_input() {
	truncate -s 8M "$T/z" &&
	! "$D" show "$T/z" 2>"$T/e1" && grep -q 'no vstor superblock' "$T/e1" &&
	! "$D" show "$T/missing" 2>/dev/null &&
	! "$D" format --data_path "$T/z" 2>"$T/e2" && grep -q 'osd_num' "$T/e2" &&
	! "$D" format --data_path "$T/z" --osd_num x 2>"$T/e3" && grep -q 'osd_num' "$T/e3" &&
	! "$D" format --data_path "$T/z" --osd_num 1 --block_size 3000 2>"$T/e4" &&
	! "$D" bogus 2>/dev/null &&
	"$D" --help | grep -q 'vstor-disk format' &&
	# a corrupted superblock is reported as such
	"$D" format --data_path "$T/z" --osd_num 1 --journal_size 1M >/dev/null &&
	# flip every bit of a ctime byte: writing a fixed byte left it unchanged
	# whenever that byte of the clock happened to equal it (1 run in 256)
	b=$(od -An -tu1 -j40 -N1 "$T/z" | tr -d ' ') &&
	printf "\\$(printf %o $((b ^ 255)))" |
		dd of="$T/z" bs=1 seek=40 conv=notrunc 2>/dev/null &&
	! "$D" show "$T/z" 2>"$T/e5" && grep -q 'checksum' "$T/e5"
}

case_ format_show t_format_show
case_ refuse_reformat t_refuse_reformat
case_ separate_devices t_separate_devices
case_ bad_input t_bad_input
