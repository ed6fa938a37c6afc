/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * --watch: notice that the policy file changed and ask for a reload, without
 * a SIGHUP. The watch is on the file's directory, not on the file: editors
 * replace a file by renaming a new one over it, and kubelet updates a
 * mounted ConfigMap by swapping the directory's `..data` symlink, so the
 * inode that a watch on the file would follow never changes.
 *
 * Two fds join the event loop: the inotify fd and a one-shot timerfd that
 * debounces a burst of events into one reload, MS_WATCH_DEBOUNCE_MS after
 * the last of them. A reload is due unless the file still holds the policy
 * in force, so activity in the directory that leaves the file as it was does
 * not reload it.
 */
#ifndef MICROSEGD_WATCH_H
#define MICROSEGD_WATCH_H

#include <stdbool.h>
#include <stddef.h>

#define MS_WATCH_DEBOUNCE_MS 200

struct ms_watch;

/*
 * Watch the directory of policy_path (which must stay valid while the watch
 * lives). Returns 0 and sets *out, or -errno (*out untouched).
 */
int ms_watch_new(const char *policy_path, struct ms_watch **out);

/* The inotify fd and the debounce timerfd, for the event loop. */
int ms_watch_inotify_fd(const struct ms_watch *w);
int ms_watch_timer_fd(const struct ms_watch *w);

/*
 * The inotify fd is readable: consume its events and (re)arm the debounce
 * timer if any of them can concern the policy file. Returns 0 or -errno.
 */
int ms_watch_on_events(struct ms_watch *w);

/*
 * The debounce timer expired. Returns true when a reload is due: the file
 * cannot be read, or its text differs from in_force (the source of the
 * policy in force), or last_failed (the last reload attempt failed, so what
 * the file holds now deserves an attempt even if it is the old text). The
 * caller then reloads, exactly as on SIGHUP.
 */
bool ms_watch_on_timer(struct ms_watch *w, const char *in_force, size_t in_force_len,
		       bool last_failed);

void ms_watch_free(struct ms_watch **w);

#endif /* MICROSEGD_WATCH_H */
