# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#
# Sourced by the package tests: a fresh Debian 12 root from debootstrap,
# made once from the mirror this machine's apt uses and kept as a tarball
# under build/pkgtest/ (delete it to start over). The caller defines
# fatal NAME WHY and sets TOP (the source tree).
#
#   pkgroot_tarball           make the tarball if missing; sets ROOT_TARBALL
#   pkgroot_unpack DIR [TAR]  a pristine copy of the root (or of TAR) in DIR
#   pkgroot_derived NAME PKG... the root with PKG... too, cached; sets
#                             DERIVED_TARBALL
#   pkgroot_deb               `make deb`; sets DEB (its absolute path)
#
# When the archive cannot be reached the caller's test fails, saying so.

PKGROOT_SUITE=bookworm
PKGROOT_CACHE=$(realpath -m "${BUILD:-build}")/pkgtest
ROOT_TARBALL=$PKGROOT_CACHE/$PKGROOT_SUITE-minbase-$(dpkg --print-architecture).tar

# The first deb URI of this machine's apt sources for Debian's main suite:
# deb822 (/etc/apt/sources.list.d/*.sources) first, then one-line style.
pkgroot_mirror() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		awk -v suite="$PKGROOT_SUITE" '
			function flush() {
				if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ") && uris != "") {
					split(uris, u, " "); print u[1]; found = 1; exit
				}
				types = suites = uris = ""
			}
			/^[ \t]*$/ { flush(); next }
			/^#/ { next }
			tolower($1) == "types:" { $1 = ""; types = $0 }
			tolower($1) == "suites:" { $1 = ""; suites = $0 }
			tolower($1) == "uris:" { $1 = ""; uris = $0; sub(/^ +/, "", uris) }
			END { if (!found) flush() }' "$f" | head -n 1 | grep . && return 0
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -r "$f" ] || continue
		sed -e 's/\[[^]]*\]//' "$f" |
			awk -v suite="$PKGROOT_SUITE" '$1 == "deb" && $3 == suite { print $2; exit }' |
			grep . && return 0
	done
	return 1
}

pkgroot_tarball() {
	local mirror fresh log=$PKGROOT_CACHE/debootstrap.log
	mkdir -p "$PKGROOT_CACHE"
	[ -s "$ROOT_TARBALL" ] && return 0
	mirror=$(pkgroot_mirror) ||
		fatal debootstrap-mirror "no deb URI for $PKGROOT_SUITE in /etc/apt/sources.list{,.d/}"
	# Two tests may want it at once: one makes it, the other waits.
	exec 8>"$PKGROOT_CACHE/debootstrap.lock"
	flock 8
	if [ ! -s "$ROOT_TARBALL" ]; then
		echo "making the $PKGROOT_SUITE root from $mirror (once; kept in $ROOT_TARBALL)"
		fresh=$PKGROOT_CACHE/debootstrap.$$
		rm -rf "$fresh"
		if ! timeout 1200 debootstrap --variant=minbase "$PKGROOT_SUITE" "$fresh" "$mirror" >"$log" 2>&1; then
			tail -n 15 "$log"
			rm -rf --one-file-system "$fresh"
			fatal debootstrap "debootstrap could not make a $PKGROOT_SUITE root from $mirror (archive unreachable?); log: $log"
		fi
		# apt's indexes too: installs into a copy then only download packages.
		cp /etc/resolv.conf "$fresh/etc/resolv.conf"
		if ! timeout 600 chroot "$fresh" apt-get update -qq >>"$log" 2>&1; then
			rm -rf --one-file-system "$fresh"
			fatal debootstrap "apt-get update in the new root cannot reach $mirror"
		fi
		tar -C "$fresh" -cf "$ROOT_TARBALL.tmp" . && mv "$ROOT_TARBALL.tmp" "$ROOT_TARBALL"
		rm -rf --one-file-system "$fresh"
	fi
	exec 8>&-
	[ -s "$ROOT_TARBALL" ] || fatal debootstrap "no $ROOT_TARBALL"
}

pkgroot_unpack() {
	local tarball=${2:-$ROOT_TARBALL}
	mkdir -p "$1" && tar -C "$1" -xf "$tarball" || fatal unpack-root "cannot unpack $tarball"
	cp /etc/resolv.conf "$1/etc/resolv.conf"
}

pkgroot_deb() {
	mkdir -p "$PKGROOT_CACHE"
	# One `make deb` at a time: parallel tests share build/.
	if ! flock "$PKGROOT_CACHE/make-deb.lock" make -C "$TOP" --no-print-directory deb \
		>"$PKGROOT_CACHE/make-deb.$$.log" 2>&1; then
		tail -n 20 "$PKGROOT_CACHE/make-deb.$$.log"
		fatal make-deb "make deb failed"
	fi
	rm -f "$PKGROOT_CACHE/make-deb.$$.log"
	DEB=$TOP/$(make -C "$TOP" --no-print-directory -s deb-path)
	[ -s "$DEB" ] || fatal make-deb "no $DEB"
}

# pkgroot_derived NAME PKG...: a tarball of the root with PKG... installed
# as well (no recommends), made once; sets DERIVED_TARBALL. NAME and the
# package list name it, so another list makes another tarball.
pkgroot_derived() {
	local name=$1 sum fresh log=$PKGROOT_CACHE/$1.log
	shift
	pkgroot_tarball
	sum=$(echo "$*" | md5sum | cut -c1-8)
	DERIVED_TARBALL=$PKGROOT_CACHE/$PKGROOT_SUITE-$name-$sum-$(dpkg --print-architecture).tar
	[ -s "$DERIVED_TARBALL" ] && return 0
	exec 8>"$PKGROOT_CACHE/$name.lock"
	flock 8
	if [ ! -s "$DERIVED_TARBALL" ]; then
		echo "adding $* to the $PKGROOT_SUITE root (once; kept in $DERIVED_TARBALL)"
		fresh=$PKGROOT_CACHE/$name.$$
		rm -rf "$fresh"
		pkgroot_unpack "$fresh"
		# shellcheck disable=SC2068
		if ! DEBIAN_FRONTEND=noninteractive timeout 900 chroot "$fresh" \
			apt-get install -y -q --no-install-recommends "$@" >"$log" 2>&1; then
			tail -n 15 "$log"
			rm -rf --one-file-system "$fresh"
			fatal "$name-root" "cannot install $* in the $PKGROOT_SUITE root (archive unreachable?); log: $log"
		fi
		chroot "$fresh" apt-get clean
		tar -C "$fresh" -cf "$DERIVED_TARBALL.tmp" . && mv "$DERIVED_TARBALL.tmp" "$DERIVED_TARBALL"
		rm -rf --one-file-system "$fresh"
	fi
	exec 8>&-
	[ -s "$DERIVED_TARBALL" ] || fatal "$name-root" "no $DERIVED_TARBALL"
}

# pkgroot_deb_depends: the package names of $DEB's Depends (first of each
# alternative, no versions).
pkgroot_deb_depends() {
	dpkg-deb -f "$DEB" Depends | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/[[:space:]]//g' | grep .
}
