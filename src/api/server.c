// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <microhttpd.h>

#include "handlers.h"
#include "log.h"
#include "server.h"
#include "timefmt.h"

struct listener {
	struct ms_api *api;
	struct MHD_Daemon *mhd;
	int fd;
	bool readonly;
	const char *what; /* for messages */
	/* The TCP listener: the Host names it answers (host_ok). */
	struct sockaddr_storage addr;
	uint16_t port;
	bool loopback, wildcard;
};

/* Every connection, from accept to close: a request not complete (headers
 * and body) within MS_API_REQUEST_TIMEOUT_SEC is cut, however it trickles. */
struct conn {
	struct ms_api *api;
	int fd;
	uint64_t since_ms; /* connected, or answered the last request */
	bool answering;	   /* a request is being answered: not ours to cut */
	bool cut;
	struct conn *prev, *next;
};

/* A request answered by a job on the worker thread (handlers.h). */
enum pend_state {
	P_SLICE,  /* its snapshot taken on the loop, a step per turn */
	P_WAIT,	  /* until its snapshot can be taken (loop) */
	P_QUEUED, /* the worker's: touched by the loop only under mu */
	P_DONE,	  /* back to the loop, connection resumed */
};

struct pending {
	struct ms_api *api;
	struct MHD_Connection *conn;
	struct ms_api_job *job;
	enum pend_state state;
	bool worker_done; /* under mu */
	bool orphan;	  /* the request ended first: free once done */
	int err;	  /* the job could not run: answered as such */
	uint64_t started_ms;
	atomic_bool cancel;
	struct pending *next;  /* api->pending (loop) */
	struct pending *qnext; /* the worker's queue (mu) */
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
	char **hosts; /* --web-host names */
	size_t n_hosts;
	struct conn *conns;
	size_t body_bytes; /* request bodies held, all connections */
	/* Jobs: the list is the loop's; the queue and worker_done are mu's. */
	struct pending *pending;
	size_t n_pending;
	pthread_t worker;
	bool worker_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct pending *qhead, *qtail;
	bool wstop;
	atomic_bool jobs_done; /* a job finished since the loop last looked */
};

/* Per request: the body as it arrives. */
struct reqctx {
	char *body;
	size_t len, cap;
	size_t reserved; /* of a->body_bytes, given back at the end */
	bool too_large;
	bool no_body;  /* the endpoint reads none: what comes is dropped */
	bool refused;  /* answered before the body: nothing more to do */
	bool too_many; /* bodies of all connections over their bound */
	struct pending *pend;
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
	struct conn *c = *socket_ctx;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

		a->cnt.connections++;
		c = calloc(1, sizeof(*c));
		if (!c)
			return; /* untracked: only MHD's idle timeout cuts it */
		c->api = a;
		c->fd = ci ? ci->connect_fd : -1;
		c->since_ms = ms_time_now_ms();
		c->next = a->conns;
		if (a->conns)
			a->conns->prev = c;
		a->conns = c;
		*socket_ctx = c;
		return;
	}
	if (a->cnt.connections)
		a->cnt.connections--;
	if (!c)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		a->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c);
	*socket_ctx = NULL;
}

static struct conn *conn_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

static void pending_release(struct pending *p);

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct ms_api *a = cls;
	struct reqctx *rc = *con_cls;
	struct conn *c = conn_of(conn);

	(void)toe;
	if (c) {
		/* The next request on this connection has its own time. */
		c->answering = false;
		c->since_ms = ms_time_now_ms();
	}
	if (rc) {
		a->body_bytes -= rc->reserved;
		if (rc->pend)
			pending_release(rc->pend);
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

static enum MHD_Result answer_error(struct MHD_Connection *conn, unsigned int status,
				    const char *msg)
{
	struct ms_api_resp rs = { 0 };
	enum MHD_Result ret;

	ms_api_error(&rs, status, msg);
	ret = queue(conn, &rs);
	ms_api_resp_clear(&rs);
	return ret;
}

static enum MHD_Result too_large(struct MHD_Connection *conn)
{
	char msg[64];

	snprintf(msg, sizeof(msg), "request body larger than %u bytes", MS_API_MAX_BODY);
	return answer_error(conn, 413, msg);
}

/* ------------------------------------------------------------ Host names */

static bool same_name(const char *a, size_t alen, const char *b)
{
	return strlen(b) == alen && !strncasecmp(a, b, alen);
}

/*
 * Whether a Host header names this TCP listener (DNS rebinding: a page of
 * another origin reaches the listener only under that origin's own name).
 * Accepted: the listener's address (a wildcard listener: any address
 * literal), localhost on a loopback listener, and the --web-host names;
 * with the listener's port, or without one where the name stands alone
 * (a --web-host name behind a proxy) or the port is 80.
 */
static bool host_ok(const struct listener *l, const char *host)
{
	const struct ms_api *a = l->api;
	const char *name = host, *colon;
	char lit[INET6_ADDRSTRLEN + 1];
	size_t nlen;
	bool has_port = false;
	unsigned long port = 0;
	unsigned char buf[sizeof(struct in6_addr)];

	if (!host || !*host)
		return false;
	for (size_t i = 0; i < a->n_hosts; i++)
		if (!strcasecmp(host, a->hosts[i]))
			return true;
	if (host[0] == '[') {
		const char *close = strchr(host, ']');

		if (!close)
			return false;
		name = host + 1;
		nlen = (size_t)(close - name);
		colon = close[1] == ':' ? close + 1 : NULL;
		if (close[1] && !colon)
			return false;
	} else {
		colon = strchr(host, ':');
		nlen = colon ? (size_t)(colon - host) : strlen(host);
	}
	if (colon) {
		char *end;

		if (!colon[1] || strchr(colon + 1, ':'))
			return false;
		port = strtoul(colon + 1, &end, 10);
		if (*end)
			return false;
		has_port = true;
	}
	if (has_port ? port != l->port : l->port != 80) {
		/* A --web-host name alone is accepted as given (above); with the
		 * listener's port it is checked here. */
		return false;
	}
	for (size_t i = 0; i < a->n_hosts; i++)
		if (same_name(name, nlen, a->hosts[i]))
			return true;
	if (l->loopback && same_name(name, nlen, "localhost"))
		return true;
	if (nlen >= sizeof(lit))
		return false;
	memcpy(lit, name, nlen);
	lit[nlen] = '\0';
	if (l->addr.ss_family == AF_INET && host[0] != '[' && inet_pton(AF_INET, lit, buf) == 1)
		return l->wildcard ||
		       !memcmp(buf, &((const struct sockaddr_in *)&l->addr)->sin_addr, 4);
	if (l->addr.ss_family == AF_INET6 && host[0] == '[' && inet_pton(AF_INET6, lit, buf) == 1)
		return l->wildcard ||
		       !memcmp(buf, &((const struct sockaddr_in6 *)&l->addr)->sin6_addr, 16);
	return false;
}

static enum MHD_Result misdirected(struct listener *l, struct MHD_Connection *conn,
				   const char *host)
{
	char *msg = NULL;
	enum MHD_Result ret;

	if (asprintf(&msg,
		     "Host '%.100s' is not a name of this listener (%s): it answers its own "
		     "address%s and the names given with --web-host only",
		     host ? host : "", l->what, l->loopback ? ", localhost" : "") < 0)
		msg = NULL;
	ret = answer_error(conn, 421, msg ? msg : "Host not accepted here");
	free(msg);
	return ret;
}

/* ------------------------------------------------------------------ jobs */

static void *worker_main(void *cls)
{
	struct ms_api *a = cls;
	struct pending *p;

	/* Background work: on a busy host the loop (events, the data plane's
	 * ring buffer) gets the CPU first. Linux takes the nice value per
	 * thread. */
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), MS_API_WORKER_NICE))
		log_debug("api: cannot lower the worker's priority: %s", strerror(errno));

	pthread_mutex_lock(&a->mu);
	for (;;) {
		while (!a->qhead && !a->wstop)
			pthread_cond_wait(&a->cv, &a->mu);
		p = a->qhead;
		if (!p)
			break;
		a->qhead = p->qnext;
		if (!a->qhead)
			a->qtail = NULL;
		pthread_mutex_unlock(&a->mu);
		ms_api_job_run(p->job, &p->cancel);
		pthread_mutex_lock(&a->mu);
		p->worker_done = true;
		atomic_store(&a->jobs_done, true);
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

static void pending_unlink(struct pending *p)
{
	struct ms_api *a = p->api;

	for (struct pending **pp = &a->pending; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			a->n_pending--;
			break;
		}
}

static void pending_free(struct pending *p)
{
	pending_unlink(p);
	ms_api_job_free(&p->job);
	free(p);
}

/* The request p answers is over: free p, or leave it to the worker. */
static void pending_release(struct pending *p)
{
	if (p->state == P_QUEUED) {
		p->orphan = true;
		atomic_store(&p->cancel, true);
		return;
	}
	pending_free(p);
}

static void pending_resume(struct pending *p)
{
	p->state = P_DONE;
	if (!p->orphan) {
		MHD_resume_connection(p->conn);
		p->api->need_run = true;
	}
}

static int worker_start(struct ms_api *a)
{
	int err;

	if (a->worker_started)
		return 0;
	err = pthread_create(&a->worker, NULL, worker_main, a);
	if (err)
		return -err;
	a->worker_started = true;
	return 0;
}

/* On the loop: take the snapshot and hand the job to the worker. */
static void pending_enqueue(struct pending *p)
{
	struct ms_api *a = p->api;

	p->err = worker_start(a);
	if (!p->err)
		p->err = ms_api_job_snapshot(a->d, p->job);
	if (p->err) {
		pending_resume(p);
		return;
	}
	p->state = P_QUEUED;
	p->started_ms = ms_time_now_ms();
	pthread_mutex_lock(&a->mu);
	if (a->qtail)
		a->qtail->qnext = p;
	else
		a->qhead = p;
	a->qtail = p;
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

/* Jobs ready for their snapshot, jobs the worker finished, jobs too slow. */
static void jobs_step(struct ms_api *a, bool tick)
{
	uint64_t now = ms_time_now_ms();
	struct pending *p, *next;
	bool done = atomic_exchange(&a->jobs_done, false);

	for (p = a->pending; p; p = next) {
		next = p->next;
		if (p->state == P_SLICE) {
			for (int i = 0; i < MS_API_SLICE_STEPS; i++)
				if (ms_api_job_step(p->job)) {
					pending_enqueue(p);
					break;
				}
		} else if (p->state == P_WAIT && ms_api_job_ready(a->d, p->job, now)) {
			pending_enqueue(p);
		} else if (p->state == P_QUEUED) {
			bool finished;

			if (tick && now - p->started_ms > MS_API_JOB_TIMEOUT_SEC * 1000ULL)
				atomic_store(&p->cancel, true);
			if (!done)
				continue;
			pthread_mutex_lock(&a->mu);
			finished = p->worker_done;
			pthread_mutex_unlock(&a->mu);
			if (!finished)
				continue;
			if (p->orphan)
				pending_free(p);
			else
				pending_resume(p);
		}
	}
}

static void worker_stop(struct ms_api *a)
{
	if (!a->worker_started)
		return;
	for (struct pending *p = a->pending; p; p = p->next)
		atomic_store(&p->cancel, true);
	pthread_mutex_lock(&a->mu);
	a->wstop = true;
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
	pthread_join(a->worker, NULL);
	a->worker_started = false;
}

/* A request for ms_api_defer's job: park the connection until it is done. */
static enum MHD_Result start_job(struct ms_api *a, struct MHD_Connection *conn, struct reqctx *rc,
				 struct ms_api_job *job)
{
	struct pending *p;

	if (a->n_pending >= MS_API_MAX_JOBS) {
		ms_api_job_free(&job);
		return answer_error(conn, 503,
				    "busy with other suggestions and graphs; try again shortly");
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		ms_api_job_free(&job);
		return MHD_NO;
	}
	p->api = a;
	p->conn = conn;
	p->job = job;
	p->state = ms_api_job_sliced(job) ? P_SLICE : P_WAIT;
	atomic_init(&p->cancel, false);
	p->next = a->pending;
	a->pending = p;
	a->n_pending++;
	rc->pend = p;
	MHD_suspend_connection(conn);
	if (p->state == P_SLICE)
		a->need_run = true; /* the first step on the loop's next turn */
	else if (ms_api_job_ready(a->d, job, ms_time_now_ms()))
		pending_enqueue(p);
	return MHD_YES;
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

		if (!host_ok(l, host)) {
			rc->refused = true;
			return misdirected(l, conn, host);
		}
	}
	if (ms_api_refuse(&rq, &rs, &body)) {
		/* Answered now; the body, if any, is never buffered. */
		rc->refused = true;
		a->cnt.requests++;
		ret = queue(conn, &rs);
		ms_api_resp_clear(&rs);
		return ret;
	}
	rc->no_body = !body;
	if (!body)
		return MHD_YES; /* a body sent anyway is read past, not kept */
	/* Refuse an announced oversize body before reading any of it. */
	if (announced > MS_API_MAX_BODY) {
		rc->refused = true;
		return too_large(conn);
	}
	/* And bound what all bodies together hold; a chunked one counts at
	 * its bound. */
	rc->reserved = cl ? (size_t)announced : te ? MS_API_MAX_BODY : 0;
	if (a->body_bytes + rc->reserved > MS_API_MAX_BODIES) {
		rc->reserved = 0;
		rc->refused = true;
		return answer_error(conn, 503, "too many request bodies in flight; try again");
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
		if (rc->refused && (c = conn_of(conn)))
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
		pending_free(p);
		ret = queue(conn, &rs);
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
	c = conn_of(conn);
	if (c)
		c->answering = true;
	if (rc->too_large)
		return too_large(conn);
	if (rc->too_many)
		return answer_error(conn, 503, "too many request bodies in flight; try again");
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
			return start_job(a, conn, rc, job);
		ret = queue(conn, &rs);
		ms_api_resp_clear(&rs);
		return ret;
	}
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

/* "ADDR:PORT" or "[V6ADDR]:PORT"; the address bound to in *ssp. */
static int tcp_listen(const char *spec, int *out, struct sockaddr_storage *ssp)
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
		on_connection, a, MHD_OPTION_NOTIFY_COMPLETED, on_completed, a,
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
		err = start_listener(a, fd, NULL, o->socket_path);
		if (err)
			goto fail;
	}
	if (o->web) {
		err = tcp_listen(o->web, &fd, &ss);
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
	for (struct follower *f = a->followers; f; f = f->next) {
		f->dropped = true;
		follower_wake(f);
	}
	/* Jobs are stopped, and their requests answered 503. */
	worker_stop(a);
	for (struct pending *p = a->pending, *next; p; p = next) {
		next = p->next;
		if (p->orphan) {
			pending_free(p);
		} else if (p->state != P_DONE) {
			p->err = -ECANCELED;
			pending_resume(p);
		}
	}
	for (size_t i = 0; i < a->n_ls; i++) {
		MHD_run(a->ls[i].mhd);
		MHD_stop_daemon(a->ls[i].mhd);
		close(a->ls[i].fd);
	}
	while (a->pending)
		pending_free(a->pending);
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
		jobs_step(a, false);
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

/*
 * Cut a connection whose request is not complete in time: libmicrohttpd's
 * timeout is for idle connections, and a client sending one header line
 * every few seconds is never idle. shutdown() leaves the fd to
 * libmicrohttpd, which sees the end of the connection and closes it.
 */
static void cut_slow(struct ms_api *a)
{
	uint64_t now = ms_time_now_ms();

	for (struct conn *c = a->conns; c; c = c->next) {
		if (c->answering || c->cut || c->fd < 0 ||
		    now - c->since_ms <= MS_API_REQUEST_TIMEOUT_SEC * 1000ULL)
			continue;
		c->cut = true;
		a->cnt.slow_cut++;
		shutdown(c->fd, SHUT_RDWR);
		a->need_run = true;
	}
}

void ms_api_tick(struct ms_api *a)
{
	cut_slow(a);
	if (a->pending)
		jobs_step(a, true);
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
