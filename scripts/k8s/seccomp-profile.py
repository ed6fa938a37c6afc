#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""Write microsegd's seccomp profile: a container engine's default profile
(podman's /usr/share/containers/seccomp.json, the moby format containerd
and CRI-O read too) with bpf() allowed under CAP_BPF and perf_event_open()
under CAP_PERFMON. The default allows both only with CAP_SYS_ADMIN, a
capability the agent does not need and is not given.

  scripts/k8s/seccomp-profile.py [DEFAULT [OUT]]

seccomp-microsegd.json next to this script was made so, from Debian 12's
golang-github-containers-common.
"""
import json
import sys

SRC = sys.argv[1] if len(sys.argv) > 1 else '/usr/share/containers/seccomp.json'
OUT = sys.argv[2] if len(sys.argv) > 2 else '-'
GRANT = {'bpf': 'CAP_BPF', 'perf_event_open': 'CAP_PERFMON'}

profile = json.load(open(SRC))
rules = []
for r in profile['syscalls']:
    names = set(r['names']) & set(GRANT)
    denied = r.get('action') == 'SCMP_ACT_ERRNO' and 'CAP_SYS_ADMIN' in r.get('excludes', {}).get('caps', [])
    if not names or not denied:
        rules.append(r)
        continue
    # The default's "EPERM unless CAP_SYS_ADMIN": now unless CAP_SYS_ADMIN
    # or the syscall's own capability.
    rest = [n for n in r['names'] if n not in GRANT]
    if rest:
        rules.append(dict(r, names=rest))
    for n in sorted(names):
        rules.append({'names': [n], 'action': 'SCMP_ACT_ALLOW', 'args': [],
                      'comment': 'microsegd: %s with %s' % (n, GRANT[n]),
                      'includes': {'caps': [GRANT[n]]}, 'excludes': {}})
        rules.append(dict(r, names=[n], excludes={'caps': ['CAP_SYS_ADMIN', GRANT[n]]}))
if sum(1 for r in rules if r.get('comment', '').startswith('microsegd:')) != len(GRANT):
    sys.exit('%s: no "EPERM unless CAP_SYS_ADMIN" rule for %s' % (SRC, ', '.join(GRANT)))
profile['syscalls'] = rules
text = json.dumps(profile, indent=1) + '\n'
if OUT == '-':
    sys.stdout.write(text)
else:
    open(OUT, 'w').write(text)
