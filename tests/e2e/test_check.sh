#!/usr/bin/env bash
# `microsegd --check` as a user runs it: every shipped policy passes, a
# broken one fails with exit 1 and FILE:LINE:COL errors on stderr. Needs
# neither root nor BPF.
set -u
cd "$(dirname "$0")/../.."
BIN=${BIN:-bin/microsegd}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/test_check.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
. tests/lib/testlib.sh

if [ ! -x "$BIN" ]; then
	fail check_binary "no $BIN; run make first"
	exit 1
fi

# Run as nobody when we are root: --check must not need privilege.
as_user() {
	if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
		setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
	else
		"$@"
	fi
}
chmod 755 "$tmp"

for f in policies/*.yaml; do
	name=check_$(basename "$f" .yaml)
	cp "$f" "$tmp/" && chmod 644 "$tmp/$(basename "$f")"
	as_user "$BIN" --check -p "$tmp/$(basename "$f")" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	# A policy for discovery names workloads not found yet: those
	# warnings, and only those, are expected of it.
	if grep -q '^discovery: true' "$f"; then
		grep -v 'matches no workload yet\|is known or discovered yet' "$tmp/err" >"$tmp/err2"
		mv "$tmp/err2" "$tmp/err"
	fi
	if [ "$rc" -eq 0 ] && grep -q 'policy OK' "$tmp/out" && grep -q 'rules:' "$tmp/out" &&
		grep -q 'memory:' "$tmp/out" && [ ! -s "$tmp/err" ]; then
		pass "$name"
	else
		fail "$name" "exit $rc" "$(cat "$tmp/out" "$tmp/err")"
	fi
done

cat >"$tmp/bad.yaml" <<'YAML'
version: 1
default: deny
rules:
  - name: web
    action: allow
    ports: [tcp/90-80]
  - name: web
    acton: deny
YAML
chmod 644 "$tmp/bad.yaml"
as_user "$BIN" --check -p "$tmp/bad.yaml" >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ "$rc" -eq 1 ] &&
	grep -q "^$tmp/bad.yaml:6:13: error: reversed range in 'tcp/90-80'" "$tmp/err" &&
	grep -q "^$tmp/bad.yaml:7:11: error: duplicate rule name 'web'" "$tmp/err" &&
	grep -q "^$tmp/bad.yaml:8:5: error: unknown key 'acton' in a rule; did you mean 'action'?" "$tmp/err"; then
	pass check_bad_policy
else
	fail check_bad_policy "exit $rc (want 1)" "$(cat "$tmp/err")"
fi

as_user "$BIN" --check -p "$tmp/missing.yaml" >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ "$rc" -eq 1 ] && grep -q "^$tmp/missing.yaml: cannot open: No such file or directory" "$tmp/err"; then
	pass check_missing_file
else
	fail check_missing_file "exit $rc (want 1)" "$(cat "$tmp/err")"
fi

as_user "$BIN" --check -m monitor -p policies/default.yaml >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ "$rc" -eq 0 ] && grep -q 'mode: *monitor' "$tmp/out"; then
	pass check_mode_override
else
	fail check_mode_override "exit $rc" "$(cat "$tmp/out" "$tmp/err")"
fi

t_finish
