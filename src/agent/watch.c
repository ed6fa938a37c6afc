// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "log.h"
#include "policy_parse.h"
#include "watch.h"

/* What replaces or rewrites an entry of the directory. */
#define WATCH_MASK                                                                          \
	(IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB | \
	 IN_DELETE_SELF | IN_MOVE_SELF)

struct ms_watch {
	const char *path;
	char *dir;
	char *base;
	int ifd, tfd, wd;
};

void ms_watch_free(struct ms_watch **pw)
{
	struct ms_watch *w = *pw;

	if (!w)
		return;
	if (w->ifd >= 0)
		close(w->ifd);
	if (w->tfd >= 0)
		close(w->tfd);
	free(w->dir);
	free(w->base);
	free(w);
	*pw = NULL;
}

int ms_watch_new(const char *policy_path, struct ms_watch **out)
{
	struct ms_watch *w = calloc(1, sizeof(*w));
	const char *slash;
	int err;

	if (!w)
		return -ENOMEM;
	w->ifd = w->tfd = w->wd = -1;
	w->path = policy_path;
	slash = strrchr(policy_path, '/');
	if (!slash) {
		w->dir = strdup(".");
		w->base = strdup(policy_path);
	} else {
		/* "/policy.yaml" lives in "/". */
		w->dir = strndup(policy_path,
				 slash == policy_path ? 1 : (size_t)(slash - policy_path));
		w->base = strdup(slash + 1);
	}
	if (!w->dir || !w->base) {
		err = -ENOMEM;
		goto out;
	}
	if (!*w->base) {
		log_error("--watch: %s names a directory, not a policy file", policy_path);
		err = -EISDIR;
		goto out;
	}
	w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	w->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (w->ifd < 0 || w->tfd < 0) {
		err = -errno;
		log_error("--watch: cannot set up inotify: %s", strerror(-err));
		goto out;
	}
	w->wd = inotify_add_watch(w->ifd, w->dir, WATCH_MASK | IN_ONLYDIR);
	if (w->wd < 0) {
		err = -errno;
		log_error("--watch: cannot watch %s: %s", w->dir, strerror(-err));
		goto out;
	}
	log_info("watching %s for changes of %s", w->dir, w->base);
	*out = w;
	return 0;
out:
	ms_watch_free(&w);
	return err;
}

int ms_watch_inotify_fd(const struct ms_watch *w)
{
	return w->ifd;
}

int ms_watch_timer_fd(const struct ms_watch *w)
{
	return w->tfd;
}

/*
 * Names that can change what the policy path resolves to: the file itself,
 * and kubelet's `..data` and `..TIMESTAMP` entries (any name starting with
 * ".."). An editor's swap file or a neighbour's file is not one of them.
 */
static bool concerns(const struct ms_watch *w, const struct inotify_event *e)
{
	if (e->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_Q_OVERFLOW))
		return true;
	if (!e->len)
		return false;
	return !strcmp(e->name, w->base) || !strncmp(e->name, "..", 2);
}

int ms_watch_on_events(struct ms_watch *w)
{
	/* Aligned as inotify(7) asks; one event with the longest name fits. */
	char buf[sizeof(struct inotify_event) + NAME_MAX + 1]
		__attribute__((aligned(__alignof__(struct inotify_event))));
	bool arm = false;

	for (;;) {
		ssize_t n = read(w->ifd, buf, sizeof(buf));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			log_warn("--watch: cannot read inotify events: %s", strerror(errno));
			return -errno;
		}
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *e = (const struct inotify_event *)p;

			if (concerns(w, e))
				arm = true;
			if (e->mask & (IN_DELETE_SELF | IN_MOVE_SELF))
				log_warn("--watch: %s was removed or moved; changes to %s are no "
					 "longer noticed (SIGHUP still reloads)",
					 w->dir, w->path);
			p += sizeof(*e) + e->len;
		}
	}
	if (arm) {
		struct itimerspec its = {
			.it_value = { MS_WATCH_DEBOUNCE_MS / 1000,
				      (MS_WATCH_DEBOUNCE_MS % 1000) * 1000000L },
		};

		/* Re-arming restarts the wait: the reload follows the last
		 * event of a burst. */
		if (timerfd_settime(w->tfd, 0, &its, NULL)) {
			log_warn("--watch: cannot arm the debounce timer: %s", strerror(errno));
			return -errno;
		}
	}
	return 0;
}

bool ms_watch_on_timer(struct ms_watch *w, const char *in_force, size_t in_force_len,
		       bool last_failed)
{
	uint64_t expirations;
	char *text = NULL;
	size_t len = 0;
	bool same;
	int err;

	if (read(w->tfd, &expirations, sizeof(expirations)) <= 0)
		return false;
	err = ms_policy_read_file(w->path, &text, &len);
	same = !err && len == in_force_len && (!len || !memcmp(text, in_force, len));
	free(text);
	if (same && !last_failed) {
		log_debug("--watch: %s was touched but still holds the policy in force", w->path);
		return false;
	}
	log_info("%s changed (--watch)", w->path);
	return true;
}
