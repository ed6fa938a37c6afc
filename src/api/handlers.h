/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The control API's endpoints (docs/API.md), independent of the HTTP
 * server: a request in, a response out. The server (server.c) speaks HTTP;
 * the fuzzer drives these directly.
 */
#ifndef MICROSEGD_HANDLERS_H
#define MICROSEGD_HANDLERS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon.h"
#include "flowring.h"
#include "request.h"

/* Counters of the HTTP side, for /v1/status and /metrics. */
struct ms_api_counters {
	unsigned int connections;
	unsigned int follow_clients;
	unsigned long long follow_dropped;
	unsigned long long requests;
	unsigned long long slow_cut; /* connections cut for a request too slow */
};

/*
 * Answer one request. d->dp may be NULL (tests): what needs the data plane
 * answers 503. cnt may be NULL. Always fills resp (status 500 with no body
 * when out of memory); free with ms_api_resp_clear (request.h).
 */
void ms_api_handle(struct ms_daemon *d, const struct ms_api_counters *cnt,
		   const struct ms_api_req *req, struct ms_api_resp *resp);

/*
 * Answers too costly for the agent's loop (GET /v1/suggest, GET /v1/graph
 * of a graph not yet written for this sweep, POST /v1/policy/check: a large
 * policy compiles for seconds; GET /v1/sessions, see below) are made from a
 * snapshot on
 * a worker thread, in four steps: ms_api_defer on the loop says whether
 * req is one (true: *job to run, or NULL and resp filled with an error);
 * ms_api_job_ready on the loop says when its snapshot can be taken (a
 * suggestion waits for a sweep of the session table that began after the
 * request, at most MS_API_SWEEP_WAIT_SEC); ms_api_job_snapshot on the loop
 * copies what the job needs; ms_api_job_run on the worker touches nothing
 * but the job; ms_api_job_finish on the loop fills resp and frees the job
 * (err: the job could not run, -ENOMEM or -ECANCELED at shutdown).
 */
#define MS_API_SWEEP_WAIT_SEC 10
/* A suggestion still running after this is stopped and answered 503. */
#define MS_API_JOB_TIMEOUT_SEC 30

struct ms_api_job;

bool ms_api_defer(struct ms_daemon *d, const struct ms_api_req *req, struct ms_api_resp *resp,
		  struct ms_api_job **job);
bool ms_api_job_ready(const struct ms_daemon *d, const struct ms_api_job *j, uint64_t now_ms);
int ms_api_job_snapshot(struct ms_daemon *d, struct ms_api_job *j);
void ms_api_job_run(struct ms_api_job *j, const atomic_bool *cancel);
void ms_api_job_finish(struct ms_daemon *d, struct ms_api_job **j, int err,
		       struct ms_api_resp *resp);
void ms_api_job_free(struct ms_api_job **j);

/* A job whose snapshot is taken on the loop in steps (GET /v1/sessions:
 * the table is read a batch per step): ms_api_job_step does one, true when
 * it is all taken; then on as the others (ms_api_job_snapshot has nothing
 * more to take, ms_api_job_run writes the answer's text). */
bool ms_api_job_sliced(const struct ms_api_job *j);
bool ms_api_job_step(struct ms_api_job *j);

/*
 * What can be refused from the request line alone, before any body is
 * read: an unknown path (404), a method the endpoint or the listener does
 * not take (405). Returns true with resp filled to refuse; otherwise sets
 * *body to whether the endpoint reads a body at all.
 */
bool ms_api_refuse(const struct ms_api_req *req, struct ms_api_resp *resp, bool *body);

#endif /* MICROSEGD_HANDLERS_H */
