// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* The server's sockets: the unix socket (API) and the TCP one (--web). */
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "server_internal.h"

/* Bind the unix socket: a path a live agent answers on is refused, a stale
 * socket is replaced, anything else in the way is left alone. */
int srv_unix_listen(const char *path, const char *group, int *out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	gid_t gid = 0;
	mode_t old;
	int fd, err;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_error("API socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	if (group) {
		struct group *g = getgrnam(group);

		if (!g) {
			log_error("no such group '%s' (--api-group)", group);
			return -ENOENT;
		}
		gid = g->gr_gid;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (!lstat(path, &st)) {
		int probe;

		if (!S_ISSOCK(st.st_mode)) {
			log_error("%s exists and is not a socket; not replacing it", path);
			err = -EEXIST;
			goto fail;
		}
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && !connect(probe, (struct sockaddr *)&sa, sizeof(sa))) {
			close(probe);
			log_error("%s is in use by a running microsegd; stop it first or give "
				  "this one another --api-socket",
				  path);
			err = -EADDRINUSE;
			goto fail;
		}
		if (probe >= 0)
			close(probe);
		log_info("removing the stale API socket %s", path);
		unlink(path);
	}
	/* Never a moment with wider permissions than 0660. */
	old = umask(0117);
	err = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ? -errno : 0;
	if (err == -ENOENT) {
		/* Started by hand, where systemd's RuntimeDirectory= did not make
		 * the directory: make it (one level, 0755). */
		char *dir = strdup(path), *slash = dir ? strrchr(dir, '/') : NULL;

		if (slash && slash != dir) {
			*slash = '\0';
			umask(0022);
			if (!mkdir(dir, 0755) || errno == EEXIST) {
				umask(0117);
				err = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ? -errno : 0;
			}
		}
		free(dir);
	}
	umask(old);
	if (err) {
		log_error("cannot bind the API socket %s: %s", path, strerror(-err));
		goto fail;
	}
	if (group && chown(path, (uid_t)-1, gid)) {
		err = -errno;
		log_error("cannot give %s to group %s: %s", path, group, strerror(-err));
		unlink(path);
		goto fail;
	}
	if (listen(fd, MS_API_MAX_CONNECTIONS)) {
		err = -errno;
		log_error("cannot listen on %s: %s", path, strerror(-err));
		unlink(path);
		goto fail;
	}
	*out = fd;
	return 0;
fail:
	close(fd);
	return err;
}

/* "ADDR:PORT" or "[V6ADDR]:PORT"; the address bound to in *ssp. */
int srv_tcp_listen(const char *spec, int *out, struct sockaddr_storage *ssp)
{
	struct sockaddr_storage ss = { 0 };
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(spec, ':');
	socklen_t slen;
	unsigned long port;
	char *end;
	int fd, one = 1, err;
	size_t hl;

	if (!colon || colon == spec)
		return -EINVAL;
	port = strtoul(colon + 1, &end, 10);
	if (!colon[1] || *end || !port || port > 65535)
		return -EINVAL;
	hl = (size_t)(colon - spec);
	if (spec[0] == '[') {
		if (hl < 3 || spec[hl - 1] != ']' || hl - 2 >= sizeof(host))
			return -EINVAL;
		memcpy(host, spec + 1, hl - 2);
		host[hl - 2] = '\0';
	} else {
		if (hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, spec, hl);
		host[hl] = '\0';
	}
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		slen = sizeof(*s4);
	} else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		slen = sizeof(*s6);
	} else {
		return -EINVAL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, slen) || listen(fd, MS_API_MAX_CONNECTIONS)) {
		err = -errno;
		close(fd);
		return err;
	}
	*out = fd;
	*ssp = ss;
	return 0;
}
