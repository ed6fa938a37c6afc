/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* The clocks the agent measures with, read in one place. */
#ifndef MICROSEGD_CLOCK_H
#define MICROSEGD_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Clock id now, in nanoseconds. */
uint64_t ms_clock_ns(clockid_t id);

/* CLOCK_MONOTONIC now, in nanoseconds: the classifier's bpf_ktime_get_ns,
 * and what intervals and deadlines use (a clock step does not move it). */
uint64_t ms_mono_ns(void);

#endif /* MICROSEGD_CLOCK_H */
