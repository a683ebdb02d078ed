#!/usr/bin/env bash
# Boot storm: N simulated BIOS PXE machines power on at once and install
# through kickstand (--dhcp full), then through the classic stack doing the
# same job, dnsmasq (DHCP + TFTP of lpxelinux.0 and a pxelinux config per
# MAC) + nginx (kernel, initrd, a kickstart per MAC, stage2, a phone-home
# URL answered 204). The machines are bench/storm (Go), in a client network
# namespace joined by a veth pair to the server's namespace; each machine
# has its own MAC (a macvlan on the veth) and, after its ACK, its own
# address. Prints per server and N the time until all N phoned home, p50/p99
# of the machines' own times (first DISCOVER to the %post phone-home),
# failures, server CPU and peak RSS, kickstand's ratio to the classic stack,
# and the issue's targets; saves the table and every raw number in
# bench/results/storm-DATE.txt.
#
# Usage: sudo bash bench/storm.sh      (with others on the machine: flock /tmp/bench.lock sudo bash bench/storm.sh)
#
# Settings (environment):
#   BENCH_STORM_SIZES           machines per storm, each size a run per server and round (100 500)
#   BENCH_STORM_ROUNDS          rounds; the server order alternates (3)
#   BENCH_STORM_TARGETS         a subset of: kickstand classic (kickstand classic)
#   BENCH_STORM_KERNEL_MIB      size of the kernel (2), BENCH_STORM_INITRD_MIB of the initrd (8),
#   BENCH_STORM_STAGE2_MIB      of images/install.img (16); random bytes
#   BENCH_STORM_SPREAD          seconds over which the machines power on (0: all at once)
#   BENCH_STORM_INSTALL_TIME    seconds between a machine's %pre and %post phone-homes (0)
#   BENCH_STORM_CLIENT_TIMEOUT  seconds one machine may take, power-on to phone-home (240)
#   BENCH_STORM_RUN_TIMEOUT     seconds one storm may take (300)
#   BENCH_STORM_DEADLINE        seconds all the storms may take together (780)
#   BENCH_QUIET_WAIT            seconds to wait for other work to leave the CPUs alone (180)
#   BENCH_STORM_KEEP            1 keeps the work directory (servers' logs, every machine's line) (0)
#
# Exit status: 0 when every server started and every storm ran to its end,
# also when machines failed or a target is missed (this is a report);
# non-zero when a server did not start or died, the load generator failed,
# or the deadline cut the storms short.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"

read -r -a sizes <<<"${BENCH_STORM_SIZES:-100 500}"
rounds=${BENCH_STORM_ROUNDS:-3}
read -r -a targets <<<"${BENCH_STORM_TARGETS:-kickstand classic}"
kernel_mib=${BENCH_STORM_KERNEL_MIB:-2}
initrd_mib=${BENCH_STORM_INITRD_MIB:-8}
stage2_mib=${BENCH_STORM_STAGE2_MIB:-16}
spread=${BENCH_STORM_SPREAD:-0}
install_time=${BENCH_STORM_INSTALL_TIME:-0}
client_timeout=${BENCH_STORM_CLIENT_TIMEOUT:-240}
run_timeout=${BENCH_STORM_RUN_TIMEOUT:-300}
deadline=${BENCH_STORM_DEADLINE:-780}
quiet_wait=${BENCH_QUIET_WAIT:-180}
keep=${BENCH_STORM_KEEP:-0}

# The LAN between the two namespaces; nothing is sent anywhere else.
prefix=10.232
server_ip=$prefix.0.1
pool_first=$prefix.1.0
pool_last=$prefix.255.254
rss_target_mib=256

[ "$(id -u)" -eq 0 ] || die "run as root (sudo bash bench/storm.sh): it installs packages and creates network namespaces"
for n in "${sizes[@]}"; do
	if ! [[ "$n" =~ ^[0-9]+$ ]] || [ "$n" -lt 1 ] || [ "$n" -gt 1000 ]; then
		die "BENCH_STORM_SIZES: $n is not 1-1000"
	fi
done
for t in "${targets[@]}"; do
	case $t in kickstand | classic) ;; *) die "unknown target $t in BENCH_STORM_TARGETS" ;; esac
done
[ "$client_timeout" -lt "$run_timeout" ] || die "BENCH_STORM_CLIENT_TIMEOUT must be below BENCH_STORM_RUN_TIMEOUT"

# --- packages ------------------------------------------------------------------------

# dnsmasq-base is dnsmasq without its service; nginx-light where the release
# has it. apt_install keeps packaged services (nginx's) from starting.
install_packages() {
	local missing=() p
	for p in pxelinux syslinux-common iproute2; do
		installed "$p" || missing+=("$p")
	done
	command -v dnsmasq >/dev/null || missing+=(dnsmasq-base)
	if ! command -v nginx >/dev/null; then
		if apt-cache show nginx-light >/dev/null 2>&1; then missing+=(nginx-light); else missing+=(nginx); fi
	fi
	[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
}
install_packages
for tool in dnsmasq nginx ip ss go; do
	command -v "$tool" >/dev/null || die "$tool is missing"
done
loaders=/usr/lib/PXELINUX/lpxelinux.0
ldlinux=/usr/lib/syslinux/modules/bios/ldlinux.c32
for f in "$loaders" "$ldlinux"; do
	[ -f "$f" ] || die "$f is missing (packages pxelinux, syslinux-common)"
done

# --- cleanup ---------------------------------------------------------------------------

work=$(mktemp -d /tmp/kickstand-storm-bench.XXXXXX)
chmod 755 "$work"
tag=$(printf '%04x' $((RANDOM % 65536)))
srv_ns=kss-srv-$tag
cli_ns=kss-cli-$tag
SERVER_PIDS=()
SAMPLERS=()
drop_namespaces() {
	local ns p
	for ns in "$srv_ns" "$cli_ns"; do
		# Only this run's processes can be in its namespaces.
		for p in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$p" 2>/dev/null || true
		done
		ip netns del "$ns" 2>/dev/null || true
	done
}
cleanup() {
	local pid
	for pid in "${SAMPLERS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${SERVER_PIDS[@]}"; do stop_tree "$pid"; done
	drop_namespaces
	if [ "$keep" = 1 ]; then
		say "bench: kept $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- builds and fixtures ---------------------------------------------------------------

say "bench: building kickstand and the load generator"
(cd "$repo" && go build -o "$work/kickstand" ./cmd/kickstand && go build -o "$work/storm" ./bench/storm) ||
	die "go build ./cmd/kickstand ./bench/storm"
ks_version=$(cd "$repo" && git describe --always --dirty 2>/dev/null || echo unknown)
dnsmasq_version=$(dnsmasq --version 2>/dev/null | awk 'NR == 1 { print $3 }')
nginx_version=$(nginx -v 2>&1 | sed 's/.*nginx\///')
syslinux_version=$(dpkg-query -W -f='${Version}' pxelinux 2>/dev/null || echo "?")

# The install tree: a .treeinfo, random kernel, initrd and stage2. kickstand
# imports it as distro "storm"; nginx serves it at /tree/.
tree=$work/tree
mkdir -p "$tree/images/pxeboot"
head -c $((kernel_mib << 20)) /dev/urandom >"$tree/images/pxeboot/vmlinuz"
head -c $((initrd_mib << 20)) /dev/urandom >"$tree/images/pxeboot/initrd.img"
head -c $((stage2_mib << 20)) /dev/urandom >"$tree/images/install.img"
write_treeinfo "$tree"
printf '1700000000.000000\n9.6\nx86_64\n' >"$tree/.discinfo"
chmod -R a+rX "$tree"

# Per size: kickstand's data directory with the distro and all N machines
# registered (copied fresh for every run: an installed machine boots from
# its disk), and the classic stack's TFTP and HTTP roots.
for n in "${sizes[@]}"; do
	dir=$work/prepared/$n
	mkdir -p "$dir/tftp" "$dir/http"
	"$work/kickstand" distro import --data-dir "$dir/ks-data" storm "$tree" >"$dir/import.log" 2>&1 ||
		{ cat "$dir/import.log" >&2; die "kickstand distro import storm $tree"; }
	"$work/storm" machines -n "$n" -distro storm -profile storm >"$dir/machines.yaml"
	"$work/kickstand" apply --data-dir "$dir/ks-data" -f "$dir/machines.yaml" >"$dir/apply.log" 2>&1 ||
		{ tail -n 20 "$dir/apply.log" >&2; die "kickstand apply -f $dir/machines.yaml"; }
	grep -q "^applied: $((n + 1)) to create" "$dir/apply.log" || { tail -n 5 "$dir/apply.log" >&2; die "kickstand apply did not create $n machines"; }
	cp "$loaders" "$ldlinux" "$dir/tftp/"
	ln -s "$tree" "$dir/http/tree"
	"$work/storm" classic -n "$n" -server "$server_ip" -tftp-root "$dir/tftp" -http-root "$dir/http" ||
		die "storm classic -n $n"
	chmod -R a+rX "$dir/tftp" "$dir/http"
done
cat "$tree"/images/pxeboot/* "$tree/images/install.img" >/dev/null # into the page cache

# --- network ---------------------------------------------------------------------------

# make_network N: fresh namespaces for one run. The server's end of the veth
# is srv0 ($server_ip/16); the client's is cli0, without an address, carrying
# the DHCP socket of every machine and one macvlan per machine (st0 …), with
# its MAC. A machine adds its leased address to its macvlan and binds to it.
# In the client namespace an interface answers ARP only for its own
# addresses and says so (arp_ignore, arp_announce), as separate machines
# would; no IPv6 on either side, so that nothing but the install is on the
# wire.
make_network() {
	local n=$1 i mac
	drop_namespaces
	ip netns add "$srv_ns"
	ip netns add "$cli_ns"
	for ns in "$srv_ns" "$cli_ns"; do
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
		ip -n "$ns" link set lo up
	done
	ip netns exec "$cli_ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
		net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.default.arp_ignore=1 \
		net.ipv4.conf.all.arp_announce=2 net.ipv4.conf.default.arp_announce=2
	ip link add "kss$tag" type veth peer name "ksc$tag"
	ip link set "kss$tag" netns "$srv_ns"
	ip link set "ksc$tag" netns "$cli_ns"
	ip -n "$srv_ns" link set "kss$tag" name srv0
	ip -n "$cli_ns" link set "ksc$tag" name cli0
	ip -n "$srv_ns" addr add "$server_ip/16" dev srv0
	ip -n "$srv_ns" link set srv0 up
	ip -n "$cli_ns" link set cli0 up
	i=0
	while read -r mac; do
		echo "link add link cli0 name st$i address $mac type macvlan mode private"
		echo "link set st$i up"
		i=$((i + 1))
	done < <("$work/storm" macs -n "$n") >"$work/links.batch"
	ip -n "$cli_ns" -batch "$work/links.batch" || die "could not make $n macvlan interfaces"
}

# --- the servers -----------------------------------------------------------------------

# listening NS PROTO PORT: whether something in NS listens on PORT.
listening() {
	local flag=-Hlnt
	[ "$2" = tcp ] || flag=-Hlnu
	ip netns exec "$1" ss "$flag" "sport = :$3" | grep -q .
}

# wait_ports NAME PID DIR PROTO/PORT...: waits up to 30 s for each port in
# the server namespace while PID lives; dies with the logs in DIR otherwise.
wait_ports() {
	local name=$1 pid=$2 dir=$3 _ spec all
	shift 3
	for _ in $(seq 300); do
		alive "$pid" || { tail -n 30 "$dir"/*.log >&2; die "$name exited at start"; }
		all=1
		for spec in "$@"; do
			listening "$srv_ns" "${spec%/*}" "${spec#*/}" || all=0
		done
		[ $all -eq 0 ] || return 0
		sleep 0.1
	done
	tail -n 30 "$dir"/*.log >&2
	die "$name did not listen on $* within 30 s"
}

# start_servers TARGET N DIR: starts TARGET's daemons in the server
# namespace, sets SERVER_PIDS (each the root of a process tree to measure).
start_servers() {
	local t=$1 n=$2 dir=$3 prepared=$work/prepared/$2 user=www-data
	mkdir -p "$dir"
	SERVER_PIDS=()
	case $t in
	kickstand)
		cp -a "$prepared/ks-data" "$dir/data"
		ip netns exec "$srv_ns" "$work/kickstand" serve --data-dir "$dir/data" --interface srv0 --dhcp full \
			--dhcp-range "$pool_first-$pool_last" >"$dir/kickstand.log" 2>&1 &
		SERVER_PIDS+=($!)
		wait_ports kickstand "$!" "$dir" udp/67 udp/69 tcp/80
		;;
	classic)
		# --no-ping: neither server pings an address before offering it
		# (as in dhcp.sh); --tftp-max: dnsmasq's default of 50 transfers at
		# once would turn machines away (tftp.sh does the same).
		ip netns exec "$srv_ns" dnsmasq --no-daemon --conf-file=/dev/null --port=0 --interface=srv0 --bind-interfaces \
			--dhcp-range="$pool_first,$pool_last,255.255.0.0,1h" --dhcp-lease-max=2000 --dhcp-leasefile="$dir/dnsmasq.leases" \
			--no-ping --dhcp-boot=lpxelinux.0 --enable-tftp --tftp-root="$prepared/tftp" --tftp-max=1000 \
			--pid-file="$dir/dnsmasq.pid" --user=root --log-facility="$dir/dnsmasq.log" >"$dir/dnsmasq.out.log" 2>&1 &
		SERVER_PIDS+=($!)
		wait_ports dnsmasq "$!" "$dir" udp/67 udp/69
		id -u "$user" >/dev/null 2>&1 || user=nobody
		mkdir -p "$dir/nginx/tmp"
		cat >"$dir/nginx/nginx.conf" <<EOF
daemon off;
user $user;
worker_processes auto;
pid $dir/nginx/nginx.pid;
error_log $dir/nginx-error.log warn;

events {
    worker_connections 4096;
}

http {
    sendfile on;
    tcp_nopush on;
    access_log $dir/nginx-access.log;
    default_type application/octet-stream;
    client_body_temp_path $dir/nginx/tmp/body;
    proxy_temp_path $dir/nginx/tmp/proxy;
    fastcgi_temp_path $dir/nginx/tmp/fastcgi;
    uwsgi_temp_path $dir/nginx/tmp/uwsgi;
    scgi_temp_path $dir/nginx/tmp/scgi;

    server {
        listen $server_ip:80;
        root $prepared/http;
        location /phone-home/ {
            return 204;
        }
    }
}
EOF
		ip netns exec "$srv_ns" nginx -t -q -e "$dir/nginx-error.log" -p "$dir/nginx" -c "$dir/nginx/nginx.conf" ||
			die "nginx rejected its configuration $dir/nginx/nginx.conf"
		ip netns exec "$srv_ns" nginx -e "$dir/nginx-error.log" -p "$dir/nginx" -c "$dir/nginx/nginx.conf" \
			>"$dir/nginx.out.log" 2>&1 &
		SERVER_PIDS+=($!)
		wait_ports nginx "$!" "$dir" tcp/80
		;;
	esac
}

stop_servers() {
	local pid
	for pid in "${SERVER_PIDS[@]}"; do
		stop_tree "$pid"
	done
	SERVER_PIDS=()
}

# udp_drops NS: datagrams the kernel dropped in NS because a socket's
# receive buffer was full (Udp RcvbufErrors; the namespaces are fresh for
# every run, so this counts the run's).
udp_drops() {
	ip netns exec "$1" cat /proc/net/snmp | awk '$1 == "Udp:" && !names { for (i = 2; i <= NF; i++) if ($i == "RcvbufErrors") col = i; names = 1; next }
		$1 == "Udp:" { print $col + 0; exit }'
}

# --- measure ---------------------------------------------------------------------------

raw=$work/raw.txt
: >"$raw"

# storm TARGET N ROUND: one run on fresh namespaces and a fresh server;
# appends its line (and its failed machines, the first 10) to $raw.
storm() {
	local t=$1 n=$2 round=$3 dir=$work/run/$1.$2.$3 pid cpu0=0 cpu1=0 rc=0 peak=0 p k out line
	make_network "$n"
	start_servers "$t" "$n" "$dir"
	local samples=()
	for pid in "${SERVER_PIDS[@]}"; do
		reset_peak "$pid"
		cpu0=$((cpu0 + $(tree_cpu_ticks "$pid")))
		sample_server "$pid" "$dir/sample.$pid" &
		SAMPLERS+=($!)
		samples+=($!)
	done
	timeout -k 10 "$run_timeout" ip netns exec "$cli_ns" "$work/storm" run -n "$n" -lower cli0 -prefix st \
		-deadline "$((run_timeout - 15))s" -client-timeout "${client_timeout}s" -spread "${spread}s" \
		-install-time "${install_time}s" -progress 10s -out "$dir/machines.txt" >"$dir/summary.txt" 2>"$dir/storm.log" || rc=$?
	for pid in "${SERVER_PIDS[@]}"; do
		if alive "$pid"; then
			cpu1=$((cpu1 + $(tree_cpu_ticks "$pid")))
		else
			tail -n 30 "$dir"/*.log >&2
			die "$t died during the storm of $n machines (round $round)"
		fi
	done
	for pid in "${samples[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	SAMPLERS=()
	for p in "$dir"/sample.*; do
		read -r k _ <"$p" || k=0
		peak=$((peak + k))
	done
	stop_servers
	if [ $rc -ne 0 ]; then
		cat "$dir/storm.log" >&2
		die "the load generator failed (exit $rc) against $t with $n machines"
	fi
	out=$(grep '^storm ' "$dir/summary.txt") || { cat "$dir/storm.log" >&2; die "the load generator printed no summary"; }
	line="run target=$t n=$n round=$round ${out#storm n=* } server_cpu_s=$(awk -v t=$((cpu1 - cpu0)) -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }') peak_rss_kib=$peak"
	line="$line server_udp_drops=$(udp_drops "$srv_ns") client_udp_drops=$(udp_drops "$cli_ns")"
	line="$line server_log_warnings=$(cat "$dir"/*.log 2>/dev/null | grep -ciE 'level=(warn|error)|\[(warn|error|crit|alert|emerg)\]' || true)"
	echo "$line" >>"$raw"
	grep 'ok=0' "$dir/machines.txt" | head -n 10 | sed "s/^machine /failed target=$t n=$n round=$round /" >>"$raw" || true
	say "bench:   $line"
	[ "$keep" = 1 ] || rm -rf "$dir"
}

wait_for_quiet "$quiet_wait"
measure_start "$work"
measure_began=$(date +%s)
complete=1

nt=${#targets[@]}
for ((round = 1; round <= rounds && complete; round++)); do
	for ((i = 0; i < ${#sizes[@]} && complete; i++)); do
		n=${sizes[i]}
		# Each round, and each size within it, starts one server later, so
		# that no server always goes first.
		order=()
		for ((k = 0; k < nt; k++)); do
			order+=("${targets[(k + round + i - 1) % nt]}")
		done
		say "bench: round $round of $rounds, $n machines: ${order[*]}"
		for t in "${order[@]}"; do
			if [ $(($(date +%s) - measure_began + run_timeout)) -gt "$deadline" ]; then
				say "bench: the next storm could end past the deadline of $deadline s: stopping here"
				complete=0
				break
			fi
			storm "$t" "$n" "$round"
		done
	done
done

measure_end "$work" " (mostly the veth traffic)"

# --- report ----------------------------------------------------------------------------

# values TARGET N FIELD: FIELD of every run of TARGET with N machines.
values() {
	awk -v t="$1" -v n="$2" -v f="$3" '$1 == "run" && $2 == "target=" t && $3 == "n=" n {
		for (i = 4; i <= NF; i++) { split($i, kv, "="); if (kv[1] == f) print kv[2] } }' "$raw"
}
med() { values "$@" | median; }
# med3 TARGET N FIELD: the median with 3 decimals ("-" when there is none).
med3() { med "$@" | awk '{ if ($1 == "nan") print "-"; else printf "%.3f\n", $1 }'; }
sum() { values "$@" | awk '{ s += $1 } END { print s + 0 }'; }
most() { values "$@" | sort -g | tail -n 1; }
# total TARGET FIELD: the sum of FIELD over every run of TARGET.
total() {
	awk -v t="$1" -v f="$2" '$1 == "run" && $2 == "target=" t {
		for (i = 4; i <= NF; i++) { split($i, kv, "="); if (kv[1] == f) s += kv[2] } } END { print s + 0 }' "$raw"
}

declare -A LABEL=([kickstand]="kickstand" [classic]="dnsmasq + nginx")
report() {
	local t n f
	printf '%-16s %5s  %6s  %6s  %10s  %7s  %7s  %12s  %9s\n' "median of rounds" N rounds failed "all done s" "p50 s" "p99 s" "server CPU s" "peak RSS"
	for n in "${sizes[@]}"; do
		for t in "${targets[@]}"; do
			[ -n "$(values "$t" "$n" total_s)$(values "$t" "$n" failed)" ] || continue
			printf '%-16s %5s  %6s  %6s  %10s  %7s  %7s  %12s  %5.1f MiB\n' "${LABEL[$t]}" "$n" \
				"$(values "$t" "$n" failed | wc -l)" "$(sum "$t" "$n" failed)" "$(med3 "$t" "$n" total_s)" \
				"$(med3 "$t" "$n" p50_s)" "$(med3 "$t" "$n" p99_s)" "$(med "$t" "$n" server_cpu_s)" \
				"$(awk -v k="$(med "$t" "$n" peak_rss_kib)" 'BEGIN { print k / 1024 }')"
		done
	done
	echo
	echo "all done: first DISCOVER to the last machine's %post phone-home; p50/p99: each machine's own time, power-on"
	echo "to phone-home; failed: machines that did not install, all rounds together (a step that still failed after"
	echo "its retries: DHCP 4 sends, 4/8/16/32 s apart, TFTP 5 sends 2 s apart, HTTP 3 tries 1 s apart); server CPU: user+system of the"
	echo "server's processes during the storm; peak RSS: the largest VmHWM (dnsmasq + nginx: the sum of their peaks)."
	echo
	echo "each machine's phases, median over the rounds of their p50 (p99) in seconds:"
	printf '  %-16s %5s' "" N
	for f in dhcp tftp boot ks stage2 phone; do printf ' %15s' "$f      "; done
	echo
	for n in "${sizes[@]}"; do
		for t in "${targets[@]}"; do
			[ -n "$(values "$t" "$n" dhcp_p50_s)" ] || continue
			printf '  %-16s %5s' "${LABEL[$t]}" "$n"
			for f in dhcp tftp boot ks stage2 phone; do
				printf ' %6s (%6s)' "$(med3 "$t" "$n" "${f}_p50_s")" "$(med3 "$t" "$n" "${f}_p99_s")"
			done
			echo
		done
	done
	echo "  (dhcp: DISCOVER to ACK; tftp: lpxelinux.0, ldlinux.c32, pxelinux.cfg; boot: kernel + initrd over HTTP;"
	echo "   ks: the kickstart; stage2: .treeinfo + images/install.img; phone: the %pre and %post phone-homes)"
	printf 'sent again, all sizes and rounds:'
	for t in "${targets[@]}"; do
		printf ' %s: DHCP %s, TFTP %s, HTTP %s;' "${LABEL[$t]}" "$(total "$t" dhcp_resends)" "$(total "$t" tftp_retx)" "$(total "$t" http_retries)"
	done
	echo
	printf 'UDP datagrams dropped on a full socket buffer, all sizes and rounds:'
	for t in "${targets[@]}"; do
		printf ' %s: server side %s, machines %s;' "${LABEL[$t]}" "$(total "$t" server_udp_drops)" "$(total "$t" client_udp_drops)"
	done
	echo
	echo
	echo "each round, all done s (failed):"
	for n in "${sizes[@]}"; do
		for t in "${targets[@]}"; do
			printf '  %-16s %5s: %s\n' "${LABEL[$t]}" "$n" "$(awk -v t="$t" -v n="$n" '$1 == "run" && $2 == "target=" t && $3 == "n=" n {
				d = "-"; f = "?"
				for (i = 4; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "total_s") d = kv[2]; if (kv[1] == "failed") f = kv[2] }
				printf "%s (%s)  ", d, f }' "$raw")"
		done
	done
	if [[ " ${targets[*]} " == *" kickstand "* ]] && [[ " ${targets[*]} " == *" classic "* ]]; then
		echo
		echo "kickstand / dnsmasq + nginx, all done (below 1: kickstand done sooner):"
		for n in "${sizes[@]}"; do
			awk -v n="$n" -v a="$(med kickstand "$n" total_s)" -v b="$(med classic "$n" total_s)" -v per="$(per_round_ratio "$n")" 'BEGIN {
				if (a == "nan" || b == "nan" || b == 0) { printf "  %5s machines: -\n", n; exit }
				printf "  %5s machines: %.2fx of the medians (%.2f s vs %.2f s); median of each round'"'"'s ratio %s\n", n, a / b, a, b, per }'
		done
	fi
	targets_report
}

# per_round_ratio N: the median over the rounds of kickstand/classic all-done time.
per_round_ratio() {
	awk -v n="$1" '$1 == "run" && $3 == "n=" n {
		split($2, t, "="); split($4, rd, "=")
		for (i = 5; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "total_s") v[t[2], rd[2]] = kv[2] }
		seen[rd[2]] = 1 }
		END { for (k in seen) if (v["kickstand", k] != "" && v["classic", k] > 0) printf "%.4f\n", v["kickstand", k] / v["classic", k] }' "$raw" |
		median | awk '{ if ($1 == "nan") print "-"; else printf "%.2fx\n", $1 }'
}

# targets_report: the issue's targets for the largest size, next to the figures.
targets_report() {
	local n t fails verdict rss
	n=$(printf '%s\n' "${sizes[@]}" | sort -n | tail -n 1)
	echo
	echo "targets ($n machines, every round):"
	for t in "${targets[@]}"; do
		fails=$(sum "$t" "$n" failed)
		[ -n "$(values "$t" "$n" failed)" ] || continue
		verdict=PASS
		[ "$fails" -eq 0 ] || verdict=FAIL
		printf '  %-44s %s (%s failed in %s rounds)\n' "0 failures, ${LABEL[$t]}:" "$verdict" "$fails" "$(values "$t" "$n" failed | wc -l)"
	done
	if [ -n "$(values kickstand "$n" total_s)" ] && [ -n "$(values classic "$n" total_s)" ]; then
		awk -v a="$(med kickstand "$n" total_s)" -v b="$(med classic "$n" total_s)" 'BEGIN {
			printf "  %-44s %s (%.2f s vs %.2f s, %.2fx)\n", "kickstand all done <= dnsmasq + nginx:", (a <= b) ? "PASS" : "FAIL", a, b, a / b }'
	fi
	if [ -n "$(values kickstand "$n" peak_rss_kib)" ]; then
		rss=$(most kickstand "$n" peak_rss_kib)
		awk -v k="$rss" -v lim="$rss_target_mib" 'BEGIN {
			printf "  %-44s %s (%.1f MiB, the largest of the rounds)\n", "kickstand peak RSS <= " lim " MiB:", (k / 1024 <= lim) ? "PASS" : "FAIL", k / 1024 }'
	fi
}

mkdir -p "$here/results"
results="$here/results/storm-$(date +%Y-%m-%dT%H%M%S).txt"
{
	echo "kickstand boot-storm bench, $(date -Is)"
	machine_line
	echo "kickstand $ks_version (--dhcp full, defaults otherwise); dnsmasq $dnsmasq_version (DHCP + TFTP, --tftp-max=1000, --no-ping) + nginx $nginx_version (sendfile, access log); lpxelinux.0 $syslinux_version"
	echo "BIOS PXE machines over a veth between two namespaces, one macvlan (MAC, address) each; sizes ${sizes[*]}; $rounds rounds, server order alternating"
	echo "files: kernel $kernel_mib MiB, initrd $initrd_mib MiB, stage2 $stage2_mib MiB (HTTP); power-on spread ${spread} s; %pre-to-%post ${install_time} s"
	measured_lines
	[ $complete -eq 1 ] || echo "INCOMPLETE: the deadline of $deadline s stopped the storms early (BENCH_STORM_DEADLINE)"
	echo
	report
} | save_results "$results" raw="$raw"
echo
echo "raw numbers: $results"
[ $complete -eq 1 ] || die "the deadline of $deadline s cut the storms short"
