# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#
# The pass/fail helpers of every shell test (e2e, browser, pkg), the shell
# twin of tests/lib/testlib.h. Each test case prints "PASS: name" or
# "FAIL: name: why" (tests/run.sh counts those lines); t_finish, or
# e2e_finish in the end-to-end tests, exits non-zero if any case failed.
#
#   . "$(dirname "$0")/../lib/testlib.sh"

T_FAILED=0

pass() { echo "PASS: $1"; }

# fail NAME [WHY [DETAIL...]]: the case failed; each DETAIL on a line of its own.
fail() {
	local name=$1 d
	echo "FAIL: $name${2:+: $2}"
	shift $(($# < 2 ? $# : 2))
	for d in "$@"; do
		echo "  $d"
	done
	T_FAILED=1
}

# fatal NAME WHY: a failed case after which nothing else can be tested.
fatal() {
	fail "$1" "$2"
	exit 1
}

# check NAME CMD...: the case passes if CMD succeeds.
check() {
	local name=$1
	shift
	if "$@"; then pass "$name"; else fail "$name" "$*"; fi
}

# check_not NAME CMD...: the case passes if CMD fails.
check_not() {
	local name=$1
	shift
	if "$@"; then fail "$name" "unexpectedly succeeded: $*"; else pass "$name"; fi
}

t_failed() { [ "$T_FAILED" -ne 0 ]; }

t_finish() {
	! t_failed
	exit $?
}

# The shared fixture policies (tests/fixtures/); fixture NAME DEST copies
# one, so a test may change or chmod its copy.
T_FIXTURES=$(cd "$(dirname "${BASH_SOURCE[0]}")/../fixtures" && pwd)
fixture() { cp "$T_FIXTURES/$1" "$2"; }
