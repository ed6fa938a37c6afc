#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# scripts/microsegd.service passes `systemd-analyze verify` without a single
# warning, once installed as `make install` does it (@SBINDIR@ substituted),
# with the man page it names findable; and it has what the daemon relies on.
. "$(dirname "$0")/lib.sh"

UNIT=$E2E_ROOT/scripts/microsegd.service
if ! command -v systemd-analyze >/dev/null; then
	fail unit-verify "systemd-analyze not installed (package systemd)"
	exit 1
fi
mkdir -p "$E2E_TMP/unit" "$E2E_TMP/man/man8"
sed "s|@SBINDIR@|$E2E_ROOT/bin|" "$UNIT" >"$E2E_TMP/unit/microsegd.service"
cp "$E2E_ROOT/man/microsegd.8" "$E2E_TMP/man/man8/"
man_opt=()
command -v man >/dev/null || man_opt=(--man=no)
MANPATH=$E2E_TMP/man systemd-analyze verify "${man_opt[@]}" \
	"$E2E_TMP/unit/microsegd.service" >"$E2E_TMP/verify.out" 2>&1
rc=$?
sed 's/^/  /' "$E2E_TMP/verify.out"
check unit-verify-ok test "$rc" -eq 0
check unit-verify-no-warnings test ! -s "$E2E_TMP/verify.out"

check unit-type-notify grep -qx 'Type=notify' "$UNIT"
# Reload through the agent, which answers with the result: no /bin/kill
# (procps), and a rejected policy fails `systemctl reload`.
check unit-reload-through-agent grep -qx 'ExecReload=@SBINDIR@/microsegctl --socket /run/microsegd/microsegd.sock reload' "$UNIT"
# The agent checks the policy itself (exit 1, not restarted): an
# ExecStartPre= failure would be restarted, RestartPreventExitStatus=
# covering the main process only.
check_not unit-no-exec-start-pre grep -q '^ExecStartPre=' "$UNIT"
check unit-no-restart-on-bad-policy grep -Eqx 'RestartPreventExitStatus=1( .*)?' "$UNIT"
# ProtectKernelTunables= would keep bpffs read-only too.
check_not unit-no-protect-kernel-tunables grep -q '^ProtectKernelTunables=' "$UNIT"
check unit-sys-read-only grep -Eqx 'ReadOnlyPaths=/sys /proc/sys( .*)?' "$UNIT"
check unit-exec-sbindir grep -q '^ExecStart=@SBINDIR@/microsegd ' "$UNIT"
check unit-no-new-privileges grep -qx 'NoNewPrivileges=yes' "$UNIT"
check unit-protect-system grep -qx 'ProtectSystem=strict' "$UNIT"
check unit-capabilities grep -Eq '^CapabilityBoundingSet=.*CAP_BPF.*CAP_NET_ADMIN' "$UNIT"
check unit-log-dir-writable grep -Eqx 'ReadWritePaths=/var/log/microsegd( .*)?' "$UNIT"
check unit-state-directory grep -qx 'StateDirectory=microsegd' "$UNIT"
check unit-runtime-directory grep -qx 'RuntimeDirectory=microsegd' "$UNIT"
check unit-api-socket grep -q -- '--api-socket /run/microsegd/microsegd.sock' "$UNIT"
check unit-keep-attached grep -q '^ExecStart=@SBINDIR@/microsegd --keep-attached ' "$UNIT"
check unit-bpffs-writable grep -Eqx 'ReadWritePaths=.* -/sys/fs/bpf( .*)?' "$UNIT"

# ExecStopPost cleans up after `systemctl stop` only: run its command line
# (as systemd would, $$ unescaped) with a stand-in microsegd and systemctl.
mkdir -p "$E2E_TMP/stub"
printf '#!/bin/sh\necho "$*" >>"%s"\n' "$E2E_TMP/cleaned" >"$E2E_TMP/stub/microsegd"
printf '#!/bin/sh\n[ -z "$FAKE_JOB" ] || echo "42 microsegd.service $FAKE_JOB running"\n' \
	>"$E2E_TMP/stub/systemctl"
chmod +x "$E2E_TMP/stub/microsegd" "$E2E_TMP/stub/systemctl"
stop_post=$(sed -n "s|@SBINDIR@|$E2E_TMP/stub|g; s|\\$\\$|\\$|g; s|^ExecStopPost=/bin/sh -c '\\(.*\\)'\$|\\1|p" "$UNIT")
check unit-stop-post-found test -n "$stop_post"
# stop_post_cleans RESULT JOB: did the command run microsegd --cleanup?
stop_post_cleans() {
	rm -f "$E2E_TMP/cleaned"
	SERVICE_RESULT=$1 FAKE_JOB=$2 PATH="$E2E_TMP/stub:$PATH" sh -c "$stop_post"
	grep -qx -- '--cleanup' "$E2E_TMP/cleaned" 2>/dev/null
}
check unit-stop-cleans-up stop_post_cleans success ""
check_not unit-restart-keeps-attached stop_post_cleans success restart
check_not unit-failure-keeps-attached stop_post_cleans exit-code ""
check man-page-sections bash -c "for s in OPTIONS SIGNALS FILES 'EXIT STATUS' EXAMPLES; do grep -q \"^.SH \$s\" '$E2E_ROOT/man/microsegd.8' || exit 1; done"
e2e_finish
