#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""What a package left behind in a chroot.

  rootdiff.py snap ROOT OUT        list every path of ROOT (one file system)
  rootdiff.py leftovers ROOT SNAP  paths of ROOT that are not in SNAP, not
                                   owned by an installed package and not
                                   dpkg's or apt's own bookkeeping; printed,
                                   exit 1 if there are any

Package ownership comes from ROOT/var/lib/dpkg/info/*.list, with the
merged-/usr top directories (/lib -> usr/lib, ...) resolved as in ROOT.
"""
import glob
import os
import sys

# Bookkeeping that installing and purging anything changes.
STATE = ('var/lib/dpkg/', 'var/lib/apt/', 'var/cache/', 'var/log/apt/',
         'var/log/dpkg.log', 'var/log/alternatives.log', 'etc/ld.so.cache',
         'var/lib/ucf/', 'tmp/', 'proc/', 'dev/', 'sys/', 'run/')


def walk(root):
    dev = os.lstat(root).st_dev
    out = set()
    for d, dirs, files in os.walk(root):
        rel = os.path.relpath(d, root)
        keep = []
        for n in dirs:
            p = os.path.join(d, n)
            if os.lstat(p).st_dev != dev:
                continue
            keep.append(n)
            out.add(os.path.normpath(os.path.join(rel, n)))
        dirs[:] = keep
        for n in files:
            out.add(os.path.normpath(os.path.join(rel, n)))
    return out


def owned(root):
    merged = {}
    for top in os.listdir(root):
        p = os.path.join(root, top)
        if os.path.islink(p):
            merged[top] = os.readlink(p).strip('/')
    paths = set()
    for lst in glob.glob(os.path.join(root, 'var/lib/dpkg/info/*.list')):
        with open(lst, encoding='utf-8', errors='replace') as f:
            for line in f:
                p = line.strip().lstrip('/')
                if not p or p == '.':
                    continue
                head, _, rest = p.partition('/')
                paths.add(p)
                if head in merged:
                    paths.add(os.path.normpath(os.path.join(merged[head], rest)))
    return paths


def main():
    cmd, root = sys.argv[1], sys.argv[2]
    if cmd == 'snap':
        with open(sys.argv[3], 'w') as f:
            f.write('\n'.join(sorted(walk(root))) + '\n')
        return 0
    with open(sys.argv[3]) as f:
        before = set(f.read().split('\n'))
    mine = owned(root)
    left = sorted(p for p in walk(root) - before
                  if p not in mine and not (p + '/').startswith(STATE)
                  and not p.startswith(STATE))
    for p in left:
        print('/' + p)
    return 1 if left else 0


sys.exit(main())
