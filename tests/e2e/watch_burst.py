#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""Kubelet's atomic writer, once per FILE, from one process, so the swaps land
within a millisecond or so of each other (tests/e2e/test_watch.sh): for
each, a new ..TIMESTAMP.SEQ directory with FILE as policy.yaml, ..data_tmp
pointed at it and renamed over ..data, the previous directory removed.

  watch_burst.py CONFIGMAP_DIR LAST_SEQ FILE...
"""
import os, shutil, sys
cm, seq, files = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
for f in files:
    seq += 1
    old = os.readlink(os.path.join(cm, '..data'))
    new = '..2026_12_06_21_00_00.%d' % seq
    os.mkdir(os.path.join(cm, new))
    shutil.copyfile(f, os.path.join(cm, new, 'policy.yaml'))
    os.symlink(new, os.path.join(cm, '..data_tmp'))
    os.rename(os.path.join(cm, '..data_tmp'), os.path.join(cm, '..data'))
    shutil.rmtree(os.path.join(cm, old))
