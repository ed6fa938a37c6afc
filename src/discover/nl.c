// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <stdbool.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "nl.h"

/* Big enough for a dump's batch of messages; the kernel fits its answers
 * to the buffer of a reader that asks with MSG_PEEK | MSG_TRUNC first. */
#define NL_BUF 32768

int ms_nl_open(int family, unsigned int groups)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = groups };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, family);

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

int ms_nl_put(struct nlmsghdr *h, size_t cap, unsigned short type, const void *data, size_t len)
{
	struct rtattr *a = (struct rtattr *)((char *)h + NLMSG_ALIGN(h->nlmsg_len));

	if (NLMSG_ALIGN(h->nlmsg_len) + RTA_SPACE(len) > cap)
		return -ENOBUFS;
	a->rta_type = type;
	a->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(a), data, len);
	h->nlmsg_len = (unsigned int)(NLMSG_ALIGN(h->nlmsg_len) + RTA_SPACE(len));
	return 0;
}

void ms_nl_attrs(const struct nlmsghdr *h, size_t hdrlen, const struct rtattr **tb, int max)
{
	const struct rtattr *a =
		(const struct rtattr *)((const char *)NLMSG_DATA(h) + NLMSG_ALIGN(hdrlen));
	int len = (int)h->nlmsg_len - (int)NLMSG_LENGTH(NLMSG_ALIGN(hdrlen));

	memset(tb, 0, sizeof(*tb) * (size_t)(max + 1));
	for (; len > 0 && RTA_OK(a, len); a = RTA_NEXT(a, len))
		if (a->rta_type <= max)
			tb[a->rta_type] = a;
}

int ms_nl_talk(int fd, struct nlmsghdr *req, int (*cb)(const struct nlmsghdr *h, void *cls),
	       void *cls)
{
	static unsigned int seq;
	struct sockaddr_nl to = { .nl_family = AF_NETLINK };
	char *buf;
	int err = 0;
	bool dump = req->nlmsg_flags & NLM_F_DUMP;

	req->nlmsg_seq = ++seq;
	req->nlmsg_flags |= NLM_F_REQUEST;
	if (sendto(fd, req, req->nlmsg_len, 0, (struct sockaddr *)&to, sizeof(to)) < 0)
		return -errno;
	buf = malloc(NL_BUF);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n = recv(fd, buf, NL_BUF, 0);
		struct nlmsghdr *h;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		if (n == 0) {
			err = -EIO;
			break;
		}
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned int)n);
		     h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != req->nlmsg_seq)
				continue; /* an answer to an earlier request */
			if (h->nlmsg_type == NLMSG_DONE)
				goto out;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);

				err = e->error;
				goto out;
			}
			err = cb(h, cls);
			if (err)
				goto out;
			if (!dump)
				goto out;
		}
	}
out:
	free(buf);
	return err;
}
