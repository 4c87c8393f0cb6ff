#!/usr/bin/env bash
# run_fuzz.sh HARNESS SEED_CORPUS: a short libFuzzer run (XIO_FUZZ_SECONDS)
# from the seed corpus, or, without libFuzzer, a replay of the corpus.
# New inputs and crash artifacts go to a scratch directory; a crash prints
# the input in hex so that it can be added to the corpus after the fix.
set -euo pipefail
bin=$1 seed=$2
[[ -x $bin ]] || { echo "FAIL: $bin not built" >&2; exit 1; }
[[ -d $seed ]] || { echo "FAIL: no seed corpus $seed" >&2; exit 1; }
if [[ ${XIO_FUZZ_LIBFUZZER:-OFF} != ON ]]; then
	echo "built without libFuzzer (not clang): replaying the corpus"
	exec "$bin" "$seed"
fi
scratch=$(mktemp -d /tmp/xio-fuzz.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
mkdir "$scratch/corpus" "$scratch/art"
rc=0
# the harness's dictionary (test/fuzz/NAME.dict for fuzz_NAME), if it has one
dict=()
d=$(dirname "${BASH_SOURCE[0]}")/$(basename "$bin" | sed 's/^fuzz_//').dict
[[ -f $d ]] && dict=(-dict="$d")
# -print_funcs=0: naming a newly covered function starts the sanitizer's
# symbolizer, whose two pipes stay open and looked like a leak to fuzz_ctl's
# descriptor count (seen once in CI). A crash is still symbolized.
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
	"$bin" -max_total_time="${XIO_FUZZ_SECONDS:-20}" -timeout=10 -rss_limit_mb=4096 -print_funcs=0 \
	-print_final_stats=1 -artifact_prefix="$scratch/art/" "${dict[@]}" "$scratch/corpus" "$seed" 2>&1 |
	tee "$scratch/log" | grep -vE '^#[0-9]+\s+(NEW|REDUCE|pulse)' || rc=${PIPESTATUS[0]}
if ((rc != 0)); then
	for f in "$scratch"/art/*; do
		[[ -e $f ]] || continue
		echo "---- $f ($(stat -c %s "$f") bytes):"
		od -A d -t x1 "$f" | head -n 40
	done
	echo "FAIL: $(basename "$bin") found a crash, leak or timeout (exit $rc)" >&2
	exit 1
fi
new=$(find "$scratch/corpus" -type f | wc -l)
echo "$(basename "$bin"): no crash in ${XIO_FUZZ_SECONDS:-20} s ($new new inputs)"
# The figure test/soak publishes (test/fault/lib_fault.sh, figure).
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$scratch/log" | tail -n 1)
cov=$(grep -oE '(DONE|pulse|NEW|REDUCE|INITED) +cov: [0-9]+ ft: [0-9]+' "$scratch/log" | tail -n 1 |
	sed -E 's/.*cov: ([0-9]+) ft: ([0-9]+)/\1 edges, \2 features/')
fig="$(basename "$bin"): ${XIO_FUZZ_SECONDS:-20} s of libFuzzer (ASan+UBSan), ${execs:-?} executions, coverage ${cov:-?}, $new new inputs, no crash, leak or timeout"
echo "SOAK-FIGURE: $fig"
if [[ -n ${XIO_SOAK_FIGURES:-} ]]; then
	printf '%s\t%s\n' "${TEST_NAME:-$(basename "$bin")}" "$fig" >>"$XIO_SOAK_FIGURES"
fi
