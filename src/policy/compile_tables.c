// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <stdlib.h>

#include "compile_int.h"

static int ctz128(u128 v)
{
	uint64_t lo = (uint64_t)v, hi = (uint64_t)(v >> 64);

	if (lo)
		return __builtin_ctzll(lo);
	if (hi)
		return 64 + __builtin_ctzll(hi);
	return 128;
}

/* value and plen in the line's own width: 32 bits for IPv4, 128 for IPv6. */
static int addr_push(struct addr_out *o, bool v4, u128 value, unsigned int plen, uint32_t cls)
{
	struct ms_addr_entry *ae;

	if (*o->n >= o->limit) {
		o->overflow = true;
		return -E2BIG;
	}
	if (*o->n == o->cap) {
		size_t ncap = o->cap ? o->cap * 2 : 64;
		struct ms_addr_entry *nv = realloc(*o->arr, ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		*o->arr = nv;
		o->cap = ncap;
	}
	ae = &(*o->arr)[(*o->n)++];
	if (v4)
		value |= (u128)0xffff << 32; /* stored IPv4-mapped, as the classifier has it */
	u128_to_addr(value, ae->addr);
	ae->plen = (uint8_t)(plen + (v4 ? 96 : 0));
	ae->family = v4 ? MS_FAMILY_IPV4 : MS_FAMILY_IPV6;
	ae->cls = cls;
	return 0;
}

/* Cover [lo, hi] of a line with the fewest aligned prefixes. */
static int emit_range(struct addr_out *o, bool v4, u128 lo, u128 hi, uint32_t cls)
{
	int width = v4 ? 32 : 128;

	for (;;) {
		int k = ctz128(lo);
		u128 span;
		int err;

		if (k > width)
			k = width;
		for (;;) {
			span = k == 128 ? U128_MAX : (((u128)1 << k) - 1);
			if (hi - lo >= span)
				break;
			k--;
		}
		err = addr_push(o, v4, lo, (unsigned int)(width - k), cls);
		if (err)
			return err;
		if (hi - lo == span)
			return 0;
		lo += span + 1;
	}
}

/*
 * LPM entries for a dimension: one zero-length entry for the class with the
 * most runs of segments, then exact covers of every other run.
 */
int mc_dim_emit(const struct dim *d, bool v4, struct addr_out *o)
{
	uint32_t *runs = calloc(d->n_class ? d->n_class : 1, sizeof(*runs));
	uint32_t def = 0;
	int err;

	if (!runs)
		return -ENOMEM;
	for (size_t i = 0; i < d->n_seg; i++)
		if (!i || d->seg_class[i] != d->seg_class[i - 1])
			runs[d->seg_class[i]]++;
	for (uint32_t c = 1; c < d->n_class; c++)
		if (runs[c] > runs[def])
			def = c;
	free(runs);
	err = addr_push(o, v4, 0, 0, def);
	for (size_t i = 0; i < d->n_seg && !err;) {
		size_t j = i + 1;
		u128 hi;

		while (j < d->n_seg && d->seg_class[j] == d->seg_class[i])
			j++;
		hi = j < d->n_seg ? d->starts[j] - 1 : d->space_max;
		if (d->seg_class[i] != def)
			err = emit_range(o, v4, d->starts[i], hi, d->seg_class[i]);
		i = j;
	}
	return err;
}

/* The port dimension as the dense table the classifier indexes. */
int mc_port_table(const struct dim *d, struct ms_compiled *c)
{
	static const uint8_t row_proto[MS_PORT_ROW_OTHER] = { MS_PROTO_TCP, MS_PROTO_UDP,
							      MS_PROTO_SCTP, MS_PROTO_ICMP,
							      MS_PROTO_ICMPV6 };

	c->port_table = malloc(MS_PORT_SLOT_ENTRIES * sizeof(*c->port_table));
	if (!c->port_table)
		return -ENOMEM;
	c->n_port = MS_PORT_SLOT_ENTRIES;
	for (uint8_t dir = 0; dir < 2; dir++) {
		for (uint8_t row = 0; row < MS_PORT_ROW_OTHER; row++) {
			u128 base = ((u128)dir << 24) | ((u128)row_proto[row] << 16);
			size_t s = seg_index(d, base);

			for (uint32_t port = 0; port < 65536; port++) {
				while (s + 1 < d->n_seg && d->starts[s + 1] <= (base | port))
					s++;
				c->port_table[ms_port_index(dir, row_proto[row], (uint16_t)port)] =
					d->seg_class[s];
			}
		}
		/* Protocols without ports: one entry each, by protocol number. */
		for (uint32_t proto = 0; proto < 256; proto++) {
			u128 v = ((u128)dir << 24) | ((u128)proto << 16);
			uint32_t idx =
				((uint32_t)dir * MS_PORT_ROWS + MS_PORT_ROW_OTHER) * 65536u + proto;

			c->port_table[idx] = d->seg_class[seg_index(d, v)];
		}
	}
	return 0;
}
