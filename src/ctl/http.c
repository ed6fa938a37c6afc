// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "http.h"

void ctl_http_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

void ctl_http_cleanup(void)
{
	curl_global_cleanup();
}

void ctl_resp_free(struct ctl_resp *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
}

static size_t collect(char *data, size_t size, size_t n, void *cls)
{
	struct ctl_resp *r = cls;
	size_t len = size * n;
	char *nb = realloc(r->body, r->len + len + 1);

	if (!nb)
		return 0; /* curl reports a write error */
	memcpy(nb + r->len, data, len);
	r->body = nb;
	r->len += len;
	r->body[r->len] = '\0';
	return len;
}

static CURL *easy(const struct ctl_http *h, const char *path, char *errbuf)
{
	CURL *c = curl_easy_init();
	char *url;

	if (!c)
		return NULL;
	if (asprintf(&url, "http://localhost%s", path) < 0) {
		curl_easy_cleanup(c);
		return NULL;
	}
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, h->socket);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	free(url); /* curl copies the URL */
	return c;
}

/* curl speaks of "localhost port 80" even on a unix socket: say what the
 * socket said instead. */
static int unreachable(const struct ctl_http *h, CURL *c, CURLcode rc, const char *errbuf)
{
	long os_errno = 0;

	curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
	if (os_errno)
		fprintf(stderr,
			"microsegctl: cannot reach the agent at %s: %s (is microsegd running with "
			"this --api-socket?)\n",
			h->socket, strerror((int)os_errno));
	else
		fprintf(stderr, "microsegctl: cannot reach the agent at %s: %s\n", h->socket,
			errbuf[0] ? errbuf : curl_easy_strerror(rc));
	return CTL_UNREACHABLE;
}

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* Called by curl while a stream is open: ends it after Ctrl-C. */
static int check_interrupt(void *cls, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	(void)cls;
	(void)a;
	(void)b;
	(void)c;
	(void)d;
	return interrupted;
}

int ctl_request(const struct ctl_http *h, const char *method, const char *path, const char *body,
		size_t body_len, struct ctl_resp *resp)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdr = NULL;
	CURLcode rc;
	CURL *c;

	memset(resp, 0, sizeof(*resp));
	c = easy(h, path, errbuf);
	if (!c) {
		fprintf(stderr, "microsegctl: out of memory\n");
		return CTL_FAILED;
	}
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	if (!strcmp(method, "POST")) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? body_len : 0));
		hdr = curl_slist_append(hdr, "Content-Type: application/yaml");
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	}
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
	else
		unreachable(h, c, rc, errbuf);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK) {
		ctl_resp_free(resp);
		return CTL_UNREACHABLE;
	}
	if (!resp->body) {
		resp->body = strdup("");
		if (!resp->body)
			return CTL_FAILED;
	}
	return CTL_OK;
}

struct stream {
	int (*on_line)(void *cls, const char *line, size_t len);
	void *cls;
	char *buf;
	size_t len;
	long status;
	CURL *c;
	struct ctl_resp err; /* the body of an error answer */
	int stop;
};

static size_t stream_data(char *data, size_t size, size_t n, void *cls)
{
	struct stream *s = cls;
	size_t len = size * n, start = 0;
	char *nb;

	if (!s->status)
		curl_easy_getinfo(s->c, CURLINFO_RESPONSE_CODE, &s->status);
	if (s->status != 200)
		return collect(data, size, n, &s->err);
	nb = realloc(s->buf, s->len + len + 1);
	if (!nb)
		return 0;
	s->buf = nb;
	memcpy(s->buf + s->len, data, len);
	s->len += len;
	for (size_t i = 0; i < s->len; i++) {
		if (s->buf[i] != '\n')
			continue;
		/* Empty lines are the agent's heartbeats. */
		if (i > start && s->on_line(s->cls, s->buf + start, i - start)) {
			s->stop = 1;
			return 0;
		}
		start = i + 1;
	}
	memmove(s->buf, s->buf + start, s->len - start);
	s->len -= start;
	return len;
}

int ctl_stream(const struct ctl_http *h, const char *path,
	       int (*on_line)(void *cls, const char *line, size_t len), void *cls)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct stream s = { .on_line = on_line, .cls = cls };
	CURLcode rc;
	int ret = CTL_OK;

	s.c = easy(h, path, errbuf);
	if (!s.c) {
		fprintf(stderr, "microsegctl: out of memory\n");
		return CTL_FAILED;
	}
	struct sigaction sa = { .sa_handler = on_interrupt };

	/* Ctrl-C or a TERM ends the stream cleanly, exit status 0. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	curl_easy_setopt(s.c, CURLOPT_WRITEFUNCTION, stream_data);
	curl_easy_setopt(s.c, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(s.c, CURLOPT_XFERINFOFUNCTION, check_interrupt);
	curl_easy_setopt(s.c, CURLOPT_NOPROGRESS, 0L);
	rc = curl_easy_perform(s.c);
	if (!s.status)
		curl_easy_getinfo(s.c, CURLINFO_RESPONSE_CODE, &s.status);
	if (interrupted) {
		ret = CTL_OK;
	} else if (rc != CURLE_OK && !s.stop && !s.status) {
		ret = unreachable(h, s.c, rc, errbuf);
	} else if (s.status && s.status != 200) {
		s.err.status = s.status;
		ret = ctl_agent_error(&s.err);
	} else if (rc != CURLE_OK && !s.stop) {
		/* Cut mid-stream: the agent stopped, or dropped a follower that
		 * did not keep up. The stream's end all the same, but said. */
		fprintf(stderr, "microsegctl: the agent ended the stream: %s\n",
			errbuf[0] ? errbuf : curl_easy_strerror(rc));
	}
	curl_easy_cleanup(s.c);
	free(s.buf);
	ctl_resp_free(&s.err);
	return ret;
}

int ctl_agent_error(const struct ctl_resp *r)
{
	cJSON *j = r->body ? cJSON_Parse(r->body) : NULL;
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");

	if (cJSON_IsString(e))
		fprintf(stderr, "microsegctl: the agent answered %ld: %s\n", r->status,
			e->valuestring);
	else
		fprintf(stderr, "microsegctl: the agent answered %ld\n", r->status);
	cJSON_Delete(j);
	return CTL_FAILED;
}

int ctl_query_add(char **q, const char *key, const char *value)
{
	char *enc = curl_easy_escape(NULL, value, 0), *nq;
	int r;

	if (!enc)
		return -ENOMEM;
	r = asprintf(&nq, "%s%c%s=%s", *q ? *q : "", *q ? '&' : '?', key, enc);
	curl_free(enc);
	if (r < 0)
		return -ENOMEM;
	free(*q);
	*q = nq;
	return 0;
}
