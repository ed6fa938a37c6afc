#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#
# The unit under a real systemd: a Debian 12 root from debootstrap (the
# cached one of tests/pkg/root.sh, plus systemd and the package's
# dependencies), the package installed there as the README says, booted
# with systemd-nspawn. The node's network is a namespace of this test's
# own, holding a veth to a peer namespace; nspawn passes bpf() and
# perf_event_open() and the BPF capabilities on, and a bpffs of the test's
# own is the container's /sys/fs/bpf. What an operator sees is asserted:
# the enabled unit up at boot and enforcing, reload good and bad,
# restart invisible to an open connection, stop leaving nothing, a bad
# policy at start not restarted in a loop.
#
# Fails, never skips, when it cannot run (no root, no nspawn, no archive).
. "$(dirname "$0")/../e2e/lib.sh"
cd "$E2E_ROOT" || exit 1
TOP=$E2E_ROOT
BUILD=${BUILD:-build}
# Namespaces and a machine name of this test's own.
NS_H=msh-sd-$$
NS_P=msp-sd-$$
MACHINE=ms-systemd-$$
PY=$E2E_ROOT/tests/e2e/restart.py
STOP=$E2E_TMP/stop
ROOT=
NSPAWN_PID=
LEADER=
BPFFS=$E2E_TMP/bpf

fatal() {
	fail "$1" "$2"
	exit 1
}

sd_cleanup() {
	local rc=$?
	touch "$STOP"
	if [ -n "$NSPAWN_PID" ] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
		# SIGRTMIN+4 to the container's init: poweroff; then nspawn itself.
		[ -z "$LEADER" ] || kill -s RTMIN+4 "$LEADER" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.2; done
		kill -KILL "$NSPAWN_PID" 2>/dev/null
		wait "$NSPAWN_PID" 2>/dev/null
	fi
	if [ "$rc" -ne 0 ] || [ "$E2E_FAILED" -ne 0 ]; then
		[ ! -s "$E2E_TMP/nspawn.log" ] || { echo "--- nspawn (last 30 lines)"; tail -n 30 "$E2E_TMP/nspawn.log"; }
		[ ! -s "$E2E_TMP/journal" ] || { echo "--- journal of microsegd (last 40 lines)"; tail -n 40 "$E2E_TMP/journal"; }
	fi
	umount -l "$BPFFS" 2>/dev/null
	[ -z "$ROOT" ] || rm -rf --one-file-system "$ROOT"
	(exit "$rc")
	e2e_cleanup
}
trap sd_cleanup EXIT

[ "$(id -u)" -eq 0 ] || fatal systemd "needs root (nspawn, network namespaces, BPF)"
for t in systemd-nspawn nsenter debootstrap tc; do
	command -v "$t" >/dev/null || fatal systemd "$t is missing (scripts/install-deps.sh)"
done
. tests/pkg/root.sh

# --- a Debian 12 root with systemd, the package installed as the README says
pkgroot_deb
mapfile -t deps < <(pkgroot_deb_depends)
pkgroot_derived systemd systemd systemd-sysv "${deps[@]}"
ROOT=$PKGROOT_CACHE/systemd-root.$$
pkgroot_unpack "$ROOT" "$DERIVED_TARBALL"
cp "$DEB" "$ROOT/tmp/"
if ! timeout 300 chroot "$ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
	apt-get install -y -q --no-install-recommends "/tmp/$(basename "$DEB")" >"$E2E_TMP/install.log" 2>&1; then
	tail -n 15 "$E2E_TMP/install.log"
	fatal install "apt-get install of the package in the root failed"
fi
pass install
echo "$MACHINE" >"$ROOT/etc/hostname"
# The README's `systemctl edit microsegd`: the interface, as an ExecStart=
# override (the unit's own line with -i lo replaced).
mkdir -p "$ROOT/etc/systemd/system/microsegd.service.d"
{
	printf '[Service]\nExecStart=\n'
	sed -n 's/^ExecStart=\(.*\) --interface lo /ExecStart=\1 --interface veth0 /p' \
		"$ROOT/lib/systemd/system/microsegd.service"
} >"$ROOT/etc/systemd/system/microsegd.service.d/override.conf"
check dropin-names-veth0 grep -q -- '--interface veth0 ' "$ROOT/etc/systemd/system/microsegd.service.d/override.conf"

# The policy: tcp/7001 and the pushes of tcp/8080 allowed, all else denied.
cat >"$E2E_TMP/allow.yaml" <<'YAML'
version: 1
default: deny
rules:
  - name: web
    action: allow
    direction: ingress
    ports: [tcp/7001, tcp/8080]
YAML
sed 's|tcp/7001, tcp/8080|tcp/7001, tcp/7002, tcp/8080|' "$E2E_TMP/allow.yaml" >"$E2E_TMP/more.yaml"
printf 'version: 1\ndefault: deny\nrules:\n  - name: x\n    bogus: 1\n' >"$E2E_TMP/bad.yaml"
cp "$E2E_TMP/allow.yaml" "$ROOT/etc/microsegd/policy.yaml"

# --- the node's network and its bpffs (lib.sh's two namespaces and veth)
write_netpy
e2e_netns_add "$NS_H" && e2e_netns_add "$NS_P" &&
	e2e_link "$NS_H" veth0 "$HOST4" "$HOST6" "$NS_P" veth1 "$PEER4" "$PEER6" ||
	fatal netns "cannot create the namespaces and their veth pair"
mkdir -p "$BPFFS"
mount -t bpf bpf "$BPFFS" || fatal bpffs "cannot mount a bpffs"

# --- boot. Not registered with machined; on a host that runs systemd,
# nspawn puts the container in a scope of its own, elsewhere (no bus) it
# stays in this process's cgroup.
unit_opt=--keep-unit
[ ! -d /run/systemd/system ] || unit_opt=
systemd-nspawn --quiet --boot --register=no $unit_opt --machine="$MACHINE" --directory="$ROOT" \
	--network-namespace-path="/run/netns/$NS_H" \
	--system-call-filter='bpf perf_event_open' \
	--capability=CAP_BPF,CAP_PERFMON,CAP_NET_ADMIN,CAP_SYS_RESOURCE \
	--bind="$BPFFS:/sys/fs/bpf" --console=read-only \
	</dev/null >"$E2E_TMP/nspawn.log" 2>&1 &
NSPAWN_PID=$!
# The container's init: nspawn's child whose PID there is 1.
find_leader() {
	local p
	for p in $(ps -o pid= --ppid "$NSPAWN_PID"); do
		if awk '/^NSpid:/ { exit !($NF == 1) }' "/proc/$p/status" 2>/dev/null; then
			LEADER=$p
			return 0
		fi
	done
	return 1
}
wait_for 30 find_leader || fatal boot "no init in the container (nspawn log below)"
ct() { nsenter -t "$LEADER" -m -u -i -n -p -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
booted() {
	local s
	s=$(ct timeout 5 systemctl is-system-running 2>/dev/null)
	case $s in running | degraded) return 0 ;; esac
	return 1
}
wait_for 90 booted || fatal boot "systemd did not finish booting: $(ct systemctl is-system-running 2>&1)"
pass boot
unit_prop() { ct systemctl show -P "$1" microsegd.service; }
journal() { ct journalctl -q -u microsegd.service --no-pager -o cat >"$E2E_TMP/journal" 2>&1; }
active() { [ "$(unit_prop ActiveState)" = active ]; }

# Traffic: echo on 7001 and 7002, pushes on 8080, a denied prober's 9090.
serve "$NS_H" tcp/7001 tcp/7002 || fatal serve "cannot start the echo server"
ip netns exec "$NS_H" python3 "$PY" server "$E2E_TMP/pushready" "$STOP" >>"$E2E_TMP/server.log" 2>&1 &
E2E_PIDS+=($!)
wait_for 10 test -e "$E2E_TMP/pushready" || fatal serve "cannot start the push server"
allowed() { tcp_ok "$NS_P" "$HOST4" 7001; }
more_allowed() { tcp_ok "$NS_P" "$HOST4" 7002; }
denied() { ! tcp_ok "$NS_P" "$HOST4" 7002 && ! ip netns exec "$NS_P" python3 "$PY" connect "$HOST4" 9090; }
filters() { tc -n "$NS_H" filter show dev veth0 ingress; tc -n "$NS_H" filter show dev veth0 egress; }
# The bpffs' own iterators (maps.debug, progs.debug) are no pins.
pins() { find "$BPFFS" -mindepth 1 ! -name '*.debug' 2>/dev/null; }
# mount_opts PATH: the options of the mount at PATH in the agent's namespace.
mount_opts() { ct nsenter -t "$(unit_prop MainPID)" -m findmnt -n -o OPTIONS "$1"; }

# --- the enabled unit came up at boot, enforcing
wait_for 30 active
check boot-unit-active active
check boot-unit-enabled test "$(ct systemctl is-enabled microsegd.service)" = enabled
check boot-status-text test -n "$(unit_prop StatusText)"
check boot-allowed-answers allowed
check boot-denied-refused denied
check boot-filter-attached test -n "$(filters)"
check boot-state-pinned test -n "$(find "$BPFFS" -name 'netns-*')"
# The hardening holds: /sys read-only for the agent, its bpffs writable.
check unit-sys-read-only grep -Eq '(^|,)ro(,|$)' <<<"$(mount_opts /sys)"
check unit-bpffs-writable grep -Eq '(^|,)rw(,|$)' <<<"$(mount_opts /sys/fs/bpf)"
check unit-proc-sys-read-only grep -Eq '(^|,)ro(,|$)' <<<"$(mount_opts /proc/sys)"

# --- reload: a valid policy goes in, exit 0
cp "$E2E_TMP/more.yaml" "$ROOT/etc/microsegd/policy.yaml"
ct timeout 60 systemctl reload microsegd.service >"$E2E_TMP/reload.out" 2>&1
check reload-valid-exit-0 test $? -eq 0
check reload-valid-active active
check reload-valid-in-force more_allowed
# An invalid one: non-zero, the journal names the position, the old stays.
cp "$E2E_TMP/bad.yaml" "$ROOT/etc/microsegd/policy.yaml"
ct timeout 60 systemctl reload microsegd.service >"$E2E_TMP/reload.out" 2>&1
check reload-invalid-exit-nonzero test $? -ne 0
check reload-invalid-still-active active
check reload-invalid-old-in-force more_allowed
check reload-invalid-old-denies bash -c "! ip netns exec $NS_P python3 $PY connect $HOST4 9090"
journal
check reload-invalid-journal-position grep -q 'policy.yaml:5:5' "$E2E_TMP/journal"
cp "$E2E_TMP/allow.yaml" "$ROOT/etc/microsegd/policy.yaml"
ct timeout 60 systemctl reload microsegd.service >/dev/null 2>&1
check reload-back-exit-0 test $? -eq 0
check reload-back-denies denied

# --- restart: an open connection keeps talking, no denied probe answered
ip netns exec "$NS_P" python3 "$PY" client tcp "$HOST4" 8080 "$E2E_TMP/push.out" "$STOP" &
E2E_PIDS+=($!)
ip netns exec "$NS_P" python3 "$PY" probe "$E2E_TMP/probe.out" "$STOP" "$HOST4" &
E2E_PIDS+=($!)
wait_for 10 test -s "$E2E_TMP/push.out" || fail restart-pushes-before "no push arrived before the restart"
pid_before=$(unit_prop MainPID)
ct timeout 60 systemctl restart microsegd.service
check restart-exit-0 test $? -eq 0
check restart-active active
check restart-new-process test "$(unit_prop MainPID)" != "$pid_before"
after=$(python3 -c 'import time; print(time.monotonic())')
sleep 2
touch "$STOP"
sleep 0.5
check restart-connection-kept python3 "$PY" analyze "$E2E_TMP/push.out" "$after" 4
read -r attempts answered <"$E2E_TMP/probe.out" 2>/dev/null
check restart-prober-ran test "${attempts:-0}" -gt 0
check restart-no-denied-answered test "${answered:-1}" -eq 0
check restart-still-enforcing denied
check restart-allowed-answers allowed

# --- stop: no filter, no pin
ct timeout 60 systemctl stop microsegd.service
check stop-exit-0 test $? -eq 0
check stop-inactive test "$(unit_prop ActiveState)" = inactive
check stop-no-filter test -z "$(filters)"
left=$(pins)
check stop-no-pin test -z "$left"

# --- start: active and enforcing
ct timeout 60 systemctl start microsegd.service
check start-exit-0 test $? -eq 0
check start-active active
check start-allowed-answers allowed
check start-denied-refused denied
ct timeout 60 systemctl stop microsegd.service

# --- a bad policy at start: failed, not restarted in a loop, nothing left
cp "$E2E_TMP/bad.yaml" "$ROOT/etc/microsegd/policy.yaml"
ct timeout 60 systemctl start microsegd.service >/dev/null 2>&1
check bad-start-exit-nonzero test $? -ne 0
sleep 3
check bad-start-failed test "$(unit_prop ActiveState)" = failed
check bad-start-no-restarts test "$(unit_prop NRestarts)" = 0
check bad-start-exit-status-1 test "$(unit_prop ExecMainStatus)" = 1
check bad-start-no-filter test -z "$(filters)"
check bad-start-no-pin test -z "$(pins)"

# The control: the ProtectKernelTunables= the unit no longer has keeps bpffs
# read-only, and the agent cannot pin its state.
cp "$E2E_TMP/allow.yaml" "$ROOT/etc/microsegd/policy.yaml"
printf '[Service]\nProtectKernelTunables=yes\n' >"$ROOT/etc/systemd/system/microsegd.service.d/tunables.conf"
ct systemctl daemon-reload
ct systemctl reset-failed microsegd.service
ct timeout 60 systemctl start microsegd.service >/dev/null 2>&1
check control-tunables-start-fails test $? -ne 0
journal
check control-tunables-read-only grep -q 'Read-only file system' "$E2E_TMP/journal"
rm -f "$ROOT/etc/systemd/system/microsegd.service.d/tunables.conf"
ct systemctl daemon-reload
ct timeout 60 systemctl stop microsegd.service >/dev/null 2>&1
ct systemctl reset-failed microsegd.service
ct timeout 60 systemctl start microsegd.service
check control-without-tunables-starts test $? -eq 0
ct timeout 60 systemctl stop microsegd.service
check control-stop-no-pin test -z "$(pins)"
journal
e2e_finish
