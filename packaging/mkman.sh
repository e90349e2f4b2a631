#!/bin/sh
# mkman.sh BUILD_DIR VERSION OUT_DIR: man pages (section 8) from the
# programs' own --help, so the manual never drifts from the code. The help
# texts are written to read like man pages; they are kept verbatim (.nf).
set -eu
build=$1 version=$2 out=$3
mkdir -p "$out"
date=$(date -u -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}" +%Y-%m-%d)

page() {
	prog=$1 summary=$2
	shift 2
	{
		printf '.TH %s 8 "%s" "vstor %s" "vstor"\n' \
			"$(echo "$prog" | tr a-z A-Z)" "$date" "$version"
		printf '.SH NAME\n%s \\- %s\n.SH DESCRIPTION\n.nf\n' "$prog" "$summary"
		# troff: escape backslashes, protect lines starting with . or '
		"$build/$prog" "$@" | sed -e '1{/^NAME$/{N;d}}' -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"
		printf '.fi\n.SH SEE ALSO\n'
		for p in vsctl vstor-osd vstor-mon vstor-disk; do
			[ "$p" = "$prog" ] || printf '.BR %s (8)\n' "$p"
		done
	} | gzip -9n >"$out/$prog.8.gz"
}

page vsctl "vstor cluster administration" help all
page vstor-osd "vstor object storage daemon" --help
page vstor-mon "vstor monitor" --help
page vstor-disk "format and inspect vstor OSD devices" --help
