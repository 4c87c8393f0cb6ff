#!/usr/bin/env bash
# Model check of the ring + doorbell + sleep/wake protocol:
# stack/model/ring_wakeup.pml (the protocol of stack/conn.c) with spin.
#   simplex-safety      a writer, a reader: no assertion violation (EOF never
#                       overtakes data), no invalid end state (no deadlock)
#   simplex-liveness    LTL "consumed" under weak fairness: a published record
#                       is eventually consumed
#   mutant-no-recheck   sanity: the classic lost wake-up must be found
#   shared-safety       the server end has a reader and a writer thread on one
#   shared-liveness     fd (both wait, both drain): as above
#   mutant-check-peer   sanity: the doorbell theft of FINDINGS F9 must be found
#   pollers-safety      the poll/epoll front-ends (every waiter sleeps in the
#                       kernel and drains): SHARED with the lone waiter's drain
#   mutant-no-lone      sanity: without it a later waiter's drain takes the
#                       doorbell the first one is about to sleep on (F20)
#   board-thief-liveness  the reader is an epoll set on a news board
#                       (stack/board.h) and a poll() thread of its process
#                       drains the doorbells: every record consumed
#   mutant-no-board-ring  sanity: a post that never rings a sleeping set is found
#   mutant-no-kick      sanity: a drain that does not kick the set is found
#   board-late-safety   the connection joins the set (the set takes its
#   board-late-liveness board) while the set's thread may sleep already
#                       (apache's listener thread): no record is left posted
#                       with the set asleep
#   mutant-uncounted-sleeper  sanity: a board taken without counting the
#                       set's sleepers on it is found (compat_apache2's hang)
# SOAK=1 adds the pollers' liveness, the board's other checks, bigger SHARED
# runs and DUPLEX (a reader and a writer thread on both ends; minutes and
# several GB).
# shellcheck source=test/fault/lib_fault.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_fault.sh"
need_prog spin gcc
MODEL=$SOURCE_DIR/stack/model/ring_wakeup.pml
[[ -f $MODEL ]] || fail "$MODEL missing"
W=$(mktemp -d /tmp/xio-pml.XXXXXX)
trap 'rm -rf "$W"' EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
# no xio_test_init here (no manager): the guard alone, so that a SIGKILL at
# the ctest TIMEOUT leaves no $W behind and a SIGTERM comes first
WORK=$W
start_guard
cp "$MODEL" "$W/"
cd "$W"

failures=0
results=()

# check NAME EXPECT(pass|fail) MODE(safety|liveness) SPIN_DEFINES...
check() {
	local name=$1 expect=$2 mode=$3 t0 errs out
	shift 3
	t0=$(now_ms)
	rm -f ./*.trail pan pan.*
	spin "$@" -a ring_wakeup.pml >spin.log 2>&1 || {
		cat spin.log
		fail "$name: spin -a failed"
	}
	if [[ $mode == safety ]]; then
		gcc -O2 -w -DSAFETY -DNOCLAIM ${PAN_CFLAGS:-} -o pan pan.c || fail "$name: cannot compile pan"
		out=$(./pan -m2000000 2>&1) || true
	else
		gcc -O2 -w ${PAN_CFLAGS:-} -o pan pan.c || fail "$name: cannot compile pan"
		out=$(./pan -a -f -m2000000 2>&1) || true
	fi
	errs=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' <<<"$out" | head -n 1)
	if [[ -z $errs ]]; then
		echo "$out" | tail -n 20
		fail "$name: pan did not finish (no error count)"
	fi
	local states
	states=$(awk '/states, stored/ { print $1; exit }' <<<"$out")
	local what="$errs error(s), $states states, $(($(now_ms) - t0)) ms"
	if [[ $out == *"max search depth too small"* ]]; then
		what+=", DEPTH LIMIT HIT"
	fi
	if { [[ $expect == pass ]] && ((errs == 0)); } || { [[ $expect == fail ]] && ((errs > 0)); }; then
		log "$name: ok ($what)"
		results+=("$name: ok")
		return 0
	fi
	failures=$((failures + 1))
	results+=("$name: FAILED ($what)")
	echo "FAIL [$TEST_NAME] $name: expected $expect, got $what" >&2
	echo "$out" | grep -E "pan:|assertion|invalid end|acceptance" >&2
	if compgen -G "*.trail" >/dev/null; then
		# the counter-example: every step, then the globals where it ends or cycles
		spin "$@" -t -p -g -l ring_wakeup.pml >trail.txt 2>&1 || true
		echo "---- counter-example (spin $* -t -p -g -l), last 80 lines:" >&2
		grep -vE "^\s*$" trail.txt | tail -n 80 >&2
	fi
	return 1
}

check simplex-safety pass safety -DN=4 -DCAP=3 || true
check simplex-liveness pass liveness -DN=4 -DCAP=3 || true
check mutant-no-recheck fail safety -DMUTANT_NO_RECHECK -DN=2 -DCAP=1 || true
check shared-safety pass safety -DSHARED -DN=2 -DCAP=1 || true
check shared-liveness pass liveness -DSHARED -DN=2 -DCAP=1 || true
check mutant-check-peer fail liveness -DSHARED -DMUTANT_CHECK_PEER -DN=2 -DCAP=1 || true
# ~10M and ~6M states, about 30 s each: COLLAPSE keeps them under 1 GB
PAN_CFLAGS=-DCOLLAPSE check pollers-safety pass safety -DSHARED -DPOLLERS -DN=2 -DCAP=1 || true
PAN_CFLAGS=-DCOLLAPSE check mutant-no-lone fail safety -DSHARED -DPOLLERS -DMUTANT_NO_LONE -DN=2 -DCAP=1 || true
check board-thief-liveness pass liveness -DBOARD -DTHIEF -DN=2 -DCAP=1 || true
check mutant-no-board-ring fail safety -DBOARD -DMUTANT_NO_BOARD_RING -DN=2 -DCAP=1 || true
check mutant-no-kick fail liveness -DBOARD -DTHIEF -DMUTANT_NO_KICK -DN=2 -DCAP=1 || true
check board-late-safety pass safety -DBOARD -DLATE_BOARD -DN=2 -DCAP=1 || true
check board-late-liveness pass liveness -DBOARD -DLATE_BOARD -DN=2 -DCAP=1 || true
check mutant-uncounted-sleeper fail safety -DBOARD -DLATE_BOARD -DMUTANT_UNCOUNTED_SLEEPER -DN=2 -DCAP=1 || true
if [[ $SOAK == 1 ]]; then
	PAN_CFLAGS=-DCOLLAPSE
	check shared-safety-3x2 pass safety -DSHARED -DN=3 -DCAP=2 || true
	check shared-liveness-3x2 pass liveness -DSHARED -DN=3 -DCAP=2 || true
	check duplex-safety pass safety -DDUPLEX -DN=2 -DCAP=1 || true
	check duplex-liveness pass liveness -DDUPLEX -DN=2 -DCAP=1 || true
	check pollers-liveness pass liveness -DSHARED -DPOLLERS -DN=2 -DCAP=1 || true
	check board-safety pass safety -DBOARD -DN=4 -DCAP=3 || true
	check board-liveness pass liveness -DBOARD -DN=4 -DCAP=3 || true
	check board-thief-safety pass safety -DBOARD -DTHIEF -DN=2 -DCAP=1 || true
fi

log "summary:"
for r in "${results[@]}"; do log "  $r"; done
((failures == 0)) || fail "$failures model check(s) failed"
figure wakeup_model "${#results[@]} spin model checks of the ring + doorbell + sleep protocol passed ($(printf '%s\n' "${results[@]}" | sed 's/:.*//' | paste -sd, - | sed 's/,/, /g'))"
log "PASS"
