/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The network namespace at the far end of a veth, and its name: what a
 * container is, for a host firewall. Only namespaces behind an interface the
 * agent is attached to are ever looked up (README, "Containers").
 */
#ifndef MICROSEGD_NETNS_H
#define MICROSEGD_NETNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Where named namespaces live (ip netns add). */
#define MS_NETNS_RUN_DIR "/run/netns"

struct ms_netns_cache;

struct ms_netns {
	int fd;		/* open on the namespace; -1: none */
	uint64_t inode; /* of the namespace: its identity */
	char *name;	/* its /run/netns name, or its container's or unit's */
	bool named;	/* name came from /run/netns */
	pid_t pid;	/* a process inside it, 0 if none was looked for or found */
};

/*
 * What the link ifindex of this namespace is: *is_veth, and the namespace id
 * of its peer's namespace (*nsid, -1 when the peer is in this namespace or
 * it is no veth). rt is a NETLINK_ROUTE socket. Returns 0 or -errno.
 */
int ms_link_peer_nsid(int rt, int ifindex, bool *is_veth, int *nsid);

/*
 * Find the namespace this one knows as nsid: one of /run/netns, else the
 * namespace of process hint (0: none) if it is that one, else of any
 * process. Fills ns (fd open, name malloc'd): close it soon with
 * ms_netns_clear, as an open namespace outlives its processes and keeps its
 * veths alive. Returns 0, -ENOENT when no namespace has that id, or -errno.
 */
int ms_netns_find(int rt, struct ms_netns_cache *cache, int nsid, pid_t hint, struct ms_netns *ns);

/* What ms_netns_find remembers of /run/netns between calls. */
struct ms_netns_cache;
int ms_netns_cache_new(struct ms_netns_cache **out);
void ms_netns_cache_free(struct ms_netns_cache **c);
/* A new round of lookups: a miss may scan /run/netns again (once). */
void ms_netns_cache_expire(struct ms_netns_cache *c);

/* Close and free what ns holds; it can be found again. */
void ms_netns_clear(struct ms_netns *ns);

/*
 * A workload name from a process's cgroup v2 path, as /proc/PID/cgroup shows
 * it ("0::/system.slice/docker-0123abcd....scope"): the container
 * (docker-0123abcd0123, podman-..., crio-...) or systemd unit (nginx.service)
 * it runs in, else the cgroup's last component; only letters, digits, '-',
 * '_' and '.' are kept. Writes at most len bytes with the NUL; returns buf,
 * or NULL when nothing usable remains.
 */
char *ms_name_from_cgroup(const char *cgroup_path, char *buf, size_t len);

/* A name usable as a workload name: s with every other character made '-',
 * cut to len - 1 bytes. */
char *ms_name_sanitize(const char *s, char *buf, size_t len);

#endif /* MICROSEGD_NETNS_H */
