#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# --metrics ADDR:PORT serves GET /metrics and nothing else: from the peer,
# the metrics answer on the host's address while the API's endpoints, the
# console and any other method are 404 there, and --web on 127.0.0.1 is
# not reachable at all.
. "$(dirname "$0")/lib.sh"

e2e_setup
# Everything allowed but what the classifier must still be seen deciding.
printf 'version: 1\ndefault: allow\nrules:\n  - {name: no-rsh, action: deny, ports: [tcp/514]}\n' \
	>"$E2E_TMP/policy.yaml"
daemon_start "$E2E_TMP/policy.yaml" --metrics "$HOST4:9750" --web 127.0.0.1:9751 ||
	{ fail daemon-start "exit ${MS_RC:-?}"; exit 1; }
check metrics-logged log_wait 5 "metrics on $HOST4:9750"

# code URL [CURL ARGS...]: the HTTP status the peer gets (000: no answer).
code() {
	local url=$1
	shift
	ns_p curl -s -o "$E2E_TMP/body" -w '%{http_code}' --max-time 3 "$@" "$url"
}
M=http://$HOST4:9750
check metrics-200 test "$(code "$M/metrics")" = 200
check metrics-exposition grep -q '^microsegd_policy_reloads_total{result="ok"}' "$E2E_TMP/body"
check metrics-content-type bash -c "ip netns exec $NS_P curl -s -D - -o /dev/null --max-time 3 $M/metrics | grep -qi '^content-type: text/plain; version=0.0.4'"
check status-404 test "$(code "$M/v1/status")" = 404
check console-404 test "$(code "$M/")" = 404
check graph-404 test "$(code "$M/v1/graph")" = 404
check post-metrics-404 test "$(code "$M/metrics" -X POST -d x)" = 404
check post-reload-404 test "$(code "$M/v1/reload" -X POST)" = 404
check metrics-query-404 test "$(code "$M/metrics/x")" = 404
# The console and API stay local: nothing answers on the host's address.
check web-not-on-node-address test "$(code "http://$HOST4:9751/v1/status")" = 000
check web-local-answers test "$(ns_h curl -s -o /dev/null -w '%{http_code}' --max-time 3 http://127.0.0.1:9751/v1/status)" = 200
check metrics-still-enforcing daemon_alive

# A bad address is a usage error, or a failed start naming it.
out=$(ip netns exec "$NS_H" timeout 20 "$MS_BIN" -i veth0 -p "$E2E_TMP/policy.yaml" --api-socket none \
	--state-dir none --pin-dir none --metrics 9750 2>&1)
check metrics-usage-exit-2 test $? -eq 2
check metrics-usage-message grep -q "invalid --metrics '9750'" <<<"$out"
out=$(ip netns exec "$NS_H" timeout 20 "$MS_BIN" -i veth0 -p "$E2E_TMP/policy.yaml" --api-socket none \
	--state-dir none --pin-dir none --metrics nohost:9750 2>&1)
check metrics-bad-address-exit-3 test $? -eq 3
check metrics-bad-address-message grep -q 'cannot listen for metrics on nohost:9750' <<<"$out"
daemon_stop
check metrics-clean-exit test "$MS_RC" -eq 0
e2e_finish
