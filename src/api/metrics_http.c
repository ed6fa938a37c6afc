// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "log.h"
#include "metrics.h"
#include "metrics_http.h"

struct ms_metrics_http {
	struct ms_daemon *d;
	struct MHD_Daemon *mhd;
	int fd; /* the listening socket */
};

static const char not_found[] = "not found: this listener serves GET /metrics only\n";

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status, char *body,
			     size_t len, bool owned)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
		len, body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (!r) {
		if (owned)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				status == 200 ? "text/plain; version=0.0.4; charset=utf-8"
					      : "text/plain; charset=utf-8");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Answered on the first call, before any body is read: nothing here takes
 * a body, and a request that brings one is not kept waiting for. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct ms_metrics_http *m = cls;
	size_t len = 0;
	char *s;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	if (*con_cls)
		return MHD_NO; /* the answer is queued; drop what follows */
	*con_cls = m;
	if (strcmp(method, "GET") || strcmp(url, "/metrics"))
		return reply(conn, 404, (char *)not_found, sizeof(not_found) - 1, false);
	s = m->d->dp ? ms_metrics_render(m->d, NULL, &len) : NULL;
	if (!s) {
		static const char busy[] = "cannot read the data plane's counters\n";

		return reply(conn, 503, (char *)busy, sizeof(busy) - 1, false);
	}
	return reply(conn, 200, s, len, true);
}

/* A numeric "ADDR:PORT" or "[V6ADDR]:PORT" as a listening socket. */
static int listen_on(const char *spec, int *out)
{
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
				  .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai = NULL;
	const char *colon = strrchr(spec, ':');
	char *host;
	int fd = -1, one = 1, err;

	if (!colon || colon == spec || !colon[1])
		return -EINVAL;
	if (spec[0] == '[' && colon[-1] == ']')
		host = strndup(spec + 1, (size_t)(colon - spec - 2));
	else
		host = strndup(spec, (size_t)(colon - spec));
	if (!host)
		return -ENOMEM;
	err = getaddrinfo(host, colon + 1, &hints, &ai);
	free(host);
	if (err)
		return err == EAI_MEMORY ? -ENOMEM : -EINVAL;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, MS_METRICS_MAX_CONNECTIONS)) {
		err = -errno;
		close(fd);
		goto out;
	}
	*out = fd;
	err = 0;
out:
	freeaddrinfo(ai);
	return err;
}

int ms_metrics_http_new(struct ms_daemon *d, const char *spec, struct ms_metrics_http **out)
{
	struct ms_metrics_http *m = calloc(1, sizeof(*m));
	int err;

	if (!m)
		return -ENOMEM;
	m->d = d;
	err = listen_on(spec, &m->fd);
	if (err) {
		log_error("cannot listen for metrics on %s: %s", spec,
			  err == -EINVAL ? "not a numeric ADDR:PORT" : strerror(-err));
		free(m);
		return err;
	}
	/* No error log: a scraper's broken connection is not the operator's
	 * concern; the listener's own failure is logged here. */
	m->mhd = MHD_start_daemon(
		MHD_USE_EPOLL, 0, NULL, NULL, on_request, m, MHD_OPTION_LISTEN_SOCKET, m->fd,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)MS_METRICS_MAX_CONNECTIONS,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)MS_METRICS_IDLE_TIMEOUT_SEC,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384, MHD_OPTION_END);
	if (!m->mhd) {
		log_error("cannot serve metrics on %s", spec);
		close(m->fd);
		free(m);
		return -EIO;
	}
	log_info("metrics on %s (GET /metrics only)", spec);
	*out = m;
	return 0;
}

void ms_metrics_http_free(struct ms_metrics_http **mp)
{
	struct ms_metrics_http *m = *mp;
	MHD_socket fd;

	if (!m)
		return;
	/* Quiesced, the listening socket is ours to close; otherwise
	 * libmicrohttpd closes it. */
	fd = MHD_quiesce_daemon(m->mhd);
	MHD_stop_daemon(m->mhd);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	free(m);
	*mp = NULL;
}

int ms_metrics_http_fd(const struct ms_metrics_http *m)
{
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_EPOLL_FD);

	return di ? di->epoll_fd : -1;
}

void ms_metrics_http_run(struct ms_metrics_http *m)
{
	MHD_run(m->mhd);
}
