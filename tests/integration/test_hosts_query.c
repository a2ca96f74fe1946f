/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_hosts_query.c
 * Goal: a source's answer to a target's QUERY binds it. A target that holds a prepared
 * arrival whose connection ended asks the source whether it committed; on "no" it undoes
 * the arrival (its VNode stays REMOTE there). So once the source said no, it must never
 * commit that move: if the target's PREPARED still reaches it afterwards (sent before
 * the connection ended, read after the answer), committing would leave the VNode REMOTE
 * on both hosts, served by nobody, for ever. hosts_churn met exactly that ("remote/remote"
 * after a link refused by the sequence-number bug).
 * Method: one real pflightd (host-a) with a fault worker; this process plays host-b, the
 * target (it holds host-b's key; host-a's manifest puts host-b at a port it listens on).
 * host-a is asked to move a VNode; this process answers BEGIN and the rounds, takes
 * FINAL (the packet's epoch), the messages and SEAL; then, before answering PREPARED, it
 * asks host-a on a second connection (QUERY, with the epoch it would arrive at) and must
 * hear "not committed"; then it sends PREPARED on the first connection. host-a must not
 * commit: no COMMIT comes, the VNode stays live on host-a, and its move is audited as
 * failed, not emigrated.
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

static struct hf h;
static struct pf_link_peer host_a;

/* A reply of the target: mig, then one word. */
static void reply(struct fake_host *f, uint32_t type, uint64_t mig, uint32_t word)
{
	CHECK(fp_send_words(f, type, mig, &word, 1) == 0);
}

/* Play the target until SEAL: the move's id and the packet's epoch. */
static void until_seal(struct fake_host *f, uint64_t *ret_mig, uint64_t *ret_epoch)
{
	struct pf_link_frame fr;

	for (;;) {
		CHECK(fake_recv(f, &fr, FAKE_WAIT_NS) == 0 && fr.body_bytes >= 8);
		*ret_mig = fake_get64(fr.body);
		if (fr.type == HF_BEGIN)
			reply(f, HF_ACCEPT, *ret_mig, 0);
		else if (fr.type == HF_ROUND)
			reply(f, HF_ROUND_OK, *ret_mig, fake_get32(fr.body + 8));
		else if (fr.type == HF_FINAL) {
			struct pf_packet_header ph;
			struct pf_packet_rec rec;
			size_t skip = 8 + PF_PACKET_PREAMBLE_BYTES;

			CHECK(fr.body_bytes > skip &&
			      pf_packet_rec_next(fr.body + skip, fr.body_bytes - skip, &rec,
						 NULL) == 0 &&
			      pf_packet_header_decode(&rec, &ph, NULL) == 0);
			*ret_epoch = ph.epoch;
		} else if (fr.type == HF_SEAL)
			return;
	}
}

/* QUERY on a connection of our own: 1 committed, 0 not. */
static int ask(uint32_t v, uint32_t epoch)
{
	uint8_t body[8];
	struct pf_link_frame fr;
	struct fake_host q;
	int committed;

	CHECK(fake_connect(&q, h.port[0], "host-b", h.sk[1], &host_a) == 0);
	fake_put32(body, v);
	fake_put32(body + 4, epoch);
	CHECK(fake_send(&q, HF_QUERY, body, sizeof(body), sizeof(body)) == 0);
	CHECK(fake_expect(&q, HF_ANSWER, &fr, FAKE_WAIT_NS) == 0 && fr.body_bytes == 12);
	CHECK(fake_get32(fr.body) == v && fake_get32(fr.body + 4) == epoch);
	committed = (int)fake_get32(fr.body + 8);
	fake_close(&q);
	return committed;
}

int main(int argc, char **argv)
{
	struct hf_opts o = {
		.vnodes_max = 4, .members_max = 4, .inbox_slots = 64, .state_bytes_max = 65536};
	const char *wa[] = {"--define", "1", "--state-bytes", "65536", NULL};
	uint64_t mig = 0, epoch = 0;
	struct pf_link_frame fr;
	struct fake_host f;
	unsigned port;
	int lfd, committed, r, bad = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: %s <pflightd> <hosts_fault_worker>\n", argv[0]);
		return 2;
	}
	lfd = fake_listen(&port);
	o.peer_port[0] = port; /* host-a dials host-b here: this process */
	hf_init(&h, "hquery", argv[1], argv[2], &o);
	hf_start_daemon(&h, 0);
	(void)hf_start_worker(&h, 0, wa);
	(void)snprintf(host_a.name, sizeof(host_a.name), "host-a");
	memcpy(host_a.key, h.pk[0], sizeof(host_a.key));
	CHECK(hf_wait_live(&h, 0, 0, HF_WAIT_NS) == 0);
	CHECK(hf_migrate(&h, 0, 0) == 0);
	CHECK(fake_accept(&f, lfd, "host-b", h.sk[1], &host_a, FAKE_WAIT_NS) == 0);
	until_seal(&f, &mig, &epoch);
	CHECK(hf_state(&h, 0, 0, NULL) == PF_VNODE_LEAVING);
	committed = ask(0, (uint32_t)epoch + 1);
	printf("host-a, asked before PREPARED, answers: %s\n",
	       committed ? "committed" : "not committed");
	reply(&f, HF_PREPARED, mig, (uint32_t)epoch + 1);
	r = fake_expect(&f, HF_COMMIT, &fr, 1000000000ull);
	if (!committed && r == 0) {
		fprintf(stderr, "host-a said it had not committed, then sent COMMIT\n");
		bad = 1;
	}
	if (!committed && hf_wait_live(&h, 0, 0, 2000000000ull) != 0) {
		fprintf(stderr,
			"VNode 0 is %s on host-a after it said it had not committed: the "
			"target undid its arrival, so nobody has it\n",
			pf_vnode_state_name(hf_state(&h, 0, 0, NULL)));
		bad = 1;
	}
	fake_close(&f);
	(void)close(lfd);
	if (bad)
		return 1;
	CHECK(!committed);
	CHECK(hf_audit_wait(&h, 0, "migrate_host_failed", 0, 1, HF_WAIT_NS) == 0);
	CHECK(hf_audit_count(&h, 0, "vnode_emigrated", 0, NULL, NULL) == 0);
	hf_finish(&h);
	printf("ok: a \"not committed\" answer stays true\n");
	return 0;
}
