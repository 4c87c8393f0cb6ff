#!/usr/bin/env bash
# grow_corpus.sh FUZZ_BUILD_DIR WORKDIR SECONDS NAME...: long libFuzzer runs
# (issue 14, item 4) that grow the committed corpus test/fuzz/corpus/NAME.
# Each harness runs at nice 19, all of them at once, for SECONDS of wall
# time from its scratch corpus WORKDIR/NAME/corpus (kept across calls, so
# several runs add up) and the committed corpus; crash artifacts go to
# WORKDIR/NAME/art. A harness with a dictionary (test/fuzz/NAME.dict) gets
# it. Each run appends its figures to WORKDIR/NAME/runs.tsv: date, commit,
# wall s, CPU s (user+sys), executions, edges, features, corpus size, exit
# status. Nothing in the tree changes; afterwards
#   test/fuzz/grow_corpus.sh --merge FUZZ_BUILD_DIR WORKDIR NAME...
# minimizes the scratch corpus into test/fuzz/corpus/NAME (libFuzzer
# -merge=1: only inputs that add coverage to what is there are added), and
#   test/fuzz/grow_corpus.sh --figures WORKDIR NAME...
# prints each harness's totals over all its runs (one line each, as
# test/soak-results.md quotes them): wall and CPU time, executions, the last
# run's coverage, the committed corpus, and the runs that ended in a crash.
# Needs a clang build (CC=clang cmake -S . -B build-fuzz -DBUILD_TESTING=ON).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ ${1:-} == --merge ]]; then
	shift
	build=$1 work=$2
	shift 2
	for name in "$@"; do
		bin=$build/test/fuzz/fuzz_$name
		before=$(find "$here/corpus/$name" -type f | wc -l)
		"$bin" -merge=1 -print_funcs=0 -timeout=10 -rss_limit_mb=4096 \
			"$here/corpus/$name" "$work/$name/corpus" >"$work/$name/merge.log" 2>&1 ||
			{ tail -n 20 "$work/$name/merge.log" >&2; exit 1; }
		after=$(find "$here/corpus/$name" -type f | wc -l)
		echo "$name: corpus $before -> $after files, $(du -sb "$here/corpus/$name" | cut -f1) bytes" \
			"($(grep -oE 'MERGE-OUTER: [0-9]+ new files with [0-9]+ new features' "$work/$name/merge.log" | tail -n 1))"
	done
	exit 0
fi
if [[ ${1:-} == --figures ]]; then
	work=$2
	shift 2
	for name in "$@"; do
		files=$(find "$here/corpus/$name" -type f | wc -l)
		bytes=$(find "$here/corpus/$name" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
		awk -F'\t' -v n="fuzz_$name" -v files="$files" -v bytes="$bytes" '
			{ runs++; wall += $3; cpu += $4; ex += $5; edges = $6; ft = $7
			  if ($9 != 0 && $9 != 72) crash++ }
			END { printf "%s (grown corpus): %d runs, %.0f min wall, %.0f s CPU (nice 19), %d executions, coverage %d edges, %d features (last run), corpus in the tree %d files, %d bytes (-merge=1), %d run(s) ended by a crash\n",
				n, runs, wall / 60, cpu, ex, edges, ft, files, bytes, crash }' "$work/$name/runs.tsv"
	done
	exit 0
fi
build=$1 work=$2 secs=$3
shift 3
commit=$(git -C "$here" rev-parse --short HEAD)
pids=()
for name in "$@"; do
	bin=$build/test/fuzz/fuzz_$name
	[[ -x $bin ]] || { echo "FAIL: $bin not built" >&2; exit 1; }
	mkdir -p "$work/$name/corpus" "$work/$name/art"
	dict=()
	[[ -f $here/$name.dict ]] && dict=(-dict="$here/$name.dict")
	(
		start=$(date -u +%FT%TZ)
		t0=$(date +%s)
		rc=0
		# CPU time of the fuzzer alone, from /usr/bin/time (format: user sys)
		ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
			/usr/bin/time -o "$work/$name/cpu" -f '%U %S' nice -n 19 "$bin" \
			-max_total_time="$secs" -timeout=10 -rss_limit_mb=4096 -print_funcs=0 \
			-print_final_stats=1 -artifact_prefix="$work/$name/art/" "${dict[@]}" \
			"$work/$name/corpus" "$here/corpus/$name" >"$work/$name/log.$t0" 2>&1 || rc=$?
		wall=$(($(date +%s) - t0))
		cpu=$(tail -n 1 "$work/$name/cpu" | awk '{ printf "%.0f", $1 + $2 }')
		log=$work/$name/log.$t0
		execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
		last=$(grep -oE '(DONE|pulse|NEW|REDUCE|INITED) +cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -n 1)
		edges=$(sed -E 's/.*cov: ([0-9]+).*/\1/' <<<"$last")
		ft=$(sed -E 's/.*ft: ([0-9]+).*/\1/' <<<"$last")
		corp=$(sed -E 's/.*corp: ([0-9]+).*/\1/' <<<"$last")
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$start" "$commit" "$wall" "$cpu" \
			"${execs:-?}" "${edges:-?}" "${ft:-?}" "${corp:-?}" "$rc" >>"$work/$name/runs.tsv"
		echo "$name: rc $rc, $wall s wall, $cpu s CPU, ${execs:-?} executions, ${edges:-?} edges, ${ft:-?} features, corpus ${corp:-?}"
	) &
	pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
exit $rc
