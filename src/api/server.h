/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The control API's HTTP side: libmicrohttpd on a unix socket (full access)
 * and, optionally, a TCP listener (read-only), both driven from the
 * daemon's one epoll loop in libmicrohttpd's external-polling epoll mode. A
 * slow client only ever waits on its own socket; an answer too costly for
 * the loop is made on one worker thread from a snapshot the loop took
 * (handlers.h), and only the loop touches the daemon's state.
 */
#ifndef MICROSEGD_SERVER_H
#define MICROSEGD_SERVER_H

#include <stddef.h>

#include "daemon.h"
#include "flowring.h"

#define MS_DEFAULT_API_SOCKET "/run/microsegd/microsegd.sock"
#define MS_API_MAX_CONNECTIONS 256
#define MS_API_IDLE_TIMEOUT_SEC 30
/* The web listener's share: in all, and per client address. */
#define MS_WEB_MAX_CONNECTIONS 64
#define MS_WEB_PER_IP_CONNECTIONS 16
/* A request (headers and body) not complete this long after its
 * connection opened, or after the answer before it, is cut. */
#define MS_API_REQUEST_TIMEOUT_SEC 10
/* Bodies held at once, all connections together (each at most
 * MS_API_MAX_BODY). */
#define MS_API_MAX_BODIES (4 * MS_API_MAX_BODY)
/* Suggestions and graphs waiting for or in the worker thread. */
#define MS_API_MAX_JOBS 4
#define MS_API_JOB_POLL_MS 50
/* The worker thread's nice value: below the loop's. */
#define MS_API_WORKER_NICE 10
/* Steps of a job done on the loop per turn (GET /v1/sessions: batches of
 * the session table, a few hundred sessions each). */
#define MS_API_SLICE_STEPS 4
/* A follower this far behind is disconnected rather than buffered for. */
#define MS_API_FOLLOW_MAX_PENDING (1u << 20)
/* An idle follow stream gets an empty line this often, so a client that
 * went away is noticed (the write fails) and its connection freed. */
#define MS_API_FOLLOW_HEARTBEAT_SEC 10
/* Sent with every answer: the console loads and fetches from its own origin
 * only, runs no inline script and cannot be framed. */
#define MS_API_CSP                                                                        \
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " \
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

struct ms_api_opts {
	const char *socket_path; /* NULL: no unix socket */
	const char *group;	 /* group allowed on the socket; NULL: root only */
	const char *web;	 /* "ADDR:PORT" for the read-only TCP listener; NULL: none */
	/* More Host names the web listener answers to (--web-host). */
	const char *const *web_hosts;
	size_t n_web_hosts;
};

struct ms_api;

/*
 * Open the listeners. A socket path held by a live agent is -EADDRINUSE, a
 * stale socket is replaced; errors are logged with their reason. Returns 0
 * or -errno.
 */
int ms_api_new(struct ms_daemon *d, const struct ms_api_opts *o, struct ms_api **out);

/* Close every connection and listener, remove the socket file. */
void ms_api_free(struct ms_api **a);

/* The epoll fds to wait on (readable = call ms_api_run); returns how many
 * were written to fds (at most max). */
size_t ms_api_fds(const struct ms_api *a, int *fds, size_t max);

/* Let libmicrohttpd do its work on every listener. */
void ms_api_run(struct ms_api *a);

/* Milliseconds until ms_api_run must be called even without fd activity,
 * or -1 for no limit. */
int ms_api_timeout_ms(const struct ms_api *a);

/* Once a second: heartbeats for idle follow streams. */
void ms_api_tick(struct ms_api *a);

/* Queue a new flow event to the follow streams whose filter it matches. */
void ms_api_publish(void *cls, const struct ms_flowent *e, const char *line, size_t len);

#endif /* MICROSEGD_SERVER_H */
