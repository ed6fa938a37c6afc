// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* The API server: its listeners, their requests dispatched to the handlers
 * (handlers.h), and the loop's calls (server.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "handlers.h"
#include "log.h"
#include "server.h"
#include "server_internal.h"
#include "timefmt.h"

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];

	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	log_debug("api: %s", buf);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct ms_api *a = cls;
	struct reqctx *rc = *con_cls;
	struct conn *c = srv_conn_of(conn);

	(void)toe;
	if (c) {
		/* The next request on this connection has its own time. */
		c->answering = false;
		c->since_ms = ms_time_now_ms();
	}
	if (rc) {
		a->body_bytes -= rc->reserved;
		if (rc->pend)
			srv_pending_release(rc->pend);
		free(rc->body);
		free(rc);
		*con_cls = NULL;
	}
}

static const char *get_arg(void *cls, const char *key)
{
	return MHD_lookup_connection_value(cls, MHD_GET_ARGUMENT_KIND, key);
}

static const char *get_header(void *cls, const char *key)
{
	return MHD_lookup_connection_value(cls, MHD_HEADER_KIND, key);
}

/* ------------------------------------------------------------- requests */

/* The first call, headers complete, no body read: refuse what can be. */
static enum MHD_Result first_call(struct listener *l, struct MHD_Connection *conn, const char *url,
				  const char *method, struct reqctx *rc)
{
	struct ms_api *a = l->api;
	const char *cl =
		MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_TRANSFER_ENCODING);
	unsigned long long announced = cl ? strtoull(cl, NULL, 10) : 0;
	struct ms_api_req rq = { .method = method, .path = url, .readonly = l->readonly };
	struct ms_api_resp rs;
	enum MHD_Result ret;
	bool body;

	if (l->readonly) {
		const char *host = get_header(conn, MHD_HTTP_HEADER_HOST);

		if (!srv_host_ok(l, host)) {
			rc->refused = true;
			return srv_misdirected(l, conn, host);
		}
	}
	if (ms_api_refuse(&rq, &rs, &body)) {
		/* Answered now; the body, if any, is never buffered. */
		rc->refused = true;
		a->cnt.requests++;
		ret = srv_queue(conn, &rs);
		ms_api_resp_clear(&rs);
		return ret;
	}
	rc->no_body = !body;
	if (!body)
		return MHD_YES; /* a body sent anyway is read past, not kept */
	/* Refuse an announced oversize body before reading any of it. */
	if (announced > MS_API_MAX_BODY) {
		rc->refused = true;
		return srv_too_large(conn);
	}
	/* And bound what all bodies together hold; a chunked one counts at
	 * its bound. */
	rc->reserved = cl ? (size_t)announced : te ? MS_API_MAX_BODY : 0;
	if (a->body_bytes + rc->reserved > MS_API_MAX_BODIES) {
		rc->reserved = 0;
		rc->refused = true;
		return srv_answer_error(conn, 503, "too many request bodies in flight; try again");
	}
	a->body_bytes += rc->reserved;
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct listener *l = cls;
	struct ms_api *a = l->api;
	struct reqctx *rc = *con_cls;
	struct ms_api_resp rs;
	struct ms_api_req rq;
	struct ms_api_job *job = NULL;
	struct conn *c;
	enum MHD_Result ret;

	(void)version;
	if (!rc) {
		rc = calloc(1, sizeof(*rc));
		if (!rc)
			return MHD_NO;
		*con_cls = rc;
		ret = first_call(l, conn, url, method, rc);
		if (rc->refused && (c = srv_conn_of(conn)))
			c->answering = true;
		return ret;
	}
	if (rc->refused) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (rc->pend) {
		/* Resumed: the job is done. */
		struct pending *p = rc->pend;

		rc->pend = NULL;
		ms_api_job_finish(a->d, &p->job, p->err, &rs);
		srv_pending_free(p);
		ret = srv_queue(conn, &rs);
		ms_api_resp_clear(&rs);
		return ret;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (rc->no_body)
			return MHD_YES;
		if (rc->too_large || rc->len + n > MS_API_MAX_BODY) {
			rc->too_large = true;
			return MHD_YES;
		}
		if (rc->len + n + 1 > rc->cap) {
			size_t ncap = rc->cap ? rc->cap : 4096;
			char *nb;

			while (ncap < rc->len + n + 1)
				ncap *= 2;
			if (ncap > rc->reserved &&
			    a->body_bytes + (ncap - rc->reserved) > MS_API_MAX_BODIES) {
				rc->too_many = true;
				rc->no_body = true;
				return MHD_YES;
			}
			nb = realloc(rc->body, ncap);
			if (!nb)
				return MHD_NO;
			rc->body = nb;
			rc->cap = ncap;
			if (ncap > rc->reserved) {
				a->body_bytes += ncap - rc->reserved;
				rc->reserved = ncap;
			}
		}
		memcpy(rc->body + rc->len, upload_data, n);
		rc->len += n;
		rc->body[rc->len] = '\0';
		return MHD_YES;
	}
	c = srv_conn_of(conn);
	if (c)
		c->answering = true;
	if (rc->too_large)
		return srv_too_large(conn);
	if (rc->too_many)
		return srv_answer_error(conn, 503, "too many request bodies in flight; try again");
	a->cnt.requests++;
	rq = (struct ms_api_req){
		.method = method,
		.path = url,
		.arg = get_arg,
		.arg_cls = conn,
		.header = get_header,
		.body = rc->no_body ? NULL : rc->body,
		.body_len = rc->no_body ? 0 : rc->len,
		.readonly = l->readonly,
	};
	if (ms_api_defer(a->d, &rq, &rs, &job)) {
		if (job)
			return srv_start_job(a, conn, rc, job);
		ret = srv_queue(conn, &rs);
		ms_api_resp_clear(&rs);
		return ret;
	}
	ms_api_handle(a->d, &a->cnt, &rq, &rs);
	if (rs.follow && rs.status == 200)
		ret = srv_start_follow(a, conn, &rs);
	else
		ret = srv_queue(conn, &rs);
	ms_api_resp_clear(&rs);
	return ret;
}

/* ss: the TCP listener's address; NULL for the unix socket. */
static int start_listener(struct ms_api *a, int fd, const struct sockaddr_storage *ss,
			  const char *what)
{
	struct listener *l = &a->ls[a->n_ls];
	/* A TCP client is one of many behind an address: each address gets
	 * a share of the connections, never all of them. */
	struct MHD_OptionItem tcp_opts[] = {
		{ MHD_OPTION_PER_IP_CONNECTION_LIMIT, MS_WEB_PER_IP_CONNECTIONS, NULL },
		{ MHD_OPTION_END, 0, NULL },
	};

	l->api = a;
	l->fd = fd;
	l->readonly = ss != NULL;
	l->what = what;
	if (ss) {
		l->addr = *ss;
		if (ss->ss_family == AF_INET) {
			const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

			l->port = ntohs(s4->sin_port);
			l->wildcard = s4->sin_addr.s_addr == htonl(INADDR_ANY);
			l->loopback = (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
		} else {
			const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

			l->port = ntohs(s6->sin6_port);
			l->wildcard = IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr);
			l->loopback = IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr);
		}
	}
	l->mhd = MHD_start_daemon(
		MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL, NULL,
		on_request, l, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
		(unsigned int)(ss ? MS_WEB_MAX_CONNECTIONS : MS_API_MAX_CONNECTIONS),
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)MS_API_IDLE_TIMEOUT_SEC,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)65536, MHD_OPTION_NOTIFY_CONNECTION,
		srv_on_connection, a, MHD_OPTION_NOTIFY_COMPLETED, on_completed, a,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, a, MHD_OPTION_ARRAY,
		ss ? tcp_opts : tcp_opts + 1, MHD_OPTION_END);
	if (!l->mhd) {
		log_error("cannot start the API server on %s", what);
		close(fd);
		return -EIO;
	}
	a->n_ls++;
	return 0;
}

int ms_api_new(struct ms_daemon *d, const struct ms_api_opts *o, struct ms_api **out)
{
	struct ms_api *a = calloc(1, sizeof(*a));
	struct sockaddr_storage ss = { 0 };
	int fd = -1, err = 0;

	if (!a)
		return -ENOMEM;
	a->d = d;
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	atomic_init(&a->jobs_done, false);
	if (o->n_web_hosts) {
		a->hosts = calloc(o->n_web_hosts, sizeof(*a->hosts));
		if (!a->hosts) {
			err = -ENOMEM;
			goto fail;
		}
		for (size_t i = 0; i < o->n_web_hosts; i++) {
			a->hosts[i] = strdup(o->web_hosts[i]);
			if (!a->hosts[i]) {
				err = -ENOMEM;
				goto fail;
			}
			a->n_hosts++;
		}
	}
	if (o->socket_path) {
		err = srv_unix_listen(o->socket_path, o->group, &fd);
		if (err)
			goto fail;
		a->socket_path = strdup(o->socket_path);
		if (!a->socket_path) {
			close(fd);
			unlink(o->socket_path);
			err = -ENOMEM;
			goto fail;
		}
		err = start_listener(a, fd, NULL, o->socket_path);
		if (err)
			goto fail;
	}
	if (o->web) {
		err = srv_tcp_listen(o->web, &fd, &ss);
		if (err) {
			log_error("cannot listen on %s (--web): %s", o->web,
				  err == -EINVAL ? "expected ADDR:PORT or [ADDR6]:PORT"
						 : strerror(-err));
			goto fail;
		}
		err = start_listener(a, fd, &ss, o->web);
		if (err)
			goto fail;
	}
	*out = a;
	return 0;
fail:
	ms_api_free(&a);
	return err;
}

void ms_api_free(struct ms_api **ap)
{
	struct ms_api *a = *ap;

	if (!a)
		return;
	/* Suspended connections must be resumed before libmicrohttpd can
	 * close them; dropped ones end their stream on the next read. */
	srv_follow_end_all(a);
	/* Jobs are stopped, and their requests answered 503. */
	srv_jobs_cancel(a);
	for (size_t i = 0; i < a->n_ls; i++) {
		MHD_run(a->ls[i].mhd);
		MHD_stop_daemon(a->ls[i].mhd);
		close(a->ls[i].fd);
	}
	while (a->pending)
		srv_pending_free(a->pending);
	if (a->socket_path) {
		unlink(a->socket_path);
		free(a->socket_path);
	}
	for (size_t i = 0; i < a->n_hosts; i++)
		free(a->hosts[i]);
	free(a->hosts);
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
	free(a);
	*ap = NULL;
}

size_t ms_api_fds(const struct ms_api *a, int *fds, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < a->n_ls && n < max; i++) {
		const union MHD_DaemonInfo *di =
			MHD_get_daemon_info(a->ls[i].mhd, MHD_DAEMON_INFO_EPOLL_FD);

		if (di)
			fds[n++] = di->epoll_fd;
	}
	return n;
}

void ms_api_run(struct ms_api *a)
{
	if (a->pending)
		srv_jobs_step(a, false);
	a->need_run = false;
	for (size_t i = 0; i < a->n_ls; i++)
		MHD_run(a->ls[i].mhd);
}

int ms_api_timeout_ms(const struct ms_api *a)
{
	long long best = -1;

	if (a->need_run || atomic_load(&a->jobs_done))
		return 0;
	/* A job waiting for its sweep, or on the worker (which does not wake
	 * the loop), is looked at again soon. */
	for (const struct pending *p = a->pending; p; p = p->next)
		if (p->state == P_SLICE)
			return 0; /* more of it on the loop's next turn */
	if (a->pending)
		best = MS_API_JOB_POLL_MS;
	for (size_t i = 0; i < a->n_ls; i++) {
		MHD_UNSIGNED_LONG_LONG t;

		if (MHD_get_timeout(a->ls[i].mhd, &t) == MHD_YES &&
		    (best < 0 || (long long)t < best))
			best = (long long)t;
	}
	return best > INT_MAX ? INT_MAX : (int)best;
}

void ms_api_tick(struct ms_api *a)
{
	srv_cut_slow(a);
	if (a->pending)
		srv_jobs_step(a, true);
	srv_follow_tick(a);
	if (a->need_run)
		ms_api_run(a);
}
