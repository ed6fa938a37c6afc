#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#
# The Debian package, for real: `make deb`, lintian, then install into a
# fresh Debian 12 root made by debootstrap from Debian's archive (the mirror
# this machine's apt uses, read from its sources), run microsegd --check
# there, purge, and find nothing left behind.
#
# The debootstrap root is made once and kept as a tarball under
# build/pkgtest/ (delete it to start over); each run unpacks a pristine copy.
# When the archive cannot be reached, the test fails and says so: it is
# never skipped.
set -u
cd "$(dirname "$0")/../.."
TOP=$(pwd)
BUILD=${BUILD:-build}
ROOT=
MOUNTED=
. tests/lib/testlib.sh

quiet() { "$@" >/dev/null 2>&1; }

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	[ -z "$MOUNTED" ] || umount -l "$ROOT/proc" 2>/dev/null
	[ -z "$ROOT" ] || rm -rf --one-file-system "$ROOT"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
. tests/pkg/root.sh
CACHE_DIR=$PKGROOT_CACHE
SUITE=$PKGROOT_SUITE

if [ "$(id -u)" -ne 0 ]; then
	fatal deb "needs root (debootstrap, chroot)"
fi
for t in dpkg-deb lintian debootstrap chroot python3 logrotate; do
	command -v "$t" >/dev/null || fatal deb "$t is missing (scripts/install-deps.sh)"
done

# --- the package
pkgroot_deb
check make-deb test -s "$DEB"
lint=$(lintian --fail-on error "$DEB" 2>&1 | grep -v 'running with root privileges')
lrc=$?
[ -z "$lint" ] || echo "$lint" | sed 's/^/  lintian: /'
check lintian-no-errors test "$(echo "$lint" | grep -c '^E:')" -eq 0

contents=$(dpkg-deb -c "$DEB" | awk '{ print $6 }' | sed 's|^\./|/|')
for f in /usr/sbin/microsegd /usr/sbin/microsegctl /usr/share/man/man8/microsegd.8.gz \
	/usr/share/man/man8/microsegctl.8.gz /lib/systemd/system/microsegd.service \
	/etc/microsegd/policy.yaml /etc/logrotate.d/microsegd \
	/usr/share/bash-completion/completions/microsegd \
	/usr/share/bash-completion/completions/microsegctl \
	/usr/share/doc/microsegd/copyright /usr/share/doc/microsegd/changelog.Debian.gz; do
	check "deb-has-$f" grep -qx "$f" <<<"$contents"
done
conffiles=$(dpkg-deb --ctrl-tarfile "$DEB" | tar -xOf - ./conffiles)
check deb-conffile-policy grep -qx /etc/microsegd/policy.yaml <<<"$conffiles"
check deb-conffile-logrotate grep -qx /etc/logrotate.d/microsegd <<<"$conffiles"
depends=$(dpkg-deb -f "$DEB" Depends)
for lib in libbpf1 libyaml-0-2 libcjson1 libmicrohttpd12 libcurl4 libc6; do
	check "deb-depends-$lib" grep -q "\\b$lib\\b" <<<"$depends"
done

# The logrotate snippet parses, and sends SIGHUP to the unit's main process
# (systemctl's own parser accepts the options, whether or not systemd runs).
check logrotate-config-parses quiet logrotate -d -s "$CACHE_DIR/logrotate.state" scripts/microsegd.logrotate
check logrotate-sends-sighup grep -q 'systemctl kill --kill-who=main --signal=HUP microsegd.service' \
	scripts/microsegd.logrotate
check logrotate-systemctl-options test "$(systemctl kill --kill-who=main --signal=HUP \
	microsegd-no-such.service 2>&1 | grep -c 'unrecognized option')" -eq 0

# The completions complete, with the bash-completion of this machine.
comp() { # SCRIPT FUNCTION WORDS...: the candidates for the last word
	bash -c 'source /usr/share/bash-completion/bash_completion; source "$1"; f=$2; shift 2
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
		"$f"; echo "${COMPREPLY[*]}"' _ "$@"
}
check completion-microsegd-options test "$(comp scripts/completion/microsegd _microsegd microsegd --wat)" = --watch
check completion-microsegd-mode test "$(comp scripts/completion/microsegd _microsegd microsegd -m '')" = "enforce monitor"
check completion-microsegctl-commands test "$(comp scripts/completion/microsegctl _microsegctl microsegctl --json gr)" = graph
check completion-microsegctl-verdict test "$(comp scripts/completion/microsegctl _microsegctl microsegctl flows --verdict d)" = deny

# --- a fresh Debian 12 root
pkgroot_tarball
check debootstrap-root test -s "$ROOT_TARBALL"
ROOT=$CACHE_DIR/root.$$
pkgroot_unpack "$ROOT"
check root-is-debian-12 grep -q '^12' "$ROOT/etc/debian_version"
mount -t proc proc "$ROOT/proc" && MOUNTED=1
python3 tests/pkg/rootdiff.py snap "$ROOT" "$CACHE_DIR/before.$$" || fatal snapshot "cannot list $ROOT"
in_root() { chroot "$ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }

# --- install: apt resolves Depends: from the archive
cp "$DEB" "$ROOT/tmp/"
debname=$(basename "$DEB")
# With its recommends, as `apt install ./microsegd.deb` does: logrotate and
# a scheduler for it, never a mail server (cron would recommend one).
sim=$(in_root apt-get install -s "/tmp/$debname" 2>&1 | awk '$1 == "Inst" { print $2 }')
check recommends-logrotate grep -qx logrotate <<<"$sim"
check recommends-no-mail-server test -z "$(grep -E '^(exim4|postfix|nullmailer|msmtp|dma|opensmtpd|sendmail|bsd-mailx)' <<<"$sim")"
if ! in_root apt-get install -y -q --no-install-recommends "/tmp/$debname" >"$CACHE_DIR/install.log" 2>&1; then
	tail -n 15 "$CACHE_DIR/install.log"
	fatal install "apt-get install of the package in the $SUITE root failed (archive unreachable?)"
fi
pass install
check installed-ok test "$(in_root dpkg-query -W -f='${db:Status-Status}' microsegd)" = installed
for f in /usr/sbin/microsegd /usr/sbin/microsegctl /usr/share/man/man8/microsegd.8.gz \
	/usr/share/man/man8/microsegctl.8.gz /lib/systemd/system/microsegd.service \
	/etc/microsegd/policy.yaml /etc/logrotate.d/microsegd \
	/usr/share/bash-completion/completions/microsegd \
	/usr/share/bash-completion/completions/microsegctl \
	/usr/share/doc/microsegd/copyright /usr/share/doc/microsegd/examples/three-tier.yaml; do
	check "root-has-$f" test -e "$ROOT$f"
done
check unit-runs-usr-sbin grep -q '^ExecStart=/usr/sbin/microsegd ' "$ROOT/lib/systemd/system/microsegd.service"
# Enabled, not started: the WantedBy= link exists; nothing was started.
check unit-enabled test "$(readlink "$ROOT/etc/systemd/system/multi-user.target.wants/microsegd.service")" = \
	/lib/systemd/system/microsegd.service
check_conffile() { in_root dpkg-query -W -f='${Conffiles}\n' microsegd | grep -q " $1 "; }
check root-conffile-policy check_conffile /etc/microsegd/policy.yaml

# --- it runs there, with the libraries apt installed
out=$(in_root microsegd --check -p /etc/microsegd/policy.yaml 2>&1)
rc=$?
check root-check-exit-0 test "$rc" -eq 0
check root-check-summary grep -q 'rules' <<<"$out"
# Enabled means started at the next boot: the policy shipped drops nothing.
check root-policy-is-monitor grep -q 'mode: *monitor' <<<"$out"
for p in "$ROOT"/usr/share/doc/microsegd/examples/*.yaml; do
	check "root-check-example-$(basename "$p" .yaml)" quiet in_root microsegd --check \
		-p "/usr/share/doc/microsegd/examples/$(basename "$p")"
done
printf 'version: 1\nrules:\n  - name: x\n    bogus: 1\n' >"$ROOT/tmp/bad.yaml"
out=$(in_root microsegd --check -p /tmp/bad.yaml 2>&1)
rc=$?
check root-check-invalid-exit-1 test "$rc" -eq 1
check root-check-invalid-position grep -q '/tmp/bad.yaml:4:5:' <<<"$out"
check root-version test "$(in_root microsegd --version)" = "microsegd $(dpkg-deb -f "$DEB" Version | cut -d- -f1)"
check root-ctl-help quiet in_root microsegctl --help
check root-man-page test -s "$ROOT/usr/share/man/man8/microsegd.8.gz"

# --- purge: what the agent made at run time goes too
mkdir -p "$ROOT/var/lib/microsegd" "$ROOT/var/log/microsegd"
echo '{}' >"$ROOT/var/lib/microsegd/graph.json"
echo '{}' >"$ROOT/var/log/microsegd/flows.jsonl"
check remove quiet in_root dpkg --remove microsegd
check remove-keeps-conffile test -e "$ROOT/etc/microsegd/policy.yaml"
check purge quiet in_root dpkg --purge microsegd
check purged test -z "$(in_root dpkg-query -W -f='${db:Status-Status}' microsegd 2>/dev/null)"
left=$(python3 tests/pkg/rootdiff.py leftovers "$ROOT" "$CACHE_DIR/before.$$")
rc=$?
[ -z "$left" ] || echo "$left" | sed 's/^/  left behind: /'
check purge-leaves-nothing test "$rc" -eq 0
check purge-no-microsegd-paths test -z "$(find "$ROOT" -xdev -name '*microsegd*' \
	-not -path "$ROOT/var/lib/dpkg/*" -not -path "$ROOT/var/cache/apt/*" -not -path "$ROOT/tmp/*" \
	-not -path "$ROOT/var/log/*")"
rm -f "$CACHE_DIR/before.$$"
t_finish
