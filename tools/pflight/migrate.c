/* SPDX-License-Identifier: MIT */
/*
 * tools/pflight/migrate.c: `pflight migrate <vnode> <slot>`, through pflightd.
 *
 * The request goes to the daemon's control socket (pflight/control.h), which checks the
 * target against the placement filters and the can-assign and can-handoff policies,
 * writes the move request and audits it; the VNode's owner then hands it over with its
 * state. The command follows the VNode until the target owns it (or --timeout passes),
 * reading the domain's shared memory.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#define MIGRATE_TIMEOUT_S_DEFAULT 10u
#define MIGRATE_POLL_NS 20000000L /* 20 ms */

struct migrate_args {
	uint32_t vnode;
	uint32_t slot;
	uint32_t timeout_s;
	int wait;
	const char *control;
	const char *to; /* --to HOST: another host, not a member */
};

static int migrate_parse(int argc, char **argv, struct migrate_args *a)
{
	int pos = 0, bad = 0;

	memset(a, 0, sizeof(*a));
	a->timeout_s = MIGRATE_TIMEOUT_S_DEFAULT;
	a->wait = 1;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (strcmp(arg, "--no-wait") == 0) {
			a->wait = 0;
		} else if (strcmp(arg, "--timeout") == 0 && i + 1 < argc) {
			bad |= cli_parse_u32("--timeout", argv[++i], 0, UINT32_MAX, &a->timeout_s) <
			       0;
		} else if (strcmp(arg, "--control") == 0 && i + 1 < argc) {
			a->control = argv[++i];
		} else if (strcmp(arg, "--to") == 0 && i + 1 < argc) {
			a->to = argv[++i];
		} else if (pos < 2 && strncmp(arg, "--", 2) != 0) {
			bad |= cli_parse_u32(pos == 0 ? "<vnode>" : "<slot>", arg, 0, UINT32_MAX,
					     pos == 0 ? &a->vnode : &a->slot) < 0;
			pos++;
		} else {
			return -EINVAL;
		}
	}
	return pos == (a->to != NULL ? 1 : 2) && bad == 0 ? 0 : -EINVAL;
}

/* Wait until the VNode is REMOTE at host (moved), or back here at a later epoch (the move
 * failed and was rolled back): 0, -EAGAIN (rolled back), or -ETIMEDOUT. */
static int host_wait(struct cli *c, const struct migrate_args *a, uint32_t host, uint64_t epoch0,
		     uint64_t *ret_epoch)
{
	struct timespec poll = {0, MIGRATE_POLL_NS};
	uint64_t polls = (uint64_t)a->timeout_s * (1000000000u / MIGRATE_POLL_NS);

	for (uint64_t k = 0; k <= polls; k++) {
		struct pf_vnode_info vi = {.size = sizeof(vi)};

		if (pf_vnode_info(c->d, a->vnode, &vi) == 0) {
			*ret_epoch = vi.epoch;
			if (vi.state == PF_VNODE_REMOTE && vi.host == host && vi.epoch > epoch0)
				return 0;
			if (vi.state != PF_VNODE_LEAVING && vi.state != PF_VNODE_REMOTE &&
			    vi.epoch >= epoch0 + 2)
				return -EAGAIN;
		}
		(void)nanosleep(&poll, NULL);
	}
	return -ETIMEDOUT;
}

/* `migrate <vnode> --to HOST`: through the daemon's host agent. */
static int migrate_host(struct cli *c, const struct migrate_args *a, const char *path, uint32_t uid)
{
	struct pf_vnode_info vi = {.size = sizeof(vi)};
	char req[128], out[PF_CONTROL_REPLY_MAX];
	uint64_t epoch = 0;
	json_t *reply;
	int r;

	(void)pf_vnode_info(c->d, a->vnode, &vi);
	(void)snprintf(req, sizeof(req), "migrate-host %u %s", a->vnode, a->to);
	r = pf_control_request(path, uid, req, out, sizeof(out), 0);
	if (r < 0) {
		fprintf(stderr, "pflight: migrate: pflightd at %s: %s\n", path, strerror(-r));
		return EXIT_FAILED;
	}
	reply = json_loads(out, 0, NULL);
	if (reply == NULL || !json_is_true(json_object_get(reply, "ok"))) {
		fprintf(stderr, "pflight: migrate VNode %u to host %s: %s\n", a->vnode, a->to,
			reply != NULL ? json_string_value(json_object_get(reply, "reason")) : out);
		json_decref(reply);
		return EXIT_FAILED;
	}
	r = a->wait ? host_wait(c, a, (uint32_t)json_integer_value(json_object_get(reply, "host")),
				vi.epoch, &epoch)
		    : 0;
	if (r < 0)
		fprintf(stderr, "pflight: migrate: VNode %u %s\n", a->vnode,
			r == -EAGAIN
				? "stayed here: the move failed (the daemon's log and the audit "
				  "log say why)"
				: "not moved when --timeout passed");
	else if (!c->json)
		printf("VNode %u: %s host %s%s\n", a->vnode,
		       a->wait ? "moved to" : "move requested to", a->to,
		       a->wait ? "" : " (not waited for)");
	json_object_set_new(reply, "done", json_boolean(a->wait && r == 0));
	json_object_set_new(reply, "epoch", json_integer((json_int_t)epoch));
	if (cli_emit(c, reply) != 0)
		return EXIT_FAILED;
	return r < 0 ? EXIT_FAILED : 0;
}

/* Wait until member slot owns the VNode: 0, or -ETIMEDOUT. */
static int migrate_wait(struct cli *c, const struct migrate_args *a, uint64_t *ret_epoch)
{
	struct timespec poll = {0, MIGRATE_POLL_NS};
	uint64_t polls = (uint64_t)a->timeout_s * (1000000000u / MIGRATE_POLL_NS);

	for (uint64_t k = 0; k <= polls; k++) {
		struct pf_vnode_info vi = {.size = sizeof(vi)};

		if (pf_vnode_info(c->d, a->vnode, &vi) == 0 && vi.owner_slot == a->slot &&
		    vi.state == PF_VNODE_ACTIVE) {
			*ret_epoch = vi.epoch;
			return 0;
		}
		(void)nanosleep(&poll, NULL);
	}
	return -ETIMEDOUT;
}

static int control_path(struct cli *c, const struct migrate_args *a, char *buf, size_t cap)
{
	if (a->control != NULL)
		return snprintf(buf, cap, "%s", a->control) < (int)cap ? 0 : -ENAMETOOLONG;
	return pf_control_path(c->domain, 0, buf, cap) < 0 ? -EINVAL : 0;
}

static int migrate_refused(struct cli *c, json_t *reply, const struct migrate_args *a)
{
	const char *err = json_string_value(json_object_get(reply, "error"));
	const char *why = json_string_value(json_object_get(reply, "reason"));

	fprintf(stderr, "pflight: migrate VNode %u to member %u: %s%s%s\n", a->vnode, a->slot,
		err != NULL ? err : "refused", why != NULL ? ": " : "", why != NULL ? why : "");
	json_object_set_new(reply, "vnode", json_integer(a->vnode));
	json_object_set_new(reply, "slot", json_integer(a->slot));
	(void)cli_emit(c, reply);
	return EXIT_FAILED;
}

int cmd_migrate(struct cli *c, int argc, char **argv)
{
	char path[PF_CONTROL_PATH_MAX], req[64], out[PF_CONTROL_REPLY_MAX];
	struct pf_domain_info di = {.size = sizeof(di)};
	struct migrate_args a;
	uint64_t epoch = 0;
	json_t *reply;
	int r;

	if (migrate_parse(argc, argv, &a) < 0)
		return EXIT_USAGE;
	if (control_path(c, &a, path, sizeof(path)) < 0)
		return EXIT_USAGE;
	if (a.to != NULL) {
		r = pf_domain_info(c->d, &di);
		return r < 0 ? EXIT_FAILED : migrate_host(c, &a, path, di.segment_uid);
	}
	(void)snprintf(req, sizeof(req), "migrate %u %u", a.vnode, a.slot);
	/* The daemon runs as root or as the segment's owner (pflight/control.h). */
	r = pf_domain_info(c->d, &di);
	if (r == 0)
		r = pf_control_request(path, di.segment_uid, req, out, sizeof(out), 0);
	if (r < 0) {
		fprintf(stderr, "pflight: migrate: pflightd at %s: %s\n", path, strerror(-r));
		return EXIT_FAILED;
	}
	reply = json_loads(out, 0, NULL);
	if (reply == NULL) {
		fprintf(stderr, "pflight: migrate: unreadable reply: %s\n", out);
		return EXIT_FAILED;
	}
	if (!json_is_true(json_object_get(reply, "ok")))
		return migrate_refused(c, reply, &a);
	if (!c->json)
		printf("VNode %u: move to member %s requested (from member %lld)\n", a.vnode,
		       json_string_value(json_object_get(reply, "to")),
		       (long long)json_integer_value(json_object_get(reply, "from")));
	r = a.wait ? migrate_wait(c, &a, &epoch) : 0;
	if (r < 0)
		fprintf(stderr, "pflight: migrate: VNode %u not on member %u after %u s\n", a.vnode,
			a.slot, a.timeout_s);
	else if (a.wait && !c->json)
		printf("VNode %u: on member %u now (epoch %llu)\n", a.vnode, a.slot,
		       (unsigned long long)epoch);
	json_object_set_new(reply, "done", json_boolean(a.wait && r == 0));
	if (a.wait && r == 0)
		json_object_set_new(reply, "epoch", json_integer((json_int_t)epoch));
	if (cli_emit(c, reply) != 0)
		return EXIT_FAILED;
	return r < 0 ? EXIT_FAILED : 0;
}
