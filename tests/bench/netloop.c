// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * netloop: the traffic loops of `make bench` that iperf3 does not cover.
 *
 *   netloop server -a ADDR -p PORT [-T THREADS] [-t SECONDS]
 *       listen on ADDR:PORT (SO_REUSEPORT, one epoll loop per thread) and
 *       echo what each connection sends; exit after SECONDS (default 600).
 *   netloop rr -a ADDR -p PORT [-n ROUNDS] [-s SIZE] [-t SECONDS]
 *       request/response over one TCP connection: send SIZE bytes, wait for
 *       them to come back, ROUNDS times (or until SECONDS); print the round
 *       trip time percentiles in microseconds as one JSON line.
 *   netloop conn -a ADDR -p PORT -b SRC[,SRC...] [-c THREADS] [-t SECONDS] [-n MAX]
 *       open and close connections as fast as possible for SECONDS (at most
 *       MAX in all), from the source addresses in turn: connect (blocking,
 *       1 s timeout), then close with an RST (SO_LINGER 0), so no TIME_WAIT
 *       state piles up; print connections per second as one JSON line.
 *
 * Every loop is bounded in count and time. Built by tests/bench/run.sh with
 * `cc -O2 -pthread`; only the C library is needed. IPv4 only.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAX_SRC 256
#define MAX_THREADS 64

struct opts {
	const char *addr;
	int port;
	int threads;
	double seconds;
	long rounds;
	long max_conns;
	int size;
	struct in_addr src[MAX_SRC];
	int n_src;
};

static struct opts o = {
	.port = 5202, .threads = 2, .seconds = 0, .rounds = 10000, .max_conns = 10000000, .size = 64
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "netloop: %s: %s\n", what, strerror(errno));
	exit(1);
}

static struct sockaddr_in dst_addr(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)o.port) };

	if (inet_pton(AF_INET, o.addr, &sa.sin_addr) != 1) {
		fprintf(stderr, "netloop: bad address '%s'\n", o.addr);
		exit(2);
	}
	return sa;
}

/* ---- server ---- */

static void *server_thread(void *arg)
{
	struct sockaddr_in sa = dst_addr();
	int one = 1, lfd, ep;
	struct epoll_event ev = { .events = EPOLLIN }, evs[64];
	double deadline = *(double *)arg;
	char buf[65536];

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (lfd < 0)
		die("socket");
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(lfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 4096))
		die("bind/listen");
	ep = epoll_create1(0);
	ev.data.fd = lfd;
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev))
		die("epoll");
	while (now_s() < deadline) {
		int n = epoll_wait(ep, evs, 64, 200);

		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == lfd) {
				int c;

				while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
					struct epoll_event cev = { .events = EPOLLIN,
								   .data.fd = c };

					setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev))
						close(c);
				}
				continue;
			}
			for (;;) {
				ssize_t r = read(fd, buf, sizeof(buf));

				if (r > 0) {
					ssize_t off = 0;

					while (off < r) {
						ssize_t w = write(fd, buf + off, (size_t)(r - off));

						if (w <= 0)
							break; /* the peer is gone or slow; drop */
						off += w;
					}
					continue;
				}
				if (r < 0 && errno == EAGAIN)
					break;
				close(fd); /* EOF or reset */
				break;
			}
		}
	}
	return NULL;
}

static int run_server(void)
{
	pthread_t th[MAX_THREADS];
	double deadline = now_s() + (o.seconds > 0 ? o.seconds : 600);

	for (int i = 0; i < o.threads; i++)
		if (pthread_create(&th[i], NULL, server_thread, &deadline))
			die("pthread_create");
	for (int i = 0; i < o.threads; i++)
		pthread_join(th[i], NULL);
	return 0;
}

/* ---- request/response ---- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int run_rr(void)
{
	struct sockaddr_in sa = dst_addr();
	struct timeval tv = { .tv_sec = 2 };
	double *rtt, deadline, sum = 0;
	char *buf;
	long n = 0;
	int one = 1, fd;

	rtt = calloc((size_t)o.rounds, sizeof(*rtt));
	buf = calloc(1, (size_t)o.size);
	if (!rtt || !buf)
		die("calloc");
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		die("socket");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		die("connect");
	deadline = now_s() + (o.seconds > 0 ? o.seconds : 60);
	/* Warm up: the first round trips pay for cold caches and the flow's setup. */
	for (int w = 0; w < 100; w++) {
		if (write(fd, buf, (size_t)o.size) != o.size)
			die("write");
		for (int got = 0; got < o.size;) {
			ssize_t r = read(fd, buf, (size_t)(o.size - got));

			if (r <= 0)
				die("read");
			got += (int)r;
		}
	}
	while (n < o.rounds) {
		double t0 = now_s();

		if (t0 > deadline)
			break;
		if (write(fd, buf, (size_t)o.size) != o.size)
			die("write");
		for (int got = 0; got < o.size;) {
			ssize_t r = read(fd, buf, (size_t)(o.size - got));

			if (r <= 0)
				die("read");
			got += (int)r;
		}
		rtt[n++] = (now_s() - t0) * 1e6;
	}
	close(fd);
	if (!n) {
		fprintf(stderr, "netloop: no round trip completed\n");
		return 1;
	}
	for (long i = 0; i < n; i++)
		sum += rtt[i];
	qsort(rtt, (size_t)n, sizeof(*rtt), cmp_double);
	printf("{\"rounds\": %ld, \"size\": %d, \"rtt_us\": {\"min\": %.2f, \"p50\": %.2f, "
	       "\"p90\": %.2f, "
	       "\"p99\": %.2f, \"max\": %.2f, \"mean\": %.2f}}\n",
	       n, o.size, rtt[0], rtt[n / 2], rtt[n * 9 / 10], rtt[n * 99 / 100], rtt[n - 1],
	       sum / (double)n);
	free(rtt);
	free(buf);
	return 0;
}

/* ---- connection rate ---- */

struct conn_worker {
	int id;
	double deadline;
	long max;
	long ok, failed;
	int last_errno;
};

static void *conn_thread(void *arg)
{
	struct conn_worker *w = arg;
	struct sockaddr_in sa = dst_addr();
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct timeval tv = { .tv_sec = 1 };
	int one = 1, k = w->id;

	while (w->ok + w->failed < w->max) {
		struct sockaddr_in src = { .sin_family = AF_INET };
		int fd;

		if (now_s() >= w->deadline) /* a vDSO call: cheap beside connect() */
			break;
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0) {
			w->failed++;
			w->last_errno = errno;
			usleep(1000);
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (o.n_src) {
			setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
			src.sin_addr = o.src[k % o.n_src];
			k += o.threads;
			if (bind(fd, (struct sockaddr *)&src, sizeof(src)))
				die("bind source address");
		}
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			w->ok++;
		} else {
			w->failed++;
			w->last_errno = errno;
		}
		close(fd);
	}
	return NULL;
}

static int run_conn(void)
{
	struct conn_worker w[MAX_THREADS];
	pthread_t th[MAX_THREADS];
	double t0 = now_s(), secs = o.seconds > 0 ? o.seconds : 2, elapsed;
	long ok = 0, failed = 0;
	int last_errno = 0;

	for (int i = 0; i < o.threads; i++) {
		w[i] = (struct conn_worker){ .id = i,
					     .deadline = t0 + secs,
					     .max = o.max_conns / o.threads + 1 };
		if (pthread_create(&th[i], NULL, conn_thread, &w[i]))
			die("pthread_create");
	}
	for (int i = 0; i < o.threads; i++) {
		pthread_join(th[i], NULL);
		ok += w[i].ok;
		failed += w[i].failed;
		if (w[i].last_errno)
			last_errno = w[i].last_errno;
	}
	elapsed = now_s() - t0;
	printf("{\"conns\": %ld, \"failed\": %ld, \"seconds\": %.3f, \"conn_per_s\": %.1f, "
	       "\"last_error\": \"%s\"}\n",
	       ok, failed, elapsed, (double)ok / elapsed, last_errno ? strerror(last_errno) : "");
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: netloop server|rr|conn -a ADDR -p PORT [-T THREADS|-c THREADS] [-t "
			"SECONDS]\n"
			"               [-n COUNT] [-s SIZE] [-b SRC[,SRC...]]\n");
	exit(2);
}

static void parse_src(char *list)
{
	for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
		if (o.n_src == MAX_SRC || inet_pton(AF_INET, tok, &o.src[o.n_src]) != 1) {
			fprintf(stderr, "netloop: bad or too many source addresses at '%s'\n", tok);
			exit(2);
		}
		o.n_src++;
	}
}

int main(int argc, char **argv)
{
	const char *mode;
	int c;

	if (argc < 2)
		usage();
	mode = argv[1];
	optind = 2;
	while ((c = getopt(argc, argv, "a:p:T:c:t:n:s:b:")) != -1) {
		switch (c) {
		case 'a':
			o.addr = optarg;
			break;
		case 'p':
			o.port = atoi(optarg);
			break;
		case 'T':
		case 'c':
			o.threads = atoi(optarg);
			break;
		case 't':
			o.seconds = atof(optarg);
			break;
		case 'n':
			o.rounds = o.max_conns = atol(optarg);
			break;
		case 's':
			o.size = atoi(optarg);
			break;
		case 'b':
			parse_src(optarg);
			break;
		default:
			usage();
		}
	}
	if (!o.addr || o.threads < 1 || o.threads > MAX_THREADS || o.rounds < 1 || o.size < 1 ||
	    o.size > 65536)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(mode, "server"))
		return run_server();
	if (!strcmp(mode, "rr"))
		return run_rr();
	if (!strcmp(mode, "conn"))
		return run_conn();
	usage();
	return 2;
}
