#!/usr/bin/env bash
# The benchmark suite's shared loop, end to end (benchmarks/bench.py, benchlib.py,
# one bench_<case>.py per case): `benchmarks/run --quick --only shortconn,chain`
# in this test's domain, then
#  1. it exits 0: every run succeeded and X-IO carried every X-IO run (xio-stat);
#  2. results.md has both sections, a row per point with a cell per mode, and no
#     FAILED / NOT CARRIED cell; results.json has 3 runs of each mode per point, each
#     X-IO run carried=yes with the bytes xio-stat counted;
#  3. `--report-only` rewrites the same results.md from results.json (all but the
#     Date line, which says when the report was written).
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
xio_test_init bench_harness

out=$WORK/out
rc=0
XIO_RUNDIR=$RUNDIR BUILD_DIR=$BUILD_DIR timeout -k 5 240 \
	bash "$SOURCE_DIR/benchmarks/run" --quick --only shortconn,chain --domain "$DOMAIN" \
	--out "$out" >"$WORK/bench.out" 2>"$WORK/bench.log" || rc=$?
# A failed run's block in the progress log (its FAILED line, then its command, exit
# status and stderr tail, indented: benchlib.py explain()) is all that stays of it:
# the run's raw/ files go with $WORK.
((rc == 0)) || fail "benchmarks/run exited $rc; the failed runs:
$(grep -E '^    |FAILED' "$WORK/bench.log" | tail -n 200)
the log ends: $(tail -n 5 "$WORK/bench.log")"
log "benchmarks/run: $(tail -n 1 "$WORK/bench.log")"

md=$out/results.md
grep -q '^## 3\. Short connections' "$md" || fail "no shortconn section in results.md"
grep -q '^## 10\. Service chain' "$md" || fail "no chain section in results.md"
! grep -nE '^\|.*(FAILED|NOT CARRIED|partly TCP|carriage unknown)' "$md" ||
	fail "a cell of results.md failed or was not carried"
# the rows of each table: shortconn one point (64 B), chain two (64 B, 64 KiB)
n=$(grep -c '^| 64 B | ' "$md")
((n == 2 + 4)) || fail "$n rows for 64 B in results.md, want 6 (2 shortconn + 4 chain tables)"
n=$(grep -c '^| 64 KiB | ' "$md")
((n == 4)) || fail "$n rows for 64 KiB in results.md, want 4 (the chain's tables)"

"$PY" - "$out/results.json" <<'PY' || fail "results.json does not hold what was run"
import collections, json, sys
d = json.load(open(sys.argv[1]))
runs = collections.Counter((r["case"], r["point"], r["mode"]) for r in d["records"])
want = {("shortconn", "64 B", m): 3 for m in ("tcp", "uds", "xio", "xio-spin")}
want.update({("chain", p, m): 3 for p in ("64 B", "64 KiB") for m in ("tcp", "xio", "xio-zc", "xio-zc-fixed", "xio-zc-long")})
if runs != want:
    sys.exit("runs per (case, point, mode): %s, want %s" % (dict(runs), want))
for r in d["records"]:
    if r["mode"].startswith("xio") and (r["carried"] != "yes" or r["xio"]["bytes"] <= 0):
        sys.exit("not carried: %s" % r)
    if not r["mode"].startswith("xio") and r["carried"] is not None:
        sys.exit("carriage checked for a mode X-IO does not carry: %s" % r)
PY

cp "$md" "$WORK/results-run.md"
"$PY" "$SOURCE_DIR/benchmarks/bench.py" --bench-bin "$XIO_BIN" --report-only --out "$out" \
	>/dev/null 2>"$WORK/report-only.log" || fail "--report-only failed: $(cat "$WORK/report-only.log")"
diff <(grep -v '^- Date: ' "$WORK/results-run.md") <(grep -v '^- Date: ' "$md") >&2 ||
	fail "--report-only wrote another results.md"
log "OK: shortconn and chain measured and carried; --report-only reproduces results.md"
