#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""A copy of the manifest changed by a line of Python, over the list of
documents `docs`, the DaemonSet `ds` and its container `c`
(tests/pkg/test_k8s.sh).

  k8s_mutant.py MANIFEST OUT PYTHON
"""
import sys, yaml
docs = list(yaml.safe_load_all(open(sys.argv[1])))
ds = next(d for d in docs if d['kind'] == 'DaemonSet')
c = ds['spec']['template']['spec']['containers'][0]
exec(sys.argv[3])
yaml.safe_dump_all(docs, open(sys.argv[2], 'w'))
