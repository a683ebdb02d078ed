#!/usr/bin/env bash
# Side-by-side benchmark: a 1 GiB file fetched over loopback by parallel curl
# from kickstand (out of an ISO, and out of a plain directory), nginx
# (sendfile on) and, over FTP, from kickstand and vsftpd. Prints a table, the
# ratios and whether ISO-backed HTTP reaches 0.9x nginx; saves the raw numbers
# in bench/results/. See bench/README.md.
#
# Usage: sudo bash bench/run.sh       (or: sudo make bench)
#
# Settings (environment):
#   BENCH_PARALLEL   downloads at once per round          (4)
#   BENCH_REPS       rounds per server                    (7)
#   BENCH_MAX_TIME   seconds one download may take        (60)
#   BENCH_DEADLINE   seconds all the measuring may take   (480)
#   BENCH_PORT_BASE  first of the 127.0.0.1 ports used    (18000; uses BASE..BASE+219)
#   BENCH_CACHE      where the fixtures are kept          (.cache/bench in the repo)
#   BENCH_TARGETS    a subset of: ks-iso-http ks-plain-http nginx ks-iso-ftp ks-plain-ftp vsftpd
#   BENCH_STRACE     0 skips the strace check of kickstand's syscalls (1)
#   BENCH_QUIET_WAIT seconds to wait for other work to leave the CPUs alone (180)
#
# Exit status: 0 when every server ran and every download was complete, even
# if a ratio misses its goal (this is a report); non-zero when anything failed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
# shellcheck source=bench/servers.sh
source "$here/servers.sh"
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"

parallel=${BENCH_PARALLEL:-4}
reps=${BENCH_REPS:-7}
max_time=${BENCH_MAX_TIME:-60}
measure_time=${BENCH_DEADLINE:-480}
base=${BENCH_PORT_BASE:-18000}
cache=${BENCH_CACHE:-"$repo/.cache/bench"}
strace_check=${BENCH_STRACE:-1}
quiet_wait=${BENCH_QUIET_WAIT:-180}
read -r -a targets <<<"${BENCH_TARGETS:-ks-iso-http ks-plain-http nginx ks-iso-ftp ks-plain-ftp vsftpd}"

ks_http=$((base + 80)) ks_ftp=$((base + 21)) ks_tftp=$((base + 69))
ks_pasv_first=$((base + 100)) ks_pasv_last=$((base + 119))
nginx_port=$((base + 81))
vsftpd_port=$((base + 22)) vsftpd_pasv_first=$((base + 200)) vsftpd_pasv_last=$((base + 219))

[ "$(id -u)" -eq 0 ] || die "run as root (sudo make bench): it installs packages and starts vsftpd, which needs root"

# --- packages ------------------------------------------------------------------------

install_packages() {
	local missing=() p
	for p in vsftpd xorriso curl pxelinux syslinux-common strace; do
		installed "$p" || missing+=("$p")
	done
	command -v nginx >/dev/null || missing+=(nginx)
	[ ${#missing[@]} -gt 0 ] || return 0
	say "bench: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# nginx-light where the release has it (bookworm), nginx otherwise.
	if [[ " ${missing[*]} " == *" nginx "* ]] && apt-cache show nginx-light >/dev/null 2>&1; then
		missing=("${missing[@]/#nginx/nginx-light}")
	fi
	# Packaged daemons start at install on port 80 and 21; keep them from
	# starting, for the benchmark runs its own.
	local guard=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		guard=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\n# kickstand bench: no service starts during its install\nexit 101\n' >"$guard"
		chmod 755 "$guard"
	fi
	local rc=0
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
	[ -z "$guard" ] || rm -f "$guard"
	[ $rc -eq 0 ] || die "apt-get install ${missing[*]}"
}

install_packages
bash "$here/fixtures.sh" "$cache"
tree="$cache/tree"
iso="$cache/bench.iso"
file=images/install.img
size=$(stat -c %s "$tree/$file")

# --- start everything ----------------------------------------------------------------

work=$(mktemp -d /tmp/kickstand-bench.XXXXXX)
chmod 755 "$work"
STARTED=()
SAMPLER=""
TRACER=""
cleanup() {
	local i pid
	for pid in "$SAMPLER" "$TRACER"; do
		[ -z "$pid" ] || { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
	done
	for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do
		stop_tree "${STARTED[i]}"
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wants() { [[ " ${targets[*]} " == *" $1"* ]]; }

ports=()
wants ks- && ports+=("$ks_http" "$ks_ftp") && mapfile -t -O ${#ports[@]} ports < <(seq "$ks_pasv_first" "$ks_pasv_last")
wants nginx && ports+=("$nginx_port")
wants vsftpd && ports+=("$vsftpd_port") && mapfile -t -O ${#ports[@]} ports < <(seq "$vsftpd_pasv_first" "$vsftpd_pasv_last")
for p in "${ports[@]}"; do
	port_free "$p" || die "127.0.0.1:$p is in use: choose other ports with BENCH_PORT_BASE"
done

ks_version="-"
if wants ks-; then
	say "bench: building kickstand"
	(cd "$repo" && go build -o "$work/kickstand-bin" ./cmd/kickstand) || die "go build ./cmd/kickstand"
	"$work/kickstand-bin" serve --help 2>/dev/null | grep -q -- --ftp-port ||
		die "this kickstand has no serve --ftp-port"
	ks_version=$(cd "$repo" && git describe --always --dirty 2>/dev/null || echo unknown)
	start_kickstand "$work/kickstand-bin" "$iso" "$tree" "$ks_http" "$ks_ftp" \
		"$ks_pasv_first-$ks_pasv_last" "$ks_tftp"
fi
if wants nginx; then
	start_nginx "$tree" "$nginx_port"
fi
if wants vsftpd; then
	start_vsftpd "$tree" "$vsftpd_port" "$vsftpd_pasv_first" "$vsftpd_pasv_last"
fi

declare -A URL SERVER LABEL
URL[ks-iso-http]="http://127.0.0.1:$ks_http/distros/iso/$file"
URL[ks-plain-http]="http://127.0.0.1:$ks_http/distros/plain/$file"
URL[nginx]="http://127.0.0.1:$nginx_port/$file"
URL[ks-iso-ftp]="ftp://127.0.0.1:$ks_ftp/distros/iso/$file"
URL[ks-plain-ftp]="ftp://127.0.0.1:$ks_ftp/distros/plain/$file"
URL[vsftpd]="ftp://127.0.0.1:$vsftpd_port/$file"
LABEL[ks-iso-http]="kickstand HTTP, from ISO"
LABEL[ks-plain-http]="kickstand HTTP, plain dir"
LABEL[nginx]="nginx HTTP (sendfile on)"
LABEL[ks-iso-ftp]="kickstand FTP, from ISO"
LABEL[ks-plain-ftp]="kickstand FTP, plain dir"
LABEL[vsftpd]="vsftpd FTP"
for t in "${targets[@]}"; do
	case $t in
	ks-*) SERVER[$t]=$KICKSTAND_PID ;;
	nginx) SERVER[$t]=$NGINX_PID ;;
	vsftpd) SERVER[$t]=$VSFTPD_PID ;;
	*) die "unknown target $t in BENCH_TARGETS" ;;
	esac
done

# --- measure -------------------------------------------------------------------------

# Every side reads from memory: both copies of the file are read once now.
say "bench: warming the page cache"
cat "$tree/$file" "$iso" >/dev/null
if command -v fincore >/dev/null; then
	fincore --bytes --noheadings --output RES,SIZE,FILE "$tree/$file" "$iso" |
		awk '{ printf "bench: in page cache: %s of %s bytes of %s\n", $1, $2, $3 }' >&2
fi

mkdir -p "$work/load"
raw="$work/raw.txt"
: >"$raw"

# fetch TARGET ROUND COUNT: COUNT parallel downloads of the target's URL; checks
# that each was complete, appends one line per download and one per round to $raw.
fetch() {
	local t=$1 round=$2 count=$3 url=${URL[$1]} pid=${SERVER[$1]} i rc failed=0
	local pids=() start end bytes speed secs peak cpu
	alive "$pid" || die "the server of $t (pid $pid) is gone"
	[ "$SECONDS" -lt "$deadline" ] || die "measuring took over $measure_time s (BENCH_DEADLINE): some server is far too slow"
	reset_peak "$pid"
	rm -f "$work/sample"
	sample_server "$pid" "$work/sample" &
	SAMPLER=$!
	for ((i = 0; i < 50; i++)); do # the first reading is the baseline
		[ -e "$work/sample" ] && break
		sleep 0.02
	done
	start=$(date +%s.%N)
	for ((i = 1; i <= count; i++)); do
		curl -sS --noproxy '*' --fail --max-time "$max_time" -o /dev/null \
			-w '%{size_download} %{speed_download} %{time_total}\n' "$url" \
			>"$work/load/$t.$round.$i" 2>"$work/load/$t.$round.$i.err" &
		pids+=($!)
	done
	for ((i = 1; i <= count; i++)); do
		rc=0
		wait "${pids[i - 1]}" || rc=$?
		[ $rc -eq 0 ] || { failed=1; say "bench: $t download $i: curl exit $rc: $(cat "$work/load/$t.$round.$i.err")"; }
	done
	end=$(date +%s.%N)
	kill "$SAMPLER" 2>/dev/null || true
	wait "$SAMPLER" 2>/dev/null || true
	SAMPLER=""
	read -r peak cpu <"$work/sample" || die "no memory and CPU readings of $t"
	[ $failed -eq 0 ] || die "$t: a download failed ($url)"
	for ((i = 1; i <= count; i++)); do
		read -r bytes speed secs <"$work/load/$t.$round.$i"
		[ "$bytes" = "$size" ] || die "$t: download $i got $bytes bytes of $size ($url)"
		echo "transfer target=$t round=$round n=$i bytes=$bytes speed_Bps=$speed seconds=$secs" >>"$raw"
	done
	awk -v t="$t" -v r="$round" -v n="$count" -v size="$size" -v s="$start" -v e="$end" -v peak="$peak" \
		-v cpu="$cpu" -v hz="$(getconf CLK_TCK)" 'BEGIN {
		printf "round target=%s round=%s downloads=%d bytes=%.0f wall_s=%.3f aggregate_MiBps=%.1f peak_rss_KiB=%d server_cpu_s=%.2f server_cpu_s_per_GiB=%.3f\n",
			t, r, n, n * size, e - s, n * size / (e - s) / 1048576, peak, cpu / hz, cpu / hz / (n * size / 1073741824) }' >>"$raw"
}

# Idle memory: each server's resident set before its first download (after
# the quiet wait, or at least 5 s after start).
sleep 5
declare -A IDLE_RSS
for t in "${targets[@]}"; do
	key=${SERVER[$t]}
	[ -n "${IDLE_RSS[$key]:-}" ] || IDLE_RSS[$key]=$(rss_kib "$key")
done

wait_for_quiet "$quiet_wait"
# What else ran meanwhile is recorded: other processes on a machine of two
# CPUs change these numbers.
measure_start "$work"

deadline=$((SECONDS + measure_time))
say "bench: one warm-up download from each server"
for t in "${targets[@]}"; do
	fetch "$t" warmup 1
done

say "bench: $reps rounds of $parallel parallel downloads of $((size >> 20)) MiB per server"
n=${#targets[@]}
for ((r = 1; r <= reps; r++)); do
	# Each round starts one server later, so no server always goes first or last.
	order=()
	for ((k = 0; k < n; k++)); do
		order+=("${targets[(k + r - 1) % n]}")
	done
	say "bench: round $r: ${order[*]}"
	for t in "${order[@]}"; do
		fetch "$t" "$r" "$parallel"
		tail -n 1 "$raw" | sed 's/^/bench:   /' >&2
	done
done

measure_end "$work" " (its loopback traffic)"

# --- does kickstand send the ISO with sendfile? ---------------------------------------

strace_out="$work/strace.txt"
: >"$strace_out"
if [ "$strace_check" = 1 ] && command -v strace >/dev/null; then
	for t in ks-iso-http ks-iso-ftp; do
		wants "$t" || continue
		say "bench: counting kickstand's syscalls during one $t download (strace)"
		strace -f -c -e trace=sendfile,read,pread64,write,writev,copy_file_range,splice \
			-o "$work/strace.$t" -p "$KICKSTAND_PID" 2>"$work/strace.$t.err" &
		TRACER=$!
		sleep 2
		curl -sS --noproxy '*' --fail --max-time "$max_time" -o /dev/null "${URL[$t]}" ||
			say "bench: the download under strace failed"
		kill -INT "$TRACER" 2>/dev/null || true
		wait "$TRACER" 2>/dev/null || true
		TRACER=""
		{
			echo "strace -f -c during one download of ${URL[$t]} (kickstand pid $KICKSTAND_PID):"
			cat "$work/strace.$t" 2>/dev/null || cat "$work/strace.$t.err"
			echo
		} >>"$strace_out"
	done
fi

# --- report --------------------------------------------------------------------------

stat_of() { # stat_of TARGET FIELD: the values of FIELD in the measured rounds of TARGET
	awk -v t="$1" -v f="$2" '$1 == "round" && $2 == "target=" t && $3 != "round=warmup" {
		for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == f) print kv[2] } }' "$raw"
}
transfer_speeds() { # MiB/s of each measured download of TARGET
	awk -v t="$1" '$1 == "transfer" && $2 == "target=" t && $3 != "round=warmup" {
		split($6, kv, "="); printf "%.1f\n", kv[2] / 1048576 }' "$raw"
}

declare -A MEDIAN
report() {
	local t runs med per peak cpu
	printf '%-27s %12s %13s %10s %10s   %s\n' "server" "MiB/s median" "per download" "CPU s/GiB" "peak RSS" "each round (MiB/s, all downloads)"
	for t in "${targets[@]}"; do
		runs=$(stat_of "$t" aggregate_MiBps | tr '\n' ' ')
		med=$(stat_of "$t" aggregate_MiBps | median)
		MEDIAN[$t]=$med
		per=$(transfer_speeds "$t" | median)
		peak=$(stat_of "$t" peak_rss_KiB | sort -g | tail -n 1)
		cpu=$(stat_of "$t" server_cpu_s_per_GiB | median)
		printf '%-27s %12.1f %13.1f %10.3f %6.1f MiB   %s\n' "${LABEL[$t]}" "$med" "$per" "$cpu" "$(awk -v k="$peak" 'BEGIN { print k / 1024 }')" "$runs"
	done
	echo
	echo "ratios          of the medians   median of each round's ratio"
	ratio "kickstand ISO / nginx" ks-iso-http nginx
	ratio "kickstand plain / nginx" ks-plain-http nginx
	ratio "kickstand FTP(ISO) / vsftpd" ks-iso-ftp vsftpd
	ratio "kickstand FTP(plain) / vsftpd" ks-plain-ftp vsftpd
	if [ -n "${MEDIAN[ks-iso-http]:-}" ] && [ -n "${MEDIAN[nginx]:-}" ]; then
		awk -v a="${MEDIAN[ks-iso-http]}" -v b="${MEDIAN[nginx]}" 'BEGIN {
			r = a / b; verdict = (r >= 0.9) ? "PASS" : "FAIL"
			printf "goal ISO-backed >= 0.9x nginx: %s (%.2fx)\n", verdict, r }'
	fi
	local name pid seen=" " idle=()
	for t in "${targets[@]}"; do
		pid=${SERVER[$t]}
		[[ $seen != *" $pid "* ]] || continue
		seen+="$pid "
		case $t in ks-*) name=kickstand ;; *) name=$t ;; esac
		idle+=("$(awk -v n="$name" -v k="${IDLE_RSS[$pid]}" 'BEGIN { printf "%s %.1f MiB", n, k / 1024 }')")
	done
	echo "idle RSS (VmRSS before the first download): $(printf '%s\n' "${idle[@]}" | paste -sd ',' | sed 's/,/, /g')"
	if wants ks-; then
		awk -v k="${IDLE_RSS[$KICKSTAND_PID]}" 'BEGIN { mb = k * 1024 / 1e6
			printf "goal kickstand idle RSS <= 64 MB: %s (%.1f MB)\n", (mb <= 64) ? "PASS" : "FAIL", mb }'
	fi
	echo
	echo "per download: median of curl's %{speed_download} over all downloads of all rounds."
	echo "CPU s/GiB: CPU time of the server's processes (user+system) per GiB sent, median over the rounds."
	echo "(both read every 0.1 s from /proc; vsftpd's sessions count while they live)"
	echo "peak RSS: the largest VmHWM (summed over the server's processes) during one round,"
	echo "reset before each round; nginx counts master and workers, vsftpd its per-session processes."
}
# ratio NAME A B: A's median over B's, and the median of A/B within each round
# (A and B ran a few seconds apart, so a slow spell of the machine hits both).
ratio() {
	local name=$1 a=${MEDIAN[$2]:-} b=${MEDIAN[$3]:-} paired
	[ -n "$a" ] && [ -n "$b" ] || return 0
	paired=$(paste <(stat_of "$2" aggregate_MiBps) <(stat_of "$3" aggregate_MiBps) |
		awk '{ printf "%.4f\n", $1 / $2 }' | median)
	awk -v n="$name" -v a="$a" -v b="$b" -v p="$paired" 'BEGIN { printf "  %-32s %5.2f %16.2f\n", n, a / b, p }'
}

mkdir -p "$here/results"
results="$here/results/$(date +%Y-%m-%dT%H%M%S).txt"
{
	echo "kickstand bench, $(date -Is)"
	machine_line
	echo "kickstand $ks_version; $(nginx -v 2>&1); vsftpd $(dpkg-query -W -f='${Version}' vsftpd 2>/dev/null); $(curl --version | head -n 1 | cut -d' ' -f1-2)"
	echo "file: $file, $size bytes; $parallel parallel downloads per round, $reps rounds per server, over 127.0.0.1"
	measured_lines
	echo
	report
} | save_results "$results" raw="$raw" syscalls="$strace_out"
if [ -s "$strace_out" ]; then
	echo
	echo "kickstand's syscalls during one download each (strace -f -c):"
	awk '/^strace -f -c during/ { print "  " $0; next }
		$NF ~ /^(sendfile|read|pread64|write|writev|copy_file_range|splice)$/ { printf "    %-16s %s calls\n", $NF, $4 }' "$strace_out"
fi
echo
echo "raw numbers: $results"
