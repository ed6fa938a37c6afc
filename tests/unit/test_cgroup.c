// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* Process identity from a cgroup id: the unit (or path) and a process's
 * command, over a directory tree standing in for the cgroup2 mount. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup.h"
#include "testlib.h"

static char root[] = "/tmp/ms-cgroup-test.XXXXXX";

static uint64_t ino(const char *rel)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s%s", root, rel);
	return stat(path, &st) ? 0 : (uint64_t)st.st_ino;
}

static void mk(const char *rel)
{
	char path[256];

	snprintf(path, sizeof(path), "%s%s", root, rel);
	if (mkdir(path, 0755) && errno != EEXIST)
		abort();
}

static void test_resolve(void)
{
	struct ms_cgroups *cg = NULL;
	const char *unit = NULL, *proc = NULL;
	char path[256];
	FILE *f;

	mk("/system.slice");
	mk("/system.slice/web.service");
	mk("/x");
	mk("/x/y");
	mk("/mixed");
	snprintf(path, sizeof(path), "%s/mixed/cgroup.procs", root);
	f = fopen(path, "w");
	REQUIRE(f, "cgroup.procs");
	fprintf(f, "%d\n1\n", (int)getpid()); /* this test and init: two programs */
	fclose(f);
	snprintf(path, sizeof(path), "%s/system.slice/web.service/cgroup.procs", root);
	f = fopen(path, "w");
	REQUIRE(f, "cgroup.procs");
	fprintf(f, "%d\n", (int)getpid());
	fclose(f);

	REQUIRE(!ms_cgroups_new(root, &cg), "new");
	CHECK(!strcmp(ms_cgroups_root(cg), root), "root");
	REQUIRE(!ms_cgroups_resolve(cg, ino("/system.slice/web.service"), &unit, &proc), "web");
	CHECK(!strcmp(unit, "web.service"), "the unit, got %s", unit);
	CHECK(proc && !strcmp(proc, "test_cgroup"), "a process in it, got %s",
	      proc ? proc : "NULL");
	REQUIRE(!ms_cgroups_resolve(cg, ino("/x/y"), &unit, &proc), "x/y");
	CHECK(!strcmp(unit, "/x/y"), "no unit: the path, got %s", unit);
	CHECK(proc == NULL, "no process");
	REQUIRE(!ms_cgroups_resolve(cg, ino(""), &unit, &proc), "root");
	CHECK(!strcmp(unit, "/"), "the root group, got %s", unit);
	REQUIRE(!ms_cgroups_resolve(cg, ino("/mixed"), &unit, &proc), "mixed");
	CHECK(proc == NULL, "a group of several programs names none, got %s", proc ? proc : "NULL");
	CHECK(ms_cgroups_resolve(cg, 1, &unit, &proc) == -ENOENT, "an id of no group");
	/* A group made later is found, at most a second later. */
	mk("/late.scope");
	sleep(1);
	CHECK(!ms_cgroups_resolve(cg, ino("/late.scope"), &unit, &proc) &&
		      !strcmp(unit, "late.scope"),
	      "found after a new walk");
	ms_cgroups_free(&cg);
	CHECK(cg == NULL, "freed");
}

int main(void)
{
	char cmd[300];

	if (!mkdtemp(root))
		return 1;
	RUN(test_resolve);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd))
		return 1;
	return t_done();
}
