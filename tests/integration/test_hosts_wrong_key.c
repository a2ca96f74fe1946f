/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_hosts_wrong_key.c
 * Goal: a pflightd links only with the hosts it lists, under the names and keys it lists,
 * and reads no migration frame from anyone else. Inbound: a host whose key it does not
 * list, a host that gives a listed name with another key, and a peer that sends a
 * migration frame before any handshake are refused (connection closed, audited
 * link_refused inbound with the link's reason), and a migration frame sent right after
 * the refused hello gets no answer and leaves no trace (no vnode_arrival_* record);
 * the listed host with its key links and is answered (ACCEPT). Outbound: when the host it
 * dials answers with an unlisted key, or with the listed name and another key, the daemon
 * refuses the link (link_refused outbound) and sends it nothing past its hello, and the
 * VNode it meant to move stays live where it is.
 * Method: one real pflightd (host-b) with a fault worker; this process plays host-a and
 * strangers over plain sockets framed as the transport frames (tests/common/fake_host.h),
 * with a third key that host-b does not list; host-b's manifest puts host-a at a port
 * this process listens on.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/common/fake_host.h"
#include "tests/common/fake_packet.h"
#include "tests/common/hosts_fixture.h"
#include "tests/common/proc_util.h"
#include "tests/common/test_util.h"
#include "tools/pflightd/hosts_impl.h"

#define NOKEY "Required key not available" /* strerror(ENOKEY) in the audit record */

static struct hf h;
static struct pf_link_peer host_b;

/* One more link_refused record, in direction dir with error `error`, and nothing else:
 * the counts of each field's value were taken before (the mark). */
struct mark {
	int all, dir, error;
};

static struct mark marks(const char *dir, const char *error)
{
	return (struct mark){hf_audit_count(&h, 1, "link_refused", UINT32_MAX, NULL, NULL),
			     hf_audit_count(&h, 1, "link_refused", UINT32_MAX, "direction", dir),
			     hf_audit_count(&h, 1, "link_refused", UINT32_MAX, "error", error)};
}

static void expect_refusal(const char *what, const char *dir, const char *error, struct mark m)
{
	struct mark now;

	(void)hf_audit_wait(&h, 1, "link_refused", UINT32_MAX, m.all + 1, HF_WAIT_NS);
	now = marks(dir, error);
	if (now.all < m.all + 1 || now.dir != m.dir + now.all - m.all ||
	    now.error != m.error + now.all - m.all) {
		fprintf(stderr, "%s: no link_refused %s \"%s\" audited\n", what, dir, error);
		exit(1);
	}
	printf("%-52s refused (%s, %s)\n", what, dir, error);
}

/* A migration frame as a peer that has no session keys would send one: head, BEGIN's
 * body, a zero tag. */
static void send_begin_blind(struct fake_host *f)
{
	uint8_t frame[PF_LINK_HEAD_BYTES + 16 + PF_LINK_TAG_BYTES] = {0};

	fake_put32(frame, HF_BEGIN);
	fake_put32(frame + 4, 16);
	fake_put64(frame + PF_LINK_HEAD_BYTES, 77);
	fake_put32(frame + PF_LINK_HEAD_BYTES + 8, 0);
	fake_put32(frame + PF_LINK_HEAD_BYTES + 12, PF_SEAL_CHUNK_BYTES_DEFAULT);
	(void)fake_send_raw(f, frame, sizeof(frame));
}

/* Connect as `name` with key index `key`: its hello, then at once a migration frame; the
 * daemon must close without a word and leave no trace of the frame. */
static void stranger(const char *what, const char *name, int key)
{
	uint8_t hello[PF_LINK_HANDSHAKE_BYTES_MAX];
	struct mark m = marks("inbound", NOKEY);
	struct fake_host f;
	int n;

	CHECK(fake_dial(&f, h.port[1]) == 0);
	CHECK(pf_link_create(PF_LINK_CLIENT, name, h.sk[key], &host_b, 1, 0, &f.link) == 0);
	n = pf_link_handshake_out(f.link, hello, sizeof(hello));
	CHECK(n > 0 && fake_send_raw(&f, hello, (size_t)n) == 0);
	send_begin_blind(&f);
	CHECK(fake_recv_raw(&f, FAKE_WAIT_NS) == -ECONNRESET); /* closed, nothing said */
	fake_close(&f);
	expect_refusal(what, "inbound", NOKEY, m);
}

static void no_handshake(void)
{
	struct mark m = marks("inbound", "Protocol error");
	struct fake_host f;

	CHECK(fake_dial(&f, h.port[1]) == 0);
	send_begin_blind(&f);
	CHECK(fake_recv_raw(&f, FAKE_WAIT_NS) == -ECONNRESET);
	fake_close(&f);
	expect_refusal("a migration frame before any handshake", "inbound", "Protocol error", m);
}

/* The listed host with its key: linked, and its BEGIN answered. */
static void right_key(void)
{
	uint32_t w[2] = {5, PF_SEAL_CHUNK_BYTES_DEFAULT};
	struct pf_link_frame fr;
	struct fake_host f;

	CHECK(fake_connect(&f, h.port[1], "host-a", h.sk[0], &host_b) == 0);
	CHECK(fp_send_words(&f, HF_BEGIN, 78, w, 2) == 0);
	CHECK(fake_expect(&f, HF_ACCEPT, &fr, FAKE_WAIT_NS) == 0 && fake_get64(fr.body) == 78);
	CHECK(fp_send_words(&f, HF_ABORT, 78, NULL, 0) == 0);
	fake_close(&f);
	printf("%-52s linked, its BEGIN accepted\n", "host-a with its key");
}

/* host-b dials host-a for a move; this process answers as `name` with key index `key`:
 * host-b must refuse after our hello, having sent nothing but its own. */
static void wrong_server(int lfd, const char *what, const char *name, int key)
{
	struct mark m = marks("outbound", NOKEY);
	struct fake_host f;
	int r = fake_accept(&f, lfd, name, h.sk[key], &host_b, FAKE_WAIT_NS);

	fake_close(&f);
	if (r != -ECONNRESET) {
		fprintf(stderr, "%s: the handshake ended with %d, not a close after our hello\n",
			what, r);
		exit(1);
	}
	expect_refusal(what, "outbound", NOKEY, m);
}

int main(int argc, char **argv)
{
	struct hf_opts o = {
		.vnodes_max = 8, .members_max = 4, .inbox_slots = 64, .state_bytes_max = 4096};
	const char *wa[] = {"--define", "1", NULL};
	unsigned port;
	int lfd;

	if (argc != 3) {
		fprintf(stderr, "usage: %s <pflightd> <hosts_fault_worker>\n", argv[0]);
		return 2;
	}
	lfd = fake_listen(&port);
	o.peer_port[1] = port; /* host-b dials host-a here: this process */
	hf_init(&h, "hkey", argv[1], argv[2], &o);
	hf_start_daemon(&h, 1);
	(void)hf_start_worker(&h, 1, wa);
	(void)snprintf(host_b.name, sizeof(host_b.name), "host-b");
	memcpy(host_b.key, h.pk[1], sizeof(host_b.key));
	stranger("a host with a key host-b does not list", "host-x", 2);
	stranger("host-a's name with another key", "host-a", 2);
	no_handshake();
	right_key();
	CHECK(hf_wait_live(&h, 1, 0, HF_WAIT_NS) == 0);
	CHECK(hf_migrate(&h, 1, 0) == 0);
	wrong_server(lfd, "host-a dialed, a host with an unlisted key answers", "host-x", 2);
	wrong_server(lfd, "host-a dialed, host-a's name with another key answers", "host-a", 2);
	CHECK(hf_live(hf_state(&h, 1, 0, NULL)));
	CHECK(hf_audit_count(&h, 1, "vnode_arrival_refused", UINT32_MAX, NULL, NULL) == 0);
	CHECK(hf_audit_count(&h, 1, "vnode_emigrated", UINT32_MAX, NULL, NULL) == 0);
	(void)close(lfd);
	hf_finish(&h);
	printf("ok: every wrong key refused before any migration frame\n");
	return 0;
}
