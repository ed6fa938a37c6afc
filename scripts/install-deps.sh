#!/bin/sh
# Install, from Debian's archive, the build and test dependencies that are
# missing. Idempotent: packages already present are left alone, and apt is not
# touched at all when nothing is missing.
set -eu

PKGS="make gcc clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev \
libcjson-dev libyaml-dev iproute2 pkg-config libclang-rt-14-dev \
clang-format ncat python3 nftables iptables systemd iperf3 gnuplot-nox \
iputils-ping man-db libmicrohttpd-dev libcurl4-openssl-dev \
python3-prometheus-client curl conntrack \
node-d3 xxd chromium chromium-driver python3-selenium python3-pil fonts-dejavu-core \
dpkg-dev lintian debootstrap bash-completion python3-yaml logrotate \
systemd-container util-linux podman runc golang-github-containers-common catatonit"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		exec sudo "$0" "$@"
	fi
	echo "install-deps: missing:$missing; run as root to install them" >&2
	exit 1
fi

echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
