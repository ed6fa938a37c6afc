// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* The safe opening of the agent's files (src/lib/safefile.c): directories
 * others can write are refused, links are not followed, FIFOs neither block
 * nor pass for files, hard links are refused, closed fds 0-2 are filled. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safefile.h"
#include "testlib.h"

static char base[64];

static char *at(const char *name)
{
	static char buf[4][160];
	static int k;

	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", base, name);
	return buf[k];
}

static void test_dir_modes(void)
{
	const char *why = NULL;

	REQUIRE(!mkdir(at("d700"), 0700) && !mkdir(at("d777"), 0700) && !mkdir(at("d1777"), 0700) &&
			!mkdir(at("d770"), 0700),
		"mkdir: %s", strerror(errno));
	/* chmod: the umask does not get in the way. */
	chmod(at("d777"), 0777);
	chmod(at("d1777"), 01777);
	chmod(at("d770"), 0770);
	CHECK(ms_dir_check(at("d700"), &why) == 0, "0700 refused: %s", why ? why : "");
	CHECK(ms_dir_check(at("d1777"), &why) == 0, "sticky 1777 refused: %s", why ? why : "");
	CHECK(ms_dir_check(at("d777"), &why) == -EPERM && why && strstr(why, "writable"),
	      "0777 not refused (%s)", why ? why : "no reason");
	CHECK(ms_dir_check(at("d770"), &why) == -EPERM, "0770 not refused");
	CHECK(ms_parent_check(at("d777/flows.jsonl"), &why) == -EPERM, "parent 0777 not refused");
	CHECK(ms_dir_check(at("none"), &why) == -ENOENT, "a missing directory is not ENOENT");
}

static void test_append_no_link(void)
{
	const char *why = NULL;
	char buf[32] = { 0 };
	int fd;

	REQUIRE(!mkdir(at("logs"), 0700), "mkdir: %s", strerror(errno));
	fd = open(at("target"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
	REQUIRE(fd >= 0 && write(fd, "kept\n", 5) == 5, "target: %s", strerror(errno));
	close(fd);
	REQUIRE(!symlink(at("target"), at("logs/flows.jsonl")), "symlink: %s", strerror(errno));
	fd = ms_open_append(at("logs/flows.jsonl"), &why);
	CHECK(fd < 0 && why && strstr(why, "symbolic link"), "a link was opened (fd %d)", fd);
	if (fd >= 0)
		close(fd);
	fd = open(at("target"), O_RDONLY);
	CHECK(fd >= 0 && read(fd, buf, sizeof(buf) - 1) == 5 && !strcmp(buf, "kept\n"),
	      "the link's target changed: '%s'", buf);
	if (fd >= 0)
		close(fd);
	/* A hard link to another file is not appended to either. */
	REQUIRE(!link(at("target"), at("logs/hard.jsonl")), "link: %s", strerror(errno));
	fd = ms_open_append(at("logs/hard.jsonl"), &why);
	CHECK(fd < 0 && why && strstr(why, "hard link"), "a hard link was opened (fd %d)", fd);
	if (fd >= 0)
		close(fd);
	/* A new file is made, 0640 at most. */
	fd = ms_open_append(at("logs/new.jsonl"), &why);
	CHECK(fd >= 0, "cannot make a new log: %s", why ? why : strerror(-fd));
	if (fd >= 0) {
		struct stat st;

		CHECK(!fstat(fd, &st) && S_ISREG(st.st_mode) && !(st.st_mode & 0137), "mode %o",
		      (unsigned)st.st_mode & 07777);
		close(fd);
	}
}

static void test_regular_only(void)
{
	const char *why = NULL;
	char *text = NULL;
	size_t len = 0;
	int fd;

	fd = open(at("plain"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
	REQUIRE(fd >= 0 && write(fd, "kept\n", 5) == 5, "plain: %s", strerror(errno));
	close(fd);
	REQUIRE(!mkfifo(at("fifo"), 0600), "mkfifo: %s", strerror(errno));
	/* No writer: a blocking open would hang here. */
	fd = ms_open_regular(at("fifo"), &why);
	CHECK(fd == -EINVAL && why && strstr(why, "not a regular file"), "a FIFO: fd %d", fd);
	if (fd >= 0)
		close(fd);
	REQUIRE(!symlink(at("plain"), at("graph-link")), "symlink: %s", strerror(errno));
	fd = ms_open_regular(at("graph-link"), &why);
	CHECK(fd < 0 && why && strstr(why, "symbolic link"), "a link was read (fd %d)", fd);
	if (fd >= 0)
		close(fd);
	CHECK(!ms_read_regular(at("plain"), 1024, &text, &len, &why) && len == 5 &&
		      !strcmp(text, "kept\n"),
	      "reading a regular file");
	free(text);
	text = NULL;
	CHECK(ms_read_regular(at("plain"), 2, &text, &len, &why) == -EFBIG, "no size bound");
	free(text);
	/* Blocking again once opened. */
	fd = ms_open_regular(at("plain"), &why);
	CHECK(fd >= 0 && !(fcntl(fd, F_GETFL) & O_NONBLOCK), "still O_NONBLOCK");
	if (fd >= 0)
		close(fd);
	/* Another name of a file (a hard link) is refused. */
	fd = ms_open_regular(at("target"), &why);
	CHECK(fd < 0 && why && strstr(why, "hard link"), "a hard link was read (fd %d)", fd);
	if (fd >= 0)
		close(fd);
}

static void test_std_fds(void)
{
	int saved = dup(2), fd;

	REQUIRE(saved >= 0, "dup: %s", strerror(errno));
	close(2);
	ms_keep_std_fds();
	fd = open(at("after"), O_WRONLY | O_CREAT, 0600);
	dup2(saved, 2);
	close(saved);
	CHECK(fd > 2, "a file opened after closing stderr became fd %d", fd);
	if (fd >= 0)
		close(fd);
}

int main(void)
{
	char cmd[96];
	int rc;

	snprintf(base, sizeof(base), "/tmp/ms-test-safefile.XXXXXX");
	if (!mkdtemp(base)) {
		printf("FAIL: setup: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	RUN(test_dir_modes);
	RUN(test_append_no_link);
	RUN(test_regular_only);
	RUN(test_std_fds);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	rc = system(cmd);
	(void)rc;
	return t_done();
}
