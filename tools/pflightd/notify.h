/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/notify.h: telling the service manager how the daemon is (sd_notify(3)).
 *
 * Under the unit's Type=notify, systemd counts pflightd as started only at READY=1, which
 * it sends once it serves (domain open, audit log open, agents running, control socket
 * and REST API listening), and as stopping at STOPPING=1. With WatchdogSec= in the unit,
 * systemd passes WATCHDOG_USEC and restarts the daemon when WATCHDOG=1 does not come at
 * least that often. The main thread, which also watches the agents for a fatal error,
 * sends it every half period, but only when every agent thread made a pass since the last
 * look (the caller's `stalled` answers that: runner_stalled(), agent.h): a main loop that
 * hangs, or an agent that hangs while the main loop goes on (a write to a hung device, a
 * deadlock), gets the daemon restarted. A WATCHDOG=1 withheld is logged, once per stall.
 * Without NOTIFY_SOCKET (not under systemd) every call does nothing.
 */
#ifndef PFLIGHTD_NOTIFY_H
#define PFLIGHTD_NOTIFY_H

#include <stdint.h>

struct notify {
	uint64_t period_ns;   /* between two WATCHDOG=1, 0: no watchdog */
	uint64_t next_ns;     /* CLOCK_MONOTONIC time of the next one */
	uint64_t withheld_ns; /* when the current stall was first seen, 0: none */
};

/* What is stuck (a name for the log), or NULL when everything made progress since the last
 * call. */
typedef const char *(*notify_stalled_fn)(void *arg);

/* Read the watchdog's period from the environment (sd_watchdog_enabled). */
void notify_init(struct notify *n, uint64_t now_ns);

/* READY=1 with a STATUS= line; STOPPING=1. Failures are logged once, not returned. */
void notify_ready(const char *status);

/* STOPPING=1; with extend_ns > 0 also EXTEND_TIMEOUT_USEC, so that systemd (236 and later)
 * lets a stop that may outlast the unit's TimeoutStopSec (a drain) go on that long from
 * now before it sends SIGKILL. Again later, it does nothing to the timeout. */
void notify_stopping(uint64_t extend_ns);

/* When WATCHDOG=1 is due, ask stalled(arg) and send it unless something is stuck; either
 * way the next one is due half a period on. Returns the nanoseconds until then (UINT64_MAX
 * without a watchdog), for the caller's poll timeout. */
uint64_t notify_watchdog(struct notify *n, uint64_t now_ns, notify_stalled_fn stalled, void *arg);

#endif /* PFLIGHTD_NOTIFY_H */
