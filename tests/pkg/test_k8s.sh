#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#
# The Kubernetes manifests and the Containerfile, offline: no cluster, no
# kubectl (not in Debian 12). tests/pkg/k8s_check.py checks the manifest; the
# same checker must reject broken copies of it, or it proves nothing. The
# image itself is built and run by tests/pkg/test_image.sh.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
K8S=scripts/k8s
MS=${MS_CHECK_BIN:-bin/microsegd}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ms-k8s.XXXXXX")
# KEEP=1 keeps the mutants and the checker's verdicts on them.
trap '[ -n "${KEEP:-}" ] || rm -rf "$TMP"' EXIT
. tests/lib/testlib.sh

[ -x "$MS" ] || { fail k8s "$MS not built (make)"; exit 1; }
python3 -c 'import yaml' 2>/dev/null || { fail k8s "python3-yaml missing (scripts/install-deps.sh)"; exit 1; }

python3 tests/pkg/k8s_check.py "$K8S/microsegd.yaml" scripts/microsegd.service "$MS" || T_FAILED=1

# mutant NAME PYTHON: a copy of the manifest changed by PYTHON (over the
# list of documents `docs`, the DaemonSet `ds` and its container `c`) must
# fail the checker.
mutant() {
	local name=$1
	python3 tests/pkg/k8s_mutant.py "$K8S/microsegd.yaml" "$TMP/$name.yaml" "$2"
	if python3 tests/pkg/k8s_check.py "$TMP/$name.yaml" scripts/microsegd.service "$MS" >"$TMP/$name.out"; then
		fail "k8s-rejects-$name" "the checker accepted it"
	else
		pass "k8s-rejects-$name"
	fi
}
mutant extra-capability "c['securityContext']['capabilities']['add'].append('SYS_ADMIN')"
mutant missing-capability "c['securityContext']['capabilities']['add'].remove('BPF')"
mutant no-host-network "ds['spec']['template']['spec']['hostNetwork'] = False"
mutant no-watch "c['args'].remove('--watch')"
mutant subpath-policy "next(m for m in c['volumeMounts'] if m['name'] == 'policy')['subPath'] = 'policy.yaml'"
mutant no-bpffs "c['volumeMounts'] = [m for m in c['volumeMounts'] if m['name'] != 'bpffs']"
mutant probe-other-socket "c['readinessProbe']['exec']['command'][2] = '/run/other.sock'"
mutant unquoted-annotation "ds['spec']['template']['metadata']['annotations']['prometheus.io/scrape'] = True"
mutant wrong-port "ds['spec']['template']['metadata']['annotations']['prometheus.io/port'] = '9999'"
mutant typo-key "c['readinesProbe'] = c.pop('readinessProbe')"
mutant wrong-apiversion "ds['apiVersion'] = 'extensions/v1beta1'"
mutant web-on-node-address "c['args'][c['args'].index('--web') + 1] = '\$(NODE_IP):9751'"
mutant no-metrics "i = c['args'].index('--metrics'); del c['args'][i:i + 2]"
mutant no-memory-limit "del c['resources']['limits']"
mutant no-seccomp "del ds['spec']['template']['spec']['securityContext']"
mutant seccomp-unconfined "ds['spec']['template']['spec']['securityContext']['seccompProfile'] = {'type': 'Unconfined'}"
mutant no-keep-attached "c['args'].remove('--keep-attached')"
mutant writable-root "c['securityContext']['readOnlyRootFilesystem'] = False"
mutant invalid-policy "next(d for d in docs if d['kind'] == 'ConfigMap')['data']['policy.yaml'] += '    bogus: 1\n'"

# The Pod for `podman kube play` is the DaemonSet's agent: the same
# security settings, mounts and arguments but for what podman cannot do
# ($(VAR) in args; no --metrics and --web, which need the node address).
pod_same() {
	python3 - "$K8S/microsegd.yaml" "$K8S/microsegd-pod.yaml" <<'PY'
import sys, yaml
ds = next(d for d in yaml.safe_load_all(open(sys.argv[1])) if d['kind'] == 'DaemonSet')
pod = next(d for d in yaml.safe_load_all(open(sys.argv[2])) if d['kind'] == 'Pod')
dc, pc = ds['spec']['template']['spec']['containers'][0], pod['spec']['containers'][0]
def args(a):
    out, skip = [], False
    for x in a:
        if skip:
            skip = False
        elif x in ('--metrics', '--web'):
            skip = True
        else:
            out.append(x)
    return out
iface = pc['args'][pc['args'].index('--interface') + 1]
want = [x.replace('$(MICROSEGD_INTERFACE)', iface) for x in args(dc['args'])]
prof = ds['spec']['template']['spec']['securityContext']['seccompProfile']
ok = {
    'security-context': dc['securityContext'] == pc['securityContext'],
    'mounts': dc['volumeMounts'] == pc['volumeMounts'],
    'args': want == pc['args'],
    'image': dc['image'] == pc['image'],
    'host-network': pod['spec'].get('hostNetwork') is True,
    'seccomp': pod['spec']['securityContext']['seccompProfile'] == prof and
        pod['metadata']['annotations']['seccomp.security.alpha.kubernetes.io/pod'] ==
        'localhost/' + prof['localhostProfile'],
    'no-ports': not pc.get('ports'),
}
bad = [k for k, v in ok.items() if not v]
print(' '.join(bad))
sys.exit(1 if bad else 0)
PY
}
check pod-variant-is-the-daemonsets pod_same

# The Containerfile: Debian 12, the package `make deb` builds, the agent as
# entry point, the tag the DaemonSet runs.
CF=$K8S/Containerfile
deb=$(make --no-print-directory -s deb-path)
check containerfile-base-debian-12 grep -Eqx 'ARG BASE=debian:(12|bookworm)(-slim)?' "$CF"
check containerfile-from-base grep -qx 'FROM ${BASE}' "$CF"
check containerfile-cleans-apt grep -q 'apt-get clean' "$CF"
# The profile is the generator's output from this machine's engine default.
check seccomp-profile-generated cmp -s "$K8S/seccomp-microsegd.json" \
	<(python3 "$K8S/seccomp-profile.py" /usr/share/containers/seccomp.json -)
check containerfile-names-the-deb grep -qx "ARG DEB=$deb" "$CF"
check containerfile-installs-the-deb grep -q 'apt-get install .*/tmp/microsegd.deb' "$CF"
check containerfile-entrypoint grep -qx 'ENTRYPOINT \["/usr/sbin/microsegd"\]' "$CF"
ver=$(basename "$deb" | cut -d_ -f2)
check daemonset-image-is-package-version grep -q "image: microsegd:$ver\$" "$K8S/microsegd.yaml"
check containerfile-tag-is-package-version grep -q -- "-t microsegd:$ver " "$CF"
t_finish
