/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Files the agent writes as root in directories it is told, opened so that
 * another user cannot point them elsewhere: the directory must be writable
 * by its owner only (root or us; group/other-writable only with the sticky
 * bit), the last component is never followed if a link, and what is found
 * there must be ours (or root's), not a hard link, and of the kind asked
 * for. As OpenSSH and logrotate refuse unsafe directories.
 */
#ifndef MICROSEGD_SAFEFILE_H
#define MICROSEGD_SAFEFILE_H

#include <stdbool.h>
#include <stddef.h>

/* Lines longer than this in flow logs read by microsegctl are refused. */
#define MS_MAX_LINE (64u << 10)

/* Open /dev/null on any of fds 0, 1, 2 that is closed, so that no file the
 * program opens later becomes its stdout or stderr. Call first in main. */
void ms_keep_std_fds(void);

/*
 * 0 if dir is safe to create files in (see above), else -errno with *why
 * (static text) saying what is wrong: -EPERM for its owner or mode.
 */
int ms_dir_check(const char *dir, const char **why);

/* The same for the directory holding path. */
int ms_parent_check(const char *path, const char **why);

/*
 * Open path for appending (created 0640 if absent), in a checked directory,
 * without following a link; anything there must be owned by root or us and
 * not be a hard link. Returns the fd or -errno with *why set for a refusal.
 */
int ms_open_append(const char *path, const char **why);

/*
 * Open path for reading without following a link or blocking (a FIFO in
 * its place), and only if it is a regular file (-EINVAL otherwise, *why
 * says so). Returns the fd (blocking again) or -errno.
 */
int ms_open_regular(const char *path, const char **why);

/* Read all of a regular file so opened, at most max bytes (-EFBIG), into
 * a malloc'd NUL-terminated *buf. Returns 0 or -errno. */
int ms_read_regular(const char *path, size_t max, char **buf, size_t *len, const char **why);

#endif /* MICROSEGD_SAFEFILE_H */
