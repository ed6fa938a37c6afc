// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "daemon.h"
#include "discovery.h"
#include "log.h"
#include "observer.h"
#include "timefmt.h"
#include "policy_compile.h"
#include "policy_parse.h"
#include "safefile.h"

#define POLICY_RECORD "policy-in-force"
#define RECORD_HEADER "# microsegd state %" PRIu64 " generation %" PRIu64 "\n"

static char *record_path(const struct ms_daemon *d)
{
	char *path;

	if (!d->state_dir || asprintf(&path, "%s/" POLICY_RECORD, d->state_dir) < 0)
		return NULL;
	return path;
}

/* Write the policy in force as generation gen, atomically (write, rename). */
static void record_policy(const struct ms_daemon *d, uint64_t gen)
{
	uint64_t id = ms_dp_state_id(d->dp);
	char *path = id ? record_path(d) : NULL, *tmp = NULL;
	FILE *f = NULL;
	int fd;
	bool ok;

	if (!path)
		return;
	/* Created exclusively under a name nobody can hold in advance. */
	if (asprintf(&tmp, "%s.XXXXXX", path) < 0) {
		tmp = NULL;
		goto out;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f && fd >= 0)
		close(fd);
	ok = f && fprintf(f, RECORD_HEADER, id, gen) > 0 &&
	     fwrite(d->source, 1, d->source_len, f) == d->source_len;
	if (f && fclose(f))
		ok = false;
	if (!ok || rename(tmp, path)) {
		log_debug("cannot record the policy in %s: %s", path, strerror(errno));
		if (fd >= 0)
			unlink(tmp);
	}
out:
	free(tmp);
	free(path);
}

void ms_daemon_name_adopted(struct ms_daemon *d)
{
	uint64_t id = 0, gen = 0;
	struct ms_diag diag = { 0 };
	struct ms_policy *p = NULL;
	char *path = record_path(d), *text = NULL;
	const char *why = NULL;
	size_t len = 0;

	if (!path || !ms_dp_state_id(d->dp) ||
	    ms_read_regular(path, MS_POLICY_MAX_BYTES, &text, &len, &why))
		goto out;
	{
		/* The header is the file's first line, text not NUL-terminated. */
		char head[96];
		size_t n = len < sizeof(head) - 1 ? len : sizeof(head) - 1;

		memcpy(head, text, n);
		head[n] = '\0';
		if (sscanf(head, "# microsegd state %" SCNu64 " generation %" SCNu64, &id, &gen) !=
			    2 ||
		    id != ms_dp_state_id(d->dp) || gen != ms_dp_generation(d->dp) || !gen)
			goto out;
	}
	if (ms_policy_parse_mem(path, text, len, &p, &diag))
		goto out;
	ms_events_set_policy(d->ev, &p, gen);
	log_info("events of the adopted generation %" PRIu64 " are named after %s", gen, path);
out:
	ms_policy_free(&p);
	ms_diag_free(&diag);
	free(text);
	free(path);
}

static double now_ms(void)
{
	return (double)ms_mono_ns() / 1e6;
}

void ms_daemon_log_diag(const struct ms_diag *diag)
{
	for (size_t i = 0; i < diag->n; i++) {
		if (diag->is_error[i])
			log_error("%s", diag->msgs[i]);
		else
			log_warn("%s", diag->msgs[i]);
	}
}

void ms_loaded_clear(struct ms_loaded *l)
{
	ms_policy_free(&l->p);
	ms_compiled_free(&l->c);
	free(l->source);
	l->source = NULL;
	l->source_len = 0;
}

/* Parse and compile src (src_len bytes, NUL-terminated, taken over) as the
 * policy, with what discovery found. */
static int prepare_text(const struct ms_daemon *d, char *src, size_t src_len, double t0,
			struct ms_loaded *l, struct ms_diag *diag)
{
	struct ms_parse_opts po = { .discovery = d->discover };
	struct ms_policy *p = NULL;
	struct ms_compiled *c = NULL;
	char *errmsg = NULL;
	int err;

	if (d->disc)
		po.inventory = ms_discovery_inventory(d->disc, &po.n_inventory);
	err = ms_policy_parse_mem_opts(d->policy_path, src, src_len, &po, &p, diag);
	if (!d->hold_diag)
		ms_daemon_log_diag(diag);
	if (err) {
		if (d->hold_diag)
			ms_daemon_log_diag(diag);
		if (!diag->n_errors)
			log_error("%s: %s", d->policy_path, strerror(-err));
		goto out;
	}
	if (d->mode)
		p->monitor = !strcmp(d->mode, "monitor");
	err = ms_compile(p, &d->dp_opts.limits, &c, &errmsg);
	if (err) {
		log_error("%s: error: %s", d->policy_path, errmsg ? errmsg : strerror(-err));
		ms_diag_add(diag, d->policy_path, (struct ms_pos){ 0, 0 }, true, "%s",
			    errmsg ? errmsg : strerror(-err));
		goto out;
	}
	l->p = p;
	l->c = c;
	l->source = src;
	l->source_len = src_len;
	l->prep_ms = now_ms() - t0;
	p = NULL;
	c = NULL;
	src = NULL;
out:
	free(src);
	free(errmsg);
	ms_compiled_free(&c);
	ms_policy_free(&p);
	return err;
}

int ms_daemon_prepare(const struct ms_daemon *d, struct ms_loaded *l, struct ms_diag *keep)
{
	struct ms_diag own = { 0 }, *diag = keep ? keep : &own;
	char *src = NULL;
	size_t src_len = 0;
	double t0 = now_ms();
	int err;

	/* Read once and parse that text, so the source the API shows is the
	 * one in force even if the file changes afterwards. */
	err = ms_policy_read_file(d->policy_path, &src, &src_len);
	if (err) {
		log_error("%s: cannot open: %s", d->policy_path, strerror(-err));
		ms_diag_add(diag, d->policy_path, (struct ms_pos){ 0, 0 }, true, "cannot open: %s",
			    strerror(-err));
		goto out;
	}
	{
		/* Kept as a C string for the API. */
		char *t = realloc(src, src_len + 1);

		if (!t) {
			free(src);
			err = -ENOMEM;
			goto out;
		}
		src = t;
		src[src_len] = '\0';
	}
	err = prepare_text(d, src, src_len, t0, l, diag);
out:
	ms_diag_free(&own);
	return err;
}

int ms_daemon_install(struct ms_daemon *d, struct ms_loaded *l, const char *cause)
{
	size_t n_rules = l->p->n_rules, n_workloads = l->p->n_workloads, n_discovered = 0;
	bool monitor = l->p->monitor;
	double t0 = now_ms();
	char disc_note[64];
	uint64_t gen;
	int err;

	for (size_t i = 0; i < n_workloads; i++)
		n_discovered += l->p->workloads[i].discovered;
	snprintf(disc_note, sizeof(disc_note), ", %zu discovered workload%s", n_discovered,
		 n_discovered == 1 ? "" : "s");
	err = ms_dp_install(d->dp, &l->c);
	if (err)
		goto out;
	gen = ms_dp_generation(d->dp);
	if (d->obs)
		ms_observer_set_policy(d->obs, l->p);
	/* Failing to index workload names only makes events less readable;
	 * set_policy warns and the policy stays installed. */
	ms_events_set_policy(d->ev, &l->p, gen);
	free(d->source);
	d->source = l->source;
	d->source_len = l->source_len;
	l->source = NULL;
	d->loaded_ms = ms_time_now_ms();
	d->load_took_ms = l->prep_ms + now_ms() - t0;
	record_policy(d, gen);
	log_info("policy %s%s%s: %s, %zu rules, generation %" PRIu64 ", mode %s, took %.1f ms%s",
		 cause ? "reloaded" : "loaded", cause && *cause ? " by " : "", cause ? cause : "",
		 d->policy_path, n_rules, gen, monitor ? "monitor" : "enforce", d->load_took_ms,
		 d->disc ? disc_note : "");
out:
	ms_loaded_clear(l);
	return err;
}

void ms_daemon_clear(struct ms_daemon *d)
{
	free(d->source);
	d->source = NULL;
	d->source_len = 0;
}

int ms_daemon_reload(struct ms_daemon *d, struct ms_diag *diag)
{
	struct ms_loaded l = { 0 };
	double t0 = now_ms();
	int err;

	log_info("reloading %s", d->policy_path);
	d->last_reload_ms = ms_time_now_ms();
	err = ms_daemon_prepare(d, &l, diag);
	if (!err)
		err = ms_daemon_install(d, &l, "");
	d->last_reload_ok = !err;
	d->last_reload_took_ms = now_ms() - t0;
	if (err)
		d->reloads_failed++;
	else
		d->reloads_ok++;
	if (err)
		log_error("policy reload failed: the previous policy stays in force (generation "
			  "%" PRIu64 ")",
			  ms_dp_generation(d->dp));
	return err;
}

int ms_daemon_rediscover(struct ms_daemon *d)
{
	struct ms_loaded l = { 0 };
	struct ms_diag diag = { 0 };
	double t0 = now_ms();
	char *src;
	int err;

	/* The text in force, not the file: only the inventory changed, and an
	 * edit of the file waits for its SIGHUP. */
	src = malloc(d->source_len + 1);
	if (!src)
		return -ENOMEM;
	memcpy(src, d->source ? d->source : "", d->source_len);
	src[d->source_len] = '\0';
	err = prepare_text(d, src, d->source_len, t0, &l, &diag);
	if (!err)
		err = ms_daemon_install(d, &l, "discovery");
	ms_diag_free(&diag);
	if (err) {
		d->discovery_failed++;
		log_error(
			"policy recompile for discovery failed: the previous policy stays in force "
			"(generation %" PRIu64 ")",
			ms_dp_generation(d->dp));
	} else {
		d->discovery_reloads++;
	}
	return err;
}
