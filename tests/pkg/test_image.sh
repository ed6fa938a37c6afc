#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#
# The container image, built and run by a real engine (Debian's podman,
# with runc): the base imported from the cached debootstrap root of
# tests/pkg/root.sh (no registry is reachable), scripts/k8s/Containerfile
# built on it, then the agent run as the DaemonSet runs it: its arguments,
# exactly its capabilities, a read-only root, no-new-privileges and the
# seccomp profile it names, on the node network, here a namespace of this
# test's own holding a veth to a peer. Asserted: enforcing; --watch
# reloading on a ConfigMap-style ..data swap; readiness through
# `microsegctl status`; a second container adopting what the first left
# attached (--keep-attached, a rolling update); the uninstall's cleanup
# leaving nothing in tc or bpffs.
#
# Every podman call has its own storage, run root and containers.conf in
# this test's directories: nothing of the machine's configuration is used
# or changed. Fails, never skips, when it cannot run.
. "$(dirname "$0")/../e2e/lib.sh"
cd "$E2E_ROOT" || exit 1
TOP=$E2E_ROOT
BUILD=${BUILD:-build}
NS_H=msh-img-$$
NS_P=msp-img-$$
K8S=scripts/k8s
PROFILE=$K8S/seccomp-microsegd.json
BPFFS=$E2E_TMP/bpf
CM=$E2E_TMP/configmap
PMDIR=
BASE_IMG=localhost/microsegd-test-image-base-$$:12
IMG=
CTR=microsegd-test-image-$$

fatal() {
	fail "$1" "$2"
	exit 1
}

img_cleanup() {
	local rc=$?
	trap - EXIT
	if [ -n "$PMDIR" ]; then
		if [ "$rc" -ne 0 ] || [ "$E2E_FAILED" -ne 0 ]; then
			echo "--- agent container's log (last 30 lines)"
			pm logs "$CTR" 2>&1 | tail -n 30
			pm logs "$CTR-2" 2>&1 | tail -n 30
			pm logs microsegd-microsegd 2>&1 | tail -n 30
		fi
		pm rm -f -t 5 "$CTR" "$CTR-2" "$CTR-clean" >/dev/null 2>&1
		pm pod rm -f -a >/dev/null 2>&1
		pm rmi -a -f >/dev/null 2>&1
		rm -rf --one-file-system "$PMDIR"
	fi
	umount -l "$BPFFS" 2>/dev/null
	(exit "$rc")
	e2e_cleanup
}
trap img_cleanup EXIT

[ "$(id -u)" -eq 0 ] || fatal image "needs root (network namespaces, BPF)"
for t in podman runc tc python3; do
	command -v "$t" >/dev/null || fatal image "$t is missing (scripts/install-deps.sh)"
done
[ -r /usr/share/containers/seccomp.json ] || fatal image "no podman default seccomp profile (golang-github-containers-common)"
. tests/pkg/root.sh

# --- podman, entirely in this test's directories
PMDIR=$PKGROOT_CACHE/podman.$$
mkdir -p "$PMDIR/tmp"
# runc: crun refuses some cgroup layouts (v1 hybrids). Limits no higher than
# this process's own: runc cannot raise them without CAP_SYS_RESOURCE.
cat >"$PMDIR/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
log_driver = "k8s-file"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
# overlay, unless the storage itself would be on an overlayfs (vfs copies
# every layer: slow, but works anywhere).
driver=overlay
[ "$(stat -f -c %T "$PMDIR")" != overlayfs ] || driver=vfs
PODMAN=(env CONTAINERS_CONF="$PMDIR/containers.conf" TMPDIR="$PMDIR/tmp" timeout 300 podman
	--root "$PMDIR/storage" --runroot "$PMDIR/run" --storage-driver "$driver" --tmpdir "$PMDIR/libpod")
pm() { "${PODMAN[@]}" "$@"; }
# pm_node ARGS...: podman run in the node's namespace, its host network.
pm_node() { nsenter --net="/run/netns/$NS_H" "${PODMAN[@]}" "$@"; }

# --- the base: the debootstrap root, without apt's indexes, as debian:12-slim
pkgroot_deb
pkgroot_tarball
mkdir -p "$PMDIR/base"
pkgroot_unpack "$PMDIR/base"
rm -rf "$PMDIR/base/var/lib/apt/lists/"* "$PMDIR/base/var/cache/apt/"*
tar -C "$PMDIR/base" -c . | pm import - "$BASE_IMG" >"$E2E_TMP/import.log" 2>&1 ||
	{ tail "$E2E_TMP/import.log"; fatal image-base "podman import of the root failed"; }
rm -rf --one-file-system "$PMDIR/base"
pass image-base-imported

# --- build, as the Containerfile says (the archive reached from the host's network)
ver=$(basename "$DEB" | cut -d_ -f2)
IMG=localhost/microsegd-test-image-$$:$ver
if ! pm build --network host --build-arg BASE="$BASE_IMG" --build-arg DEB="$(make -s deb-path)" \
	-f "$K8S/Containerfile" -t "$IMG" . >"$E2E_TMP/build.log" 2>&1; then
	tail -n 20 "$E2E_TMP/build.log"
	fatal image-build "podman build failed"
fi
pass image-build
in_img() { pm run --rm --network none --entrypoint /bin/sh "$IMG" -c "$1"; }
check image-no-apt-caches test -z "$(in_img 'find /var/lib/apt/lists /var/cache/apt -type f')"
check image-no-mta test -z "$(in_img 'ls /usr/sbin/sendmail /usr/sbin/exim4 2>/dev/null')"
check image-version test "$(pm run --rm --network none "$IMG" --version)" = "microsegd ${ver%-*}"

# --- the node: namespaces, a veth, a bpffs, the ConfigMap's directory
write_netpy
e2e_netns_add "$NS_H" && e2e_netns_add "$NS_P" &&
	e2e_link "$NS_H" eth0 "$HOST4" "$HOST6" "$NS_P" veth1 "$PEER4" "$PEER6" ||
	fatal netns "cannot create the namespaces and their veth pair"
mkdir -p "$BPFFS" "$E2E_TMP/run" "$E2E_TMP/state"
mount -t bpf bpf "$BPFFS" || fatal bpffs "cannot mount a bpffs"
# kubelet's layout: policy.yaml -> ..data/policy.yaml, ..data -> ..TIMESTAMP
cm_write() { # DIR POLICY: a new version of the ConfigMap, swapped in atomically
	mkdir -p "$CM/..$1"
	cp "$2" "$CM/..$1/policy.yaml"
	ln -sfn "..$1" "$CM/..data_tmp"
	mv -T "$CM/..data_tmp" "$CM/..data"
	[ -L "$CM/policy.yaml" ] || ln -s ..data/policy.yaml "$CM/policy.yaml"
}
cat >"$E2E_TMP/allow.yaml" <<'YAML'
version: 1
default: deny
rules:
  - name: web
    action: allow
    direction: ingress
    ports: [tcp/7001, tcp/9750, tcp/9751]
YAML
sed 's|\[tcp/7001, |[tcp/7001, tcp/7002, |' "$E2E_TMP/allow.yaml" >"$E2E_TMP/more.yaml"
mkdir -p "$CM"
cm_write v1 "$E2E_TMP/allow.yaml"

# The DaemonSet's container, read from the manifest: arguments (the
# interface and node address substituted), capabilities, mounts.
mapfile -t ds < <(python3 - "$K8S/microsegd.yaml" "$HOST4" <<'PY'
import sys, yaml
docs = list(yaml.safe_load_all(open(sys.argv[1])))
ds = next(d for d in docs if d['kind'] == 'DaemonSet')
c = ds['spec']['template']['spec']['containers'][0]
sc = c['securityContext']
assert sc['readOnlyRootFilesystem'] and not sc['allowPrivilegeEscalation']
print('caps=' + ','.join(sc['capabilities']['add']))
iface = next(d for d in docs if d['kind'] == 'ConfigMap')['data']['interface']
print('seccomp=' + ds['spec']['template']['spec']['securityContext']['seccompProfile']['localhostProfile'])
for a in c['args']:
    print('arg=' + a.replace('$(MICROSEGD_INTERFACE)', iface).replace('$(NODE_IP)', sys.argv[2]))
PY
)
caps=$(printf '%s\n' "${ds[@]}" | sed -n 's/^caps=//p')
args=()
while read -r a; do args+=("$a"); done < <(printf '%s\n' "${ds[@]}" | sed -n 's/^arg=//p')
check manifest-read test -n "$caps" -a "${#args[@]}" -gt 4
check manifest-names-the-profile test "$(printf '%s\n' "${ds[@]}" | sed -n 's/^seccomp=//p')" = "$(basename "$PROFILE")"
run_agent() { # NAME: the agent, as the DaemonSet runs it
	pm run -d --name "$1" --network "ns:/run/netns/$NS_H" \
		--cap-drop all --cap-add "$caps" --read-only \
		--security-opt no-new-privileges --security-opt "seccomp=$PROFILE" \
		-v "$CM:/etc/microsegd:ro" -v "$E2E_TMP/run:/run/microsegd" \
		-v "$E2E_TMP/state:/var/lib/microsegd" -v "$BPFFS:/sys/fs/bpf" \
		-v /sys/fs/cgroup:/sys/fs/cgroup:ro \
		--entrypoint /usr/sbin/microsegd "$IMG" "${args[@]}" >/dev/null
}
logs_have() { pm logs "$1" 2>&1 | grep -Eq -- "$2"; }
ready() { pm exec "$1" microsegctl --socket /run/microsegd/microsegd.sock status >/dev/null 2>&1; }
filters() { tc -n "$NS_H" filter show dev eth0 ingress; tc -n "$NS_H" filter show dev eth0 egress; }
pins() { find "$BPFFS" -mindepth 1 ! -name '*.debug' 2>/dev/null; }

# The engine's default seccomp profile refuses bpf() without CAP_SYS_ADMIN:
# the agent says so, exits 3 and leaves nothing behind.
pm run --rm --network "ns:/run/netns/$NS_H" --cap-drop all --cap-add "$caps" --read-only \
	--security-opt no-new-privileges -v "$CM:/etc/microsegd:ro" -v "$BPFFS:/sys/fs/bpf" \
	--entrypoint /usr/sbin/microsegd "$IMG" -i eth0 --api-socket none --state-dir none \
	>"$E2E_TMP/default-seccomp.log" 2>&1
check default-seccomp-exit-3 test $? -eq 3
check default-seccomp-names-seccomp grep -q 'although CAP_BPF is held: a seccomp filter' "$E2E_TMP/default-seccomp.log"
check_not default-seccomp-not-incompatible grep -q 'incompatible' "$E2E_TMP/default-seccomp.log"
check default-seccomp-leaves-no-pin test -z "$(pins)"
check default-seccomp-leaves-no-filter test -z "$(filters)"

serve "$NS_H" tcp/7001 tcp/7002 || fatal serve "cannot start the echo server"
run_agent "$CTR" || fatal run "podman run failed"
pass run
check ready wait_for 30 ready "$CTR"
check running test "$(pm inspect -f '{{.State.Running}}' "$CTR")" = true
check allowed-answers tcp_ok "$NS_P" "$HOST4" 7001
check_not denied-refused tcp_ok "$NS_P" "$HOST4" 7002
check state-pinned test -n "$(find "$BPFFS" -name 'netns-*')"
# --metrics on the node address serves /metrics only; --web stays local
# (9751 is allowed: nothing listens there on the node address).
http_code() { ip netns exec "$NS_P" curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$1"; }
check metrics-on-node-address test "$(http_code "http://$HOST4:9750/metrics")" = 200
check api-not-on-metrics-port test "$(http_code "http://$HOST4:9750/v1/status")" = 404
check web-not-on-node-network test "$(http_code "http://$HOST4:9751/")" = 000

# --- --watch: kubelet's ..data swap reloads the policy
cm_write v2 "$E2E_TMP/more.yaml"
check watch-reloads eventually 15 tcp_ok "$NS_P" "$HOST4" 7002
check watch-logged logs_have "$CTR" 'policy reloaded: .*generation 2' 

# --- a rolling update: the old container stops, the classifier stays
pm stop -t 30 "$CTR" >/dev/null 2>&1
check stop-exit-0 test "$(pm inspect -f '{{.State.ExitCode}}' "$CTR")" = 0
check update-still-attached test -n "$(filters)"
check update-still-enforcing tcp_ok "$NS_P" "$HOST4" 7002
run_agent "$CTR-2" || fail run-2 "podman run of the second container failed"
check update-ready wait_for 30 ready "$CTR-2"
check update-adopted logs_have "$CTR-2" 'adopted the state pinned' 
check update-allowed-answers tcp_ok "$NS_P" "$HOST4" 7001

# --- the uninstall: stop, then the cleanup leaves nothing
pm stop -t 30 "$CTR-2" >/dev/null 2>&1
pm run --name "$CTR-clean" --network "ns:/run/netns/$NS_H" \
	--cap-drop all --cap-add "$caps" --read-only \
	--security-opt no-new-privileges --security-opt "seccomp=$PROFILE" \
	-v "$BPFFS:/sys/fs/bpf" --entrypoint /usr/sbin/microsegd "$IMG" --cleanup -i eth0 \
	>"$E2E_TMP/cleanup.log" 2>&1
check cleanup-exit-0 test $? -eq 0
check cleanup-no-filter test -z "$(filters)"
check cleanup-no-pin test -z "$(pins)"
check cleanup-unenforced tcp_ok "$NS_P" "$HOST4" 7002

# --- the Pod variant, by `podman kube play` run in the node's namespace
# (its host network: podman 4.3's pods take no namespace path): its node
# paths the test's, its policy the test's enforcing one
POD_YAML=$E2E_TMP/pod.yaml
mkdir -p "$E2E_TMP/kube/run" "$E2E_TMP/kube/state"
python3 - "$K8S/microsegd-pod.yaml" "$POD_YAML" "$E2E_TMP/kube" "$BPFFS" "$E2E_TMP/allow.yaml" <<'PY' ||
import sys, yaml
src, out, kube, bpffs, policy = sys.argv[1:6]
docs = list(yaml.safe_load_all(open(src)))
pod = next(d for d in docs if d['kind'] == 'Pod')
spec = pod['spec']
where = {'/run/microsegd': kube + '/run', '/var/lib/microsegd': kube + '/state', '/sys/fs/bpf': bpffs}
for v in spec['volumes']:
    if 'hostPath' in v and v['hostPath']['path'] in where:
        v['hostPath']['path'] = where[v['hostPath']['path']]
next(d for d in docs if d['kind'] == 'ConfigMap')['data']['policy.yaml'] = open(policy).read()
yaml.safe_dump_all(docs, open(out, 'w'))
PY
	fatal kube-yaml "cannot adapt $K8S/microsegd-pod.yaml"
pod_image=$(python3 -c 'import sys, yaml; print(next(d for d in yaml.safe_load_all(open(sys.argv[1])) if d["kind"] == "Pod")["spec"]["containers"][0]["image"])' "$K8S/microsegd-pod.yaml")
check kube-image-is-package-version test "$pod_image" = "microsegd:$ver"
# The Pod's image by its short name, in this test's own storage.
pm tag "$IMG" "localhost/$pod_image" >/dev/null
pm_node kube play --seccomp-profile-root "$TOP/$K8S" "$POD_YAML" \
	>"$E2E_TMP/kube.log" 2>&1
rc=$?
check kube-play-exit-0 test "$rc" -eq 0
[ "$rc" -eq 0 ] || sed 's/^/  /' "$E2E_TMP/kube.log"
KCTR=microsegd-microsegd
check kube-ready wait_for 30 ready "$KCTR"
check kube-allowed-answers tcp_ok "$NS_P" "$HOST4" 7001
check_not kube-denied-refused tcp_ok "$NS_P" "$HOST4" 7002
pm_node kube down "$POD_YAML" >>"$E2E_TMP/kube.log" 2>&1
check kube-down-exit-0 test $? -eq 0
check kube-down-left-attached test -n "$(filters)"
pm run --rm --network "ns:/run/netns/$NS_H" --cap-drop all --cap-add "$caps" --read-only \
	--security-opt no-new-privileges --security-opt "seccomp=$PROFILE" \
	-v "$BPFFS:/sys/fs/bpf" "$IMG" --cleanup -i eth0 >>"$E2E_TMP/cleanup.log" 2>&1
check kube-cleanup-exit-0 test $? -eq 0
check kube-cleanup-no-filter test -z "$(filters)"
check kube-cleanup-no-pin test -z "$(pins)"
e2e_finish
