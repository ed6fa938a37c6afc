// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* Guards of the server: connections tracked and slow requests cut, the
 * Host names a TCP listener answers. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "server_internal.h"
#include "timefmt.h"

void srv_on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
		       enum MHD_ConnectionNotificationCode code)
{
	struct ms_api *a = cls;
	struct conn *c = *socket_ctx;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

		a->cnt.connections++;
		c = calloc(1, sizeof(*c));
		if (!c)
			return; /* untracked: only MHD's idle timeout cuts it */
		c->api = a;
		c->fd = ci ? ci->connect_fd : -1;
		c->since_ms = ms_time_now_ms();
		c->next = a->conns;
		if (a->conns)
			a->conns->prev = c;
		a->conns = c;
		*socket_ctx = c;
		return;
	}
	if (a->cnt.connections)
		a->cnt.connections--;
	if (!c)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		a->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c);
	*socket_ctx = NULL;
}

struct conn *srv_conn_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

/*
 * Cut a connection whose request is not complete in time: libmicrohttpd's
 * timeout is for idle connections, and a client sending one header line
 * every few seconds is never idle. shutdown() leaves the fd to
 * libmicrohttpd, which sees the end of the connection and closes it.
 */
void srv_cut_slow(struct ms_api *a)
{
	uint64_t now = ms_time_now_ms();

	for (struct conn *c = a->conns; c; c = c->next) {
		if (c->answering || c->cut || c->fd < 0 ||
		    now - c->since_ms <= MS_API_REQUEST_TIMEOUT_SEC * 1000ULL)
			continue;
		c->cut = true;
		a->cnt.slow_cut++;
		shutdown(c->fd, SHUT_RDWR);
		a->need_run = true;
	}
}

/* ------------------------------------------------------------ Host names */

static bool same_name(const char *a, size_t alen, const char *b)
{
	return strlen(b) == alen && !strncasecmp(a, b, alen);
}

/*
 * Whether a Host header names this TCP listener (DNS rebinding: a page of
 * another origin reaches the listener only under that origin's own name).
 * Accepted: the listener's address (a wildcard listener: any address
 * literal), localhost on a loopback listener, and the --web-host names;
 * with the listener's port, or without one where the name stands alone
 * (a --web-host name behind a proxy) or the port is 80.
 */
bool srv_host_ok(const struct listener *l, const char *host)
{
	const struct ms_api *a = l->api;
	const char *name = host, *colon;
	char lit[INET6_ADDRSTRLEN + 1];
	size_t nlen;
	bool has_port = false;
	unsigned long port = 0;
	unsigned char buf[sizeof(struct in6_addr)];

	if (!host || !*host)
		return false;
	for (size_t i = 0; i < a->n_hosts; i++)
		if (!strcasecmp(host, a->hosts[i]))
			return true;
	if (host[0] == '[') {
		const char *close = strchr(host, ']');

		if (!close)
			return false;
		name = host + 1;
		nlen = (size_t)(close - name);
		colon = close[1] == ':' ? close + 1 : NULL;
		if (close[1] && !colon)
			return false;
	} else {
		colon = strchr(host, ':');
		nlen = colon ? (size_t)(colon - host) : strlen(host);
	}
	if (colon) {
		char *end;

		if (!colon[1] || strchr(colon + 1, ':'))
			return false;
		port = strtoul(colon + 1, &end, 10);
		if (*end)
			return false;
		has_port = true;
	}
	if (has_port ? port != l->port : l->port != 80) {
		/* A --web-host name alone is accepted as given (above); with the
		 * listener's port it is checked here. */
		return false;
	}
	for (size_t i = 0; i < a->n_hosts; i++)
		if (same_name(name, nlen, a->hosts[i]))
			return true;
	if (l->loopback && same_name(name, nlen, "localhost"))
		return true;
	if (nlen >= sizeof(lit))
		return false;
	memcpy(lit, name, nlen);
	lit[nlen] = '\0';
	if (l->addr.ss_family == AF_INET && host[0] != '[' && inet_pton(AF_INET, lit, buf) == 1)
		return l->wildcard ||
		       !memcmp(buf, &((const struct sockaddr_in *)&l->addr)->sin_addr, 4);
	if (l->addr.ss_family == AF_INET6 && host[0] == '[' && inet_pton(AF_INET6, lit, buf) == 1)
		return l->wildcard ||
		       !memcmp(buf, &((const struct sockaddr_in6 *)&l->addr)->sin6_addr, 16);
	return false;
}

enum MHD_Result srv_misdirected(struct listener *l, struct MHD_Connection *conn, const char *host)
{
	char *msg = NULL;
	enum MHD_Result ret;

	if (asprintf(&msg,
		     "Host '%.100s' is not a name of this listener (%s): it answers its own "
		     "address%s and the names given with --web-host only",
		     host ? host : "", l->what, l->loopback ? ", localhost" : "") < 0)
		msg = NULL;
	ret = srv_answer_error(conn, 421, msg ? msg : "Host not accepted here");
	free(msg);
	return ret;
}
