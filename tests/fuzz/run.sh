#!/usr/bin/env bash
# Run a libFuzzer binary for SECONDS with a seed corpus made from
# policies/*.yaml in a temporary directory; print "PASS: NAME" if it ran
# clean, else "FAIL: NAME" with the crash or sanitizer report.
#   tests/fuzz/run.sh build/fuzz/fuzz_policy 30
set -u
if [ $# -ne 2 ]; then
	echo "usage: $0 FUZZER SECONDS" >&2
	exit 2
fi
bin=$1
secs=$2
name=$(basename "$bin")
here=$(cd "$(dirname "$0")/../.." && pwd)

if [ ! -x "$bin" ]; then
	echo "FAIL: $name: no executable $bin"
	exit 1
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/$name.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus" "$work/artifacts"
cp "$here"/policies/*.yaml "$work/corpus/" 2>/dev/null || true

# -max_len: policies are small, and longer inputs only slow the search down.
# Leak detection stays on (ASan's default), so a leak fails the run too.
dict=()
[ -f "$here/tests/fuzz/$name.dict" ] && dict=(-dict="$here/tests/fuzz/$name.dict")
"$bin" "${dict[@]}" -max_total_time="$secs" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
	-print_final_stats=1 -artifact_prefix="$work/artifacts/" \
	"$work/corpus" >"$work/log" 2>&1
rc=$?

if [ "$rc" -eq 0 ] && ! ls "$work/artifacts" | grep -q .; then
	grep -E '^(stat::number_of_executed_units|stat::new_units_added)' "$work/log" | sed 's/^/  /'
	echo "PASS: $name"
	exit 0
fi
echo "FAIL: $name (exit $rc)"
# The sanitizer or libFuzzer report starts at its first "==PID==" line.
start=$(grep -n -m1 -E '^==[0-9]+==|runtime error:|^INFO: .*deadly|ERROR: libFuzzer' "$work/log" | cut -d: -f1)
if [ -n "$start" ]; then
	tail -n +"$start" "$work/log" | head -n 80 | sed 's/^/  /'
else
	tail -n 40 "$work/log" | sed 's/^/  /'
fi
for a in "$work"/artifacts/*; do
	[ -e "$a" ] || continue
	echo "  reproducer $(basename "$a") (base64):"
	head -c 4096 "$a" | base64 | sed 's/^/    /'
done
exit 1
