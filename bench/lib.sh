# shellcheck shell=bash
# Shared helpers of bench/run.sh: messages, the processes the benchmark
# started, and their memory. Sourced, never run.

say() { printf '%s\n' "$*" >&2; }
die() {
	say "bench: FAILED: $*"
	exit 1
}

# descendants PID: prints every process below PID, children first found first.
descendants() {
	local pid=$1 task kid kids
	for task in /proc/"$pid"/task/*; do
		# A task may end between the two: its children are then gone too.
		kids=()
		read -r -a kids 2>/dev/null <"$task/children" || true
		for kid in "${kids[@]}"; do
			echo "$kid"
			descendants "$kid"
		done
	done
}

# process_tree PID: PID and every process below it.
process_tree() {
	[ -d /proc/"$1" ] || return 0
	echo "$1"
	descendants "$1"
}

# stop_tree PID: SIGTERM to PID and its descendants, SIGKILL after 5 s to what is left.
stop_tree() {
	local pid=$1 pids _
	mapfile -t pids < <(process_tree "$pid")
	[ ${#pids[@]} -gt 0 ] || return 0
	kill -TERM "${pids[@]}" 2>/dev/null || true
	for _ in $(seq 50); do
		local alive=0 p
		for p in "${pids[@]}"; do
			[ -d /proc/"$p" ] && ! grep -q '^State:.*Z' /proc/"$p"/status 2>/dev/null && alive=1
		done
		[ $alive -eq 0 ] && break
		sleep 0.1
	done
	kill -KILL "${pids[@]}" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# alive PID: whether PID still runs (and is not a zombie).
alive() {
	[ -d /proc/"$1" ] && ! grep -q '^State:.*Z' /proc/"$1"/status 2>/dev/null
}

# wait_tcp PORT PID WHAT: waits up to 30 s for 127.0.0.1:PORT to accept while PID
# lives; says why and returns 1 otherwise.
wait_tcp() {
	local port=$1 pid=$2 what=$3 _
	for _ in $(seq 300); do
		if ! alive "$pid"; then
			say "bench: $what exited at start; its log:"
			return 1
		fi
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	say "bench: $what did not listen on 127.0.0.1:$port within 30 s; its log:"
	return 1
}

# port_free PORT: fails when something already listens on 127.0.0.1:PORT.
port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# reset_peak PID: sets the peak RSS (VmHWM) of PID's processes to their current RSS,
# so that the next reading is the peak of what follows.
reset_peak() {
	local p
	for p in $(process_tree "$1"); do
		echo 5 >/proc/"$p"/clear_refs 2>/dev/null || true
	done
}

# sample_server PID OUT: until sent SIGTERM, reads every 0.1 s the processes of
# PID's tree and writes to OUT "PEAK_KIB CPU_TICKS": the largest sum of their
# VmHWM so far, and the CPU time (user+system) they used since the first
# reading; a last reading is taken on SIGTERM. Processes that fork and exit
# during the load (vsftpd's sessions) count while they live: their parent
# does not reap them into its own CPU time, and VmHWM only grows, so a late
# reading is their peak. What a process does in its last 0.1 s is missed.
sample_server() {
	sample_root=$1 sample_out=$2 sample_peak=0 sample_first=1
	declare -gA sample_base=() sample_last=()
	trap '_sample; exit 0' TERM
	while :; do
		_sample
		sleep 0.1
	done
}

# _sample: one reading of sample_server, in its globals.
_sample() {
	local p key value line fields hwm=0 ticks cpu=0
	for p in $(process_tree "$sample_root"); do
		read -r line 2>/dev/null <"/proc/$p/stat" || continue
		read -r -a fields <<<"${line##*) }"
		ticks=$((fields[11] + fields[12]))
		if [ -z "${sample_base[$p]+set}" ]; then
			# Present at the first reading: count from now; born later: count all.
			sample_base[$p]=$((sample_first ? ticks : 0))
		fi
		sample_last[$p]=$ticks
		while read -r key value _; do
			if [ "$key" = "VmHWM:" ]; then
				hwm=$((hwm + value))
				break
			fi
		done 2>/dev/null <"/proc/$p/status" || true
	done
	sample_first=0
	[ "$hwm" -le "$sample_peak" ] || sample_peak=$hwm
	for p in "${!sample_last[@]}"; do
		cpu=$((cpu + sample_last[$p] - sample_base[$p]))
	done
	echo "$sample_peak $cpu" >"$sample_out.new"
	mv -f "$sample_out.new" "$sample_out"
}

# rss_kib PID: the resident memory of PID's processes together (VmRSS), KiB.
rss_kib() {
	local p key value sum=0
	for p in $(process_tree "$1"); do
		while read -r key value _; do
			if [ "$key" = "VmRSS:" ]; then
				sum=$((sum + value))
				break
			fi
		done 2>/dev/null <"/proc/$p/status" || true
	done
	echo "$sum"
}

# median: the median of the numbers on stdin (the mean of the middle two when even).
median() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "nan"; exit }
		if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# tree_cpu_ticks PID: CPU time used by PID and its descendants, including the
# children they have reaped (utime+stime+cutime+cstime), in clock ticks.
tree_cpu_ticks() {
	local stats=() p
	for p in $(process_tree "$1"); do
		stats+=("/proc/$p/stat")
	done
	# getline, not awk's own reading: a process may end before its file is opened.
	awk 'BEGIN {
		for (i = 1; i < ARGC; i++) {
			if ((getline line <ARGV[i]) > 0) {
				sub(/^.*\) /, "", line)
				split(line, f, " ")
				sum += f[12] + f[13] + f[14] + f[15]
			}
			close(ARGV[i])
		}
		printf "%d\n", sum }' "${stats[@]}"
}

# system_cpu_ticks: "processes interrupts steal", clock ticks of all CPUs since boot,
# from /proc/stat: time in processes (user, nice, system), in interrupts (irq,
# softirq: here mostly the loopback traffic, charged to no process), and time
# the hypervisor took.
system_cpu_ticks() {
	awk '$1 == "cpu" { print $2 + $3 + $4, $7 + $8, $9; exit }' /proc/stat
}

# others_busy_percent: how busy the CPUs were over the next 2 seconds with work
# other than this script's processes, in percent of all CPUs.
others_busy_percent() {
	local busy0 busy1 ours0 ours1
	read -r busy0 _ _ < <(system_cpu_ticks)
	ours0=$(tree_cpu_ticks $$)
	sleep 2
	read -r busy1 _ _ < <(system_cpu_ticks)
	ours1=$(tree_cpu_ticks $$)
	awk -v b=$((busy1 - busy0)) -v o=$((ours1 - ours0)) -v hz="$(getconf CLK_TCK)" -v cpus="$(nproc)" \
		'BEGIN { p = 100 * (b - o) / (2 * hz * cpus); printf "%d\n", p < 0 ? 0 : (p > 100 ? 100 : p) }'
}

# cpu_snapshot: one line per process: pid, CPU seconds used so far (user+system), name.
cpu_snapshot() {
	local hz
	hz=$(getconf CLK_TCK)
	awk -v hz="$hz" 'BEGIN {
		for (i = 1; i < ARGC; i++) {
			if ((getline line <ARGV[i]) <= 0) continue
			close(ARGV[i])
			close_paren = match(line, /\) [A-Z] /)
			if (!close_paren) continue
			name = substr(line, index(line, "(") + 1, close_paren - index(line, "(") - 1)
			split(substr(line, close_paren + 2), f, " ")
			split(line, pid, " ")
			printf "%s %.2f %s\n", pid[1], (f[12] + f[13]) / hz, name
		}
	}' /proc/[0-9]*/stat
}

# busiest_others BEFORE AFTER EXCLUDED...: the three processes, other than the
# EXCLUDED pids, that used the most CPU between two cpu_snapshot files.
busiest_others() {
	local before=$1 after=$2
	shift 2
	awk -v excluded=" $* " 'NR == FNR { was[$1] = $2; next }
		index(excluded, " " $1 " ") == 0 {
			used = $2 - ($1 in was ? was[$1] : 0)
			if (used >= 0.5) printf "%.1f s %s (pid %s)\n", used, $3, $1 }' "$before" "$after" |
		sort -rg | head -n 3 | paste -sd ';' | sed 's/;/; /g'
}

# installed PKG: whether the Debian package PKG is installed.
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# apt_install PKG...: apt-get update, then installs the packages without
# letting a packaged service start (a policy-rc.d for the time of the
# install, unless one is there already): the benchmarks run their own servers.
apt_install() {
	say "bench: installing $*"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	local guard="" rc=0
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		guard=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\n# kickstand bench: no service starts during its install\nexit 101\n' >"$guard"
		chmod 755 "$guard"
	fi
	apt-get install -y -qq --no-install-recommends "$@" >/dev/null || rc=$?
	[ -z "$guard" ] || rm -f "$guard"
	[ $rc -eq 0 ] || die "apt-get install $*"
}

# wait_for_quiet SECONDS: waits up to SECONDS for other work to leave the CPUs
# (below 10 % busy elsewhere); two CPUs are shared by the servers, the
# clients and the kernel, so other work moves the numbers. Sets busy.
wait_for_quiet() {
	local limit=$1 waited=0
	while busy=$(others_busy_percent) && [ "$busy" -ge 10 ] && [ "$waited" -lt "$limit" ]; do
		[ "$waited" -gt 0 ] || say "bench: other processes keep ${busy}% of the CPUs busy; waiting up to $limit s for them to finish"
		sleep 3
		waited=$((waited + 5))
	done
	[ "$busy" -lt 10 ] || say "bench: measuring anyway, with ${busy}% of the CPUs busy elsewhere"
}

# measure_start DIR: notes the load, every process's CPU time (DIR/cpu.before)
# and the CPUs' time before measuring, for measure_end.
# shellcheck disable=SC2034 # globals the scripts' reports read
measure_start() {
	load_before=$(cut -d' ' -f1-3 /proc/loadavg)
	cpu_snapshot >"$1/cpu.before"
	read -r busy_before irq_before steal_before < <(system_cpu_ticks)
	ours_before=$(tree_cpu_ticks $$)
	clock_before=$(date +%s.%N)
}

# measure_end DIR IRQ_NOTE: what else ran while measuring: sets load_after,
# others (the busiest other processes), cpu_use (a sentence; IRQ_NOTE says
# what the interrupts were) and other_share (the percent other processes took).
# shellcheck disable=SC2034 # globals the scripts' reports read
measure_end() {
	local dir=$1 irq_note=$2 clock_after ours_after busy_after irq_after steal_after ours
	clock_after=$(date +%s.%N)
	ours_after=$(tree_cpu_ticks $$)
	read -r busy_after irq_after steal_after < <(system_cpu_ticks)
	load_after=$(cut -d' ' -f1-3 /proc/loadavg)
	cpu_snapshot >"$dir/cpu.after"
	mapfile -t ours < <(process_tree $$)
	others=$(busiest_others "$dir/cpu.before" "$dir/cpu.after" "${ours[@]}")
	cpu_use=$(awk -v hz="$(getconf CLK_TCK)" -v cpus="$(nproc)" -v wall="$(awk -v a="$clock_before" -v b="$clock_after" 'BEGIN { print b - a }')" \
		-v busy=$((busy_after - busy_before)) -v irq=$((irq_after - irq_before)) -v steal=$((steal_after - steal_before)) \
		-v ours=$((ours_after - ours_before)) -v note="$irq_note" 'BEGIN {
		avail = wall * cpus; other = (busy - ours) / hz; if (other < 0) other = 0
		printf "of %.0f CPU-seconds, the benchmark'"'"'s processes used %.0f, interrupts%s %.0f, other processes %.0f (%.0f%%), the hypervisor %.0f",
			avail, ours / hz, note, irq / hz, other, 100 * other / avail, steal / hz }')
	other_share=$(sed -E 's/.*\(([0-9]+)%\).*/\1/' <<<"$cpu_use")
}

# machine_line: the "machine:" line of a report: CPUs, memory, kernel.
machine_line() {
	echo "machine: $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r)"
}

# measured_lines: what else ran while measuring (from measure_end), and a
# warning when other processes took 10 % of the CPU or more.
measured_lines() {
	echo "load average before/after measuring: $load_before / $load_after"
	echo "CPU while measuring: $cpu_use"
	echo "busiest other processes (CPU seconds while measuring): ${others:-none}"
	[ "$other_share" -lt 10 ] ||
		echo "WARNING: other processes took ${other_share}% of the CPU while measuring: the numbers are noisy; rerun on a quiet machine"
}

# save_results FILE NAME=PATH...: prints the report read from stdin and saves
# it to FILE, each PATH after it under a "--- NAME" heading.
save_results() {
	local results=$1 part
	shift
	tee "$results.table"
	{
		cat "$results.table"
		for part in "$@"; do
			echo
			echo "--- ${part%%=*}"
			cat "${part#*=}"
		done
	} >"$results"
	rm -f "$results.table"
}

# write_treeinfo DIR: the .treeinfo and .discinfo of a Rocky 9.6 x86_64 tree
# whose kernel, initrd and stage2 are images/pxeboot/vmlinuz,
# images/pxeboot/initrd.img and images/install.img.
write_treeinfo() {
	cat >"$1/.treeinfo" <<'EOF'
[header]
type = productmd.treeinfo
version = 1.2

[release]
name = Rocky Linux
short = Rocky
version = 9.6

[tree]
arch = x86_64
platforms = x86_64

[images-x86_64]
kernel = images/pxeboot/vmlinuz
initrd = images/pxeboot/initrd.img

[stage2]
mainimage = images/install.img
EOF
	printf '1700000000.000000\n9.6\nx86_64\n' >"$1/.discinfo"
}
