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
check unit-reload-hup grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' "$UNIT"
check unit-exec-sbindir grep -q '^ExecStart=@SBINDIR@/microsegd ' "$UNIT"
check unit-no-new-privileges grep -qx 'NoNewPrivileges=yes' "$UNIT"
check unit-protect-system grep -qx 'ProtectSystem=strict' "$UNIT"
check unit-capabilities grep -Eq '^CapabilityBoundingSet=.*CAP_BPF.*CAP_NET_ADMIN' "$UNIT"
check unit-log-dir-writable grep -Eqx 'ReadWritePaths=/var/log/microsegd( .*)?' "$UNIT"
check unit-state-directory grep -qx 'StateDirectory=microsegd' "$UNIT"
check unit-runtime-directory grep -qx 'RuntimeDirectory=microsegd' "$UNIT"
check unit-api-socket grep -q -- '--api-socket /run/microsegd/microsegd.sock' "$UNIT"
check man-page-sections bash -c "for s in OPTIONS SIGNALS FILES 'EXIT STATUS' EXAMPLES; do grep -q \"^.SH \$s\" '$E2E_ROOT/man/microsegd.8' || exit 1; done"
e2e_finish
