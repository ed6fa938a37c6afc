// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safefile.h"

void ms_keep_std_fds(void)
{
	for (int fd = 0; fd < 3; fd++) {
		int n;

		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		/* The lowest free fd: fd itself, the ones below it are open. */
		n = open("/dev/null", fd ? O_WRONLY : O_RDONLY);
		if (n >= 0 && n != fd) {
			dup2(n, fd);
			close(n);
		}
	}
}

static bool owner_ok(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

int ms_dir_check(const char *dir, const char **why)
{
	struct stat st;

	*why = NULL;
	if (stat(dir, &st))
		return -errno;
	if (!S_ISDIR(st.st_mode)) {
		*why = "not a directory";
		return -ENOTDIR;
	}
	if (!owner_ok(st.st_uid)) {
		*why = "owned by another user";
		return -EPERM;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
		*why = "writable by group or others (and not sticky)";
		return -EPERM;
	}
	return 0;
}

int ms_parent_check(const char *path, const char **why)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int err;

	if (!slash)
		return ms_dir_check(".", why);
	if (slash == path)
		return ms_dir_check("/", why);
	dir = strndup(path, (size_t)(slash - path));
	if (!dir)
		return -ENOMEM;
	err = ms_dir_check(dir, why);
	free(dir);
	return err;
}

/* Why opening path failed, when the reason is a link: O_NOFOLLOW says
 * ELOOP, the kernel's protected_symlinks (a link of another user in a
 * sticky directory) EACCES first. */
static void link_why(const char *path, int err, const char **why)
{
	struct stat st;

	if ((err == -ELOOP || err == -EACCES) && !lstat(path, &st) && S_ISLNK(st.st_mode))
		*why = "a symbolic link (not followed)";
}

/* What was opened: ours, one link, of an expected kind. */
static int found_ok(int fd, bool regular_only, const char **why)
{
	struct stat st;

	if (fstat(fd, &st))
		return -errno;
	if (regular_only ? !S_ISREG(st.st_mode)
			 : !(S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode))) {
		*why = "not a regular file";
		return -EINVAL;
	}
	if (!owner_ok(st.st_uid)) {
		*why = "owned by another user";
		return -EPERM;
	}
	if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
		*why = "a hard link to another file";
		return -EPERM;
	}
	return 0;
}

int ms_open_append(const char *path, const char **why)
{
	int fd, err = ms_parent_check(path, why);

	if (err)
		return err;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0) {
		err = -errno;
		link_why(path, err, why);
		return err;
	}
	err = found_ok(fd, false, why);
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

int ms_open_regular(const char *path, const char **why)
{
	int fd, err, fl;

	*why = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		err = -errno;
		link_why(path, err, why);
		return err;
	}
	err = found_ok(fd, true, why);
	fl = fcntl(fd, F_GETFL);
	if (!err && (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK)))
		err = -errno;
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

int ms_read_regular(const char *path, size_t max, char **buf, size_t *len, const char **why)
{
	int fd = ms_open_regular(path, why), err = 0;
	size_t cap = 0, n = 0;
	char *b = NULL;

	if (fd < 0)
		return fd;
	for (;;) {
		ssize_t got;

		if (n + 1 >= cap) {
			char *nb;

			if (cap > max) {
				err = -EFBIG;
				break;
			}
			cap = cap ? cap * 2 : 4096;
			nb = realloc(b, cap);
			if (!nb) {
				err = -ENOMEM;
				break;
			}
			b = nb;
		}
		got = read(fd, b + n, cap - n - 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			err = -errno;
			break;
		}
		if (!got)
			break;
		n += (size_t)got;
		if (n > max) {
			err = -EFBIG;
			break;
		}
	}
	close(fd);
	if (err) {
		free(b);
		return err;
	}
	if (!b && !(b = malloc(1)))
		return -ENOMEM;
	b[n] = '\0';
	*buf = b;
	*len = n;
	return 0;
}
