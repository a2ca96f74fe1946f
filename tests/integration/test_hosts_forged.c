/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_hosts_forged.c
 * Goal: a target pflightd installs nothing that is not exactly what its authenticated
 * peer signed, and refuses each wrong move whole: a chunk whose bytes were altered after
 * its digest (the link's tag does not cover them), a seal signed by another key, a packet
 * naming another host than the link's (or the link's name with another key), a chunk past
 * the domain's state size, a digest table naming another chunk, an altered message, a
 * header that disagrees with its BEGIN, and frames out of turn (COMMIT before SEAL, SEAL
 * or MSG before FINAL, FINAL twice). Each is answered with REFUSE and audited
 * (vnode_arrival_refused, with its reason), leaves the VNode as it was (UNASSIGNED), and
 * leaves nothing behind: the same VNode then arrives by a right move, whose two messages
 * are applied exactly once. Frames of a move never begun are ignored. A right packet sent
 * again once the VNode lives there is refused.
 * Method: one real pflightd (host-b) with a fault worker; this process is host-a (it holds
 * host-a's key, which host-b lists) speaking the transport's framing over a plain socket,
 * the link (pf_link_*) and the migration frames built by hand (tests/common/fake_packet.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "tests/common/fake_host.h"
#include "tests/common/fake_packet.h"
#include "tests/common/hosts_fixture.h"
#include "tests/common/proc_util.h"
#include "tests/common/test_util.h"
#include "tools/pflightd/hosts_impl.h"

#define CHUNK 4096u
#define STATE_BYTES 10000u /* three chunks, the last short */
#define STATE_MAX 16384u   /* the domain's: four chunks */
#define MSGS 2u
#define SENDER 2u
#define INBOX 8u

static struct hf h;
static struct fake_host f;
static struct pf_link_peer host_b;
static uint8_t state[STATE_MAX + CHUNK];
static struct fault_msg msgs[INBOX + 2];
static uint64_t next_mig = 1000;

/* A state the fault worker accepts: its header, a body, the body's hash. */
static void make_state(uint32_t v)
{
	struct fault_state st = {.magic = FAULT_STATE_MAGIC};

	for (size_t i = sizeof(st); i < sizeof(state); i++)
		state[i] = (uint8_t)(i * 7u + v);
	st.body_hash = XXH3_64bits(state + sizeof(st), STATE_BYTES - sizeof(st));
	memcpy(state, &st, sizeof(st));
	for (uint32_t k = 0; k < INBOX + 2; k++)
		msgs[k] = (struct fault_msg){.vnode = v, .sender = SENDER, .seq = k + 1, .inc = 1};
}

/* The right packet of v from host-a at epoch, carrying n messages. */
static void packet_at(struct fake_packet *p, uint32_t v, uint64_t epoch, uint32_t n)
{
	make_state(v);
	fp_init(p, v, epoch, state, STATE_BYTES, CHUNK, "host-a", h.pk[0]);
	for (uint32_t k = 0; k < n; k++)
		fp_add_msg(p, &msgs[k], sizeof(msgs[k]));
	fp_build(p);
}

static void right_packet(struct fake_packet *p, uint32_t v, uint32_t n)
{
	packet_at(p, v, 1, n);
}

static int begin(struct fake_packet *p, uint64_t mig)
{
	struct pf_link_frame fr;

	CHECK(fp_send_begin(&f, p, mig) == 0);
	CHECK(fake_expect(&f, HF_ACCEPT, &fr, FAKE_WAIT_NS) == 0);
	return 0;
}

static void chunks(struct fake_packet *p, uint64_t mig)
{
	for (uint32_t i = 0; i < p->ph.chunk_count; i++)
		CHECK(fp_send_chunk(&f, p, mig, 1, i, FP_NO_FLIP) == 0);
}

static void msgs_and_seal(struct fake_packet *p, uint64_t mig, const unsigned char *sk)
{
	for (uint32_t i = 0; i < p->ph.message_count; i++)
		CHECK(fp_send_msg(&f, p, mig, i) == 0);
	CHECK(fp_send_seal(&f, p, mig, sk) == 0);
}

static void bad_chunk(struct fake_packet *p, uint64_t mig)
{
	begin(p, mig);
	CHECK(fp_send_chunk(&f, p, mig, 1, 0, FP_NO_FLIP) == 0);
	CHECK(fp_send_chunk(&f, p, mig, 1, 1, 1234) == 0);
	CHECK(fp_send_chunk(&f, p, mig, 1, 2, FP_NO_FLIP) == 0);
	CHECK(fp_send_final(&f, p, mig) == 0); /* the rest, which must change nothing */
	msgs_and_seal(p, mig, h.sk[0]);
}

static void other_signer(struct fake_packet *p, uint64_t mig)
{
	begin(p, mig);
	chunks(p, mig);
	CHECK(fp_send_final(&f, p, mig) == 0);
	msgs_and_seal(p, mig, h.sk[2]);
}

static void resigned(struct fake_packet *p, uint64_t mig, const char *host, int key)
{
	(void)snprintf(p->ph.host, sizeof(p->ph.host), "%s", host);
	memcpy(p->ph.host_key, h.pk[key], sizeof(p->ph.host_key));
	fp_build(p);
	begin(p, mig);
	chunks(p, mig);
	CHECK(fp_send_final(&f, p, mig) == 0);
	msgs_and_seal(p, mig, h.sk[key]); /* a signature good for the key the header names */
}

static void other_host(struct fake_packet *p, uint64_t mig)
{
	resigned(p, mig, "host-x", 2);
}

static void other_key(struct fake_packet *p, uint64_t mig)
{
	resigned(p, mig, "host-a", 2);
}

static void past_state(struct fake_packet *p, uint64_t mig)
{
	struct fake_packet big;

	begin(p, mig);
	fp_init(&big, p->ph.vnode_id, 1, state, STATE_MAX + CHUNK, CHUNK, "host-a", h.pk[0]);
	fp_build(&big);
	CHECK(fp_send_chunk(&f, &big, mig, 1, STATE_MAX / CHUNK, FP_NO_FLIP) == 0);
	fp_fini(&big);
}

static void table_lies(struct fake_packet *p, uint64_t mig)
{
	p->digests[1][0] ^= 1; /* the signed table names another chunk 1 */
	CHECK(pf_packet_digests_encode(&p->ph, (const uint8_t *)p->digests,
				       p->digests[p->ph.chunk_count], p->drec, p->drec_len) == 0);
	begin(p, mig);
	for (uint32_t i = 0; i < p->ph.chunk_count; i++) {
		uint8_t keep[PF_PACKET_DIGEST_BYTES];

		/* Each chunk goes with its true digest, so each passes on arrival. */
		memcpy(keep, p->digests[i], sizeof(keep));
		if (i == 1)
			p->digests[1][0] ^= 1;
		CHECK(fp_send_chunk(&f, p, mig, 1, i, FP_NO_FLIP) == 0);
		memcpy(p->digests[i], keep, sizeof(keep));
	}
	CHECK(fp_send_final(&f, p, mig) == 0);
	msgs_and_seal(p, mig, h.sk[0]);
}

static void altered_msg(struct fake_packet *p, uint64_t mig)
{
	begin(p, mig);
	chunks(p, mig);
	CHECK(fp_send_final(&f, p, mig) == 0);
	msgs[1].inc = 1000; /* after the digest was taken */
	msgs_and_seal(p, mig, h.sk[0]);
	msgs[1].inc = 1;
}

static void header_disagrees(struct fake_packet *p, uint64_t mig)
{
	begin(p, mig);
	chunks(p, mig);
	p->ph.vnode_id++; /* the header names another VNode than BEGIN did */
	fp_build(p);
	CHECK(fp_send_final(&f, p, mig) == 0);
}

static void commit_early(struct fake_packet *p, uint64_t mig)
{
	begin(p, mig);
	chunks(p, mig);
	CHECK(fp_send_final(&f, p, mig) == 0);
	CHECK(fp_send_words(&f, HF_COMMIT, mig, NULL, 0) == 0);
}

static void seal_early(struct fake_packet *p, uint64_t mig)
{
	begin(p, mig);
	chunks(p, mig);
	CHECK(fp_send_seal(&f, p, mig, h.sk[0]) == 0);
}

static void msg_early(struct fake_packet *p, uint64_t mig)
{
	begin(p, mig);
	chunks(p, mig);
	CHECK(fp_send_msg(&f, p, mig, 0) == 0);
}

static void final_twice(struct fake_packet *p, uint64_t mig)
{
	begin(p, mig);
	chunks(p, mig);
	CHECK(fp_send_final(&f, p, mig) == 0);
	CHECK(fp_send_final(&f, p, mig) == 0);
}

static void never_begun(struct fake_packet *p, uint64_t mig)
{
	chunks(p, mig);
	CHECK(fp_send_final(&f, p, mig) == 0);
	msgs_and_seal(p, mig, h.sk[0]);
	CHECK(fp_send_words(&f, HF_COMMIT, mig, NULL, 0) == 0);
}

static void inbox_overflow(struct fake_packet *p, uint64_t mig)
{
	begin(p, mig);
	chunks(p, mig);
	CHECK(fp_send_final(&f, p, mig) == 0);
	msgs_and_seal(p, mig, h.sk[0]);
}

struct fcase {
	const char *what;
	const char *reason; /* of the REFUSE and the audit record; NULL: none expected */
	void (*send)(struct fake_packet *p, uint64_t mig);
	uint32_t msgs; /* the packet's messages */
};

static const struct fcase cases[] = {
	{"a chunk altered after its digest", "a chunk whose bytes do not match its digest",
	 bad_chunk, MSGS},
	{"a seal signed by another key", "the signature does not verify with the peer's key",
	 other_signer, MSGS},
	{"a packet naming another host", "the packet names another host than the link's",
	 other_host, MSGS},
	{"the link's host name with another key", "the packet names another host than the link's",
	 other_key, MSGS},
	{"a chunk past the domain's state", "a chunk past this domain's state", past_state, MSGS},
	{"a digest table naming another chunk",
	 "a chunk missing, or not the one the signed table names", table_lies, MSGS},
	{"a message altered", "messages missing, or not the ones the signed table names",
	 altered_msg, MSGS},
	{"a header that disagrees with BEGIN", "the header disagrees with the move begun",
	 header_disagrees, MSGS},
	{"COMMIT before SEAL", "a frame out of turn", commit_early, MSGS},
	{"SEAL before FINAL", "a malformed seal", seal_early, MSGS},
	{"MSG before FINAL", "a malformed or unexpected message", msg_early, MSGS},
	{"FINAL twice", "a frame out of turn", final_twice, MSGS},
	{"frames of a move never begun", NULL, never_begun, MSGS},
	{"more messages than the inbox holds",
	 "the VNode's inbox here is too small for its messages", inbox_overflow, INBOX + 2},
};
#define CASES (sizeof(cases) / sizeof(cases[0]))

/* The right move of v, committed: its messages applied exactly once there. 0 or -1. */
static int right_move(uint32_t v)
{
	uint64_t deadline = proc_now_ns() + HF_WAIT_NS, mig = next_mig++;
	struct fault_state st = {0};
	struct pf_link_frame fr;
	struct fake_packet p;
	int epoch;

	packet_at(&p, v, 100, MSGS); /* past any epoch an undone arrival left */
	epoch = fp_move(&f, &p, mig, h.sk[0], 1);
	fp_fini(&p);
	if (epoch <= 0)
		return -1;
	CHECK(fp_send_words(&f, HF_COMMIT, mig, NULL, 0) == 0);
	CHECK(fake_expect(&f, HF_DONE, &fr, FAKE_WAIT_NS) == 0);
	CHECK(hf_audit_wait(&h, 1, "vnode_immigrated", v, 1, HF_WAIT_NS) == 0);
	while (proc_now_ns() < deadline &&
	       (hf_read_state(&h, 1, v, &st) != 0 || st.last_seq[SENDER] < MSGS))
		proc_nap();
	test_sleep_ns(20000000);
	CHECK(hf_read_state(&h, 1, v, &st) == 0);
	if (st.applied[SENDER] == MSGS && st.last_seq[SENDER] == MSGS && st.dups == 0 &&
	    st.gaps == 0 && st.malformed == 0)
		return 0;
	fprintf(stderr, "VNode %u: applied %llu, last %llu, dups %llu, gaps %llu of %u\n", v,
		(unsigned long long)st.applied[SENDER], (unsigned long long)st.last_seq[SENDER],
		(unsigned long long)st.dups, (unsigned long long)st.gaps, MSGS);
	return -1;
}

/* The refusal of c, on v: its REFUSE, its audit record, nothing installed. 0 or -1. */
static int refused(const struct fcase *c, uint32_t v, uint64_t mig)
{
	struct pf_link_frame fr;
	int r;

	if (c->reason == NULL) {
		r = fake_recv(&f, &fr, 300000000ull);
		if (r != -ETIMEDOUT) {
			fprintf(stderr, "%s: an answer (%d, type %u) to frames of no move\n",
				c->what, r, r == 0 ? fr.type : 0);
			return -1;
		}
	} else {
		r = fake_expect(&f, HF_REFUSE, &fr, FAKE_WAIT_NS);
		if (r < 0 || fr.body_bytes < 12 || fake_get64(fr.body) != mig ||
		    fr.body_bytes - 12 != strlen(c->reason) ||
		    memcmp(fr.body + 12, c->reason, strlen(c->reason)) != 0) {
			fprintf(stderr, "%s: no REFUSE \"%s\" (%d): \"%.*s\"\n", c->what, c->reason,
				r, r == 0 && fr.body_bytes > 12 ? (int)(fr.body_bytes - 12) : 0,
				r == 0 ? (const char *)fr.body + 12 : "");
			return -1;
		}
		CHECK(hf_audit_wait(&h, 1, "vnode_arrival_refused", v, 1, HF_WAIT_NS) == 0);
		CHECK(hf_audit_count(&h, 1, "vnode_arrival_refused", v, "reason", c->reason) == 1);
	}
	/* UNASSIGNED, or REMOTE (the source's) when it was undone after its arrival began. */
	if ((hf_state(&h, 1, v, NULL) != PF_VNODE_UNASSIGNED &&
	     hf_state(&h, 1, v, NULL) != PF_VNODE_REMOTE) ||
	    hf_audit_count(&h, 1, "vnode_immigrated", v, NULL, NULL) != 0) {
		fprintf(stderr, "%s: VNode %u is %s after the refusal\n", c->what, v,
			pf_vnode_state_name(hf_state(&h, 1, v, NULL)));
		return -1;
	}
	return 0;
}

static int run_case(const struct fcase *c, uint32_t v)
{
	uint64_t mig = next_mig++;
	struct fake_packet p;
	int bad;

	right_packet(&p, v, c->msgs);
	c->send(&p, mig);
	fp_fini(&p);
	bad = refused(c, v, mig);
	if (bad == 0 && right_move(v) != 0) {
		fprintf(stderr, "%s: the right move of VNode %u after it failed\n", c->what, v);
		bad = -1;
	}
	printf("%-40s %s\n", c->what,
	       bad                 ? "FAILED"
	       : c->reason != NULL ? "refused, nothing left behind"
				   : "ignored, nothing left behind");
	return bad;
}

static void start(const char *daemon_path, const char *worker_path)
{
	struct hf_opts o = {.vnodes_max = 32,
			    .members_max = 4,
			    .inbox_slots = INBOX,
			    .state_bytes_max = STATE_MAX};
	char bytes[16];
	const char *wa[] = {"--state-bytes", bytes, NULL};

	(void)snprintf(bytes, sizeof(bytes), "%u", STATE_BYTES);
	hf_init(&h, "hforged", daemon_path, worker_path, &o);
	hf_start_daemon(&h, 1);
	(void)hf_start_worker(&h, 1, wa);
	(void)snprintf(host_b.name, sizeof(host_b.name), "host-b");
	memcpy(host_b.key, h.pk[1], sizeof(host_b.key));
	CHECK(fake_connect(&f, h.port[1], "host-a", h.sk[0], &host_b) == 0);
}

int main(int argc, char **argv)
{
	uint32_t failed = 0, v = 1;
	struct fake_packet p;

	if (argc != 3) {
		fprintf(stderr, "usage: %s <pflightd> <hosts_fault_worker>\n", argv[0]);
		return 2;
	}
	start(argv[1], argv[2]);
	CHECK(right_move(0) == 0); /* the fake host itself is right: its packet arrives */
	right_packet(&p, 0, MSGS);
	CHECK(fp_move(&f, &p, next_mig++, h.sk[0], 0) == -EPROTO); /* it lives here now */
	fp_fini(&p);
	CHECK(hf_audit_wait(&h, 1, "vnode_arrival_refused", UINT32_MAX, 1, HF_WAIT_NS) == 0);
	if (hf_audit_count(&h, 1, "vnode_arrival_refused", 0, NULL, NULL) != 1) {
		fprintf(stderr, "a BEGIN refused (\"the VNode lives on this host\") is audited "
				"without its VNode: subject pflightd, not vnode:0\n");
		failed++;
	}
	for (uint32_t i = 0; i < CASES; i++, v++)
		failed += run_case(&cases[i], v) != 0;
	fake_close(&f);
	if (failed > 0) {
		fprintf(stderr, "%u cases failed\n", failed);
		return 1;
	}
	hf_finish(&h);
	printf("ok: every forged or out-of-turn move refused whole\n");
	return 0;
}
