#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""Offline checks of scripts/k8s/microsegd.yaml (no cluster, no kubectl).

  k8s_check.py MANIFEST UNIT MICROSEGD

A small schema of the Kubernetes objects the manifest uses (kinds and their
apiVersion, the keys each object may have, the types the API server insists
on: strings for labels, annotations and env values, integers for ports),
then what microsegd needs of them: host network, exactly the systemd unit's
capabilities (UNIT's CapabilityBoundingSet=), the bpffs, cgroup, policy and
socket mounts, the agent started with --watch on the mounted policy, the
readiness probe asking /v1/status through microsegctl on that socket,
Prometheus annotations matching --metrics, --web on loopback only, the
seccomp profile and --keep-attached, and the ConfigMap's policy passing
`MICROSEGD --check`. Prints PASS:/FAIL: per case, exits 1 on any failure.
"""
import os
import re
import subprocess
import sys
import tempfile

import yaml

FAILED = False


def check(name, ok, why=''):
    global FAILED
    if ok:
        print('PASS: k8s-%s' % name)
    else:
        FAILED = True
        print('FAIL: k8s-%s%s' % (name, ': ' + why if why else ''))
    return ok


API = {'Namespace': 'v1', 'ServiceAccount': 'v1', 'ConfigMap': 'v1', 'DaemonSet': 'apps/v1'}

# The keys of the API's objects that the manifest may use; a key outside
# them is a typo the API server would reject (or, worse, drop).
TOP = {
    'Namespace': {'apiVersion', 'kind', 'metadata', 'spec'},
    'ServiceAccount': {'apiVersion', 'kind', 'metadata', 'automountServiceAccountToken',
                       'secrets', 'imagePullSecrets'},
    'ConfigMap': {'apiVersion', 'kind', 'metadata', 'data', 'binaryData', 'immutable'},
    'DaemonSet': {'apiVersion', 'kind', 'metadata', 'spec'},
}
METADATA = {'name', 'namespace', 'labels', 'annotations'}
DS_SPEC = {'selector', 'template', 'updateStrategy', 'minReadySeconds', 'revisionHistoryLimit'}
POD_SPEC = {'containers', 'initContainers', 'volumes', 'hostNetwork', 'hostPID', 'hostIPC',
            'dnsPolicy', 'serviceAccountName', 'automountServiceAccountToken',
            'priorityClassName', 'terminationGracePeriodSeconds', 'tolerations',
            'nodeSelector', 'affinity', 'securityContext', 'imagePullSecrets'}
CONTAINER = {'name', 'image', 'imagePullPolicy', 'command', 'args', 'env', 'envFrom', 'ports',
             'securityContext', 'readinessProbe', 'livenessProbe', 'startupProbe',
             'resources', 'volumeMounts', 'workingDir', 'lifecycle'}
SEC_CTX = {'privileged', 'allowPrivilegeEscalation', 'readOnlyRootFilesystem', 'runAsUser',
           'runAsGroup', 'runAsNonRoot', 'capabilities', 'seccompProfile', 'seLinuxOptions'}
POD_SEC_CTX = {'seccompProfile', 'runAsUser', 'runAsGroup', 'runAsNonRoot', 'fsGroup',
               'seLinuxOptions', 'supplementalGroups', 'sysctls'}
PROBE = {'exec', 'httpGet', 'tcpSocket', 'grpc', 'initialDelaySeconds', 'periodSeconds',
         'timeoutSeconds', 'failureThreshold', 'successThreshold'}
MOUNT = {'name', 'mountPath', 'readOnly', 'subPath', 'mountPropagation'}
VOLUME = {'name', 'configMap', 'hostPath', 'emptyDir', 'secret', 'projected'}
HOSTPATH_TYPES = {'', 'DirectoryOrCreate', 'Directory', 'FileOrCreate', 'File', 'Socket',
                  'CharDevice', 'BlockDevice'}


def keys_ok(name, obj, allowed):
    if not isinstance(obj, dict):
        return check(name, False, 'not a mapping')
    extra = sorted(set(obj) - allowed)
    return check(name, not extra, 'unknown keys %s' % extra)


def str_map(name, m):
    bad = [k for k, v in (m or {}).items() if not isinstance(k, str) or not isinstance(v, str)]
    return check(name, not bad, 'values must be strings (quote them): %s' % bad)


def unit_caps(unit):
    caps = None
    for line in open(unit):
        m = re.match(r'\s*CapabilityBoundingSet=(.*)', line)
        if m:
            caps = {c[len('CAP_'):] for c in m.group(1).split()}
    return caps


def opt(args, name):
    """The value following --name in a container's args."""
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            return args[i + 1]
    return None


def under(path, mounts):
    """The mount holding path, or None."""
    best = None
    for m in mounts:
        mp = m['mountPath'].rstrip('/')
        if path == mp or path.startswith(mp + '/'):
            if best is None or len(mp) > len(best['mountPath']):
                best = m
    return best


def main():
    manifest, unit, microsegd = sys.argv[1:4]
    try:
        docs = [d for d in yaml.safe_load_all(open(manifest)) if d is not None]
    except yaml.YAMLError as e:
        check('yaml', False, str(e))
        return 1
    check('yaml', True)
    by_kind = {}
    for d in docs:
        kind = d.get('kind')
        if not check('kind-known-%s' % kind, kind in API, 'not one of %s' % sorted(API)):
            continue
        check('apiversion-%s' % kind, d.get('apiVersion') == API[kind],
              '%s wants apiVersion %s' % (kind, API[kind]))
        keys_ok('keys-%s' % kind, d, TOP[kind])
        md = d.get('metadata') or {}
        keys_ok('metadata-keys-%s' % kind, md, METADATA)
        check('name-%s' % kind, isinstance(md.get('name'), str) and
              re.fullmatch(r'[a-z0-9]([-a-z0-9.]*[a-z0-9])?', md.get('name', '')) is not None,
              'metadata.name must be a DNS name')
        str_map('labels-%s' % kind, md.get('labels'))
        str_map('annotations-%s' % kind, md.get('annotations'))
        by_kind.setdefault(kind, []).append(d)
    for kind in ('Namespace', 'ConfigMap', 'DaemonSet'):
        check('has-%s' % kind, len(by_kind.get(kind, [])) == 1, 'exactly one %s' % kind)
    if FAILED and not by_kind.get('DaemonSet'):
        return 1
    ns = by_kind['Namespace'][0]['metadata']['name']
    for kind, objs in by_kind.items():
        if kind != 'Namespace':
            for o in objs:
                check('namespace-%s' % kind, o['metadata'].get('namespace') == ns,
                      'in namespace %s' % ns)

    ds = by_kind['DaemonSet'][0]
    spec = ds.get('spec') or {}
    keys_ok('daemonset-spec-keys', spec, DS_SPEC)
    tmpl = spec.get('template') or {}
    tmd = tmpl.get('metadata') or {}
    sel = (spec.get('selector') or {}).get('matchLabels') or {}
    check('selector-matches-template', sel and all(
        (tmd.get('labels') or {}).get(k) == v for k, v in sel.items()),
        'spec.selector.matchLabels must be among the template labels')
    str_map('template-labels', tmd.get('labels'))
    str_map('template-annotations', tmd.get('annotations'))
    pod = tmpl.get('spec') or {}
    keys_ok('pod-spec-keys', pod, POD_SPEC)
    check('host-network', pod.get('hostNetwork') is True)
    check('dns-with-host-network', pod.get('dnsPolicy') == 'ClusterFirstWithHostNet',
          'hostNetwork pods need ClusterFirstWithHostNet for cluster DNS')
    sa = pod.get('serviceAccountName')
    check('service-account-exists', sa is None or
          any(o['metadata']['name'] == sa for o in by_kind.get('ServiceAccount', [])))
    ctrs = pod.get('containers') or []
    if not check('one-container', len(ctrs) == 1):
        return 1
    c = ctrs[0]
    keys_ok('container-keys', c, CONTAINER)
    check('container-image', isinstance(c.get('image'), str) and c['image'])
    args = c.get('args') or []
    check('args-are-strings', all(isinstance(a, str) for a in args), 'quote "-"')
    for e in c.get('env') or []:
        check('env-%s' % e.get('name'), isinstance(e.get('name'), str) and
              (isinstance(e.get('value'), str) or 'valueFrom' in e))
    for p in c.get('ports') or []:
        check('port-%s' % p.get('name'), isinstance(p.get('containerPort'), int) and
              0 < p['containerPort'] < 65536)

    # Capabilities: exactly the systemd unit's.
    sc = c.get('securityContext') or {}
    keys_ok('security-context-keys', sc, SEC_CTX)
    caps = sc.get('capabilities') or {}
    want = unit_caps(unit)
    check('unit-has-capabilities', bool(want), 'no CapabilityBoundingSet= in %s' % unit)
    check('capabilities-drop-all', caps.get('drop') == ['ALL'])
    check('capabilities-are-the-units', set(caps.get('add') or []) == want and
          len(caps.get('add') or []) == len(want or ()),
          'add %s, the unit has %s' % (caps.get('add'), sorted(want or ())))
    check('not-privileged', sc.get('privileged') is not True)
    check('read-only-root', sc.get('readOnlyRootFilesystem') is True)
    # Seccomp: microsegd's profile (bpf under CAP_BPF, perf_event_open under
    # CAP_PERFMON), shipped next to the manifest; the engine's default
    # refuses both without CAP_SYS_ADMIN.
    psc = pod.get('securityContext') or {}
    keys_ok('pod-security-context-keys', psc, POD_SEC_CTX)
    prof = sc.get('seccompProfile') or psc.get('seccompProfile') or {}
    local = prof.get('localhostProfile') or ''
    check('seccomp-localhost', prof.get('type') == 'Localhost' and
          os.path.isfile(os.path.join(os.path.dirname(manifest) or '.', local)),
          'seccompProfile %s: Localhost, a profile shipped next to the manifest' % prof)
    # A rolling update must leave the classifier attached for the new pod.
    check('agent-keep-attached', '--keep-attached' in args)
    check('no-privilege-escalation', sc.get('allowPrivilegeEscalation') is False)

    # Volumes and mounts.
    vols = {v.get('name'): v for v in pod.get('volumes') or []}
    for name, v in vols.items():
        keys_ok('volume-keys-%s' % name, v, VOLUME)
        if 'hostPath' in v:
            check('hostpath-type-%s' % name, v['hostPath'].get('type', '') in HOSTPATH_TYPES)
    mounts = c.get('volumeMounts') or []
    for m in mounts:
        keys_ok('mount-keys-%s' % m.get('name'), m, MOUNT)
        check('mount-volume-%s' % m.get('name'), m.get('name') in vols, 'no such volume')

    def host_mount(path):
        for m in mounts:
            v = vols.get(m.get('name')) or {}
            if (v.get('hostPath') or {}).get('path') == path:
                return m
        return None

    check('mount-bpffs', (host_mount('/sys/fs/bpf') or {}).get('mountPath') == '/sys/fs/bpf')
    check('mount-cgroup', (host_mount('/sys/fs/cgroup') or {}).get('mountPath') == '/sys/fs/cgroup')

    # The agent: --watch on a policy in the ConfigMap's directory mount.
    cmd = (c.get('command') or []) + args
    check('agent-command', bool(cmd) and os.path.basename(cmd[0]) == 'microsegd')
    check('agent-watch', '--watch' in args)
    policy = opt(args, '--policy') or '/etc/microsegd/policy.yaml'
    pm = under(policy, mounts)
    pv = vols.get((pm or {}).get('name')) or {}
    cms = {o['metadata']['name']: o for o in by_kind['ConfigMap']}
    cmname = (pv.get('configMap') or {}).get('name')
    check('policy-from-configmap', cmname in cms, 'policy %s is not in a ConfigMap volume' % policy)
    check('policy-mount-not-subpath', pm is not None and 'subPath' not in pm,
          'kubelet never updates a subPath mount')
    key = os.path.relpath(policy, pm['mountPath']) if pm else None
    items = (pv.get('configMap') or {}).get('items')
    if items:
        key = next((i['key'] for i in items if i.get('path') == key), None)
    data = (cms.get(cmname) or {}).get('data') or {}
    str_map('configmap-data', data)
    check('policy-key-in-configmap', key in data, 'no key %s' % key)
    for e in c.get('env') or []:
        ref = (e.get('valueFrom') or {}).get('configMapKeyRef')
        if ref:
            check('env-configmap-key-%s' % e['name'],
                  ref.get('name') in cms and ref.get('key') in (cms[ref['name']].get('data') or {}))
    if key in data:
        with tempfile.NamedTemporaryFile('w', suffix='.yaml', delete=False) as f:
            f.write(data[key])
        try:
            r = subprocess.run([microsegd, '--check', '-p', f.name], capture_output=True, text=True)
            check('configmap-policy-passes-check', r.returncode == 0, r.stderr.strip())
        finally:
            os.unlink(f.name)

    # The API socket on a hostPath, and readiness asking /v1/status on it.
    sock = opt(args, '--api-socket')
    sm = under(sock or '', mounts)
    check('api-socket-on-hostpath', sock and sm and 'hostPath' in (vols.get(sm['name']) or {}),
          'the socket %s is not in a hostPath mount' % sock)
    probe = c.get('readinessProbe') or {}
    keys_ok('readiness-keys', probe, PROBE)
    pcmd = (probe.get('exec') or {}).get('command') or []
    check('readiness-microsegctl-status', bool(pcmd) and os.path.basename(pcmd[0]) == 'microsegctl'
          and 'status' in pcmd and opt(pcmd, '--socket') == sock,
          'exec microsegctl --socket %s status' % sock)
    if 'livenessProbe' in c:
        keys_ok('liveness-keys', c['livenessProbe'], PROBE)

    # Prometheus: the annotations name --metrics' port and /metrics; the
    # console and API (--web) stay on the node's loopback.
    ann = tmd.get('annotations') or {}
    met = opt(args, '--metrics') or ''
    port = met.rsplit(':', 1)[-1] if ':' in met else None
    check('prometheus-scrape', ann.get('prometheus.io/scrape') == 'true')
    check('prometheus-path', ann.get('prometheus.io/path') == '/metrics')
    check('prometheus-port-is-metrics', port is not None and ann.get('prometheus.io/port') == port,
          '--metrics %s, annotation %s' % (met, ann.get('prometheus.io/port')))
    check('metrics-port-declared', any(str(p.get('containerPort')) == port for p in c.get('ports') or []))
    web = opt(args, '--web')
    check('web-on-loopback', web is None or web.rsplit(':', 1)[0] in ('127.0.0.1', '[::1]'),
          '--web %s would serve the console and API to the node network' % web)
    res = c.get('resources') or {}
    check('memory-limit', bool((res.get('limits') or {}).get('memory')) and
          bool((res.get('requests') or {}).get('memory')))
    return 1 if FAILED else 0


sys.exit(main())
