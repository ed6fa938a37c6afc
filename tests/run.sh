#!/usr/bin/env bash
# Runs every test suite and prints one closing line, "N passed, N failed".
# Each suite prints "PASS: name" / "FAIL: name" per test case; a suite that
# exits non-zero without reporting a failure (a crash, a sanitizer report)
# counts as one failed case of its own.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
passed=0
failed=0
failed_names=()
log_dir=$BUILD/test-logs
mkdir -p "$log_dir"

run_suite() { # name, command...
	local name=$1; shift
	local log=$log_dir/$name.log
	echo "=== $name"
	"$@" >"$log" 2>&1
	local rc=$?
	local p f
	p=$(grep -c '^PASS: ' "$log")
	f=$(grep -c '^FAIL: ' "$log")
	grep -E '^(PASS|FAIL): |^  ' "$log" | grep -v '^PASS: ' || true
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
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
}

# Formatting is checked like a test: an unformatted change fails CI.
run_suite lint sh -c 'make --no-print-directory lint && echo "PASS: clang-format"'

for t in "$BUILD"/tests/test_*; do
	case $t in *.d) continue ;; esac
	[ -x "$t" ] || continue
	run_suite "$(basename "$t")" "$t"
done

# End-to-end tests drive the sanitized daemon when it is built, so a leak
# or undefined behaviour on a real code path fails them.
if [ -z "${MS_BIN:-}" ] && [ -x "$BUILD/san/microsegd" ]; then
	MS_BIN=$(cd "$BUILD/san" && pwd)/microsegd
	export MS_BIN
fi
for t in tests/e2e/test_*.sh; do
	[ -e "$t" ] || continue
	run_suite "$(basename "$t" .sh)" bash "$t"
done

# The web console in a real browser, against a real agent.
for t in tests/browser/test_*.sh; do
	[ -e "$t" ] || continue
	run_suite "$(basename "$t" .sh)" bash "$t"
done

# Packaging and deployment: the Debian package in a debootstrap root, the
# Kubernetes manifests.
for t in tests/pkg/test_*.sh; do
	[ -e "$t" ] || continue
	run_suite "$(basename "$t" .sh)" bash "$t"
done

for f in "$BUILD"/fuzz/fuzz_*; do
	[ -x "$f" ] || continue
	run_suite "$(basename "$f")" tests/fuzz/run.sh "$f" "$FUZZ_SECONDS"
done

echo
[ ${#failed_names[@]} -eq 0 ] || echo "failed suites: ${failed_names[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
