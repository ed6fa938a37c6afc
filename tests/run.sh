#!/usr/bin/env bash
# Runs the test suites and prints one closing line, "N passed, N failed".
# Each suite prints "PASS: name" / "FAIL: name" per test case; a suite that
# exits non-zero without reporting a failure (a crash, a sanitizer report,
# a timeout) counts as one failed case of its own.
#
# Suites, by layer, found by glob (a new file is a new suite):
#   lint     clang-format over the sources
#   unit     tests/unit/test_*.c     (built as $BUILD/tests/test_*)
#   bpf      tests/bpf/test_*.c      (built as $BUILD/tests/test_*)
#   e2e      tests/e2e/test_*.sh
#   browser  tests/browser/test_*.sh
#   pkg      tests/pkg/test_*.sh
#   fuzz     tests/fuzz/fuzz_*.c     (built as $BUILD/fuzz/fuzz_*)
# LAYER=unit,bpf runs some layers only; TEST=test_api,fuzz_policy some
# suites only (the "test_" may be left out). `make check LAYER=... TEST=...`
# passes both here.
#
# Suites run in parallel, TEST_JOBS at a time (default 4: most suites wait
# on packets and timeouts, not on the CPU). A fuzzer keeps a core busy for
# its FUZZ_SECONDS and counts as two. The longest suites start first (the
# times of the last run, in $BUILD/test-logs/*.secs, or the estimates
# below), so the pool's tail is short. Each suite's output goes to
# $BUILD/test-logs/NAME.log and is printed as one block when it ends.
#
# A suite that cannot share the machine with others (it measures time or
# CPU, loads the machine, or uses global state: a sysctl, a fixed port, a
# bpffs pin or nftables table outside its own namespaces) says so with a
# marker line in its file, and then runs alone, before the pool:
#     # run-alone: REASON                  (shell tests)
#     /* run-alone: REASON */              (C tests and fuzzers)
# Anything a suite makes that others could see (network namespaces, veths,
# cgroups, sockets, temporary files) carries its name and PID instead
# (tests/e2e/lib.sh's $E2E_ID), so that the others need no marker.
set -u
cd "$(dirname "$0")/.." || exit 2
BUILD=${BUILD:-build}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
TEST_JOBS=${TEST_JOBS:-4}
# A suite still running after this long is stopped and counted as failed.
TEST_TIMEOUT=${TEST_TIMEOUT:-1500}
LAYER=${LAYER:-}
TEST=${TEST:-}
log_dir=$BUILD/test-logs
mkdir -p "$log_dir"

# Seconds of the suites that take 10 or more, each run alone on the 2-core
# development VM, for the first run of a clone (later runs use the times
# they recorded). The CPU-bound ones (the sanitized C tests) thus start
# early instead of all together at the end.
declare -A ESTIMATE=(
	[test_systemd]=100 [test_image]=90 [test_frames]=60 [test_web_suggest]=40
	[test_web_guard]=35 [test_files]=20 [test_deb]=82 [test_nftdiff]=62 [test_api]=42 [test_restart]=36 [test_faults]=33
	[test_console]=31 [test_classifier]=29 [test_differential]=28 [test_examples]=24
	[test_flood]=23 [test_compile]=22 [test_discover]=21 [test_identity]=17
	[test_learn]=17 [test_enforce]=15 [test_notify]=14 [test_anomaly]=13 [test_ctl]=13
	[test_reload]=13 [test_flowlog]=12 [test_soak]=12 [test_watch]=12 [test_monitor]=11
)

names=() # every suite selected, in the order found
declare -A CMD BIN WEIGHT ALONE SECS

# add NAME LAYER SOURCE BINARY CMD...: one suite; BINARY (or "") must be
# built for it to run.
add() {
	local name=$1 layer=$2 src=$3 bin=$4 reason
	shift 4
	if [ -n "$LAYER" ] && [[ ",$LAYER," != *",$layer,"* ]]; then return; fi
	if [ -n "$TEST" ] && [[ ",$TEST," != *",$name,"* && ",$TEST," != *",${name#test_},"* ]]; then
		return
	fi
	names+=("$name")
	BIN[$name]=$bin
	CMD[$name]=$(printf '%q ' "$@")
	WEIGHT[$name]=1
	[ "$layer" = fuzz ] && WEIGHT[$name]=2
	reason=
	[ -f "$src" ] && reason=$(sed -n 's|^[#/* ]*run-alone: *\(.*\)$|\1|p' "$src" | sed 's| *\*/$||' | head -n 1)
	ALONE[$name]=$reason
	if [ -s "$log_dir/$name.secs" ]; then
		SECS[$name]=$(cat "$log_dir/$name.secs")
	elif [ -n "${ESTIMATE[$name]:-}" ]; then
		SECS[$name]=${ESTIMATE[$name]}
	elif [ "$layer" = fuzz ]; then
		SECS[$name]=$((FUZZ_SECONDS + 10))
	else
		SECS[$name]=10
	fi
}

# Formatting is checked like a test: an unformatted change fails CI.
add lint lint Makefile "" sh -c 'make --no-print-directory lint && echo "PASS: clang-format"'
for layer in unit bpf; do
	for src in tests/"$layer"/test_*.c; do
		[ -e "$src" ] || continue
		name=$(basename "$src" .c)
		add "$name" "$layer" "$src" "$BUILD/tests/$name" "$BUILD/tests/$name"
	done
done
for layer in e2e browser pkg; do
	for src in tests/"$layer"/test_*.sh; do
		[ -e "$src" ] || continue
		add "$(basename "$src" .sh)" "$layer" "$src" "" bash "$src"
	done
done
for src in tests/fuzz/fuzz_*.c; do
	[ -e "$src" ] || continue
	name=$(basename "$src" .c)
	add "$name" fuzz "$src" "$BUILD/fuzz/$name" tests/fuzz/run.sh "$BUILD/fuzz/$name" "$FUZZ_SECONDS"
done

if [ ${#names[@]} -eq 0 ]; then
	echo "no suite matches LAYER='$LAYER' TEST='$TEST'" >&2
	exit 2
fi
[ -z "$LAYER$TEST" ] || echo "only LAYER='$LAYER' TEST='$TEST': ${names[*]}"

# End-to-end tests drive the sanitized daemon when it is built, so a leak
# or undefined behaviour on a real code path fails them.
if [ -z "${MS_BIN:-}" ] && [ -x "$BUILD/san/microsegd" ]; then
	MS_BIN=$(cd "$BUILD/san" && pwd)/microsegd
	export MS_BIN
fi
export BUILD FUZZ_SECONDS

passed=0
failed=0
failed_names=()
declare -A NAME_OF START
running=0 # the weight of the suites running

start_suite() { # NAME
	local name=$1 bin=${BIN[$1]}
	START[$name]=$(date +%s)
	if [ -n "$bin" ] && [ ! -x "$bin" ]; then
		# A binary not built is a failed suite, never a skipped one.
		printf 'FAIL: %s: %s not built (make test-bins)\n' "$name" "$bin" >"$log_dir/$name.log"
		(exit 1) &
	else
		# exec: the job is timeout itself, which passes stop_all's TERM on
		# to the suite's whole process group.
		eval "exec timeout -k 30 $TEST_TIMEOUT ${CMD[$name]}" >"$log_dir/$name.log" 2>&1 </dev/null &
	fi
	NAME_OF[$!]=$name
	running=$((running + WEIGHT[$name]))
}

# The block of a suite that ended with status RC: its failures, its count.
report_suite() { # NAME RC
	local name=$1 rc=$2 log=$log_dir/$1.log p f secs
	secs=$(($(date +%s) - START[$name]))
	p=$(grep -c '^PASS: ' "$log")
	f=$(grep -c '^FAIL: ' "$log")
	echo "=== $name (${secs} s)"
	grep -E '^(PASS|FAIL): |^  ' "$log" | grep -v '^PASS: ' || true
	if [ "$rc" -eq 124 ] || { [ "$rc" -eq 137 ] && [ "$secs" -ge "$TEST_TIMEOUT" ]; }; then
		echo "FAIL: $name still running after $TEST_TIMEOUT s: stopped; last lines:"
		tail -n 20 "$log" | sed 's/^/    /'
		f=$((f + 1))
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "FAIL: $name exited $rc without reporting a failure; last lines:"
		tail -n 20 "$log" | sed 's/^/    /'
		f=1
	elif [ "$f" -gt 0 ]; then
		tail -n 30 "$log" | grep -v '^PASS: ' | sed 's/^/    /'
	fi
	if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
		echo "FAIL: $name ran no test case"
		f=1
	fi
	echo "    $p passed, $f failed"
	passed=$((passed + p))
	failed=$((failed + f))
	[ "$f" -eq 0 ] || failed_names+=("$name")
	[ "$f" -ne 0 ] || echo "$secs" >"$log_dir/$name.secs"
}

# Wait for one suite to end and report it.
reap() {
	local pid rc name
	wait -n -p pid
	rc=$?
	name=${NAME_OF[$pid]}
	unset "NAME_OF[$pid]"
	running=$((running - WEIGHT[$name]))
	[ "$running" -ge 0 ] || running=0
	report_suite "$name" "$rc"
}

stop_all() {
	local pid
	trap - INT TERM
	for pid in "${!NAME_OF[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	wait
	echo
	echo "interrupted"
	exit 130
}
trap stop_all INT TERM

# Longest first; the suites that run alone before the pool.
ordered=$(for n in "${names[@]}"; do echo "${SECS[$n]} $n"; done | sort -k1,1nr -k2 | cut -d' ' -f2)
alone=()
pool=()
for n in $ordered; do
	if [ -n "${ALONE[$n]}" ]; then alone+=("$n"); else pool+=("$n"); fi
done

for n in "${alone[@]}"; do
	echo "--- $n runs alone: ${ALONE[$n]}"
	start_suite "$n"
	reap
done
# The longest suite that fits in what is free starts next (a fuzzer may
# wait for two free places while a one-place suite takes the one).
while [ ${#pool[@]} -gt 0 ]; do
	next=
	for i in "${!pool[@]}"; do
		n=${pool[$i]}
		if [ "$running" -eq 0 ] || [ $((running + WEIGHT[$n])) -le "$TEST_JOBS" ]; then
			next=$i
			break
		fi
	done
	if [ -z "$next" ]; then
		reap
		continue
	fi
	start_suite "${pool[$next]}"
	unset "pool[$next]"
done
while [ ${#NAME_OF[@]} -gt 0 ]; do
	reap
done

echo
[ ${#failed_names[@]} -eq 0 ] || echo "failed suites: ${failed_names[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
