#!/usr/bin/env bash
# DHCP side by side: perfdhcp runs DORA exchanges (DISCOVER, OFFER, REQUEST,
# ACK) at rising offered rates against kickstand (--dhcp full), Kea (memfile,
# persistent lease file) and dnsmasq (lease file), each in turn on one end of
# a veth pair in a network namespace this script creates, perfdhcp on the
# other end in a second one. Every run starts its server on a fresh lease
# database. Prints, per server, the highest offered rate it held with at
# most 1 % of the DORAs lost (the median over the rounds) and the ratio
# kickstand/Kea; saves the table and every raw number in bench/results/.
#
# Usage: sudo bash bench/dhcp.sh
#
# Settings (environment):
#   BENCH_DHCP_RATES      offered DORA/s, rising   (4000 8000 12000 16000 20000)
#   BENCH_DHCP_SECONDS    seconds of load per run  (3: the pool of 65,022 addresses must last)
#   BENCH_DHCP_ROUNDS     rounds                   (5)
#   BENCH_DHCP_CLIENT_RCVBUF  bytes: the receive buffer perfdhcp's socket gets (4194304; 0 leaves
#                         the machine's default). perfdhcp is thousands of clients on one socket,
#                         and with the default 208 KiB the replies overflowed it from about
#                         10,000 DORA/s on, while the servers had CPU to spare: every loss was
#                         counted in the client's namespace (UdpRcvbufErrors), so the bench
#                         measured perfdhcp's socket. It is set through net.core.rmem_default for
#                         the length of the run (restored at exit), so every server's sockets
#                         that do not set their own size get it too.
#   BENCH_DHCP_MAX_DROPS  percent of DORAs that may be lost at a held rate (1)
#   BENCH_DHCP_TARGETS    a subset of: kickstand kea dnsmasq baseline (kickstand kea dnsmasq)
#   BENCH_DHCP_BASELINE   a second kickstand binary, run as target "baseline" (e.g. a build of
#                         the commit before a change), so that both are measured in one run
#   BENCH_QUIET_WAIT      seconds to wait for other work to leave the CPUs alone (180)
#
# Exit status: 0 when every server started and every run completed, also when
# a ratio misses its goal (this is a report); non-zero when anything failed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"

read -r -a rates <<<"${BENCH_DHCP_RATES:-4000 8000 12000 16000 20000}"
seconds=${BENCH_DHCP_SECONDS:-3}
rounds=${BENCH_DHCP_ROUNDS:-5}
client_rcvbuf=${BENCH_DHCP_CLIENT_RCVBUF:-4194304}
max_drops=${BENCH_DHCP_MAX_DROPS:-1}
baseline_bin=${BENCH_DHCP_BASELINE:-}
quiet_wait=${BENCH_QUIET_WAIT:-180}
default_targets="kickstand kea dnsmasq"
[ -z "$baseline_bin" ] || default_targets="kickstand baseline kea dnsmasq"
read -r -a targets <<<"${BENCH_DHCP_TARGETS:-$default_targets}"

# The LAN between the two namespaces: a /16, so that no run fills the pool
# (the highest rate for the longest run must stay below its 65,022 addresses).
prefix=10.231
server_ip=$prefix.0.1
client_ip=$prefix.0.2
pool_first=$prefix.1.0
pool_last=$prefix.255.254
pool_size=65022

[ "$(id -u)" -eq 0 ] || die "run as root (sudo bash bench/dhcp.sh): it installs packages and creates network namespaces"
for r in "${rates[@]}"; do
	[ $((r * seconds)) -lt "$pool_size" ] || die "$r DORA/s for $seconds s would fill the $pool_size-address pool: lower BENCH_DHCP_RATES or BENCH_DHCP_SECONDS"
done
for t in "${targets[@]}"; do
	case $t in
	kickstand | kea | dnsmasq) ;;
	baseline) [ -x "$baseline_bin" ] || die "target baseline needs BENCH_DHCP_BASELINE=/path/to/kickstand" ;;
	*) die "unknown target $t in BENCH_DHCP_TARGETS" ;;
	esac
done

# --- packages ------------------------------------------------------------------------

# perfdhcp comes with kea-admin (Debian 12); Kea's own packages name it
# isc-kea-perfdhcp. dnsmasq-base is dnsmasq without its service. The
# packaged Kea service would start at install, on every interface:
# apt_install keeps it from starting.
install_packages() {
	local missing=() p
	for p in kea-dhcp4-server kea-admin iproute2; do
		installed "$p" || missing+=("$p")
	done
	command -v dnsmasq >/dev/null || missing+=(dnsmasq-base)
	[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
}
install_packages
for tool in perfdhcp kea-dhcp4 dnsmasq ip ss; do
	command -v "$tool" >/dev/null || die "$tool is missing after the install"
done

# --- network and cleanup -------------------------------------------------------------

work=$(mktemp -d /tmp/kickstand-dhcp-bench.XXXXXX)
chmod 755 "$work"
tag=$(printf '%04x' $((RANDOM % 65536)))
srv_ns=ksb-srv-$tag
cli_ns=ksb-cli-$tag
SERVER_PID=""
RMEM_DEFAULT="" RMEM_MAX=""
cleanup() {
	[ -z "$SERVER_PID" ] || stop_tree "$SERVER_PID"
	[ -z "$RMEM_DEFAULT" ] || sysctl -qw net.core.rmem_default="$RMEM_DEFAULT" net.core.rmem_max="$RMEM_MAX" || true
	local ns p
	for ns in "$srv_ns" "$cli_ns"; do
		# Only this run's processes can be in its namespaces.
		for p in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$p" 2>/dev/null || true
		done
		ip netns del "$ns" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$srv_ns"
ip netns add "$cli_ns"
ip link add "ksb$tag" type veth peer name "ksc$tag"
ip link set "ksb$tag" netns "$srv_ns"
ip link set "ksc$tag" netns "$cli_ns"
ip -n "$srv_ns" link set "ksb$tag" name srv0
ip -n "$cli_ns" link set "ksc$tag" name cli0
ip -n "$srv_ns" addr add "$server_ip/16" dev srv0
ip -n "$cli_ns" addr add "$client_ip/16" dev cli0
for ns in "$srv_ns" "$cli_ns"; do
	ip -n "$ns" link set lo up
done
ip -n "$srv_ns" link set srv0 up
ip -n "$cli_ns" link set cli0 up

if [ "$client_rcvbuf" -gt 0 ]; then
	RMEM_DEFAULT=$(sysctl -n net.core.rmem_default) RMEM_MAX=$(sysctl -n net.core.rmem_max)
	sysctl -qw net.core.rmem_max=$((RMEM_MAX > client_rcvbuf ? RMEM_MAX : client_rcvbuf)) net.core.rmem_default="$client_rcvbuf"
fi

# udp_rcvbuf_errors NS: datagrams the namespace's UDP sockets dropped for a
# full receive buffer, since it was made.
# shellcheck disable=SC2016 # awk, not the shell, expands them
udp_rcvbuf_errors() {
	ip netns exec "$1" awk '$1 == "Udp:" { if (!h) { for (i = 2; i <= NF; i++) col[$i] = i; h = 1 } else print $col["RcvbufErrors"] }' /proc/net/snmp
}

# --- the servers ---------------------------------------------------------------------

ks_version="-"
if [[ " ${targets[*]} " == *" kickstand "* ]]; then
	say "bench: building kickstand"
	(cd "$repo" && go build -o "$work/kickstand" ./cmd/kickstand) || die "go build ./cmd/kickstand"
	ks_version=$(cd "$repo" && git describe --always --dirty 2>/dev/null || echo unknown)
fi
kea_version=$(kea-dhcp4 -v 2>/dev/null || echo "?")
dnsmasq_version=$(dnsmasq --version 2>/dev/null | head -n 1 | awk '{ print $3 }')

# start_server TARGET DIR: starts TARGET on srv0 with a fresh lease database in
# DIR, sets SERVER_PID, and waits until it listens on port 67.
start_server() {
	local t=$1 dir=$2
	mkdir -p "$dir"
	case $t in
	kickstand | baseline)
		local bin=$work/kickstand
		[ "$t" = kickstand ] || bin=$baseline_bin
		ip netns exec "$srv_ns" "$bin" serve --data-dir "$dir/data" --interface srv0 --dhcp full \
			--dhcp-range "$pool_first-$pool_last" --dhcp-lease 1h --tftp-port 1069 --http-port 1080 --ftp-port 0 \
			--metrics=false >"$dir/server.log" 2>&1 &
		;;
	kea)
		cat >"$dir/kea.conf" <<EOF
{ "Dhcp4": {
    "interfaces-config": { "interfaces": [ "srv0" ], "dhcp-socket-type": "raw" },
    "lease-database": { "type": "memfile", "persist": true, "name": "$dir/kea-leases4.csv", "lfc-interval": 0 },
    "valid-lifetime": 3600, "renew-timer": 1800, "rebind-timer": 3150,
    "subnet4": [ { "id": 1, "subnet": "$prefix.0.0/16", "pools": [ { "pool": "$pool_first - $pool_last" } ] } ],
    "loggers": [ { "name": "kea-dhcp4", "output_options": [ { "output": "$dir/kea.log" } ], "severity": "WARN" } ]
} }
EOF
		KEA_PIDFILE_DIR=$dir KEA_LOCKFILE_DIR=$dir ip netns exec "$srv_ns" kea-dhcp4 -c "$dir/kea.conf" >"$dir/server.log" 2>&1 &
		;;
	dnsmasq)
		# --no-ping and --quiet-dhcp: the same job as the others, which
		# neither ping an address before offering it nor log every packet.
		ip netns exec "$srv_ns" dnsmasq --no-daemon --conf-file=/dev/null --port=0 --interface=srv0 --bind-interfaces \
			--dhcp-range="$pool_first,$pool_last,1h" --dhcp-lease-max=$((pool_size + 1000)) --dhcp-leasefile="$dir/dnsmasq.leases" \
			--pid-file="$dir/dnsmasq.pid" --user=root --no-ping --quiet-dhcp >"$dir/server.log" 2>&1 &
		;;
	esac
	SERVER_PID=$!
	local _
	for _ in $(seq 300); do
		alive "$SERVER_PID" || { cat "$dir/server.log" >&2; die "$t exited at start"; }
		if ip netns exec "$srv_ns" ss -Hlun 'sport = :67' | grep -q .; then
			sleep 0.5 # the rest of its start (kickstand: its lease table; Kea: its raw socket)
			return 0
		fi
		sleep 0.1
	done
	cat "$dir/server.log" >&2
	die "$t did not listen on port 67 within 30 s"
}

stop_server() {
	[ -z "$SERVER_PID" ] || stop_tree "$SERVER_PID"
	SERVER_PID=""
}

# --- measure -------------------------------------------------------------------------

raw="$work/raw.txt"
: >"$raw"

# run TARGET RATE ROUND: one run; appends its line to $raw and prints it.
run() {
	local t=$1 rate=$2 round=$3 dir="$work/run/$1.$2.$3" out cpu0 cpu1 start end cdrop0 cdrop1
	start_server "$t" "$dir"
	cdrop0=$(udp_rcvbuf_errors "$cli_ns")
	cpu0=$(tree_cpu_ticks "$SERVER_PID")
	start=$(date +%s.%N)
	# -R: a million clients, so that nearly every DORA is a new client's;
	# -W: replies still on the way when the period ends are waited for.
	ip netns exec "$cli_ns" perfdhcp -4 -l cli0 -r "$rate" -p "$seconds" -R 1000000 -W 2000000 \
		>"$dir/perfdhcp.txt" 2>&1 || true
	end=$(date +%s.%N)
	alive "$SERVER_PID" || { cat "$dir/server.log" >&2; die "$t died during the run at $rate/s"; }
	cpu1=$(tree_cpu_ticks "$SERVER_PID")
	cdrop1=$(udp_rcvbuf_errors "$cli_ns")
	stop_server
	out=$(awk -v t="$t" -v rate="$rate" -v round="$round" -v secs="$seconds" -v hz="$(getconf CLK_TCK)" \
		-v cpu=$((cpu1 - cpu0)) -v cdrops=$((cdrop1 - cdrop0)) -v wall="$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')" '
		/^sent packets:/ { sent[++s] = $3 }
		/^received packets:/ { recv[++r] = $3 }
		END {
			if (s < 1) { print "run target=" t " rate=" rate " round=" round " error=no-perfdhcp-report"; exit }
			d = sent[1]; o = recv[1]; q = (s >= 2) ? sent[2] : 0; a = (r >= 2) ? recv[2] : 0
			drops = (d > 0) ? 100 * (1 - a / d) : 100
			printf "run target=%s rate=%d round=%s discovers=%d offers=%d requests=%d acks=%d offered_per_s=%.0f completed_per_s=%.0f drops_pct=%.2f server_cpu_pct=%.0f client_socket_drops=%d\n",
				t, rate, round, d, o, q, a, d / secs, a / secs, drops, 100 * cpu / hz / wall, cdrops }' "$dir/perfdhcp.txt")
	echo "$out" >>"$raw"
	say "bench:   $out"
	grep -q "error=" <<<"$out" && { cat "$dir/perfdhcp.txt" >&2; die "perfdhcp gave no report against $t at $rate/s"; }
	rm -rf "$dir"
}

drops_of() { # drops_of LINE
	sed -E 's/.*drops_pct=([0-9.]+).*/\1/' <<<"$1"
}

wait_for_quiet "$quiet_wait"
measure_start "$work"

n=${#targets[@]}
for ((round = 1; round <= rounds; round++)); do
	declare -A failed=()
	for ((i = 0; i < ${#rates[@]}; i++)); do
		rate=${rates[i]}
		# Each run of the round starts one server later, so that no server is
		# always first after the previous one's teardown.
		order=()
		for ((k = 0; k < n; k++)); do
			order+=("${targets[(k + round + i - 1) % n]}")
		done
		say "bench: round $round of $rounds, $rate DORA/s offered: ${order[*]}"
		for t in "${order[@]}"; do
			if [ -n "${failed[$t]:-}" ]; then
				# Lost most DORAs at a lower rate this round: a higher one
				# only takes time. Counted as lost.
				echo "run target=$t rate=$rate round=$round skipped=1 drops_pct=100.00 completed_per_s=0" >>"$raw"
				continue
			fi
			run "$t" "$rate" "$round"
			line=$(tail -n 1 "$raw")
			awk -v d="$(drops_of "$line")" 'BEGIN { exit !(d > 50) }' && failed[$t]=1
		done
	done
	unset failed
done

measure_end "$work" ""

# --- report --------------------------------------------------------------------------

field_of() { # field_of TARGET RATE FIELD: the values of FIELD in the runs of TARGET at RATE
	awk -v t="$1" -v r="$2" -v f="$3" '$1 == "run" && $2 == "target=" t && $3 == "rate=" r {
		for (i = 4; i <= NF; i++) { split($i, kv, "="); if (kv[1] == f) print kv[2] } }' "$raw"
}

declare -A LABEL=([kickstand]="kickstand (full)" [baseline]="kickstand baseline" [kea]="Kea $kea_version (memfile)" [dnsmasq]="dnsmasq $dnsmasq_version")
declare -A HELD
report() {
	local t rate med drops held peak
	printf '%-26s' "median of $rounds rounds"
	for rate in "${rates[@]}"; do printf ' %13s' "$rate/s"; done
	printf '   %s\n' "held at <= $max_drops% lost"
	for t in "${targets[@]}"; do
		printf '%-26s' "${LABEL[$t]}"
		held=0 peak=0
		for rate in "${rates[@]}"; do
			med=$(field_of "$t" "$rate" completed_per_s | median)
			drops=$(field_of "$t" "$rate" drops_pct | median)
			printf ' %6.0f %5.1f%%' "$med" "$drops"
			awk -v d="$drops" -v m="$max_drops" 'BEGIN { exit !(d <= m) }' && held=$rate
			awk -v a="$med" -v b="$peak" 'BEGIN { exit !(a > b) }' && peak=$med
		done
		HELD[$t]=$held
		printf '   %s/s (peak %.0f completed/s)\n' "$held" "$peak"
	done
	echo
	echo "each cell: DORAs completed per second, and the share of DORAs lost (no ACK), medians over the rounds."
	echo "held: the highest offered rate whose median loss is at most $max_drops%."
	echo "server CPU (% of one CPU, median) at each rate:"
	medians_by_rate server_cpu_pct
	echo "replies dropped at perfdhcp's own socket (median; a loss there is the client's, not the server's):"
	medians_by_rate client_socket_drops
	echo
	ratio kickstand kea
	ratio kickstand dnsmasq
	ratio baseline kea
	ratio kickstand baseline
	if [ -n "${HELD[kickstand]:-}" ] && [ -n "${HELD[kea]:-}" ]; then
		awk -v a="${HELD[kickstand]}" -v b="${HELD[kea]}" -v top="${rates[-1]}" 'BEGIN {
			if (b == 0) { print "goal kickstand >= 1.0x Kea: Kea held no rate"; exit }
			r = a / b; verdict = (r >= 1.0) ? "PASS" : "FAIL"
			note = (a == top && b == top) ? " (both held the highest rate offered: raise BENCH_DHCP_RATES to tell them apart)" : ""
			printf "goal kickstand >= 1.0x Kea: %s (%.2fx)%s\n", verdict, r, note }'
	fi
}
medians_by_rate() { # medians_by_rate FIELD: a row per server, FIELD's median at each rate
	local t rate
	for t in "${targets[@]}"; do
		printf '  %-24s' "${LABEL[$t]}"
		for rate in "${rates[@]}"; do
			printf ' %13s' "$(field_of "$t" "$rate" "$1" | median)"
		done
		echo
	done
}
ratio() { # ratio A B: held rate of A over B's
	local a=${HELD[$1]:-} b=${HELD[$2]:-}
	[ -n "$a" ] && [ -n "$b" ] || return 0
	awk -v n="${LABEL[$1]} / ${LABEL[$2]}" -v a="$a" -v b="$b" 'BEGIN {
		if (b == 0) printf "  %-50s %s\n", n, "-"; else printf "  %-50s %.2fx (%d/s vs %d/s held)\n", n, a / b, a, b }'
}

mkdir -p "$here/results"
results="$here/results/dhcp-$(date +%Y-%m-%dT%H%M%S).txt"
{
	echo "kickstand DHCP bench, $(date -Is)"
	machine_line
	echo "kickstand $ks_version${baseline_bin:+ and baseline $baseline_bin}; Kea $kea_version; dnsmasq $dnsmasq_version; $(perfdhcp -v 2>&1 | head -n 1)"
	echo "perfdhcp DORA over a veth between two namespaces, $seconds s per run, $rounds rounds, rates ${rates[*]}/s; a fresh lease database per run; /16 pool; perfdhcp's socket buffer $( [ "$client_rcvbuf" -gt 0 ] && echo "$client_rcvbuf bytes (net.core.rmem_default during the run)" || echo "the machine's default")"
	measured_lines
	echo
	report
} | save_results "$results" raw="$raw"
echo
echo "raw numbers: $results"
