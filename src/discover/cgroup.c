// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "clock.h"

/* Walks stop this deep and this wide: a hierarchy is a tree of services,
 * not an adversary, but a runaway one must not stall the agent. */
#define MAX_DEPTH 32
#define MAX_GROUPS 65536

struct group {
	uint64_t id;
	char *path;	     /* below the root, "/..." */
	char *unit;	     /* made on first use */
	char *process;	     /* the last one seen in it */
	uint64_t checked_ms; /* when process was read; 0: never */
};

/* A process is looked up again this long after: flows come by the
 * thousand, processes change rarely. */
#define PROCESS_TTL_MS 2000

struct ms_cgroups {
	char *root;
	bool mounted;	 /* root is a mount of ours: undone at the end */
	struct group *g; /* sorted by id */
	size_t n;
	uint64_t last_walk_ms;
};

static uint64_t mono_ms(void)
{
	return ms_mono_ns() / 1000000;
}

/* The cgroup2 mount point in mountinfo, prefixed with prefix. */
static char *find_mount_in(const char *mountinfo, const char *prefix)
{
	FILE *f = fopen(mountinfo, "re");
	char line[4096], *r = NULL;

	if (!f)
		return NULL;
	while (!r && fgets(line, sizeof(line), f)) {
		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS... - FSTYPE SOURCE SUPER */
		char *sep = strstr(line, " - "), *fields[5], *save = NULL, *p = line;
		int i;

		if (!sep || strncmp(sep + 3, "cgroup2 ", 8))
			continue;
		for (i = 0; i < 5 && (fields[i] = strtok_r(p, " ", &save)); i++)
			p = NULL;
		if (i == 5 && asprintf(&r, "%s%s", prefix, fields[4]) < 0)
			r = NULL;
	}
	fclose(f);
	return r;
}

static bool readable_dir(const char *path)
{
	DIR *d = opendir(path);

	if (d)
		closedir(d);
	return d != NULL;
}

/* Where this process sees the cgroup2 hierarchy. Under `ip netns exec`,
 * whose private /sys hides it, the init process's view serves, or else a
 * mount of its own (private to that mount namespace; *mounted says so). */
static char *find_mount(bool *mounted)
{
	char *r = find_mount_in("/proc/self/mountinfo", "");
	char tmpl[] = "/tmp/microsegd-cgroup2.XXXXXX";

	if (r)
		return r;
	r = find_mount_in("/proc/1/mountinfo", "/proc/1/root");
	if (r && readable_dir(r))
		return r;
	free(r);
	if (!mkdtemp(tmpl))
		return NULL;
	if (mount("cgroup2", tmpl, "cgroup2", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)) {
		rmdir(tmpl);
		return NULL;
	}
	*mounted = true;
	return strdup(tmpl);
}

int ms_cgroups_new(const char *root, struct ms_cgroups **out)
{
	struct ms_cgroups *cg = calloc(1, sizeof(*cg));

	if (!cg)
		return -ENOMEM;
	cg->root = root ? strdup(root) : find_mount(&cg->mounted);
	if (!cg->root) {
		free(cg);
		return root ? -ENOMEM : -ENOENT;
	}
	*out = cg;
	return 0;
}

static void groups_free(struct group *g, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(g[i].path);
		free(g[i].unit);
		free(g[i].process);
	}
	free(g);
}

void ms_cgroups_free(struct ms_cgroups **cgp)
{
	struct ms_cgroups *cg = *cgp;

	if (!cg)
		return;
	groups_free(cg->g, cg->n);
	if (cg->mounted && !umount2(cg->root, MNT_DETACH))
		rmdir(cg->root);
	free(cg->root);
	free(cg);
	*cgp = NULL;
}

const char *ms_cgroups_root(const struct ms_cgroups *cg)
{
	return cg->root;
}

struct walk {
	struct group *g;
	size_t n, cap;
	int err;
};

static void walk_dir(struct walk *w, int dfd, const char *rel, int depth)
{
	struct stat st;
	DIR *d;
	struct dirent *de;

	if (w->err || depth > MAX_DEPTH || w->n >= MAX_GROUPS || fstat(dfd, &st))
		return;
	if (w->n == w->cap) {
		size_t ncap = w->cap ? w->cap * 2 : 256;
		struct group *ng = realloc(w->g, ncap * sizeof(*ng));

		if (!ng) {
			w->err = -ENOMEM;
			return;
		}
		w->g = ng;
		w->cap = ncap;
	}
	memset(&w->g[w->n], 0, sizeof(w->g[w->n]));
	w->g[w->n].id = (uint64_t)st.st_ino;
	w->g[w->n].path = strdup(*rel ? rel : "/");
	if (!w->g[w->n].path) {
		w->err = -ENOMEM;
		return;
	}
	w->n++;
	d = fdopendir(dup(dfd));
	if (!d)
		return;
	while ((de = readdir(d)) && !w->err) {
		char *sub;
		int fd;

		if (de->d_name[0] == '.' || (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN))
			continue;
		fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (asprintf(&sub, "%s/%s", rel, de->d_name) < 0) {
			close(fd);
			w->err = -ENOMEM;
			break;
		}
		walk_dir(w, fd, sub, depth + 1);
		free(sub);
		close(fd);
	}
	closedir(d);
}

static int cmp_group(const void *a, const void *b)
{
	uint64_t x = ((const struct group *)a)->id, y = ((const struct group *)b)->id;

	return x < y ? -1 : x > y;
}

static int walk(struct ms_cgroups *cg)
{
	struct walk w = { 0 };
	int fd = open(cg->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	walk_dir(&w, fd, "", 0);
	close(fd);
	if (w.err) {
		groups_free(w.g, w.n);
		return w.err;
	}
	if (w.n > 1)
		qsort(w.g, w.n, sizeof(*w.g), cmp_group);
	groups_free(cg->g, cg->n);
	cg->g = w.g;
	cg->n = w.n;
	cg->last_walk_ms = mono_ms();
	return 0;
}

static struct group *lookup(const struct ms_cgroups *cg, uint64_t id)
{
	size_t lo = 0, hi = cg->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cg->g[mid].id == id)
			return &cg->g[mid];
		if (cg->g[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The innermost .service or .scope component of path, or path itself. */
static char *unit_of(const char *path)
{
	const char *end = path + strlen(path);

	while (end > path) {
		const char *b = end;
		size_t n;

		while (b > path && b[-1] != '/')
			b--;
		n = (size_t)(end - b);
		if ((n > 8 && !memcmp(end - 8, ".service", 8)) ||
		    (n > 6 && !memcmp(end - 6, ".scope", 6)))
			return strndup(b, n);
		end = b > path ? b - 1 : path;
	}
	return strdup(path);
}

static char *comm_of(int pid)
{
	char file[64], comm[64] = "";
	FILE *f;

	snprintf(file, sizeof(file), "/proc/%d/comm", pid);
	f = fopen(file, "re");
	if (!f)
		return NULL;
	if (!fgets(comm, sizeof(comm), f))
		comm[0] = '\0';
	fclose(f);
	comm[strcspn(comm, "\n")] = '\0';
	return comm[0] ? strdup(comm) : NULL;
}

/* At most this many members are looked at; a group of more runs many
 * programs, and no one of them is the answer. */
#define MAX_MEMBERS 64

/*
 * The command of the group's processes when they all run the same one (a
 * service and its workers), or NULL: a group of several programs (the root
 * group, a login session) names none rather than a wrong one.
 */
static char *process_of(const struct ms_cgroups *cg, const char *path)
{
	char *file, *comm = NULL;
	FILE *f;
	int pid, n = 0;

	if (asprintf(&file, "%s%s/cgroup.procs", cg->root, strcmp(path, "/") ? path : "") < 0)
		return NULL;
	f = fopen(file, "re");
	free(file);
	if (!f)
		return NULL;
	while (fscanf(f, "%d", &pid) == 1) {
		char *c;

		if (++n > MAX_MEMBERS) {
			free(comm);
			comm = NULL;
			break;
		}
		c = comm_of(pid);
		if (!c)
			continue; /* exited meanwhile */
		if (!comm) {
			comm = c;
			continue;
		}
		if (strcmp(c, comm)) {
			free(c);
			free(comm);
			comm = NULL;
			break;
		}
		free(c);
	}
	fclose(f);
	return comm;
}

int ms_cgroups_resolve(struct ms_cgroups *cg, uint64_t id, const char **unit, const char **process)
{
	struct group *g = lookup(cg, id);
	uint64_t now = mono_ms();
	int err;

	if (!g && now - cg->last_walk_ms >= 1000) {
		err = walk(cg);
		if (err)
			return err;
		g = lookup(cg, id);
	}
	if (!g)
		return -ENOENT;
	if (!g->unit && !(g->unit = unit_of(g->path)))
		return -ENOMEM;
	if (!g->checked_ms || now - g->checked_ms >= PROCESS_TTL_MS) {
		char *p = process_of(cg, g->path);

		/* A group whose processes are gone keeps naming the last one:
		 * a flow's end is reported after its process may have exited. */
		if (p) {
			free(g->process);
			g->process = p;
		}
		g->checked_ms = now;
	}
	*unit = g->unit;
	*process = g->process;
	return 0;
}
