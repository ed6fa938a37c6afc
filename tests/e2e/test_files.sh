#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# The files microsegd and microsegctl open: links planted by another user in
# a log or state directory are never followed, a directory others can write
# is refused; a full filesystem leaves no partial line in the flow log; a
# FIFO in place of graph.json does not hang the start; with stderr closed
# the log lines do not go into the flow log; an endless line in a flow log
# read by microsegctl is an error naming file and line, in bounded memory.
. "$(dirname "$0")/lib.sh"

PY=$E2E_ROOT/tests/e2e/restart.py
CTL=${MS_CTL:-$E2E_ROOT/bin/microsegctl}
MNT=$E2E_TMP/full
trap 'rc=$?; umount "$MNT" 2>/dev/null; (exit $rc); e2e_cleanup' EXIT

e2e_setup
fixture web-8080-ingress.yaml "$E2E_TMP/policy.yaml"
# Another user must reach the directories the test shares with it.
chmod 0711 "$E2E_TMP"
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }

# start_refused NAME PATTERN ARGS...: the agent refuses to start (exit 3) with a
# message matching PATTERN.
start_refused() {
	local name=$1 pattern=$2
	shift 2
	ip netns exec "$NS_H" timeout 20 "$MS_BIN" -i veth0 -p "$E2E_TMP/policy.yaml" \
		--api-socket "$E2E_TMP/r.sock" --pin-dir none "$@" 2>"$E2E_TMP/r.err" </dev/null
	local rc=$?
	if [ "$rc" -eq 3 ] && grep -Eq "$pattern" "$E2E_TMP/r.err"; then
		pass "$name"
	else
		fail "$name" "exit $rc: $(tail -n 2 "$E2E_TMP/r.err")"
	fi
}

# --- a link planted in a sticky directory others write (like /tmp)
mkdir -m 1777 "$E2E_TMP/shared"
echo "root's file" >"$E2E_TMP/victim"
as_nobody ln -s "$E2E_TMP/victim" "$E2E_TMP/shared/flows.jsonl"
start_refused flowlog-symlink-refused "refusing the flow log .*shared/flows.jsonl: a symbolic link" \
	-f "$E2E_TMP/shared/flows.jsonl" --state-dir none
check flowlog-symlink-target-untouched test "$(cat "$E2E_TMP/victim")" = "root's file"
# A file another user made there in advance is not ours to append to.
rm -f "$E2E_TMP/shared/flows.jsonl"
as_nobody touch "$E2E_TMP/shared/theirs.jsonl"
start_refused flowlog-foreign-file-refused "refusing the flow log .*owned by another user" \
	-f "$E2E_TMP/shared/theirs.jsonl" --state-dir none
# A directory anyone can write, without the sticky bit: refused outright.
mkdir -m 0777 "$E2E_TMP/open"
start_refused flowlog-open-dir-refused "refusing the flow log .*open/flows.jsonl: writable by group or others" \
	-f "$E2E_TMP/open/flows.jsonl" --state-dir none
check_not flowlog-open-dir-nothing-made test -e "$E2E_TMP/open/flows.jsonl"

# --- the state directory: refused when others can write it; in a sticky
# one, a planted temporary name is never written through.
daemon_start "$E2E_TMP/policy.yaml" --state-dir "$E2E_TMP/open" --pin-dir none ||
	{ fail daemon-start-open-state "exit $MS_RC"; exit 1; }
check state-open-dir-refused grep -q "refusing the state directory $E2E_TMP/open: writable by group or others" "$MS_LOG"
daemon_stop
check_not state-open-dir-no-graph test -e "$E2E_TMP/open/graph.json"
mkdir -m 1777 "$E2E_TMP/sticky"
echo "root's other file" >"$E2E_TMP/victim2"
as_nobody ln -s "$E2E_TMP/victim2" "$E2E_TMP/sticky/.graph.json.tmp"
MS_STATE=$E2E_TMP/sticky
daemon_start "$E2E_TMP/policy.yaml" --pin-dir none || { fail daemon-start-sticky "exit $MS_RC"; exit 1; }
ns_p timeout 20 python3 "$PY" flood 198.19.0.0 "$HOST4" 8080 20 1 >/dev/null
sleep 1.5
daemon_stop
check graph-tmp-link-not-followed grep -qx "root's other file" "$E2E_TMP/victim2"
check graph-saved-regular test -f "$E2E_TMP/sticky/graph.json" -a ! -L "$E2E_TMP/sticky/graph.json"
# A link as graph.json itself is not read through either.
rm -f "$E2E_TMP/sticky/graph.json"
echo '{"not": "a graph"}' >"$E2E_TMP/victim3"
as_nobody ln -s "$E2E_TMP/victim3" "$E2E_TMP/sticky/graph.json"
daemon_start "$E2E_TMP/policy.yaml" --pin-dir none || { fail daemon-start-sticky2 "exit $MS_RC"; exit 1; }
check graph-link-not-loaded grep -q "graph.json: a symbolic link (not followed)" "$MS_LOG"
daemon_stop
check graph-link-target-untouched grep -q '"not": "a graph"' "$E2E_TMP/victim3"

# --- a FIFO as graph.json: the start goes on, with a warning
MS_STATE=$E2E_TMP/fifo-state
mkdir -m 0750 "$MS_STATE"
mkfifo "$MS_STATE/graph.json"
if daemon_start "$E2E_TMP/policy.yaml" --pin-dir none; then
	pass fifo-graph-start-proceeds
	check fifo-graph-warned grep -q "graph.json: not a regular file" "$MS_LOG"
	daemon_stop
else
	fail fifo-graph-start-proceeds "not running within 15 s: $(tail -n 2 "$MS_LOG")"
	daemon_stop
fi
MS_STATE=$E2E_TMP/state

# --- a full filesystem: never half a line, the lost events counted
mkdir "$MNT"
mount -t tmpfs -o size=64k,mode=0700 "tmpfs-files-$$" "$MNT" || { fail tmpfs-mount; exit 1; }
head -c 40960 /dev/zero >"$MNT/filler" 2>/dev/null
MS_FLOWS_SAVED=$MS_FLOWS
MS_FLOWS=$MNT/flows.jsonl
daemon_start "$E2E_TMP/policy.yaml" --pin-dir none || { fail daemon-start-full "exit $MS_RC"; exit 1; }
ns_p timeout 30 python3 "$PY" flood 198.19.0.0 "$HOST4" 9090 1500 1 >/dev/null
lost_some() { grep -Eq 'stats: .*events_lost=[1-9]' "$MS_LOG"; }
check full-events-lost-counted wait_for 10 lost_some
# whole_lines FILE: every line a JSON object, and the file ends in a newline.
whole_lines() { python3 - "$1" <<'PYEOF'
import json, sys
data = open(sys.argv[1], 'rb').read()
if data and not data.endswith(b'\n'):
    print('  ends in a partial line: %r' % data[-60:])
    sys.exit(1)
for i, line in enumerate(data.split(b'\n')[:-1], 1):
    try:
        json.loads(line)
    except ValueError:
        print('  line %d is not whole: %r' % (i, line[:80]))
        sys.exit(1)
PYEOF
}
check full-no-partial-line whole_lines "$MS_FLOWS"
# Room again: what comes next starts on a line of its own.
rm -f "$MNT/filler"
ns_p timeout 30 python3 "$PY" flood 198.20.0.0 "$HOST4" 9090 40 1 >/dev/null
check full-writes-again flow_wait 10 "e['src'].startswith('198.20.')"
check full-then-whole-lines whole_lines "$MS_FLOWS"
daemon_stop
umount "$MNT"
MS_FLOWS=$MS_FLOWS_SAVED

# --- stderr closed: the flow log is not fd 2
: >"$MS_FLOWS"
ip netns exec "$NS_H" "$MS_BIN" -i veth0 -p "$E2E_TMP/policy.yaml" -f "$MS_FLOWS" -s 1 \
	--api-socket "$MS_API" --state-dir none --pin-dir none 2>&- </dev/null &
MS_PID=$!
wait_for 15 test -S "$MS_API"
ns_p timeout 20 python3 "$PY" flood 198.19.0.0 "$HOST4" 9090 5 1 >/dev/null
sleep 2.5 # a stats line or two, were they to go anywhere
daemon_stop
check stderr-closed-flowlog-has-events flow_has "e['event'] == 'flow_deny'"
check_not stderr-closed-no-log-lines-in-flowlog grep -Eq 'INFO|stats:|microsegd' "$MS_FLOWS"

# --- an endless line for microsegctl: an error naming file and line
{ echo '{"event":"flow_end"}'; head -c $((48 << 20)) /dev/zero | tr '\0' 'x'; } >"$E2E_TMP/endless.jsonl"
python3 - "$CTL" "$E2E_TMP/endless.jsonl" "$E2E_TMP/ctl" <<'PYEOF'
import resource, subprocess, sys
ctl, path, out = sys.argv[1:]
r = subprocess.run([ctl, 'graph', '--from', path], capture_output=True, timeout=60)
kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
open(out, 'w').write('%d %d\n%s' % (r.returncode, kb, r.stderr.decode(errors='replace')))
PYEOF
read -r ctl_rc ctl_kb <"$E2E_TMP/ctl"
echo "  microsegctl: exit $ctl_rc, max RSS $ctl_kb kB; $(sed -n 2p "$E2E_TMP/ctl")"
check endless-line-fails test "$ctl_rc" -ne 0
check endless-line-named grep -q "endless.jsonl:2: line longer than 65536 bytes" "$E2E_TMP/ctl"
check endless-line-bounded-memory test "$ctl_kb" -lt $((32 << 10))
e2e_finish
