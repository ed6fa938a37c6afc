/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* Running the loaded classifier on crafted packets (BPF_PROG_TEST_RUN). */
#ifndef MICROSEGD_TEST_DPTEST_H
#define MICROSEGD_TEST_DPTEST_H

#include "loader.h"
#include "pkt.h"

#define DPT_OK 0   /* TC_ACT_OK */
#define DPT_DROP 2 /* TC_ACT_SHOT */

/* Load the classifier (exits the test program if that fails). */
struct ms_dp *dpt_open(void);
/* Compile and install; returns 0 or the error. Frees nothing of p. */
int dpt_install(struct ms_dp *dp, const struct ms_policy *p);
/* Run one frame through the ingress or egress program; the TC verdict. */
int dpt_run(struct ms_dp *dp, int dir, const struct pkt_spec *s);
int dpt_run_raw(struct ms_dp *dp, int dir, const void *frame, size_t len);
/* The session-table key of the flow s belongs to. */
void dpt_session_key(const struct pkt_spec *s, struct ms_session_key *k);
/* The session s belongs to; 0 if found. */
int dpt_session(struct ms_dp *dp, const struct pkt_spec *s, struct ms_session *out);
int dpt_session_delete(struct ms_dp *dp, const struct pkt_spec *s);
/* Drain pending events into out (up to max); returns how many. */
size_t dpt_events(struct ms_dp *dp, struct ms_event *out, size_t max);
uint64_t dpt_counter(struct ms_dp *dp, int which);

#endif
