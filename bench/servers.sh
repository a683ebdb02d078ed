# shellcheck shell=bash disable=SC2154 # work, STARTED: set by run.sh
# The three servers of bench/run.sh, each started in the foreground as a child
# of the benchmark, on 127.0.0.1 only, with its configuration and logs in
# $work. Sourced, never run. Each start_* sets the server's *_PID.

# start_nginx ROOT PORT: nginx serving ROOT with sendfile and tcp_nopush on.
start_nginx() {
	local root=$1 port=$2 dir="$work/nginx" user=www-data
	id -u "$user" >/dev/null 2>&1 || user=nobody
	mkdir -p "$dir/logs" "$dir/tmp"
	cat >"$dir/nginx.conf" <<EOF
daemon off;
user $user;
worker_processes $(nproc);
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;

events {
    worker_connections 1024;
}

http {
    sendfile on;
    tcp_nopush on;
    access_log off;
    default_type application/octet-stream;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;

    server {
        listen 127.0.0.1:$port;
        root $root;
    }
}
EOF
	nginx -t -q -e "$dir/logs/error.log" -p "$dir" -c "$dir/nginx.conf" ||
		die "nginx rejected its configuration $dir/nginx.conf"
	nginx -e "$dir/logs/error.log" -p "$dir" -c "$dir/nginx.conf" >"$dir/logs/stdout.log" 2>&1 &
	NGINX_PID=$!
	STARTED+=("$NGINX_PID")
	wait_tcp "$port" "$NGINX_PID" nginx || { cat "$dir/logs/"*.log >&2; die "nginx did not start"; }
}

# start_vsftpd ROOT PORT PASV_FIRST PASV_LAST: vsftpd, anonymous and read-only, rooted at ROOT.
start_vsftpd() {
	local root=$1 port=$2 first=$3 last=$4 dir="$work/vsftpd"
	# vsftpd wants its config owned by the user running it and an empty,
	# unwritable directory for its sessions' chroot.
	mkdir -p "$dir/empty"
	chmod 755 "$dir" "$dir/empty"
	cat >"$dir/vsftpd.conf" <<EOF
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=$port
background=NO
anonymous_enable=YES
local_enable=NO
write_enable=NO
anon_upload_enable=NO
anon_mkdir_write_enable=NO
anon_other_write_enable=NO
no_anon_password=YES
anon_root=$root
ftp_username=ftp
hide_ids=YES
pasv_enable=YES
pasv_min_port=$first
pasv_max_port=$last
connect_from_port_20=NO
use_sendfile=YES
secure_chroot_dir=$dir/empty
seccomp_sandbox=NO
dirmessage_enable=NO
xferlog_enable=NO
max_clients=64
max_per_ip=64
EOF
	chown root:root "$dir/vsftpd.conf"
	chmod 600 "$dir/vsftpd.conf"
	vsftpd "$dir/vsftpd.conf" >"$dir/vsftpd.log" 2>&1 &
	VSFTPD_PID=$!
	STARTED+=("$VSFTPD_PID")
	wait_tcp "$port" "$VSFTPD_PID" vsftpd || { cat "$dir/vsftpd.log" >&2; die "vsftpd did not start"; }
	# vsftpd reports most configuration errors only to the first client.
	local banner
	banner=$(curl -sS --noproxy '*' --max-time 10 "ftp://127.0.0.1:$port/" 2>&1 >/dev/null) ||
		die "vsftpd does not serve $root: $banner"
}

# start_kickstand BIN ISO TREE HTTP FTP PASV TFTP: kickstand serving distro "iso"
# (imported from ISO) and distro "plain" (imported from the directory TREE).
start_kickstand() {
	local bin=$1 iso=$2 tree=$3 http=$4 ftp=$5 pasv=$6 tftp=$7 dir="$work/kickstand"
	mkdir -p "$dir/data"
	"$bin" distro import --data-dir "$dir/data" iso "$iso" >"$dir/import.log" 2>&1 ||
		{ cat "$dir/import.log" >&2; die "kickstand distro import iso $iso"; }
	"$bin" distro import --data-dir "$dir/data" plain "$tree" >>"$dir/import.log" 2>&1 ||
		{ cat "$dir/import.log" >&2; die "kickstand distro import plain $tree"; }
	"$bin" serve --data-dir "$dir/data" --interface lo --dhcp off --tftp-port "$tftp" \
		--http-port "$http" --ftp-port "$ftp" --ftp-passive-ports "$pasv" >"$dir/serve.log" 2>&1 &
	KICKSTAND_PID=$!
	STARTED+=("$KICKSTAND_PID")
	local port
	for port in "$http" "$ftp"; do
		wait_tcp "$port" "$KICKSTAND_PID" kickstand || { tail -n 40 "$dir/serve.log" >&2; die "kickstand did not start"; }
	done
}
