// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* Requests answered by a job on the worker thread: the connection parked
 * until its job is done (handlers.h, ms_api_defer). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <microhttpd.h>

#include "log.h"
#include "server_internal.h"
#include "timefmt.h"

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

void srv_pending_free(struct pending *p)
{
	pending_unlink(p);
	ms_api_job_free(&p->job);
	free(p);
}

/* The request p answers is over: free p, or leave it to the worker. */
void srv_pending_release(struct pending *p)
{
	if (p->state == P_QUEUED) {
		p->orphan = true;
		atomic_store(&p->cancel, true);
		return;
	}
	srv_pending_free(p);
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
void srv_jobs_step(struct ms_api *a, bool tick)
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
				srv_pending_free(p);
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
enum MHD_Result srv_start_job(struct ms_api *a, struct MHD_Connection *conn, struct reqctx *rc,
			      struct ms_api_job *job)
{
	struct pending *p;

	if (a->n_pending >= MS_API_MAX_JOBS) {
		ms_api_job_free(&job);
		return srv_answer_error(
			conn, 503, "busy with other suggestions and graphs; try again shortly");
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

void srv_jobs_cancel(struct ms_api *a)
{
	worker_stop(a);
	for (struct pending *p = a->pending, *next; p; p = next) {
		next = p->next;
		if (p->orphan) {
			srv_pending_free(p);
		} else if (p->state != P_DONE) {
			p->err = -ECANCELED;
			pending_resume(p);
		}
	}
}
