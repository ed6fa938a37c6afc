// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"

static int notify_fd = -1;
static struct sockaddr_un notify_addr;
static socklen_t notify_len;

int ms_notify_init(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	size_t len;

	ms_notify_close();
	if (!path || !*path)
		return 0;
	if (path[0] != '/' && path[0] != '@')
		return -EAFNOSUPPORT; /* vsock: and friends are for VMs */
	len = strlen(path);
	if (len >= sizeof(notify_addr.sun_path))
		return -ENAMETOOLONG;
	memset(&notify_addr, 0, sizeof(notify_addr));
	notify_addr.sun_family = AF_UNIX;
	memcpy(notify_addr.sun_path, path, len);
	if (path[0] == '@')
		notify_addr.sun_path[0] = '\0'; /* abstract namespace */
	notify_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
				 (path[0] == '/' ? 1 : 0));
	notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (notify_fd < 0)
		return -errno;
	return 0;
}

int ms_notify_enabled(void)
{
	return notify_fd >= 0;
}

int ms_notify(const char *fmt, ...)
{
	char *msg = NULL;
	va_list ap;
	int n, err = 0;

	if (notify_fd < 0)
		return 0;
	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	/* A datagram is all or nothing; no partial sends to handle. */
	if (sendto(notify_fd, msg, (size_t)n, MSG_NOSIGNAL, (const struct sockaddr *)&notify_addr,
		   notify_len) < 0)
		err = -errno;
	free(msg);
	return err;
}

void ms_notify_close(void)
{
	if (notify_fd >= 0)
		close(notify_fd);
	notify_fd = -1;
}
