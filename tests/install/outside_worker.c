/* SPDX-License-Identifier: MIT */
/*
 * tests/install/outside_worker.c
 * Goal: a worker written by someone else, built from what `meson install` put down and
 * nothing else (`pkg-config --cflags --libs libpflight`, no source tree, no -D_GNU_SOURCE),
 * can do a worker's whole round: create a domain, join, define and claim a VNode, send
 * and receive a message, commit and load a checkpoint, release, leave, destroy.
 * Method: tests/install/test_install.py compiles this file as C11 and as C++17 against the
 * staged install and runs both; it includes the umbrella header, so a public header that
 * was not installed fails the build, and calls only libpflight, so a symbol it does not
 * export fails the link. Written in the subset of C and C++ both accept.
 * Usage: outside_worker DOMAIN_NAME; prints one line and exits 0 when every step worked.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <pflight/pflight.h>

#if !PF_CHECK_VERSION(0, 1)
#error "the installed pflight/version.h is older than 0.1"
#endif

static int step(const char *what, int r)
{
	if (r < 0)
		fprintf(stderr, "outside_worker: %s: %s\n", what, strerror(-r));
	return r;
}

static int round_trip(struct pf_domain *d, struct pf_member *m)
{
	static const char msg[] = "hello from outside";
	struct pf_vnode *v = NULL;
	char buf[64], state[64];
	size_t len = 0;
	int r;

	if (step("pf_vnode_define", pf_vnode_define(d, 7, NULL)) < 0 ||
	    step("pf_vnode_claim", pf_vnode_claim(m, PF_CLAIM_NOWAIT, 0, &v)) < 0)
		return -1;
	if (pf_vnode_id(v) != 7 || pf_vnode_epoch(v) == 0) {
		fprintf(stderr, "outside_worker: claimed VNode %u at epoch %llu\n", pf_vnode_id(v),
			(unsigned long long)pf_vnode_epoch(v));
		return -1;
	}
	r = step("pf_send", pf_send(d, 7, msg, sizeof(msg)));
	if (r == 0)
		r = step("pf_recv", pf_recv(v, buf, sizeof(buf), &len));
	if (r == 0 && (len != sizeof(msg) || memcmp(buf, msg, len) != 0))
		r = step("pf_recv: the message", -EBADMSG);
	if (r == 0)
		r = step("pf_checkpoint_commit",
			 pf_checkpoint_commit(v, pf_vnode_epoch(v), "count=1", 8));
	if (r == 0)
		r = step("pf_checkpoint_load", pf_checkpoint_load(v, state, sizeof(state), &len));
	if (r == 0 && (len != 8 || memcmp(state, "count=1", 8) != 0))
		r = step("pf_checkpoint_load: the state", -EBADMSG);
	if (step("pf_vnode_release", pf_vnode_release(v)) < 0)
		r = -1;
	return r;
}

int main(int argc, char **argv)
{
	struct pf_domain_opts o;
	struct pf_domain *d = NULL;
	struct pf_member *m = NULL;
	int r;

	if (argc != 2) {
		fprintf(stderr, "usage: outside_worker DOMAIN_NAME\n");
		return 2;
	}
	if (!pf_version_check(PF_VERSION_MAJOR, PF_VERSION_MINOR)) {
		fprintf(stderr, "outside_worker: library %d.%d, headers %d.%d\n",
			pf_version_major(), pf_version_minor(), PF_VERSION_MAJOR, PF_VERSION_MINOR);
		return 1;
	}
	pf_domain_opts_init(&o);
	o.vnodes_max = 16;
	o.members_max = 4;
	if (step("pf_domain_create", pf_domain_create(argv[1], &o, &d)) < 0)
		return 1;
	r = step("pf_member_join", pf_member_join(d, NULL, &m));
	if (r == 0) {
		r = round_trip(d, m);
		if (step("pf_member_leave", pf_member_leave(m)) < 0)
			r = -1;
	}
	if (step("pf_domain_destroy", pf_domain_destroy(d)) < 0)
		r = -1;
	if (r < 0)
		return 1;
	printf("outside_worker: created, joined, claimed, sent, received, committed, loaded, "
	       "left, destroyed (libpflight %d.%d)\n",
	       pf_version_major(), pf_version_minor());
	return 0;
}
