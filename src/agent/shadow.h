/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The daemon's copy of the allowed sessions it saw at its last sweep of the
 * session table. A session that is gone at the next sweep without the daemon
 * having deleted it was evicted by the kernel's LRU (the table was full): its
 * last known counts are reported as its flow_end, so the flow log and the flow
 * graph miss no flow that lived at least one sweep interval.
 */
#ifndef MICROSEGD_SHADOW_H
#define MICROSEGD_SHADOW_H

#include <stddef.h>
#include <stdint.h>

#include "microsegd_abi.h"

struct ms_shadow;

int ms_shadow_new(struct ms_shadow **out);
void ms_shadow_free(struct ms_shadow **sh);

/*
 * Up to n entries are expected. Growing rehashes everything in one go, so a
 * table filling under load would stall the sweep in ever longer rehashes:
 * once it holds a sixteenth of n, it grows to n's size at once. An idle
 * agent stays small.
 */
void ms_shadow_expect(struct ms_shadow *sh, size_t n);

/* Insert or update k's entry with s, stamped with epoch. Returns 0 or -ENOMEM. */
int ms_shadow_put(struct ms_shadow *sh, const struct ms_session_key *k, const struct ms_session *s,
		  uint64_t epoch);

/* Forget k, if present. */
void ms_shadow_del(struct ms_shadow *sh, const struct ms_session_key *k);

/* Remove every entry not stamped with epoch, calling fn on each first. */
void ms_shadow_reap(struct ms_shadow *sh, uint64_t epoch,
		    void (*fn)(void *cls, const struct ms_session_key *k,
			       const struct ms_session *s),
		    void *cls);

/* Call fn on every entry, in no particular order; fn must not change sh. */
void ms_shadow_for_each(const struct ms_shadow *sh,
			void (*fn)(void *cls, const struct ms_session_key *k,
				   const struct ms_session *s),
			void *cls);

size_t ms_shadow_count(const struct ms_shadow *sh);

#endif /* MICROSEGD_SHADOW_H */
