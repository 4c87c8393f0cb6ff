# shellcheck shell=bash
# Starting and stopping the servers that several suites run: nginx (master as
# root, workers as nobody) and redis-server. Sourced, after
# test/integration/lib.sh, by test/compat/compat_lib.sh (whose nginx_conf,
# nginx_start and redis_start wrap these) and by the fault tests that run
# them (test/fault/mixed.sh, test/fault/priv_drop_restart.sh).
#
#   SRV_TRACK                 name of a function called with the pid of each
#                             server process started here (nginx's master and
#                             workers, redis-server): the caller's list of
#                             what to end on exit. Default: none (:).
#   srv_nginx_conf DIR PORT WORKERS ERROR_LEVEL ACCESS NOPUSH
#   srv_nginx_start DIR PORT WORKERS RUNNER...
#   srv_redis_start PORT RUNNER...
#   srv_stop PID...           SIGTERM to each and its descendants, up to 3 s,
#                             then SIGKILL to what is left

SRV_TRACK=${SRV_TRACK:-:}

# srv_nginx_conf DIR PORT WORKERS ERROR_LEVEL ACCESS NOPUSH: an nginx prefix in
# DIR (master as root, WORKERS workers as nobody, sendfile, keepalive) serving
# DIR/www on 127.0.0.1:PORT, its error log at ERROR_LEVEL. ACCESS "sz": the
# access log DIR/logs/access.log has one line per request "status
# body_bytes_sent"; "off": no access log. NOPUSH: tcp_nopush on or off.
srv_nginx_conf() {
	local dir=$1 port=$2 workers=$3 level=$4 access=$5 nopush=$6 fmt='' acc nop=''
	mkdir -p "$dir/www" "$dir/logs" "$dir/tmp"
	chmod 755 "$dir" "$dir/www"
	chown nobody "$dir/tmp"
	[[ $nopush == on ]] && nop=$'\n    tcp_nopush on;'
	if [[ $access == sz ]]; then
		fmt=$'\n    log_format sz \'$status $body_bytes_sent\';'
		acc="access_log $dir/logs/access.log sz;"
	else
		acc="access_log off;"
	fi
	cat >"$dir/nginx.conf" <<NGX
daemon off;
master_process on;
worker_processes $workers;
user nobody nogroup;
pid $dir/nginx.pid;
error_log $dir/logs/error.log $level;
events { worker_connections 1024; }
http {
    sendfile on;$nop
    keepalive_timeout 65;
    keepalive_requests 100000;
    default_type application/octet-stream;$fmt
    $acc
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    server {
        listen 127.0.0.1:$port;
        root $dir/www;
    }
}
NGX
}

# srv_nginx_start DIR PORT WORKERS RUNNER...: start nginx (master in the
# foreground of a background job) with the given runner array; waits for the
# port and for WORKERS workers, which must run as nobody. Sets NGINX_PID and
# NGINX_WORKERS (an array); output in $WORK/nginx.log.
NGINX_PID='' NGINX_WORKERS=()
srv_nginx_start() {
	local dir=$1 port=$2 want=$3 i n=0 w
	shift 3
	"$@" nginx -p "$dir" -e "$dir/logs/error.log" -c "$dir/nginx.conf" >"$WORK/nginx.log" 2>&1 &
	NGINX_PID=$!
	"$SRV_TRACK" "$NGINX_PID"
	wait_port "$port" 15 "$NGINX_PID"
	for ((i = 0; i < 500; i++)); do
		n=$(pgrep -c -P "$NGINX_PID" 2>/dev/null || true)
		((n >= want)) && break
		sleep 0.01
	done
	((n >= want)) || fail "nginx master $NGINX_PID has $n workers, want $want"
	mapfile -t NGINX_WORKERS < <(pgrep -P "$NGINX_PID")
	# workers really dropped privileges; their titles hide their environment
	# (lib.sh's tag-based cleanup cannot find them): tracked by pid
	for w in "${NGINX_WORKERS[@]}"; do
		[[ $(ps -o user= -p "$w" | tr -d ' ') == nobody ]] || fail "nginx worker $w does not run as nobody"
		"$SRV_TRACK" "$w"
	done
}

# srv_redis_start PORT RUNNER...: redis-server on 127.0.0.1:PORT, no
# persistence unless asked, data dir $WORK/redis, log $WORK/redis.log, output
# appended to $WORK/redis-server.out, extra arguments from the array
# REDIS_EXTRA; sets REDIS_PID once the port listens.
REDIS_PID='' REDIS_EXTRA=()
srv_redis_start() {
	local port=$1
	shift
	mkdir -p "$WORK/redis"
	"$@" redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
		--daemonize no --dir "$WORK/redis" --dbfilename d.rdb --logfile "$WORK/redis.log" \
		"${REDIS_EXTRA[@]}" >>"$WORK/redis-server.out" 2>&1 &
	REDIS_PID=$!
	"$SRV_TRACK" "$REDIS_PID"
	wait_port "$port" 15 "$REDIS_PID"
}

# _srv_descendants PID...: every descendant of the PIDs, one a line.
_srv_descendants() {
	local p c
	for p in "$@"; do
		for c in $(pgrep -P "$p" 2>/dev/null); do
			echo "$c"
			_srv_descendants "$c"
		done
	done
}

# srv_stop PID...: SIGTERM to the PIDs and their descendants, wait up to 3 s,
# SIGKILL to what is left. Never fails.
srv_stop() {
	(($#)) || return 0
	local all=() p i alive
	mapfile -t all < <(printf '%s\n' "$@"; _srv_descendants "$@")
	kill -TERM "${all[@]}" 2>/dev/null || true
	for ((i = 0; i < 150; i++)); do
		alive=0
		for p in "${all[@]}"; do proc_alive "$p" && alive=1; done
		((alive)) || break
		sleep 0.02
	done
	for p in "${all[@]}"; do proc_alive "$p" && kill -KILL "$p" 2>/dev/null; done
	return 0
}
