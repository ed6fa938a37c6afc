#!/bin/sh
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#
# build.sh VERSION REVISION WORKDIR OUTPUT.deb: the Debian package, with
# Debian's own tools. The binaries are built with dpkg-buildflags (hardening)
# in WORKDIR, installed by `make install DESTDIR=` with PREFIX=/usr, stripped
# as dh_strip would, man pages and changelog compressed, the control file
# filled from scripts/deb/control.in with Depends: from dpkg-shlibdeps, and
# the tree packed by dpkg-deb as root:root.
set -eu

VERSION=$1
REVISION=$2
WORK=$3
OUT=$4
TOP=$(cd "$(dirname "$0")/../.." && pwd)
DEB=$TOP/scripts/deb
DEBVER=$VERSION-$REVISION
ARCH=$(dpkg --print-architecture)

die() {
	echo "make deb: $*" >&2
	exit 1
}

for t in dpkg-deb dpkg-shlibdeps dpkg-buildflags dpkg-parsechangelog strip; do
	command -v "$t" >/dev/null 2>&1 || die "$t is missing (scripts/install-deps.sh installs it)"
done
cd "$TOP"
top=$(dpkg-parsechangelog -l "$DEB/changelog" -S Version)
[ "$top" = "$DEBVER" ] ||
	die "scripts/deb/changelog starts at $top, the Makefile builds $DEBVER: add an entry"
MAINT=$(dpkg-parsechangelog -l "$DEB/changelog" -S Maintainer)

mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
# The layout dpkg-shlibdeps expects: debian/control (a minimal one, of a
# source package) and the package's tree in debian/PACKAGE.
ROOT=$WORK/debian/microsegd
# A clean build every time: make does not see flags change.
rm -rf "$WORK/debian" "$WORK/build" "$WORK/bin"
mkdir -p "$WORK/debian"
printf 'Source: microsegd\n\nPackage: microsegd\nArchitecture: any\n' >"$WORK/debian/control"

# Debian's hardening flags come in through the environment: the Makefile
# appends its own to CPPFLAGS and CFLAGS and links with LDFLAGS.
DEB_BUILD_MAINT_OPTIONS=hardening=+all
export DEB_BUILD_MAINT_OPTIONS
eval "$(dpkg-buildflags --export=sh)"
export CFLAGS CPPFLAGS LDFLAGS
make --no-print-directory BUILD="$WORK/build" BINDIR="$WORK/bin" PREFIX=/usr \
	DESTDIR="$ROOT" install >"$WORK/install.log" 2>&1 ||
	{ tail -n 30 "$WORK/install.log" >&2; die "the build failed (log: $WORK/install.log)"; }

# The package's /etc/microsegd/policy.yaml drops nothing: the unit is
# enabled and will start at the next boot, before anyone wrote a policy.
install -m 0644 policies/learn.yaml "$ROOT/etc/microsegd/policy.yaml"

for b in "$ROOT"/usr/sbin/*; do
	strip --remove-section=.comment --remove-section=.note --strip-unneeded "$b"
done
gzip -9n "$ROOT"/usr/share/man/man8/*.8
DOC=$ROOT/usr/share/doc/microsegd
install -m 0644 "$DEB/copyright" "$DOC/copyright"
gzip -9n <"$DEB/changelog" >"$DOC/changelog.Debian.gz"
chmod 0644 "$DOC/changelog.Debian.gz"
install -D -m 0644 "$DEB/lintian-overrides" "$ROOT/usr/share/lintian/overrides/microsegd"

# dpkg-shlibdeps knows a package's tree by its DEBIAN directory.
mkdir -p "$ROOT/DEBIAN"
DEPENDS=$(cd "$WORK" && dpkg-shlibdeps -O debian/microsegd/usr/sbin/microsegd \
	debian/microsegd/usr/sbin/microsegctl) ||
	die "dpkg-shlibdeps failed"
DEPENDS=${DEPENDS#shlibs:Depends=}
[ -n "$DEPENDS" ] || die "dpkg-shlibdeps found no dependencies"

mkdir -p "$ROOT/DEBIAN"
SIZE=$(du -sk --apparent-size "$ROOT" | cut -f1)
sed -e "s|@VERSION@|$DEBVER|" -e "s|@ARCH@|$ARCH|" -e "s|@MAINTAINER@|$MAINT|" \
	-e "s|@SIZE@|$SIZE|" -e "s|@DEPENDS@|$DEPENDS|" "$DEB/control.in" >"$ROOT/DEBIAN/control"
install -m 0644 "$DEB/conffiles" "$ROOT/DEBIAN/conffiles"
for s in postinst prerm postrm; do
	install -m 0755 "$DEB/$s" "$ROOT/DEBIAN/$s"
done
(cd "$ROOT" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z |
	xargs -0 md5sum >DEBIAN/md5sums)
chmod 0644 "$ROOT/DEBIAN/md5sums"
# Whatever the umask of the build: directories 0755, files 0644 or 0755.
find "$ROOT" -type d -exec chmod 0755 {} +

mkdir -p "$(dirname "$OUT")"
# Renamed into place: a test reading the previous package (tests run in
# parallel) never sees half of this one.
dpkg-deb --root-owner-group -Zxz --build "$ROOT" "$OUT.tmp" >/dev/null
mv -f "$OUT.tmp" "$OUT"
echo "  DEB      $OUT"
