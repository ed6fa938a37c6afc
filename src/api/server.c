// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <microhttpd.h>

#include "handlers.h"
#include "log.h"
#include "server.h"

struct listener {
	struct ms_api *api;
	struct MHD_Daemon *mhd;
	int fd;
	bool readonly;
	const char *what; /* for messages */
};

struct follower {
	struct ms_api *api;
	struct MHD_Connection *conn;
	struct ms_flow_filter filter;
	char *buf; /* bytes not yet handed to libmicrohttpd */
	size_t len, off, cap;
	unsigned int idle_ticks;
	bool suspended;
	bool dropped;
	struct follower *next;
};

struct ms_api {
	struct ms_daemon *d;
	struct listener ls[2];
	size_t n_ls;
	char *socket_path; /* to remove at exit; NULL if none */
	struct follower *followers;
	struct ms_api_counters cnt;
	bool need_run;
};

/* Per request: the body as it arrives. */
struct reqctx {
	char *body;
	size_t len, cap;
	bool too_large;
};

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];

	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	log_debug("api: %s", buf);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
			  enum MHD_ConnectionNotificationCode code)
{
	struct ms_api *a = cls;

	(void)conn;
	(void)socket_ctx;
	if (code == MHD_CONNECTION_NOTIFY_STARTED)
		a->cnt.connections++;
	else if (a->cnt.connections)
		a->cnt.connections--;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct reqctx *rc = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (rc) {
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

/* Every answer, the console's page and the API's JSON alike, may only
 * load from and talk to this agent: no other origin, no inline script. */
static void add_security_headers(struct MHD_Response *r)
{
	MHD_add_response_header(r, "Content-Security-Policy", MS_API_CSP);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
}

static enum MHD_Result queue(struct MHD_Connection *conn, struct ms_api_resp *rs)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (!rs->body)
		r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	else if (rs->static_body)
		r = MHD_create_response_from_buffer(rs->len, rs->body, MHD_RESPMEM_PERSISTENT);
	else
		r = MHD_create_response_from_buffer(rs->len, rs->body, MHD_RESPMEM_MUST_FREE);
	if (!r)
		return MHD_NO;
	rs->body = NULL; /* libmicrohttpd frees it, or it is static */
	if (rs->content_type)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, rs->content_type);
	/* The console's files are revalidated (a cheap 304 while unchanged,
	 * the new ones right after an upgrade); the API's answers are live. */
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL,
				rs->asset ? "no-cache" : "no-store");
	if (rs->etag)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, rs->etag);
	add_security_headers(r);
	ret = MHD_queue_response(conn, rs->status ? rs->status : 500, r);
	MHD_destroy_response(r);
	return ret;
}

static void follower_free(void *cls)
{
	struct follower *f = cls, **pp;

	for (pp = &f->api->followers; *pp; pp = &(*pp)->next)
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	if (f->api->cnt.follow_clients)
		f->api->cnt.follow_clients--;
	ms_flow_filter_clear(&f->filter);
	free(f->buf);
	free(f);
}

static ssize_t follower_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct follower *f = cls;
	size_t n;

	(void)pos;
	if (f->dropped)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (f->off == f->len) {
		/* Nothing to send: park the connection until an event comes;
		 * returning 0 alone would make the loop spin. */
		f->off = f->len = 0;
		f->suspended = true;
		MHD_suspend_connection(f->conn);
		return 0;
	}
	n = f->len - f->off < max ? f->len - f->off : max;
	memcpy(buf, f->buf + f->off, n);
	f->off += n;
	return (ssize_t)n;
}

static int follower_put(struct follower *f, const char *s, size_t n)
{
	if (f->len - f->off + n > MS_API_FOLLOW_MAX_PENDING)
		return -ENOBUFS;
	if (f->off && f->len + n > f->cap) {
		memmove(f->buf, f->buf + f->off, f->len - f->off);
		f->len -= f->off;
		f->off = 0;
	}
	if (f->len + n > f->cap) {
		size_t ncap = f->cap ? f->cap : 4096;
		char *nb;

		while (ncap < f->len + n)
			ncap *= 2;
		nb = realloc(f->buf, ncap);
		if (!nb)
			return -ENOMEM;
		f->buf = nb;
		f->cap = ncap;
	}
	memcpy(f->buf + f->len, s, n);
	f->len += n;
	return 0;
}

static void follower_wake(struct follower *f)
{
	if (f->suspended) {
		f->suspended = false;
		MHD_resume_connection(f->conn);
		f->api->need_run = true;
	}
}

static enum MHD_Result start_follow(struct ms_api *a, struct MHD_Connection *conn,
				    struct ms_api_resp *rs)
{
	struct follower *f = calloc(1, sizeof(*f));
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (!f)
		return MHD_NO;
	f->api = a;
	f->conn = conn;
	f->filter = rs->filter;
	rs->follow = false; /* the filter is the follower's now */
	memset(&rs->filter, 0, sizeof(rs->filter));
	f->buf = rs->body;
	f->len = f->cap = rs->len;
	rs->body = NULL;
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, follower_read, f,
					      follower_free);
	if (!r) {
		ms_flow_filter_clear(&f->filter);
		free(f->buf);
		free(f);
		return MHD_NO;
	}
	f->next = a->followers;
	a->followers = f;
	a->cnt.follow_clients++;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/x-ndjson");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	add_security_headers(r);
	ret = MHD_queue_response(conn, 200, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result too_large(struct MHD_Connection *conn)
{
	struct ms_api_resp rs = { 0 };
	enum MHD_Result ret;
	char msg[64];

	snprintf(msg, sizeof(msg), "request body larger than %u bytes", MS_API_MAX_BODY);
	ms_api_error(&rs, 413, msg);
	ret = queue(conn, &rs);
	ms_api_resp_clear(&rs);
	return ret;
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
	enum MHD_Result ret;

	(void)version;
	if (!rc) {
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);

		rc = calloc(1, sizeof(*rc));
		if (!rc)
			return MHD_NO;
		*con_cls = rc;
		/* Refuse an announced oversize body before reading any of it. */
		if (cl && strtoull(cl, NULL, 10) > MS_API_MAX_BODY)
			return too_large(conn);
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (rc->too_large || rc->len + n > MS_API_MAX_BODY) {
			rc->too_large = true;
			return MHD_YES;
		}
		if (rc->len + n + 1 > rc->cap) {
			size_t ncap = rc->cap ? rc->cap : 4096;
			char *nb;

			while (ncap < rc->len + n + 1)
				ncap *= 2;
			nb = realloc(rc->body, ncap);
			if (!nb)
				return MHD_NO;
			rc->body = nb;
			rc->cap = ncap;
		}
		memcpy(rc->body + rc->len, upload_data, n);
		rc->len += n;
		rc->body[rc->len] = '\0';
		return MHD_YES;
	}
	if (rc->too_large)
		return too_large(conn);
	a->cnt.requests++;
	rq = (struct ms_api_req){
		.method = method,
		.path = url,
		.arg = get_arg,
		.arg_cls = conn,
		.header = get_header,
		.body = rc->body,
		.body_len = rc->len,
		.readonly = l->readonly,
	};
	ms_api_handle(a->d, &a->cnt, &rq, &rs);
	if (rs.follow && rs.status == 200)
		ret = start_follow(a, conn, &rs);
	else
		ret = queue(conn, &rs);
	ms_api_resp_clear(&rs);
	return ret;
}

/* Bind the unix socket: a path a live agent answers on is refused, a stale
 * socket is replaced, anything else in the way is left alone. */
static int unix_listen(const char *path, const char *group, int *out)
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

/* "ADDR:PORT" or "[V6ADDR]:PORT". */
static int tcp_listen(const char *spec, int *out)
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
	return 0;
}

static int start_listener(struct ms_api *a, int fd, bool readonly, const char *what)
{
	struct listener *l = &a->ls[a->n_ls];

	l->api = a;
	l->fd = fd;
	l->readonly = readonly;
	l->what = what;
	l->mhd = MHD_start_daemon(
		MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL, NULL,
		on_request, l, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
		(unsigned int)MS_API_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned int)MS_API_IDLE_TIMEOUT_SEC, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		(size_t)65536, MHD_OPTION_NOTIFY_CONNECTION, on_connection, a,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, a, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
		a, MHD_OPTION_END);
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
	int fd, err = 0;

	if (!a)
		return -ENOMEM;
	a->d = d;
	if (o->socket_path) {
		err = unix_listen(o->socket_path, o->group, &fd);
		if (err)
			goto fail;
		a->socket_path = strdup(o->socket_path);
		if (!a->socket_path) {
			close(fd);
			unlink(o->socket_path);
			err = -ENOMEM;
			goto fail;
		}
		err = start_listener(a, fd, false, o->socket_path);
		if (err)
			goto fail;
	}
	if (o->web) {
		err = tcp_listen(o->web, &fd);
		if (err) {
			log_error("cannot listen on %s (--web): %s", o->web,
				  err == -EINVAL ? "expected ADDR:PORT or [ADDR6]:PORT"
						 : strerror(-err));
			goto fail;
		}
		err = start_listener(a, fd, true, o->web);
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
	for (struct follower *f = a->followers; f; f = f->next) {
		f->dropped = true;
		follower_wake(f);
	}
	for (size_t i = 0; i < a->n_ls; i++) {
		MHD_run(a->ls[i].mhd);
		MHD_stop_daemon(a->ls[i].mhd);
		close(a->ls[i].fd);
	}
	if (a->socket_path) {
		unlink(a->socket_path);
		free(a->socket_path);
	}
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
	a->need_run = false;
	for (size_t i = 0; i < a->n_ls; i++)
		MHD_run(a->ls[i].mhd);
}

int ms_api_timeout_ms(const struct ms_api *a)
{
	long long best = -1;

	if (a->need_run)
		return 0;
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
	for (struct follower *f = a->followers; f; f = f->next) {
		if (!f->suspended) {
			f->idle_ticks = 0;
			continue;
		}
		if (++f->idle_ticks < MS_API_FOLLOW_HEARTBEAT_SEC)
			continue;
		f->idle_ticks = 0;
		if (!follower_put(f, "\n", 1))
			follower_wake(f);
	}
	if (a->need_run)
		ms_api_run(a);
}

void ms_api_publish(void *cls, const struct ms_flowent *e, const char *line, size_t len)
{
	struct ms_api *a = cls;

	for (struct follower *f = a->followers; f; f = f->next) {
		if (f->dropped || !ms_flow_filter_match(&f->filter, e))
			continue;
		if (follower_put(f, line, len) || follower_put(f, "\n", 1)) {
			/* It does not read fast enough: rather than buffer without
			 * bound, end its stream. */
			f->dropped = true;
			a->cnt.follow_dropped++;
			log_warn("API: dropped a flow follower that fell more than %u bytes "
				 "behind",
				 MS_API_FOLLOW_MAX_PENDING);
		}
		follower_wake(f);
	}
}
