/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_hosts_migrate.c
 * Goal: VNodes move between two pflightd over the io_uring transport, back and forth,
 * while counter workers on both hosts serve them, and nothing is lost, applied twice or
 * owned twice: after every move and at the end, each VNode's committed state on the host
 * that owns it counts exactly the numbered messages sent to it, none twice (dups), none
 * missing (gaps); at every look during the moves at most one host can place it (read
 * target first, then source: a target that can place it implies a source that says
 * REMOTE). Messages keep their address: every other batch is sent to the host the VNode
 * left (where it is REMOTE), which forwards it to the owner, each message once and in
 * order. Each move is audited on both hosts (vnode_emigrated, vnode_immigrated). A move to
 * a host that is not a peer, or of a VNode that is not here, is refused. Last, `pflight
 * drain host --to host-b` moves everything host-a still has, counters exact.
 * Method: two real pflightd in the foreground as host-a and host-b on loopback (or, with
 * `veth`, each in a network namespace of its own, joined by a veth pair the test creates
 * and removes: tests/common/netns.h; skipped with the reason where namespaces are not
 * allowed), keys made
 * here (pf_audit_keygen) and listed in each other's transport.peers; counter workers
 * (tools/examples) on both; `pflight migrate <v> --to HOST` through the CLI. Messages are
 * sent between moves, not during them.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pflight/pflight.h"
#include "tests/common/netns.h"
#include "tests/common/proc_util.h"
#include "tests/common/test_util.h"
#include "tools/examples/counter.h"

#define WAIT_NS (30ull * 1000000000ull)
#define VNODES 4u
#define MOVES 12u /* per VNode, alternating direction */
#define BATCH 20u /* messages sent between two moves */

static const char *daemon_path, *worker_path, *cli_path;
static char dir[64], name[2][64], sock[2][128], audit[2][160], dlog[2][160], wlog[2][160];
static pid_t daemons[2] = {-1, -1}, workers[2] = {-1, -1};
static struct pf_domain *dom[2];
static uint64_t sent[VNODES];
static int passed;
static struct netns_pair pair; /* owner 0: loopback */
static const char *addr[2] = {"127.0.0.1", "127.0.0.1"};

static void cleanup(void)
{
	for (int i = 0; i < 2; i++) {
		if (workers[i] > 0 && kill(workers[i], SIGKILL) == 0)
			(void)waitpid(workers[i], NULL, 0);
		if (daemons[i] > 0 && kill(daemons[i], SIGKILL) == 0)
			(void)waitpid(daemons[i], NULL, 0);
		if (name[i][0] != '\0')
			(void)pf_domain_unlink(name[i]);
	}
	netns_pair_destroy(&pair);
	if (!passed)
		for (int i = 0; i < 2; i++) {
			proc_print_file(dlog[i]);
			proc_print_file(wlog[i]);
		}
	proc_rm_dir(dir);
}

static void hex(char *out, const unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		(void)snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* Keys for both hosts, written where the manifests name them. */
static void make_keys(char pub[2][65])
{
	for (int i = 0; i < 2; i++) {
		unsigned char pk[32], sk[64];
		char path[160];

		(void)snprintf(path, sizeof(path), "%s/%d.key", dir, i);
		CHECK(pf_audit_keygen(pk, sk) == 0);
		CHECK(pf_audit_key_save(path, NULL, pk, sk, NULL) == 0);
		hex(pub[i], pk, 32);
	}
}

/* Two ports for this run: below the kernel's ephemeral range (32768 on), from the pid, so
 * that tests of other processes do not meet them. */
static unsigned port_of(int i)
{
	return 20000u + ((unsigned)getpid() % 6000u) * 2u + (unsigned)i;
}

static void start_daemon(int i, char pub[2][65])
{
	char manifest[160];
	FILE *f;
	char *argv[] = {(char *)daemon_path, "--foreground", "--manifest", manifest,
			"--control",         sock[i],        NULL};

	(void)snprintf(manifest, sizeof(manifest), "%s/%d.yaml", dir, i);
	f = fopen(manifest, "w");
	CHECK(f != NULL);
	fprintf(f,
		"apiVersion: pflight/v1\nkind: Domain\nmetadata:\n  name: %s\n"
		"membership:\n  vnodes_max: 64\n"
		"governance:\n  audit:\n    path: %s\n"
		"transport:\n  name: host-%c\n  key: %s/%d.key\n  port: %u\n  listen: %s\n"
		"  peers:\n    - name: host-%c\n      address: %s\n      port: %u\n"
		"      key: %s\napi:\n  enabled: false\n",
		name[i], audit[i], 'a' + i, dir, i, port_of(i), addr[i], 'a' + (1 - i), addr[1 - i],
		port_of(1 - i), pub[1 - i]);
	CHECK(fclose(f) == 0);
	if (pair.owner == 0) {
		CHECK(proc_start(argv, dlog[i], " ready: ", WAIT_NS, &daemons[i]) == PROC_RUNNING);
		return;
	}
	daemons[i] = netns_spawn(&pair, i, argv, dlog[i]);
	CHECK(daemons[i] > 0 && proc_wait_log(daemons[i], dlog[i], " ready: ", WAIT_NS) == 0);
}

static void start_worker(int i, const char *define)
{
	char *argv[] = {(char *)worker_path, name[i], "16", "--define", (char *)define, NULL};

	if (define == NULL)
		argv[3] = NULL;
	workers[i] = proc_spawn(argv, wlog[i]);
}

static uint32_t state_on(int i, uint32_t id, uint32_t *host)
{
	struct pf_vnode_info vi = {.size = sizeof(vi)};

	CHECK(pf_vnode_info(dom[i], id, &vi) == 0);
	if (host != NULL)
		*host = vi.host;
	return vi.state;
}

static int live(uint32_t state)
{
	return state == PF_VNODE_PENDING || state == PF_VNODE_ACTIVE ||
	       state == PF_VNODE_MIGRATING || state == PF_VNODE_DRAINING;
}

/* Which host can place VNode id now: 0 or 1; fails the test if both can. */
static int owner_of(uint32_t id)
{
	int a = live(state_on(0, id, NULL)), b = live(state_on(1, id, NULL));

	CHECK(!(a && b));
	return a ? 0 : b ? 1 : -1;
}

/* Wait until host `at` can place id and the other knows it as REMOTE: the CLI returns once
 * the source is REMOTE, and the target makes it PENDING only when COMMIT reaches it. */
static void wait_moved(uint32_t id, int at)
{
	uint64_t deadline = proc_now_ns() + WAIT_NS;

	while (owner_of(id) != at || state_on(1 - at, id, NULL) != PF_VNODE_REMOTE) {
		CHECK(proc_now_ns() < deadline);
		proc_nap();
	}
}

/* A batch to the host that owns id, or (away) to the other one if it knows the VNode as
 * REMOTE: forwarded from there. */
static void send_batch(uint32_t id, int away)
{
	int at = owner_of(id);

	CHECK(at >= 0);
	if (away && state_on(1 - at, id, NULL) == PF_VNODE_REMOTE)
		at = 1 - at;
	for (uint32_t k = 0; k < BATCH; k++) {
		struct counter_msg m = {.vnode = id, .seq = sent[id] + 1, .inc = 1};

		while (pf_send(dom[at], id, &m, sizeof(m)) == -EAGAIN)
			proc_nap();
		sent[id]++;
	}
}

/* Wait until the host that owns id has applied everything sent, exactly once. */
static void wait_applied(uint32_t id)
{
	uint64_t deadline = proc_now_ns() + WAIT_NS;
	struct counter_state st = {0};

	while (proc_now_ns() < deadline) {
		int at = owner_of(id);
		size_t len = 0;

		if (at >= 0 && pf_checkpoint_read(dom[at], id, &st, sizeof(st), &len, NULL) == 0 &&
		    len == sizeof(st) && st.last_seq == sent[id])
			break;
		proc_nap();
	}
	if (st.last_seq != sent[id] || st.dups != 0 || st.gaps != 0)
		fprintf(stderr, "VNode %u: sent %llu, applied %llu last %llu dups %llu gaps %llu\n",
			id, (unsigned long long)sent[id], (unsigned long long)st.applied,
			(unsigned long long)st.last_seq, (unsigned long long)st.dups,
			(unsigned long long)st.gaps);
	CHECK(st.last_seq == sent[id] && st.applied == sent[id] && st.dups == 0 && st.gaps == 0);
}

static int cli_migrate(int from, uint32_t id, const char *to)
{
	char cmd[512], *out = NULL;
	int st;

	(void)snprintf(cmd, sizeof(cmd), "%s --domain %s migrate %u --to %s --control %s 2>>%s",
		       cli_path, name[from], id, to, sock[from], wlog[from]);
	st = proc_capture(cmd, &out);
	free(out);
	return st;
}

int main(int argc, char **argv)
{
	char pub[2][65];
	uint32_t moves = 0;

	if (argc != 4 && !(argc == 5 && strcmp(argv[4], "veth") == 0)) {
		fprintf(stderr, "usage: %s <pflightd> <counter-worker> <pflight> [veth]\n",
			argv[0]);
		return 2;
	}
	if (argc == 5) {
		int r = netns_pair_create(&pair);

		if (r == -EPERM || r == -ENOTSUP) {
			printf("1..0 # SKIP network namespaces: %s\n", pair.why);
			return 77;
		}
		CHECK(r == 0);
		addr[0] = pair.addr[0];
		addr[1] = pair.addr[1];
	}
	daemon_path = argv[1];
	worker_path = argv[2];
	cli_path = argv[3];
	(void)snprintf(dir, sizeof(dir), "/tmp/pft-hosts-XXXXXX");
	CHECK(mkdtemp(dir) != NULL);
	atexit(cleanup);
	make_keys(pub);
	for (int i = 0; i < 2; i++) {
		test_domain_name(name[i], sizeof(name[i]), i == 0 ? "hosts-a" : "hosts-b");
		(void)snprintf(sock[i], sizeof(sock[i]), "%s/%d.sock", dir, i);
		(void)snprintf(audit[i], sizeof(audit[i]), "%s/%d.audit.jsonl", dir, i);
		(void)snprintf(dlog[i], sizeof(dlog[i]), "%s/%d.log", dir, i);
		(void)snprintf(wlog[i], sizeof(wlog[i]), "%s/%d.worker.log", dir, i);
		start_daemon(i, pub);
		CHECK(pf_domain_open(name[i], &dom[i]) == 0);
	}
	start_worker(0, "4");
	start_worker(1, NULL);
	/* Refusals first: not a peer, not here. */
	CHECK(cli_migrate(0, 0, "host-z") == 1);
	CHECK(cli_migrate(1, 0, "host-a") == 1); /* VNode 0 is not on host-b */
	for (uint32_t round = 0; round < MOVES; round++)
		for (uint32_t id = 0; id < VNODES; id++) {
			int at;

			send_batch(id, (int)(round % 2));
			wait_applied(id);
			at = owner_of(id);
			CHECK(cli_migrate(at, id, at == 0 ? "host-b" : "host-a") == 0);
			wait_moved(id, 1 - at);
			moves++;
		}
	for (uint32_t id = 0; id < VNODES; id++) {
		send_batch(id, 1);
		wait_applied(id);
	}
	/* MOVES is even: every VNode is home on host-a. 0 and 2 go to host-b, then the rest
	 * of host-a is drained there. */
	CHECK(owner_of(0) == 0 && owner_of(1) == 0);
	CHECK(cli_migrate(0, 0, "host-b") == 0 && cli_migrate(0, 2, "host-b") == 0);
	moves += 2;
	{
		char cmd[512], *out = NULL;

		(void)snprintf(cmd, sizeof(cmd),
			       "%s --domain %s drain host --to host-b --control %s 2>>%s", cli_path,
			       name[0], sock[0], wlog[0]);
		CHECK(proc_capture(cmd, &out) == 0);
		free(out);
	}
	for (uint32_t id = 0; id < VNODES; id++) {
		wait_moved(id, 1);
		send_batch(id, 1);
		wait_applied(id);
	}
	moves += (uint32_t)proc_audit_count(audit[0], "host_drain_done", "moves", "2") * 2;
	CHECK(proc_audit_count(audit[0], "vnode_emigrated", NULL, NULL) +
		      proc_audit_count(audit[1], "vnode_emigrated", NULL, NULL) ==
	      (int)moves);
	CHECK(proc_audit_count(audit[0], "vnode_immigrated", NULL, NULL) +
		      proc_audit_count(audit[1], "vnode_immigrated", NULL, NULL) ==
	      (int)moves);
	CHECK(proc_audit_count(audit[0], "migrate_host_failed", NULL, NULL) == 0);
	/* Each arrival names the source's newest record about the VNode: lineages link. */
	CHECK(proc_audit_count(audit[0], "vnode_immigrated", "from_lineage_seq", "0") == 0 &&
	      proc_audit_count(audit[1], "vnode_immigrated", "from_lineage_seq", "0") == 0);
	for (int i = 0; i < 2; i++) {
		char cmd[512], *out = NULL;

		CHECK(kill(workers[i], SIGTERM) == 0 && waitpid(workers[i], NULL, 0) == workers[i]);
		workers[i] = -1;
		pf_domain_close(dom[i]);
		proc_stop(&daemons[i]);
		/* Both logs hold every step and still verify whole. */
		(void)snprintf(cmd, sizeof(cmd), "%s audit verify %s 2>>%s", cli_path, audit[i],
			       wlog[i]);
		CHECK(proc_capture(cmd, &out) == 0);
		free(out);
	}
	passed = 1;
	printf("ok: %u moves between two hosts (%s); every counter exact\n", moves,
	       pair.owner != 0 ? "veth" : "loopback");
	return 0;
}
