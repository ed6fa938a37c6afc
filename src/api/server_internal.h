// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * What the API server's files share (server.c, server_reply.c,
 * server_guard.c, server_jobs.c, server_follow.c, server_listen.c): the
 * server's state and the calls one file makes into another. Callers outside
 * the server use server.h.
 */
#ifndef MICROSEGD_SERVER_INTERNAL_H
#define MICROSEGD_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "handlers.h"
#include "server.h"

struct listener {
	struct ms_api *api;
	struct MHD_Daemon *mhd;
	int fd;
	bool readonly;
	const char *what; /* for messages */
	/* The TCP listener: the Host names it answers (srv_host_ok). */
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
	struct pending *qnext; /* the worker's srv_queue (mu) */
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
	/* Jobs: the list is the loop's; the srv_queue and worker_done are mu's. */
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

/* server_reply.c: answers, each with the security headers. */
void srv_add_security_headers(struct MHD_Response *r);
enum MHD_Result srv_queue(struct MHD_Connection *conn, struct ms_api_resp *rs);
enum MHD_Result srv_answer_error(struct MHD_Connection *conn, unsigned int status, const char *msg);
enum MHD_Result srv_too_large(struct MHD_Connection *conn);

/* server_guard.c: connections tracked and cut, Host names checked. */
void srv_on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
		       enum MHD_ConnectionNotificationCode code);
struct conn *srv_conn_of(struct MHD_Connection *conn);
void srv_cut_slow(struct ms_api *a);
bool srv_host_ok(const struct listener *l, const char *host);
enum MHD_Result srv_misdirected(struct listener *l, struct MHD_Connection *conn, const char *host);

/* server_jobs.c: requests answered on the worker thread. */
enum MHD_Result srv_start_job(struct ms_api *a, struct MHD_Connection *conn, struct reqctx *rc,
			      struct ms_api_job *job);
void srv_jobs_step(struct ms_api *a, bool tick);
void srv_pending_free(struct pending *p);
void srv_pending_release(struct pending *p);
/* Stop the worker; every job's request answered 503 or freed. */
void srv_jobs_cancel(struct ms_api *a);

/* server_follow.c: the flow streams. */
enum MHD_Result srv_start_follow(struct ms_api *a, struct MHD_Connection *conn,
				 struct ms_api_resp *rs);
void srv_follow_tick(struct ms_api *a);
/* End every stream (at exit). */
void srv_follow_end_all(struct ms_api *a);

/* server_listen.c: the sockets. */
int srv_unix_listen(const char *path, const char *group, int *out);
int srv_tcp_listen(const char *spec, int *out, struct sockaddr_storage *ssp);

#endif
