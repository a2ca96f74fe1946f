/* SPDX-License-Identifier: MIT */
/* tools/pflightd/notify.c: READY=1, STOPPING=1 and the watchdog (notify.h says when). */
#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "tools/pflightd/log.h"
#include "tools/pflightd/notify.h"

static void send_state(const char *state)
{
	static int warned;
	int r = sd_notify(0, state);

	if (r < 0 && !warned) {
		warned = 1;
		log_msg(LOG_WARN, "sd_notify %.*s: %s (not said again)", (int)strcspn(state, "\n"),
			state, strerror(-r));
	}
}

void notify_init(struct notify *n, uint64_t now_ns)
{
	uint64_t usec = 0;

	n->period_ns = 0;
	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
		n->period_ns = usec * 1000u / 2u;
		log_msg(LOG_INFO, "watchdog: WATCHDOG=1 every %llu ms",
			(unsigned long long)(n->period_ns / 1000000u));
	}
	n->next_ns = now_ns;
	n->withheld_ns = 0;
}

void notify_ready(const char *status)
{
	char msg[256];

	(void)snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s", status);
	send_state(msg);
}

void notify_stopping(uint64_t extend_ns)
{
	char state[64];

	if (extend_ns == 0) {
		send_state("STOPPING=1");
		return;
	}
	(void)snprintf(state, sizeof(state), "STOPPING=1\nEXTEND_TIMEOUT_USEC=%llu",
		       (unsigned long long)(extend_ns / 1000u));
	send_state(state);
}

uint64_t notify_watchdog(struct notify *n, uint64_t now_ns, notify_stalled_fn stalled, void *arg)
{
	const char *stuck;

	if (n->period_ns == 0)
		return UINT64_MAX;
	if (now_ns < n->next_ns)
		return n->next_ns - now_ns;
	n->next_ns = now_ns + n->period_ns;
	stuck = stalled(arg);
	if (stuck == NULL) {
		if (n->withheld_ns != 0)
			log_msg(LOG_WARN,
				"watchdog: every agent makes passes again after %llu ms; "
				"WATCHDOG=1 resumed",
				(unsigned long long)((now_ns - n->withheld_ns) / 1000000u));
		n->withheld_ns = 0;
		send_state("WATCHDOG=1");
	} else if (n->withheld_ns == 0) {
		n->withheld_ns = now_ns;
		log_msg(LOG_ERROR,
			"watchdog: agent %s made no pass in %llu ms; WATCHDOG=1 withheld (systemd "
			"restarts the daemon if it stays stuck)",
			stuck, (unsigned long long)(n->period_ns / 1000000u));
	}
	return n->period_ns;
}
