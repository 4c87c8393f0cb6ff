#!/usr/bin/env bash
# apache2 as Debian ships it (mpm_event, the default AcceptFilter, which sets
# TCP_DEFER_ACCEPT on the listener; /etc/apache2 copied to a private
# directory, only the port, the document root and the run/log directories
# changed), in the foreground (no systemd), children as www-data: the
# listener really has TCP_DEFER_ACCEPT; ab (one connection per request, then
# keepalive) and wrk against a 10 kB file complete with no failure, and X-IO
# carried the bytes (lo rx < 5 %).
# shellcheck source=test/compat/compat_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/compat_lib.sh"
need_prog apache2 ab wrk
compat_init apache2
[[ -f /etc/apache2/apache2.conf ]] || fail "/etc/apache2 missing (Debian package apache2)"

n=2000 size=10240
AP=$WORK/apache2
PORT=$(compat_port)
cp -a /etc/apache2 "$AP"
mkdir -p "$WORK/ap-run" "$WORK/ap-lock" "$WORK/ap-log" "$WORK/www"
chown www-data "$WORK/ap-lock"
head -c "$size" /dev/urandom >"$WORK/www/f.bin"
chmod 755 "$WORK/www"
chmod 644 "$WORK/www/f.bin"
sed -i "s/^Listen 80\$/Listen 127.0.0.1:$PORT/" "$AP/ports.conf"
grep -q "^Listen 127.0.0.1:$PORT\$" "$AP/ports.conf" || fail "ports.conf has no 'Listen 80' to change"
sed -i -e "s|<VirtualHost \*:80>|<VirtualHost *:$PORT>|" \
	-e "s|DocumentRoot /var/www/html|DocumentRoot $WORK/www\n\t<Directory $WORK/www>\n\t\tRequire all granted\n\t</Directory>|" \
	"$AP/sites-available/000-default.conf"
grep -q "DocumentRoot $WORK/www" "$AP/sites-available/000-default.conf" ||
	fail "000-default.conf has no DocumentRoot to change"
[[ -e $AP/mods-enabled/mpm_event.load ]] || fail "Debian's default mpm_event is not enabled"
grep -rqi '^\s*AcceptFilter' "$AP" && fail "the configuration sets AcceptFilter: not Debian's default"
AENV=(env APACHE_CONFDIR="$AP" APACHE_RUN_USER=www-data APACHE_RUN_GROUP=www-data
	APACHE_PID_FILE="$WORK/ap-run/apache2.pid" APACHE_RUN_DIR="$WORK/ap-run"
	APACHE_LOCK_DIR="$WORK/ap-lock" APACHE_LOG_DIR="$WORK/ap-log" LANG=C)
"${AENV[@]}" apache2 -d "$AP" -t >"$WORK/configtest.log" 2>&1 ||
	fail "apache2 -t: $(tr '\n' ' ' <"$WORK/configtest.log")"
"${AENV[@]}" "${XRUN[@]}" apache2 -d "$AP" -DFOREGROUND >"$WORK/apache2.log" 2>&1 &
APID=$!
compat_track "$APID"
compat_log "$WORK/ap-log/error.log"
wait_port "$PORT" 15 "$APID"
defer=$(listener_defer "$APID" "$PORT")
log "apache2 $APID on 127.0.0.1:$PORT, children: $(pgrep -d ' ' -P "$APID"); TCP_DEFER_ACCEPT $defer"
((defer > 0)) || fail "apache2's listener has no TCP_DEFER_ACCEPT (AcceptFilter http data)"
for c in $(pgrep -P "$APID"); do
	[[ $(ps -o user= -p "$c" | tr -d ' ') == www-data ]] || fail "apache2 child $c does not run as www-data"
done

# ab_run MODE ARGS...: n requests for f.bin, all complete, body carried
ab_run() {
	local mode=$1 html
	shift
	compat_mode apache2 "$mode"
	ab_measured "$n" "http://127.0.0.1:$PORT/f.bin" "$@"
	proc_alive "$APID" || fail "apache2 died"
	html=$AB_HTML
	((html == n * size)) || fail "ab received $html body bytes, want $((n * size))"
	carried "apache2 -> ab ($mode)" "$html"
	compat_pass "$n requests of 10 kB, $(human_bytes "$html") carried by X-IO"
}
ab_run "Debian default (mpm_event, AcceptFilter), ab, both X-IO"
ab_run "Debian default (mpm_event, AcceptFilter), ab -k, both X-IO" -k

compat_mode apache2 "Debian default (mpm_event, AcceptFilter), wrk, both X-IO"
wrk_measured 3s "http://127.0.0.1:$PORT/f.bin"
proc_alive "$APID" || fail "apache2 died"
carried "apache2 -> wrk" $((WRK_REQS * size))
compat_pass "$WRK_REQS requests, $(human_bytes $((WRK_REQS * size))) carried by X-IO"
