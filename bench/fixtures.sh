#!/usr/bin/env bash
# Builds the benchmark's fixtures into CACHE (default: the repo's .cache/bench,
# git-ignored) and reuses them when they are already there:
#
#   CACHE/tree/                 an installable tree: .treeinfo, .discinfo, small
#                               placeholder kernel and initrd, and a 1 GiB random
#                               images/install.img (the file every benchmark fetches)
#   CACHE/bench.iso             the same tree as an ISO9660 image (Rock Ridge + Joliet)
#
# Usage: bash bench/fixtures.sh [CACHE]       (BENCH_FILE_MIB changes the big file's size)
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
cache=${1:-"$(cd "$(dirname "$0")/.." && pwd)/.cache/bench"}
size_mib=${BENCH_FILE_MIB:-1024}
stamp="$cache/.fixture-key"
key="v1 install.img=${size_mib}MiB"

up_to_date() {
	[ "$(cat "$stamp" 2>/dev/null)" = "$key" ] &&
		[ "$(stat -c %s "$cache/tree/images/install.img" 2>/dev/null)" = $((size_mib << 20)) ] &&
		[ -s "$cache/bench.iso" ] &&
		[ "$cache/bench.iso" -nt "$cache/tree/images/install.img" ]
}
if up_to_date; then
	echo "fixtures: reusing $cache"
	exit 0
fi

echo "fixtures: building into $cache (a ${size_mib} MiB random file and an ISO of its tree)"
rm -f "$stamp"
mkdir -p "$cache"
tree="$cache/tree.new"
rm -rf "$tree" "$cache/tree" "$cache/bench.iso" "$cache/bench.iso.new"
mkdir -p "$tree/images/pxeboot"

head -c "$((size_mib << 20))" /dev/urandom >"$tree/images/install.img"
printf 'placeholder kernel: the benchmark never boots it\n' >"$tree/images/pxeboot/vmlinuz"
printf 'placeholder initrd: the benchmark never boots it\n' >"$tree/images/pxeboot/initrd.img"

write_treeinfo "$tree"
printf '1700000000.000000\n9.6\nx86_64\n' >"$tree/.discinfo"

# Everyone may read, nobody but root may write: nginx's workers and vsftpd's
# anonymous sessions read as unprivileged users, and vsftpd refuses an
# anonymous root that its user can write to.
chmod -R u=rwX,go=rX "$tree"
mv "$tree" "$cache/tree"

xorriso -as mkisofs -quiet -R -J -V KICKSTAND_BENCH -o "$cache/bench.iso.new" "$cache/tree"
chmod 644 "$cache/bench.iso.new"
mv "$cache/bench.iso.new" "$cache/bench.iso"
echo "$key" >"$stamp"
echo "fixtures: done"
