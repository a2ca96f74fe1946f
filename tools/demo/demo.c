/* SPDX-License-Identifier: MIT */
/*
 * tools/demo/demo.c: the main job of `scripts/demo`, embedded mode, the library alone.
 *
 * Creates a domain, starts 4 example counter workers, defines 1,024 counter VNodes,
 * sends numbered increments to them, kills one worker with SIGKILL halfway through, and
 * reports: the members and their VNodes, the time from the kill until every VNode was
 * owned again, and a check that every counter equals the messages sent to it with no
 * duplicate and no gap (nothing lost, nothing applied twice).
 *
 *   pflight-demo --worker PATH [--vnodes N] [--workers N] [--messages N] [--name NAME]
 *
 * Exit status: 0 when every check holds, 1 when one fails, 2 for bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pflight/pflight.h"
#include "tools/common/held.h"
#include "tools/examples/counter.h"

#define WORKERS_MAX 64u
#define SETTLE_TIMEOUT_NS UINT64_C(20000000000)

struct demo {
	const char *worker_path;
	char name[PF_DOMAIN_NAME_MAX + 1];
	uint32_t vnodes;
	uint32_t workers;
	uint64_t messages; /* per VNode */
	struct pf_domain *d;
	pid_t pids[WORKERS_MAX];
	uint64_t *sent; /* per VNode: messages accepted by pf_send */
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void nap_us(long us)
{
	struct timespec ts = {us / 1000000, (us % 1000000) * 1000};

	(void)nanosleep(&ts, NULL);
}

static pid_t spawn(struct demo *dm)
{
	char vn[16];
	pid_t pid;

	(void)snprintf(vn, sizeof(vn), "%u", dm->vnodes);
	pid = fork();
	if (pid == 0) {
		execl(dm->worker_path, dm->worker_path, dm->name, vn, (char *)NULL);
		fprintf(stderr, "demo: exec %s: %s\n", dm->worker_path, strerror(errno));
		_exit(127);
	}
	return pid;
}

/* How many VNodes each member slot holds, from the ownership words. */
static uint32_t census(struct demo *dm, uint32_t *per_slot, uint32_t slots, uint32_t *ret_pending)
{
	struct pf_vnode_info vi = {.size = sizeof(vi)};
	uint32_t owned = held_count(dm->d, dm->vnodes, per_slot, slots), pending = 0;

	for (uint32_t id = 0; id < dm->vnodes; id++)
		pending += pf_vnode_info(dm->d, id, &vi) == 0 && vi.state == PF_VNODE_PENDING;
	if (ret_pending != NULL)
		*ret_pending = pending;
	return owned;
}

static void print_members(struct demo *dm, const char *title)
{
	struct pf_domain_info di = {.size = sizeof(di)};
	struct pf_member_info mi = {.size = sizeof(mi)};
	uint32_t per_slot[PF_MEMBERS_MAX], pending;

	(void)pf_domain_info(dm->d, &di);
	(void)census(dm, per_slot, di.members_max, &pending);
	printf("\n%s: %u members active, %u VNodes pending\n", title, di.members_active, pending);
	printf("  %-5s %-8s %-9s %7s %10s\n", "slot", "pid", "state", "vnodes", "heartbeat");
	for (uint32_t s = 0; s < di.members_max; s++) {
		if (pf_member_info(dm->d, s, &mi) < 0)
			continue;
		printf("  %-5u %-8d %-9s %7u %10llu\n", s, (int)mi.pid,
		       pf_member_state_name(mi.state) != NULL ? pf_member_state_name(mi.state)
							      : "?",
		       per_slot[s], (unsigned long long)mi.heartbeat);
	}
	fflush(stdout);
}

static int wait_members(struct demo *dm, uint32_t want)
{
	struct pf_domain_info di = {.size = sizeof(di)};
	uint64_t deadline = mono_ns() + SETTLE_TIMEOUT_NS;

	for (;;) {
		(void)pf_domain_info(dm->d, &di);
		if (di.members_active >= want)
			return 0;
		if (mono_ns() > deadline)
			return -ETIMEDOUT;
		(void)pf_domain_wait_membership(dm->d, di.membership_version, 100000000);
	}
}

/* Spin until every VNode is ACTIVE with an owner other than `dead_slot`. */
static uint64_t wait_all_owned(struct demo *dm, uint32_t dead_slot, uint32_t dead_gen)
{
	struct pf_vnode_info vi = {.size = sizeof(vi)};
	uint64_t deadline = mono_ns() + SETTLE_TIMEOUT_NS;
	uint32_t id = 0;

	while (id < dm->vnodes) {
		if (pf_vnode_info(dm->d, id, &vi) == 0 && vi.state == PF_VNODE_ACTIVE &&
		    !(vi.owner_slot == dead_slot && vi.owner_generation == (dead_gen & 0xffffu))) {
			id++;
			continue;
		}
		if (mono_ns() > deadline)
			return 0;
	}
	return mono_ns();
}

static void send_one(struct demo *dm, uint32_t id)
{
	struct counter_msg msg = {.vnode = id, .seq = dm->sent[id] + 1, .inc = 1};
	int r;

	while ((r = pf_send(dm->d, id, &msg, sizeof(msg))) == -EAGAIN)
		nap_us(50); /* the owner has not checkpointed yet, or there is none right now */
	if (r < 0) {
		fprintf(stderr, "demo: send to %u: %s\n", id, strerror(-r));
		exit(1);
	}
	dm->sent[id]++;
}

/* Send `rounds` messages to every VNode, round-robin. */
static void send_rounds(struct demo *dm, uint64_t rounds)
{
	for (uint64_t k = 0; k < rounds; k++)
		for (uint32_t id = 0; id < dm->vnodes; id++)
			send_one(dm, id);
}

static int kill_one(struct demo *dm, uint64_t *ret_recovery_ns)
{
	struct pf_member_info mi = {.size = sizeof(mi)};
	uint32_t per_slot[PF_MEMBERS_MAX], slot = UINT32_MAX;
	uint64_t t0, t1;
	pid_t victim = dm->pids[1];

	(void)census(dm, per_slot, PF_MEMBERS_MAX, NULL);
	for (uint32_t s = 0; s < PF_MEMBERS_MAX; s++)
		if (pf_member_info(dm->d, s, &mi) == 0 && mi.pid == victim)
			slot = s;
	if (slot == UINT32_MAX)
		return -ESRCH;
	printf("\nkill -9 worker pid %d (slot %u, %u VNodes) while messages flow\n", (int)victim,
	       slot, per_slot[slot]);
	fflush(stdout);
	t0 = mono_ns();
	if (kill(victim, SIGKILL) < 0)
		return -errno;
	t1 = wait_all_owned(dm, slot, mi.generation);
	(void)waitpid(victim, NULL, 0);
	dm->pids[1] = 0;
	if (t1 == 0)
		return -ETIMEDOUT;
	*ret_recovery_ns = t1 - t0;
	return 0;
}

/* Wait until every counter's checkpoint shows every message, then check each. */
static int verify(struct demo *dm)
{
	struct counter_state st;
	uint64_t deadline = mono_ns() + SETTLE_TIMEOUT_NS, total = 0, dups = 0, gaps = 0;
	uint32_t id = 0, bad = 0;
	size_t len;

	while (id < dm->vnodes) {
		int r = pf_checkpoint_read(dm->d, id, &st, sizeof(st), &len, NULL);

		if (r == 0 && len == sizeof(st) && st.last_seq >= dm->sent[id]) {
			id++;
			continue;
		}
		if (mono_ns() > deadline)
			break;
		nap_us(1000);
	}
	for (id = 0; id < dm->vnodes; id++) {
		if (pf_checkpoint_read(dm->d, id, &st, sizeof(st), &len, NULL) != 0 ||
		    len != sizeof(st)) {
			bad++;
			continue;
		}
		total += st.value;
		dups += st.dups;
		gaps += st.gaps;
		if (st.value != dm->sent[id] || st.dups != 0 || st.gaps != 0 || st.malformed != 0)
			bad++;
	}
	printf("\ncheck: %u counters, %llu messages sent, %llu applied, %llu duplicates, "
	       "%llu gaps: %s\n",
	       dm->vnodes, (unsigned long long)(dm->messages * dm->vnodes),
	       (unsigned long long)total, (unsigned long long)dups, (unsigned long long)gaps,
	       bad == 0 ? "every counter equals the messages sent to it" : "MISMATCH");
	if (bad != 0)
		printf("       %u counters differ from what was sent\n", bad);
	return bad == 0 ? 0 : -EBADMSG;
}

static void stop_workers(struct demo *dm)
{
	for (uint32_t i = 0; i < dm->workers; i++)
		if (dm->pids[i] > 0)
			(void)kill(dm->pids[i], SIGTERM);
	for (uint32_t i = 0; i < dm->workers; i++)
		if (dm->pids[i] > 0)
			(void)waitpid(dm->pids[i], NULL, 0);
}

static int parse(struct demo *dm, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"worker", required_argument, NULL, 'w'},
		{"vnodes", required_argument, NULL, 'v'},
		{"workers", required_argument, NULL, 'n'},
		{"messages", required_argument, NULL, 'm'},
		{"name", required_argument, NULL, 'N'},
		{NULL, 0, NULL, 0},
	};
	unsigned long long v;
	char *end;
	int c;

	dm->vnodes = 1024;
	dm->workers = 4;
	dm->messages = 40;
	(void)snprintf(dm->name, sizeof(dm->name), "demo-%d", (int)getpid());
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == 'w') {
			dm->worker_path = optarg;
			continue;
		}
		if (c == 'N') {
			(void)snprintf(dm->name, sizeof(dm->name), "%s", optarg);
			continue;
		}
		if (c == '?')
			return -EINVAL;
		errno = 0;
		v = strtoull(optarg, &end, 10);
		if (errno != 0 || *end != '\0' || v == 0)
			return -EINVAL;
		if (c == 'v')
			dm->vnodes = v > PF_VNODES_MAX ? 0 : (uint32_t)v;
		else if (c == 'n')
			dm->workers = v > WORKERS_MAX ? 0 : (uint32_t)v;
		else
			dm->messages = v;
	}
	if (dm->worker_path == NULL || dm->vnodes == 0 || dm->workers < 2)
		return -EINVAL;
	return 0;
}

static int run(struct demo *dm)
{
	struct pf_domain_opts o;
	uint64_t t0, recovery_ns = 0;
	int r;

	pf_domain_opts_init(&o);
	o.flags = PF_DOMAIN_REPLACE;
	o.members_max = 2 * dm->workers;
	o.vnodes_max = dm->vnodes;
	o.msg_bytes_max = sizeof(struct counter_msg);
	o.state_bytes_max = sizeof(struct counter_state);
	r = pf_domain_create(dm->name, &o, &dm->d);
	if (r < 0) {
		fprintf(stderr, "demo: create domain %s: %s\n", dm->name, strerror(-r));
		return r;
	}
	printf("domain %s: /dev/shm/pflight-%s, %u VNodes, %u workers, %llu messages per VNode\n",
	       dm->name, dm->name, dm->vnodes, dm->workers, (unsigned long long)dm->messages);
	for (uint32_t i = 0; i < dm->workers; i++)
		dm->pids[i] = spawn(dm);
	r = wait_members(dm, dm->workers);
	if (r < 0) {
		fprintf(stderr, "demo: workers did not join\n");
		goto out;
	}
	t0 = mono_ns();
	r = pf_vnode_define_range(dm->d, 0, dm->vnodes, NULL);
	if (r < 0)
		goto out;
	if (wait_all_owned(dm, UINT32_MAX, 0) == 0) {
		r = -ETIMEDOUT;
		goto out;
	}
	printf("defined %u VNodes; all owned after %.2f ms\n", dm->vnodes,
	       (double)(mono_ns() - t0) / 1e6);
	print_members(dm, "members");
	send_rounds(dm, dm->messages / 2);
	r = kill_one(dm, &recovery_ns);
	if (r < 0) {
		fprintf(stderr, "demo: kill/recovery: %s\n", strerror(-r));
		goto out;
	}
	printf("all %u VNodes owned again %.3f ms after the kill\n", dm->vnodes,
	       (double)recovery_ns / 1e6);
	send_rounds(dm, dm->messages - dm->messages / 2);
	print_members(dm, "after the kill");
	r = verify(dm);
out:
	stop_workers(dm);
	(void)pf_domain_destroy(dm->d);
	return r;
}

int main(int argc, char **argv)
{
	struct demo dm;
	int r;

	memset(&dm, 0, sizeof(dm));
	if (parse(&dm, argc, argv) < 0) {
		fprintf(stderr,
			"usage: %s --worker PATH [--vnodes N] [--workers N>=2] "
			"[--messages N] [--name NAME]\n",
			argv[0]);
		return 2;
	}
	dm.sent = calloc(dm.vnodes, sizeof(*dm.sent));
	if (dm.sent == NULL)
		return 1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	r = run(&dm);
	free(dm.sent);
	return r < 0 ? 1 : 0;
}
