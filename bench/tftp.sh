#!/usr/bin/env bash
# TFTP side by side: one file fetched over loopback from kickstand, atftpd and
# dnsmasq (and, with BENCH_TFTP_BASELINE, a second kickstand binary), in
# interleaved rounds:
#
#   lock-step   curl, blksize 512, 1468, 8192 and 65464 (curl knows no windowsize)
#   windowed    the atftp client, blksize 1468, windowsize 1, 4, 16 and 64
#   concurrent  N curl clients at once (blksize 1468), each from its own
#               loopback address (127.0.1.x), so that per-client limits apply as
#               they would on a LAN: aggregate MB/s, p99 completion, failures,
#               the server's peak RSS
#
# Prints the median of each row per server and kickstand's speed relative to
# each peer (a ratio above 1 is kickstand faster); saves the table and every
# raw number in bench/results/.
#
# Usage: sudo bash bench/tftp.sh
#
# Settings (environment):
#   BENCH_TFTP_MIB          size of the file of the single-client rows, MiB   (40)
#   BENCH_TFTP_ROUNDS       rounds                                           (3)
#   BENCH_TFTP_CLIENTS      clients of the concurrent row                   (200)
#   BENCH_TFTP_CLIENT_MIB   size of the file of the concurrent row, MiB     (30)
#   BENCH_TFTP_TARGETS      a subset of: kickstand atftpd dnsmasq baseline  (kickstand atftpd dnsmasq)
#   BENCH_TFTP_ROWS         a subset of: lock-step windowed concurrent      (all three)
#   BENCH_TFTP_BASELINE     a second kickstand binary, run as target "baseline"
#   BENCH_TFTP_MAX_TIME     seconds one download may take                   (120)
#   BENCH_QUIET_WAIT        seconds to wait for other work to leave the CPUs alone (180)
#
# dnsmasq has no TFTP port setting: it takes 127.0.0.1:69, which must be free.
#
# Exit status: 0 when every server started and every single-client download
# was complete (the concurrent row reports its failures); non-zero otherwise.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"

mib=${BENCH_TFTP_MIB:-40}
rounds=${BENCH_TFTP_ROUNDS:-3}
clients=${BENCH_TFTP_CLIENTS:-200}
client_mib=${BENCH_TFTP_CLIENT_MIB:-30}
max_time=${BENCH_TFTP_MAX_TIME:-120}
baseline_bin=${BENCH_TFTP_BASELINE:-}
quiet_wait=${BENCH_QUIET_WAIT:-180}
default_targets="kickstand atftpd dnsmasq"
[ -z "$baseline_bin" ] || default_targets="kickstand baseline atftpd dnsmasq"
read -r -a targets <<<"${BENCH_TFTP_TARGETS:-$default_targets}"
read -r -a row_sets <<<"${BENCH_TFTP_ROWS:-lock-step windowed concurrent}"

declare -A port=([kickstand]=16969 [baseline]=17069 [atftpd]=16970 [dnsmasq]=69)

[ "$(id -u)" -eq 0 ] || die "run as root (sudo bash bench/tftp.sh): it installs packages, and dnsmasq takes port 69"
if [ "$clients" -lt 1 ] || [ "$clients" -gt 250 ]; then
	die "BENCH_TFTP_CLIENTS must be 1-250 (one loopback address each)"
fi
for t in "${targets[@]}"; do
	case $t in
	kickstand | atftpd | dnsmasq) ;;
	baseline) [ -x "$baseline_bin" ] || die "target baseline needs BENCH_TFTP_BASELINE=/path/to/kickstand" ;;
	*) die "unknown target $t in BENCH_TFTP_TARGETS" ;;
	esac
done
blksizes=() windows=() conc=false
for r in "${row_sets[@]}"; do
	case $r in
	lock-step) blksizes=(512 1468 8192 65464) ;;
	windowed) windows=(1 4 16 64) ;;
	concurrent) conc=true ;;
	*) die "unknown rows $r in BENCH_TFTP_ROWS" ;;
	esac
done

# --- packages ------------------------------------------------------------------------

# The packaged atftpd would start at install, on port 69: apt_install keeps it
# from starting.
install_packages() {
	local missing=() p
	for p in atftpd atftp curl; do
		installed "$p" || missing+=("$p")
	done
	command -v dnsmasq >/dev/null || missing+=(dnsmasq-base)
	[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
}
install_packages
curl -V | grep -qw tftp || die "this curl has no TFTP support"

# --- files and servers ---------------------------------------------------------------

work=$(mktemp -d /tmp/kickstand-bench-tftp.XXXXXX)
STARTED=()
cleanup() {
	local pid
	for pid in "${STARTED[@]}"; do
		stop_tree "$pid"
	done
	rm -rf "$work"
}
trap cleanup EXIT

# One tree, imported into kickstand as distro "b" (its TFTP path
# distros/b/FILE); the peers serve a root with the same relative paths.
tree=$work/tree
mkdir -p "$tree/images/pxeboot"
printf 'placeholder\n' >"$tree/images/pxeboot/vmlinuz"
printf 'placeholder\n' >"$tree/images/pxeboot/initrd.img"
printf 'placeholder\n' >"$tree/images/install.img"
write_treeinfo "$tree"
head -c $((mib << 20)) /dev/urandom >"$tree/big.img"
head -c $((client_mib << 20)) /dev/urandom >"$tree/many.img"
root=$work/root
mkdir -p "$root/distros"
ln -s "$tree" "$root/distros/b" # atftpd and dnsmasq follow it; both are given $root
chmod -R a+rX "$work"
big=distros/b/big.img
many=distros/b/many.img

say "bench: building kickstand"
(cd "$repo" && go build -o "$work/kickstand.bin" ./cmd/kickstand) || die "go build"
declare -A bin=([kickstand]=$work/kickstand.bin [baseline]=$baseline_bin)
declare -A pid=()

# wait_tftp TARGET: waits up to 30 s for TARGET to serve the small file.
wait_tftp() {
	local t=$1 _
	for _ in $(seq 60); do
		alive "${pid[$t]}" || return 1
		curl -s --max-time 2 -o /dev/null "tftp://127.0.0.1:${port[$t]}/distros/b/images/pxeboot/vmlinuz" && return 0
		sleep 0.5
	done
	return 1
}

start_target() {
	local t=$1
	local dir=$work/$t
	mkdir -p "$dir"
	case $t in
	kickstand | baseline)
		"${bin[$t]}" distro import --data-dir "$dir/data" b "$tree" >"$dir/import.log" 2>&1 ||
			{ cat "$dir/import.log" >&2; die "$t: distro import"; }
		# Ports apart from each other; FTP off, DHCP off.
		local offset=$((port[$t] - 16969))
		"${bin[$t]}" serve --data-dir "$dir/data" --interface lo --dhcp off --ftp-port 0 \
			--http-port $((18990 + offset)) --tftp-port "${port[$t]}" --tftp-max-blksize 65464 \
			>"$dir/serve.log" 2>&1 &
		;;
	atftpd)
		# --maxthread: atftpd's default of 100 would refuse half the concurrent row.
		atftpd --daemon --no-fork --user nobody.nogroup --bind-address 127.0.0.1 --port "${port[$t]}" \
			--maxthread 1000 --logfile "$dir/atftpd.log" "$root" >"$dir/serve.log" 2>&1 &
		;;
	dnsmasq)
		port_free 69 2>/dev/null || true
		dnsmasq --keep-in-foreground --port=0 --listen-address=127.0.0.1 --bind-interfaces \
			--enable-tftp --tftp-root="$root" --tftp-max=1000 --tftp-mtu=65535 --quiet-tftp \
			--conf-file=/dev/null --pid-file="$dir/pid" --user=root --log-facility="$dir/dnsmasq.log" \
			>"$dir/serve.log" 2>&1 &
		;;
	esac
	pid[$t]=$!
	STARTED+=("${pid[$t]}")
	wait_tftp "$t" || { tail -n 30 "$dir"/*.log >&2; die "$t does not serve TFTP on 127.0.0.1:${port[$t]}"; }
}

# --- measuring -----------------------------------------------------------------------

results=$work/raw
: >"$results"

# curl_get TARGET BLKSIZE FILE [SOURCE]: seconds, or "fail".
curl_get() {
	local t=$1 b=$2 f=$3 src=${4:-} args=()
	[ -z "$src" ] || args=(--interface "$src")
	curl -s "${args[@]}" --max-time "$max_time" --tftp-blksize "$b" -o /dev/null -w '%{time_total} %{size_download}\n' \
		"tftp://127.0.0.1:${port[$t]}/$f" 2>/dev/null | awk -v want="$(stat -c %s "$tree/${f#distros/b/}")" \
		'$2 == want { print $1; ok = 1 } END { if (!ok) print "fail" }'
}

# atftp_get TARGET WINDOW: seconds, or "fail".
atftp_get() {
	local t=$1 w=$2 start end out=$work/atftp.out
	rm -f "$out"
	start=$(date +%s%N)
	timeout "$max_time" atftp --option "blksize 1468" --option "windowsize $w" -g -r "$big" -l "$out" 127.0.0.1 "${port[$t]}" >/dev/null 2>&1 || true
	end=$(date +%s%N)
	if [ "$(stat -c %s "$out" 2>/dev/null)" = "$(stat -c %s "$tree/big.img")" ]; then
		awk -v ns=$((end - start)) 'BEGIN { printf "%.4f\n", ns / 1e9 }'
	else
		echo fail
	fi
}

# concurrent TARGET: "MB/s p99_s failures peak_rss_kib server_us other_us idle_pct":
# besides speed and memory, where the CPUs went, per block delivered: the
# server's CPU time, everything else's (the clients, and the kernel's
# interrupts, mostly the loopback traffic), and the share of the CPUs left
# idle. With the CPUs busy, blocks/s is bounded by CPUs / (server + other).
concurrent() {
	local t=$1 i start end out=$work/conc sampler busy0 irq0 busy1 irq1
	rm -rf "$out"
	mkdir -p "$out"
	reset_peak "${pid[$t]}"
	sample_server "${pid[$t]}" "$work/sample" &
	sampler=$!
	local downloads=()
	read -r busy0 irq0 _ < <(system_cpu_ticks)
	start=$(date +%s%N)
	for i in $(seq "$clients"); do
		curl_get "$t" 1468 "$many" "127.0.1.$i" >"$out/$i" &
		downloads+=($!)
	done
	wait "${downloads[@]}" 2>/dev/null || true
	end=$(date +%s%N)
	read -r busy1 irq1 _ < <(system_cpu_ticks)
	kill -TERM "$sampler" 2>/dev/null
	wait "$sampler" 2>/dev/null || true
	local peak server_ticks
	read -r peak server_ticks <"$work/sample"
	local all ok fails p99
	all=$(cat "$out"/*)
	fails=$(grep -c fail <<<"$all" || true)
	ok=$((clients - fails))
	p99=$(grep -v fail <<<"$all" | sort -g | awk -v n="$ok" 'NR == int(0.99 * n + 0.999) { print; exit }')
	awk -v ns=$((end - start)) -v ok="$ok" -v mib="$client_mib" -v p99="${p99:-0}" -v fails="$fails" -v peak="$peak" \
		-v server="$server_ticks" -v busy=$((busy1 - busy0 + irq1 - irq0)) -v hz="$(getconf CLK_TCK)" -v cpus="$(nproc)" 'BEGIN {
		secs = ns / 1e9; blocks = ok * int((mib * 1048576 + 1468) / 1468)
		other = busy - server; if (other < 0) other = 0
		idle = 100 * (1 - busy / hz / (secs * cpus)); if (idle < 0) idle = 0
		printf "%.1f %s %d %d %.2f %.2f %.0f\n", ok * mib * 1.048576 / secs, p99, fails, peak,
			blocks ? 1e6 * server / hz / blocks : 0, blocks ? 1e6 * other / hz / blocks : 0, idle }'
}

wait_for_quiet "$quiet_wait"

for t in "${targets[@]}"; do
	start_target "$t"
done
say "bench: serving: ${targets[*]}; $rounds rounds"

measure_start "$work"
for round in $(seq "$rounds"); do
	say "bench: round $round of $rounds"
	for b in "${blksizes[@]}"; do
		for t in "${targets[@]}"; do
			v=$(curl_get "$t" "$b" "$big")
			[ "$v" != fail ] || die "$t: curl blksize $b: incomplete download"
			echo "curl-$b $t $v" >>"$results"
		done
	done
	for w in "${windows[@]}"; do
		for t in "${targets[@]}"; do
			v=$(atftp_get "$t" "$w")
			[ "$v" != fail ] || die "$t: atftp windowsize $w: incomplete download"
			echo "atftp-w$w $t $v" >>"$results"
		done
	done
	for t in "${targets[@]}"; do
		$conc || break
		read -r mbs p99 fails rss server_us other_us idle < <(concurrent "$t")
		{
			echo "conc-mbs $t $mbs"
			echo "conc-p99 $t $p99"
			echo "conc-fail $t $fails"
			echo "conc-rss $t $rss"
			echo "conc-server-us $t $server_us"
			echo "conc-other-us $t $other_us"
			echo "conc-idle $t $idle"
		} >>"$results"
	done
done

measure_end "$work" " (mostly the loopback traffic)"

# --- report --------------------------------------------------------------------------

med() { awk -v r="$1" -v t="$2" '$1 == r && $2 == t { print $3 }' "$results" | median; }
rows=()
for b in "${blksizes[@]}"; do rows+=("curl-$b"); done
for w in "${windows[@]}"; do rows+=("atftp-w$w"); done
! $conc || rows+=(conc-mbs conc-p99 conc-fail conc-rss conc-server-us conc-other-us conc-idle)
describe() {
	case $1 in
	curl-*) echo "curl, blksize ${1#curl-}: seconds for $mib MiB" ;;
	atftp-w*) echo "atftp, blksize 1468, windowsize ${1#atftp-w}: seconds" ;;
	conc-mbs) echo "$clients clients at once: aggregate MB/s" ;;
	conc-p99) echo "$clients clients at once: p99 seconds" ;;
	conc-fail) echo "$clients clients at once: failed downloads" ;;
	conc-rss) echo "$clients clients at once: server peak RSS, KiB" ;;
	conc-server-us) echo "$clients clients at once: server CPU per block, µs" ;;
	conc-other-us) echo "$clients clients at once: clients' and kernel interrupts' CPU per block, µs" ;;
	conc-idle) echo "$clients clients at once: CPUs idle, %" ;;
	esac
}
peers=()
for t in "${targets[@]}"; do [ "$t" = kickstand ] || peers+=("$t"); done
stamp=$(date -u +%Y-%m-%dT%H%M%SZ)
report=$work/report
{
	echo "# TFTP over loopback, $(nproc) CPUs, median of $rounds rounds ($stamp)"
	echo "# kickstand $(git -C "$repo" describe --always --dirty 2>/dev/null || echo '?'), atftpd $(dpkg-query -W -f='${Version}' atftpd 2>/dev/null), dnsmasq $(dnsmasq --version | awk 'NR == 1 { print $3 }'), curl $(curl -V | awk 'NR == 1 { print $2 }')"
	echo "# ratio: kickstand's speed over the peer's (time or p99: peer/kickstand; MB/s: kickstand/peer); > 1 is kickstand ahead"
	measured_lines | sed 's/^/# /'
	echo
	printf '| %s |' row
	for t in "${targets[@]}"; do printf ' %s |' "$t"; done
	for p in "${peers[@]}"; do printf ' vs %s |' "$p"; done
	echo
	printf '|---|'
	for _ in "${targets[@]}" "${peers[@]}"; do printf -- '---|'; done
	echo
	for r in "${rows[@]}"; do
		printf '| %s |' "$(describe "$r")"
		declare -A m=()
		for t in "${targets[@]}"; do
			m[$t]=$(med "$r" "$t")
			printf ' %s |' "${m[$t]}"
		done
		for p in "${peers[@]}"; do
			case $r in
			conc-fail | conc-rss | conc-other-us | conc-idle) printf ' |' ;;
			conc-mbs) awk -v k="${m[kickstand]:-nan}" -v p="${m[$p]}" 'BEGIN { if (p > 0 && k != "nan") printf " %.2f× |", k / p; else printf " |" }' ;;
			*) awk -v k="${m[kickstand]:-nan}" -v p="${m[$p]}" 'BEGIN { if (k > 0 && k != "nan") printf " %.2f× |", p / k; else printf " |" }' ;;
			esac
		done
		echo
		unset m
	done
} >"$report"
cat "$report"
mkdir -p "$repo/bench/results"
cp "$report" "$repo/bench/results/tftp-$stamp.md"
cp "$results" "$repo/bench/results/tftp-$stamp.raw"
say "bench: saved bench/results/tftp-$stamp.md and .raw"
