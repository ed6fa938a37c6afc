// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpf_perm.h"
#include "log.h"

#define CAP_BPF_BIT 39
#define CAP_SYS_ADMIN_BIT 21

/* The process's effective capabilities and seccomp mode, from
 * /proc/self/status; false when it cannot be read. */
static bool read_status(uint64_t *cap_eff, int *seccomp)
{
	FILE *f = fopen("/proc/self/status", "re");
	char *line = NULL;
	size_t cap = 0;
	bool got_caps = false;

	*seccomp = -1;
	if (!f)
		return false;
	while (getline(&line, &cap, f) > 0) {
		if (!strncmp(line, "CapEff:", 7))
			got_caps = sscanf(line + 7, "%" SCNx64, cap_eff) == 1;
		else if (!strncmp(line, "Seccomp:", 8) && sscanf(line + 8, "%d", seccomp) != 1)
			*seccomp = -1;
	}
	free(line);
	fclose(f);
	return got_caps;
}

void ms_bpf_log_eperm(const char *what)
{
	uint64_t eff = 0;
	int seccomp;
	bool known = read_status(&eff, &seccomp);
	bool has_bpf = known && ((eff >> CAP_BPF_BIT & 1) || (eff >> CAP_SYS_ADMIN_BIT & 1));

	if (!known || !has_bpf) {
		log_error("cannot %s: permission denied (needs root or CAP_BPF, CAP_NET_ADMIN, "
			  "CAP_PERFMON)",
			  what);
		return;
	}
	if (seccomp == 2)
		log_error("cannot %s: bpf() refused with EPERM although CAP_BPF is held: a "
			  "seccomp filter is the likely cause (a container engine's default "
			  "profile allows bpf() only with CAP_SYS_ADMIN; run with "
			  "scripts/k8s/seccomp-microsegd.json, which allows it under CAP_BPF), "
			  "else a security module (SELinux, AppArmor, lockdown)",
			  what);
	else
		log_error("cannot %s: bpf() refused with EPERM although CAP_BPF is held and no "
			  "seccomp filter applies: a security module (SELinux, AppArmor, lockdown) "
			  "or a user namespace without the capability in the initial one",
			  what);
}
