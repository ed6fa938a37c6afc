/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The classifier's clock: CLOCK_MONOTONIC at tick resolution, and ages
 * that a racing CPU's later stamp cannot wrap.
 */
#ifndef MICROSEGD_BPF_CLOCK_H
#define MICROSEGD_BPF_CLOCK_H

/* The running kernel's, read by libbpf from /proc/config.gz or
 * /boot/config-*; 0 when neither is there. */
extern unsigned int CONFIG_HZ __kconfig __weak;

/* CLOCK_MONOTONIC minus jiffies in nanoseconds, taken once (now_ns). */
__u64 jiffies_offset_ns;

/*
 * CLOCK_MONOTONIC at the last tick, what bpf_ktime_get_coarse_ns returns,
 * for ~1 ns a packet instead of ~18 (measured, docs/PERFORMANCE.md):
 * jiffies advance by exactly one TICK_NSEC of the
 * monotonic clock (tick_do_update_jiffies64), so one pair of readings maps
 * every later jiffies value onto that clock, within the tick that is the
 * coarse clock's own resolution. The verifier inlines bpf_jiffies64 and,
 * CONFIG_HZ being a constant of a frozen map, keeps one case of the
 * switch. Racing first packets each store a valid offset.
 */
static __always_inline __u64 now_ns(void)
{
	__u64 tick, off;

	switch (CONFIG_HZ) {
	case 100:
		tick = 10000000;
		break;
	case 250:
		tick = 4000000;
		break;
	case 300:
		tick = 3333333; /* TICK_NSEC, rounded as the kernel rounds it */
		break;
	case 1000:
		tick = 1000000;
		break;
	default:
		return bpf_ktime_get_coarse_ns();
	}
	off = jiffies_offset_ns;
	if (!off) {
		off = bpf_ktime_get_coarse_ns() - bpf_jiffies64() * tick;
		jiffies_offset_ns = off;
	}
	return bpf_jiffies64() * tick + off;
}

/*
 * now - then, or 0 if then is later. Another CPU may stamp a session with a
 * clock reading taken after ours: a plain unsigned difference then wraps to
 * a huge age, and an active flow looked expired and was classified anew
 * from whichever side sent the packet (a reply: often denied).
 */
static __always_inline __u64 age(__u64 now, __u64 then)
{
	return now > then ? now - then : 0;
}

#endif /* MICROSEGD_BPF_CLOCK_H */
