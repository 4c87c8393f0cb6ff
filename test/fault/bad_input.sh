#!/usr/bin/env bash
# Malformed environment: XIO_SPIN_US=abc, XIO_DOMAIN=../../etc, an unknown
# domain, a run directory that is a file, an unreadable run directory (as an
# unprivileged user). Programs under the preload still work (over kernel TCP
# when X-IO cannot be used), print nothing at all on stderr without XIO_LOG,
# and with XIO_LOG=1 say what is wrong in at most one line per process.
# Also xio-run with a bad domain: the program runs, xio-run says one line.
# shellcheck source=test/fault/lib_fault.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_fault.sh"
fault_init bad_input

FP=$FAULT_BIN/fpeer
# ready files: the unprivileged case writes them too
mkdir -p "$WORK/u"
chmod 1777 "$WORK/u"
failures=0
results=()
bad() {
	echo "FAIL [$TEST_NAME] $1: $2" >&2
	results+=("$1: FAIL ($2)")
	failures=$((failures + 1))
}

# pair NAME CARRIED(xio|tcp) ENV... : a 1 MiB transfer with ENV added to both
# ends (LD_PRELOAD, no xio-run), without and then with XIO_LOG=1.
pair() {
	local name=$1 want=$2 port spid cpid log x0 l0 xd ld
	shift 2
	for log in 0 1; do
		port=$(free_port)
		rm -f "$WORK/u/b.ready"
		local envs=(env)
		((log)) || envs+=(-u XIO_LOG)
		envs+=(XIO_TEST_TAG="$TAG" LD_PRELOAD="$PRELOAD" XIO_DOMAIN="$DOMAIN" XIO_RUNDIR="$RUNDIR" "$@")
		((log == 0)) || envs+=(XIO_LOG=1)
		x0=$(xio_bytes)
		l0=$(lo_bytes)
		"${envs[@]}" "${RUN_AS[@]}" "$FP" server 127.0.0.1 "$port" --recv 1M --ready "$WORK/u/b.ready" \
			>"$WORK/$name.s.out" 2>"$WORK/$name.s.err" &
		spid=$!
		wait_file "$WORK/u/b.ready" 5000
		"${envs[@]}" "${RUN_AS[@]}" "$FP" client 127.0.0.1 "$port" --send 1M --recv 0 \
			>"$WORK/$name.c.out" 2>"$WORK/$name.c.err" &
		cpid=$!
		wait_exit "$cpid" 10000 >/dev/null || bad "$name" "client hangs"
		wait_exit "$spid" 10000 >/dev/null || bad "$name" "server hangs"
		reap "$cpid"
		local rcc=$REAP_RC
		reap "$spid"
		local rcs=$REAP_RC
		xd=$(($(xio_bytes) - x0))
		ld=$(($(lo_bytes) - l0))
		if ((rcc != 0 || rcs != 0)); then
			bad "$name" "transfer failed (XIO_LOG=$log): client $rcc $(cat "$WORK/$name.c.err"), server $rcs $(cat "$WORK/$name.s.err")"
			return
		fi
		if [[ $want == xio ]] && ((xd < 1 << 20)); then
			bad "$name" "expected X-IO, xio-stat bytes +$xd"
			return
		fi
		if [[ $want == tcp ]] && ((ld < 1 << 20 || xd != 0)); then
			bad "$name" "expected kernel TCP: lo +$ld, xio-stat +$xd"
			return
		fi
		local errs
		errs=$(cat "$WORK/$name.s.err" "$WORK/$name.c.err")
		if ((log == 0)); then
			if [[ -n $errs ]]; then
				bad "$name" "stderr not empty without XIO_LOG: $errs"
				return
			fi
		else
			log "$name with XIO_LOG=1 says: $(tr '\n' '|' <<<"$errs")"
			local k
			for k in s c; do
				if (($(grep -ciE "$PATTERN" "$WORK/$name.$k.err") > 1)); then
					bad "$name" "more than one line about it: $(cat "$WORK/$name.$k.err")"
					return
				fi
			done
			if ! grep -qiE "$PATTERN" <<<"$errs"; then
				bad "$name" "XIO_LOG=1 but no line says what is wrong (looked for /$PATTERN/): $errs"
				return
			fi
		fi
	done
	log "$name: ok ($want)"
	results+=("$name: ok")
}

RUN_AS=()
# only the variable's name: the domain's generation (random hex) and paths can hold "abc"
PATTERN='XIO_SPIN_US'
pair spin-abc xio XIO_SPIN_US=abc
PATTERN='XIO_DOMAIN|domain|\.\./\.\./etc'
pair domain-dotdot tcp XIO_DOMAIN=../../etc
PATTERN='nosuchdomain|no manager|manager'
pair domain-unknown tcp XIO_DOMAIN=nosuchdomain
echo "not a directory" >"$WORK/rundir-file"
PATTERN='rundir|run dir|XIO_RUNDIR|not a directory|manager'
pair rundir-is-file tcp XIO_RUNDIR="$WORK/rundir-file"

# unreadable run directory: needs another uid (root reads everything)
if id xiotest >/dev/null 2>&1 || useradd -M -s /usr/sbin/nologin xiotest 2>/dev/null; then
	mkdir -p "$WORK/locked/$DOMAIN"
	chmod 000 "$WORK/locked"
	RUN_AS=(setpriv --reuid xiotest --regid xiotest --clear-groups)
	PATTERN='rundir|run dir|XIO_RUNDIR|denied|manager'
	pair rundir-unreadable tcp XIO_RUNDIR="$WORK/locked"
	RUN_AS=()
	chmod 755 "$WORK/locked"
else
	log "rundir-unreadable: skipped (cannot create user xiotest)"
fi

# xio-run with a bad domain: the program runs; xio-run says at most one line
out=$(env XIO_TEST_TAG="$TAG" XIO_RUNDIR="$RUNDIR" "$XIO_BIN/xio-run" --domain ../../etc sh -c 'echo ran' 2>"$WORK/xrun.err") ||
	bad xio-run-bad-domain "exit $?: $(cat "$WORK/xrun.err")"
[[ $out == ran ]] || bad xio-run-bad-domain "the program did not run: $out"
(($(wc -l <"$WORK/xrun.err") <= 1)) || bad xio-run-bad-domain "more than one line: $(cat "$WORK/xrun.err")"
log "xio-run --domain ../../etc: stderr '$(cat "$WORK/xrun.err")'"

log "summary:"
for r in "${results[@]}"; do log "  $r"; done
((failures == 0)) || fail "$failures case(s) failed"
log "PASS"
