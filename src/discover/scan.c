// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "nl.h"
#include "scan.h"

#define TCP_LISTEN_STATE 10
#define UDP_UNCONNECTED_STATE 7 /* TCP_CLOSE: bound, not connected */

struct sock_ent {
	uint8_t proto;
	uint16_t port;
	uint32_t inode;
};

struct scan {
	struct ms_discovered *d;
	struct sock_ent *socks;
	size_t n_socks;
	int err;
};

/* Open a netlink socket inside the namespace on fd: sockets keep the
 * namespace they were made in. */
static int open_in(int nsfd, int family, int *out)
{
	int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), fd, err = 0;
	struct stat a, b;

	if (self < 0)
		return -errno;
	if (!fstat(self, &a) && !fstat(nsfd, &b) && a.st_ino == b.st_ino && a.st_dev == b.st_dev) {
		/* This namespace: no need, nor privilege, to enter it. */
		close(self);
		fd = ms_nl_open(family, 0);
		if (fd < 0)
			return fd;
		*out = fd;
		return 0;
	}
	if (setns(nsfd, CLONE_NEWNET)) {
		err = -errno;
		close(self);
		return err;
	}
	fd = ms_nl_open(family, 0);
	if (setns(self, CLONE_NEWNET)) {
		/* Stuck in another namespace: nothing the agent does after
		 * this would be right. */
		log_error("cannot return to the agent's network namespace: %s", strerror(errno));
		abort();
	}
	close(self);
	if (fd < 0)
		return fd;
	*out = fd;
	return err;
}

static bool global_addr(int family, const uint8_t *a)
{
	if (family == AF_INET)
		return a[0] != 127 && !(a[0] == 169 && a[1] == 254);
	if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) /* link-local */
		return false;
	for (int i = 0; i < 15; i++)
		if (a[i])
			return true;
	return a[15] > 1; /* not :: or ::1 */
}

static int on_addr(const struct nlmsghdr *h, void *cls)
{
	struct scan *s = cls;
	const struct ifaddrmsg *ifa = NLMSG_DATA(h);
	const struct rtattr *tb[IFA_MAX + 1];
	const struct rtattr *a;
	struct ms_cidr c = { 0 };
	struct ms_discovered *d = s->d;

	if (h->nlmsg_type != RTM_NEWADDR)
		return 0;
	ms_nl_attrs(h, sizeof(*ifa), tb, IFA_MAX);
	a = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
	if (!a)
		return 0;
	if (ifa->ifa_family == AF_INET && RTA_PAYLOAD(a) == 4) {
		c.addr[10] = c.addr[11] = 0xff;
		memcpy(c.addr + 12, RTA_DATA(a), 4);
		c.plen = 128;
		if (!global_addr(AF_INET, c.addr + 12))
			return 0;
	} else if (ifa->ifa_family == AF_INET6 && RTA_PAYLOAD(a) == 16) {
		memcpy(c.addr, RTA_DATA(a), 16);
		c.plen = 128;
		if (!global_addr(AF_INET6, c.addr))
			return 0;
	} else {
		return 0;
	}
	for (size_t i = 0; i < d->n_addrs; i++)
		if (!memcmp(d->addrs[i].addr, c.addr, 16))
			return 0;
	return ms_cidr_push(&d->addrs, &d->n_addrs, &c);
}

static int on_sock(const struct nlmsghdr *h, void *cls)
{
	struct scan *s = cls;
	const struct inet_diag_msg *m = NLMSG_DATA(h);
	struct sock_ent e;
	struct sock_ent *ns;

	if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
		return 0;
	e.proto = 0; /* dump_socks sets it */
	e.port = ntohs(m->id.idiag_sport);
	e.inode = m->idiag_inode;
	if (!e.port)
		return 0;
	ns = realloc(s->socks, (s->n_socks + 1) * sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	s->socks = ns;
	s->socks[s->n_socks++] = e;
	return 0;
}

static int dump_socks(int diag, struct scan *s, uint8_t family, uint8_t proto, uint32_t states)
{
	struct {
		struct nlmsghdr h;
		struct inet_diag_req_v2 r;
	} req = {
		.h = { .nlmsg_len = sizeof(req),
		       .nlmsg_type = SOCK_DIAG_BY_FAMILY,
		       .nlmsg_flags = NLM_F_DUMP },
		.r = { .sdiag_family = family, .sdiag_protocol = proto, .idiag_states = states },
	};
	size_t before = s->n_socks;
	int err = ms_nl_talk(diag, &req.h, on_sock, s);

	for (size_t i = before; i < s->n_socks; i++)
		s->socks[i].proto = proto;
	return err;
}

static int dump_addrs(int rt, struct scan *s)
{
	struct {
		struct nlmsghdr h;
		struct ifaddrmsg a;
	} req = {
		.h = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg)),
		       .nlmsg_type = RTM_GETADDR,
		       .nlmsg_flags = NLM_F_DUMP },
		.a = { .ifa_family = AF_UNSPEC },
	};

	return ms_nl_talk(rt, &req.h, on_addr, s);
}

/* The command of the process holding each socket, from the /proc of the
 * processes in the namespace. */
static void name_owners(const struct ms_netns *ns, struct scan *s)
{
	DIR *proc = opendir("/proc");
	struct dirent *de;
	char **comm = calloc(s->n_socks ? s->n_socks : 1, sizeof(*comm));

	if (!proc || !comm) {
		if (proc)
			closedir(proc);
		free(comm);
		return;
	}
	while ((de = readdir(proc))) {
		char path[300], link[64], cbuf[64];
		struct stat st;
		DIR *fds;
		struct dirent *fe;
		FILE *f;
		size_t hits = 0;
		size_t first = 0;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/ns/net", de->d_name);
		if (stat(path, &st) || (uint64_t)st.st_ino != ns->inode)
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fd", de->d_name);
		fds = opendir(path);
		if (!fds)
			continue;
		while ((fe = readdir(fds))) {
			ssize_t n;
			unsigned long ino;

			if (fe->d_name[0] == '.')
				continue;
			n = readlinkat(dirfd(fds), fe->d_name, link, sizeof(link) - 1);
			if (n <= 0)
				continue;
			link[n] = '\0';
			if (sscanf(link, "socket:[%lu]", &ino) != 1)
				continue;
			for (size_t i = 0; i < s->n_socks; i++)
				if (s->socks[i].inode == ino && !comm[i]) {
					if (!hits++)
						first = i;
					comm[i] = (char *)1; /* named below */
				}
		}
		closedir(fds);
		if (!hits)
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", de->d_name);
		f = fopen(path, "re");
		cbuf[0] = '\0';
		if (f) {
			if (!fgets(cbuf, sizeof(cbuf), f))
				cbuf[0] = '\0';
			fclose(f);
		}
		cbuf[strcspn(cbuf, "\n")] = '\0';
		for (size_t i = first; i < s->n_socks; i++)
			if (comm[i] == (char *)1)
				comm[i] = cbuf[0] ? strdup(cbuf) : NULL;
	}
	closedir(proc);
	for (size_t i = 0; i < s->n_socks; i++) {
		struct ms_listener *l = &s->d->listeners[i];

		free(l->comm);
		l->comm = comm[i];
	}
	free(comm);
}

static int cmp_listener(const void *a, const void *b)
{
	const struct ms_listener *x = a, *y = b;

	if (x->proto != y->proto)
		return x->proto - y->proto;
	if (x->port != y->port)
		return x->port - y->port;
	return (y->comm != NULL) - (x->comm != NULL); /* a known process first */
}

/* One listener per (proto, port), sorted: a dual-stack server has two
 * sockets, and inventories compare equal when nothing changed. */
static void dedupe_listeners(struct ms_discovered *d)
{
	size_t w = 0;

	if (d->n_listeners > 1)
		qsort(d->listeners, d->n_listeners, sizeof(*d->listeners), cmp_listener);
	for (size_t i = 0; i < d->n_listeners; i++) {
		if (w && d->listeners[w - 1].proto == d->listeners[i].proto &&
		    d->listeners[w - 1].port == d->listeners[i].port) {
			free(d->listeners[i].comm);
			continue;
		}
		d->listeners[w++] = d->listeners[i];
	}
	d->n_listeners = w;
}

/* Take the owners of every listener from prev; false if one is new. */
static bool reuse_owners(const struct ms_discovered *prev, struct ms_discovered *d)
{
	bool all = true;

	for (size_t i = 0; i < d->n_listeners && all; i++) {
		bool found = false;

		for (size_t j = 0; prev && j < prev->n_listeners && !found; j++)
			found = prev->listeners[j].inode == d->listeners[i].inode;
		all = found;
	}
	if (!all)
		return false;
	for (size_t i = 0; i < d->n_listeners; i++)
		for (size_t j = 0; j < prev->n_listeners; j++)
			if (prev->listeners[j].inode == d->listeners[i].inode) {
				if (prev->listeners[j].comm &&
				    !(d->listeners[i].comm = strdup(prev->listeners[j].comm)))
					return false; /* name_owners then tries */
				break;
			}
	return true;
}

int ms_scan_netns(const struct ms_netns *ns, const struct ms_discovered *prev,
		  struct ms_discovered *out)
{
	struct scan s = { .d = out };
	int rt = -1, diag = -1, err;

	memset(out, 0, sizeof(*out));
	out->name = strdup(ns->name);
	out->netns = ns->named ? strdup(ns->name) : NULL;
	if (!out->name || (ns->named && !out->netns)) {
		err = -ENOMEM;
		goto out;
	}
	err = open_in(ns->fd, NETLINK_ROUTE, &rt);
	if (!err)
		err = open_in(ns->fd, NETLINK_SOCK_DIAG, &diag);
	if (err)
		goto out;
	err = dump_addrs(rt, &s);
	for (int f = 0; !err && f < 2; f++) {
		uint8_t fam = f ? AF_INET6 : AF_INET;

		err = dump_socks(diag, &s, fam, IPPROTO_TCP, 1u << TCP_LISTEN_STATE);
		if (!err)
			err = dump_socks(diag, &s, fam, IPPROTO_UDP, 1u << UDP_UNCONNECTED_STATE);
	}
	if (err)
		goto out;
	/* One listener per (proto, port): a dual-stack server has two sockets. */
	out->listeners = calloc(s.n_socks ? s.n_socks : 1, sizeof(*out->listeners));
	if (!out->listeners) {
		err = -ENOMEM;
		goto out;
	}
	out->n_listeners = s.n_socks;
	for (size_t i = 0; i < s.n_socks; i++) {
		out->listeners[i].proto = s.socks[i].proto;
		out->listeners[i].port = s.socks[i].port;
		out->listeners[i].inode = s.socks[i].inode;
	}
	/* The owners of sockets seen last time are known: /proc is read only
	 * for new ones (a host has many processes, and this runs every second). */
	if (!reuse_owners(prev, out))
		name_owners(ns, &s);
	dedupe_listeners(out);
out:
	if (rt >= 0)
		close(rt);
	if (diag >= 0)
		close(diag);
	free(s.socks);
	if (err)
		ms_discovered_clear(out);
	return err;
}
