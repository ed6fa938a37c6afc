/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Reference model of the classifier over packet sequences, written from
 * docs/POLICY.md as plainly as possible: a list of
 * flows, the reference evaluator for first packets, replies of allowed flows
 * pass, a denied packet decides nothing for the reverse flow, a revoked flow
 * stays dropped both ways. TCP and UDP in enforce mode; no timeouts.
 */
#ifndef MICROSEGD_TEST_REFCT_H
#define MICROSEGD_TEST_REFCT_H

#include <stdbool.h>
#include <stdint.h>

#include "pkt.h"
#include "policy.h"

struct ref_flow {
	uint8_t proto;
	bool v4;
	uint8_t init[16], resp[16]; /* initiator and responder */
	uint16_t init_port, resp_port;
	uint8_t dir; /* enum ms_dir of the first packet */
	bool allowed;
	bool revoked;
	unsigned int gen; /* policy generation that decided it */
};

struct ref_ct {
	struct ref_flow *f;
	unsigned int n, cap;
	const struct ms_policy *p; /* the policy in force */
	unsigned int gen;
};

/* Start with policy p (borrowed; it must outlive its use). */
void ref_ct_init(struct ref_ct *ct, const struct ms_policy *p);
void ref_ct_free(struct ref_ct *ct);
/* A reload: p is in force from the next packet on. */
void ref_ct_policy(struct ref_ct *ct, const struct ms_policy *p);
/* Forget the flow of s (as the test deletes its session). */
void ref_ct_forget(struct ref_ct *ct, const struct pkt_spec *s);

/* The verdict for packet s seen at hook dir: true = passes. */
bool ref_ct_packet(struct ref_ct *ct, uint8_t dir, const struct pkt_spec *s);

#endif
