// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* Naming discovered workloads: from a process's cgroup (container or
 * systemd unit) and from /run/netns names, always a valid workload name. */
#include <string.h>

#include "netns.h"
#include "testlib.h"

static const char *cg(const char *path)
{
	static char buf[128];

	return ms_name_from_cgroup(path, buf, sizeof(buf));
}

static void test_containers(void)
{
	const char *n;

	n = cg("0::/system.slice/"
	       "docker-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope");
	CHECK(n && !strcmp(n, "docker-0123456789ab"), "docker: the short id, got %s",
	      n ? n : "NULL");
	n = cg("0::/machine.slice/libpod-fedcba9876543210.scope/container");
	CHECK(n && !strcmp(n, "podman-fedcba987654"), "podman, inner group below: %s",
	      n ? n : "NULL");
	n = cg("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12.slice/"
	       "cri-containerd-aabbccddeeff00112233.scope");
	CHECK(n && !strcmp(n, "containerd-aabbccddeeff"), "containerd: %s", n ? n : "NULL");
	n = cg("0::/system.slice/crio-1234.scope");
	CHECK(n && !strcmp(n, "crio-1234"), "a short id stays whole: %s", n ? n : "NULL");
}

static void test_units_and_groups(void)
{
	const char *n;

	n = cg("0::/system.slice/nginx.service");
	CHECK(n && !strcmp(n, "nginx.service"), "a unit: %s", n ? n : "NULL");
	n = cg("0::/user.slice/user-1000.slice/session-3.scope");
	CHECK(n && !strcmp(n, "session-3.scope"), "a scope: %s", n ? n : "NULL");
	n = cg("0::/system.slice/");
	CHECK(n == NULL, "only slices: no name");
	n = cg("0::/");
	CHECK(n == NULL, "the root group: no name");
	n = cg("0::/test group/x y");
	CHECK(n && !strcmp(n, "x-y"), "a plain group, sanitized: %s", n ? n : "NULL");
}

static void test_sanitize(void)
{
	char buf[8];

	CHECK(!strcmp(ms_name_sanitize("db-1.a_b", buf, sizeof(buf)), "db-1.a_"), "cut to fit");
	CHECK(!strcmp(ms_name_sanitize("a b/c", buf, sizeof(buf)), "a-b-c"), "others become -");
	CHECK(ms_name_sanitize("", buf, sizeof(buf)) == NULL, "empty");
	CHECK(ms_name_sanitize("x", buf, 0) == NULL, "no room");
}

int main(void)
{
	RUN(test_containers);
	RUN(test_units_and_groups);
	RUN(test_sanitize);
	return t_done();
}
