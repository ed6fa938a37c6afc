/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
#ifndef MS_BPF_PERM_H
#define MS_BPF_PERM_H

/*
 * bpf() said EPERM: say why it likely did. Without CAP_BPF that is the
 * missing privilege; with it, a seccomp filter (a container engine's
 * default profile allows bpf() only with CAP_SYS_ADMIN) or a Linux
 * security module. what names the refused step ("load the BPF classifier").
 */
void ms_bpf_log_eperm(const char *what);

#endif
