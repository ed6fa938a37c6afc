/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * systemd's service notification protocol (sd_notify(3)), spoken directly:
 * one AF_UNIX datagram of "KEY=VALUE\n" lines to the socket named by
 * NOTIFY_SOCKET ("/path" or "@abstract"). Without NOTIFY_SOCKET every call is
 * a successful no-op, so the daemon needs no libsystemd and runs anywhere.
 */
#ifndef MICROSEGD_NOTIFY_H
#define MICROSEGD_NOTIFY_H

/*
 * Read NOTIFY_SOCKET and open the socket. Returns 0 (also when the variable
 * is unset), or -errno for an address that cannot be used (the daemon then
 * runs without notifications).
 */
int ms_notify_init(void);

/* Send one datagram built from fmt. Returns 0, or -errno if sending failed. */
int ms_notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* True when a notification socket is in use. */
int ms_notify_enabled(void);

void ms_notify_close(void);

#endif /* MICROSEGD_NOTIFY_H */
