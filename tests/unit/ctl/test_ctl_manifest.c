/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/ctl/test_ctl_manifest.c
 * Goal: the PhoenixFile parser accepts the documented schema and nothing else. The
 * embedded default matches the library's own option defaults; the committed example
 * parses to exactly what it says; each class of error (unknown field at several depths,
 * wrong type, out of range for every numeric kind, malformed durations, sizes and
 * fractions, duplicate keys, wrong apiVersion or kind, YAML syntax, empty input, a list
 * document, a second document, nesting past PF_MANIFEST_DEPTH_MAX even 300,000 levels
 * deep, more anchors than PF_MANIFEST_ANCHORS_MAX) is refused with its errno, line, column and
 * reason, and leaves the output untouched; unit conversions are exact; the schema reports which
 * fields a SIGHUP may reload.
 * Method: parse small manifests from strings (a table of cases) and the example file
 * from the source tree (PF_SOURCE_ROOT, set by meson).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pflight/pflight.h"

#define HDR "apiVersion: pflight/v1\nkind: Domain\n"

static struct pf_manifest m, want;
static struct pf_manifest_error err;

static int parse(const char *text)
{
	memset(&err, 0, sizeof(err));
	return pf_manifest_parse(text, strlen(text), "test.yaml", &m, &err);
}

static void test_manifest_defaults_match_domain_opts(void **state)
{
	struct pf_domain_opts a, b;
	struct pf_rebalance_opts ra, rb;

	(void)state;
	pf_manifest_defaults(&m);
	assert_int_equal(m.size, sizeof(m));
	pf_domain_opts_init(&a);
	assert_int_equal(pf_manifest_domain_opts(&m, &b), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	pf_rebalance_opts_init(&ra);
	assert_int_equal(pf_manifest_rebalance_opts(&m, &rb), 0);
	assert_memory_equal(&ra, &rb, sizeof(ra));
	assert_string_equal(m.metadata.name, "default");
	assert_string_equal(m.transport.listen, "127.0.0.1");
	assert_int_equal(m.governance.group, -1);
	assert_int_equal(m.governance.segment_mode, 0600);
	assert_int_equal(m.cluster.etcd_endpoints_count, 0);
	assert_int_equal(m.governance.can_register.rules_count, 0);
	assert_int_equal(m.api.enabled, 1);
	assert_string_equal(m.api.listen, "127.0.0.1");
	assert_int_equal(m.api.allow_remote, 0);
	assert_int_equal(m.api.port, 7421);
	assert_string_equal(m.api.token_path, "");
	assert_int_equal(m.api.request_bytes_max, 65536);
	assert_int_equal(m.api.rate_per_s, 100);
	assert_int_equal(m.api.client_timeout_ns, UINT64_C(10000000000));
	assert_int_equal(m.api.connections_max, 64);
	assert_int_equal(m.api.sim_time_max_ns, UINT64_C(30000000000));
	assert_int_equal(m.api.sim_segment_max, 64u << 20);
	assert_int_equal(m.api.sim_events_max, 1000000);
}

static void test_manifest_minimal_is_default(void **state)
{
	(void)state;
	pf_manifest_defaults(&want);
	assert_int_equal(parse(HDR), 0);
	assert_memory_equal(&m, &want, sizeof(m));
	assert_int_equal(parse(HDR "metadata: {}\nmembership: {}\n"), 0);
	assert_memory_equal(&m, &want, sizeof(m));
}

static void check_example_rules(const struct pf_manifest_governance *g)
{
	const struct pf_manifest_rule *r = &g->can_register.rules[0];

	assert_int_equal(g->can_register.rules_count, 2);
	assert_int_equal(r->uids_count, 2);
	assert_int_equal(r->uids[1], 1001);
	assert_int_equal(r->gids_count, 1);
	assert_int_equal(r->gids[0], 100);
	assert_string_equal(r->executables[0], "/usr/bin/order-worker");
	assert_int_equal(r->sha256_count, 1);
	assert_string_equal(r->sha256[0],
			    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
	assert_int_equal(r->capabilities_count, 2);
	assert_string_equal(r->capabilities[1], "payments");
	assert_string_equal(r->namespaces[0], "shop");
	assert_int_equal(r->min_trust_ppm, 500000);
	assert_int_equal(r->vnodes_per_member_max, 4096);
	assert_int_equal(g->can_register.rules[1].uids[0], 0);
	assert_int_equal(g->can_register.rules[1].min_trust_ppm, 0);
	assert_int_equal(g->can_assign.rules_count, 1);
	assert_int_equal(g->can_assign.rules[0].min_trust_ppm, 600000);
	assert_string_equal(g->can_handoff.rules[0].capabilities[0], "orders");
}

static void test_manifest_example_parses(void **state)
{
	const char *root = getenv("PF_SOURCE_ROOT");
	char path[512];
	struct pf_domain_opts o;

	(void)state;
	if (root == NULL)
		root = ".";
	(void)snprintf(path, sizeof(path), "%s/tools/pflightd/phoenixfile.example.yaml", root);
	assert_int_equal(pf_manifest_load(path, &m, &err), 0);
	assert_string_equal(m.metadata.name, "orders-eu1");
	assert_string_equal(m.metadata.namespace_name, "shop");
	assert_int_equal(m.membership.members_max, 256);
	assert_int_equal(m.membership.vnodes_max, 65536);
	assert_int_equal(m.membership.capabilities_max, 64);
	assert_int_equal(m.membership.inbox_slots, 128);
	assert_int_equal(m.membership.message_bytes_max, 1024);
	assert_int_equal(m.membership.state_bytes_max, 64u << 20);
	assert_int_equal(m.membership.heartbeat_interval_ns, 20000000);
	assert_int_equal(m.membership.heartbeat_misses, 5);
	assert_int_equal(m.membership.slot_grace_ns, 250000000);
	assert_int_equal(m.membership.drain_timeout_ns, UINT64_C(60000000000));
	assert_int_equal(m.membership.drain_parallel, 8);
	assert_int_equal(m.membership.on_stop, PF_MANIFEST_ON_STOP_DRAIN);
	assert_int_equal(m.scheduling.strategy, PF_SCHED_CONSISTENT_HASH);
	assert_int_equal(m.scheduling.trust_floor_ppm, 250000);
	assert_int_equal(m.scheduling.epsilon_ppm, 100000);
	assert_int_equal(m.scheduling.seed, 42);
	assert_int_equal(m.scheduling.rebalance.moves_max, 32);
	assert_int_equal(m.scheduling.rebalance.moves_ppm, 5000);
	assert_int_equal(m.scheduling.rebalance.cooldown_ns, 1500000000);
	assert_int_equal(m.scheduling.rebalance.min_gain_ppm, 300000);
	check_example_rules(&m.governance);
	assert_string_equal(m.governance.signing_key_path, "/etc/pflight/audit.key");
	assert_int_equal(m.governance.tokens_required, 1);
	assert_string_equal(m.governance.audit_path, "/var/log/pflight/orders-eu1.audit.jsonl");
	assert_int_equal(m.governance.audit_sign_every, 256);
	assert_int_equal(m.governance.audit_fsync, PF_MANIFEST_FSYNC_EVERY);
	assert_int_equal(m.governance.audit_rotate_bytes, UINT64_C(1) << 30);
	assert_int_equal(m.governance.segment_mode, 0660);
	assert_int_equal(m.governance.group, 2000);
	assert_int_equal(m.transport.backend, PF_MANIFEST_BACKEND_IO_URING);
	assert_string_equal(m.transport.listen, "0.0.0.0");
	assert_int_equal(m.transport.port, 7521);
	assert_int_equal(m.transport.zero_copy_threshold_bytes, 32768);
	assert_int_equal(m.cluster.etcd_endpoints_count, 2);
	assert_string_equal(m.cluster.etcd_endpoints[1], "http://10.0.0.2:2379");
	assert_int_equal(m.cluster.lease_ttl_ns, UINT64_C(15000000000));
	assert_int_equal(m.cluster.replicate_checkpoints, 0);
	assert_int_equal(m.api.enabled, 1);
	assert_string_equal(m.api.listen, "::1");
	assert_int_equal(m.api.allow_remote, 0);
	assert_int_equal(m.api.port, 7422);
	assert_string_equal(m.api.token_path, "/etc/pflight/api.token");
	assert_int_equal(m.api.request_bytes_max, 16384);
	assert_int_equal(m.api.rate_per_s, 50);
	assert_int_equal(m.api.client_timeout_ns, UINT64_C(5000000000));
	assert_int_equal(m.api.connections_max, 32);
	assert_int_equal(m.api.sim_time_max_ns, UINT64_C(20000000000));
	assert_int_equal(m.api.sim_segment_max, 32u << 20);
	assert_int_equal(m.api.sim_events_max, 500000);
	assert_int_equal(pf_manifest_domain_opts(&m, &o), 0);
	assert_int_equal(o.members_max, 256);
	assert_int_equal(o.msg_bytes_max, 1024);
	assert_int_equal(o.mode, 0660);
	assert_int_equal(o.gid, 2000);
	assert_int_equal(o.sched_strategy, PF_SCHED_CONSISTENT_HASH);
	assert_int_equal(o.sched_seed, 42);
}

struct error_case {
	const char *text;
	int errno_want;
	int line, column; /* 0: not checked */
	const char *reason;
};

static const struct error_case error_cases[] = {
	{HDR "bogus: 1\n", -EINVAL, 3, 1, "unknown field 'bogus'"},
	{HDR "membership:\n  bogus: 1\n", -EINVAL, 4, 3, "unknown field 'membership.bogus'"},
	{HDR "scheduling:\n  rebalance:\n    bogus: 1\n", -EINVAL, 5, 5,
	 "unknown field 'scheduling.rebalance.bogus'"},
	{HDR
	 "governance:\n  policies:\n    can_assign:\n      - min_trust: 0.5\n        bogus: 1\n",
	 -EINVAL, 7, 9, "unknown field 'governance.policies.can_assign[0].bogus'"},
	{HDR "membership:\n  members_max: [1, 2]\n", -EINVAL, 4, 16,
	 "membership.members_max: expected integer, got a list"},
	{HDR "membership:\n  members_max: lots\n", -EINVAL, 4, 16,
	 "expected an integer, got 'lots'"},
	{HDR "membership: 5\n", -EINVAL, 3, 13, "membership: expected a mapping, got a scalar"},
	{HDR "cluster:\n  etcd_endpoints: http://x\n", -EINVAL, 4, 19, "expected list of strings"},
	{HDR "governance:\n  policies:\n    can_assign: {min_trust: 1}\n", -EINVAL, 5, 17,
	 "expected a list of rules, got a mapping"},
	{HDR "membership:\n  members_max: 5000\n", -EINVAL, 4, 16,
	 "'5000' is out of range (1..4096)"},
	{HDR "membership:\n  members_max: -1\n", -EINVAL, 4, 16, "out of range"},
	{HDR "membership:\n  inbox_slots: 100\n", -EINVAL, 4, 16, "a power of two"},
	{HDR "membership:\n  heartbeat_interval: 2m\n", -EINVAL, 4, 23,
	 "'2m' is out of range (100us..1m)"},
	{HDR "membership:\n  heartbeat_interval: 50us\n", -EINVAL, 4, 23, "out of range"},
	{HDR "membership:\n  state_bytes_max: 1GiB\n", -EINVAL, 4, 20,
	 "'1GiB' is out of range (1B..256MiB)"},
	{HDR "scheduling:\n  trust_floor: 1.5\n", -EINVAL, 4, 16, "'1.5' is out of range (0..1)"},
	{HDR "scheduling:\n  trust_floor: 101%\n", -EINVAL, 4, 16, "out of range"},
	{HDR "scheduling:\n  seed: 18446744073709551616\n", -EINVAL, 4, 9, "out of range"},
	{HDR "governance:\n  segment_mode: \"0400\"\n", -EINVAL, 4, 17, "owner rw required"},
	{HDR "governance:\n  segment_mode: \"0666\"\n", -EINVAL, 4, 17,
	 "'0666' lets every user of the host write the domain (others may not write; give a "
	 "group access with governance.group)"},
	{HDR "governance:\n  segment_mode: \"0602\"\n", -EINVAL, 4, 17, "others may not write"},
	{HDR "governance:\n  group: -2\n", -EINVAL, 4, 10, "'-2' is out of range (-1..2147483647)"},
	{HDR "membership:\n  heartbeat_interval: 5 parsecs\n", -EINVAL, 4, 23,
	 "expected a duration like 50ms, 2s or 1m, got '5 parsecs'"},
	{HDR "membership:\n  heartbeat_interval: 50\n", -EINVAL, 4, 23, "expected a duration"},
	{HDR "membership:\n  slot_grace: 0.5ns\n", -EINVAL, 4, 15, "expected a duration"},
	{HDR "membership:\n  state_bytes_max: 4 KiB\n", -EINVAL, 4, 20, "expected a size"},
	{HDR "membership:\n  state_bytes_max: 4KB\n", -EINVAL, 4, 20, "expected a size"},
	{HDR "membership:\n  state_bytes_max: 1.5B\n", -EINVAL, 4, 20, "expected a size"},
	{HDR "scheduling:\n  trust_floor: 0.25.1\n", -EINVAL, 4, 16, "expected a fraction"},
	{HDR "scheduling:\n  trust_floor: 0.0000001\n", -EINVAL, 4, 16, "expected a fraction"},
	{HDR "scheduling:\n  trust_floor: .5\n", -EINVAL, 4, 16, "expected a fraction"},
	{HDR "governance:\n  segment_mode: \"0999\"\n", -EINVAL, 4, 17, "expected an octal mode"},
	{HDR "governance:\n  credentials:\n    tokens_required: yes\n", -EINVAL, 5, 22,
	 "expected true or false, got 'yes'"},
	{HDR "scheduling:\n  strategy: round-robin\n", -EINVAL, 4, 13,
	 "'round-robin' is not one of: trust-weighted, consistent-hash, bin-packing, agent"},
	{HDR "metadata:\n  name: .hidden\n", -EINVAL, 4, 9, "is not a valid name"},
	{HDR "metadata:\n  name: a/b\n", -EINVAL, 4, 9, "is not a valid name"},
	{HDR "metadata:\n  name: \"\"\n", -EINVAL, 4, 9, "is empty"},
	{HDR "metadata:\n  name: "
	     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
	 -EINVAL, 4, 9, "is too long"},
	{HDR "governance:\n  audit:\n    path: relative.log\n", -EINVAL, 5, 11,
	 "is not an absolute path"},
	{HDR "governance:\n  policies:\n    can_register:\n      - sha256: [abc]\n", -EINVAL, 6, 18,
	 "governance.policies.can_register[0].sha256[0]: 'abc' is not a sha256 digest"},
	{HDR "cluster:\n  etcd_endpoints: [a, b, c, d, e, f, g, h, i]\n", -EINVAL, 4, 44,
	 "more than 8 entries"},
	{HDR "membership:\n  members_max: 4\n  members_max: 8\n", -EINVAL, 5, 3,
	 "duplicate key 'members_max' (first at line 4)"},
	{HDR "api:\n  listen: localhost\n", -EINVAL, 4, 11,
	 "'localhost' is not a numeric IPv4 or IPv6 address"},
	{HDR "api:\n  listen: 127.0.0.1:80\n", -EINVAL, 4, 11, "not a numeric IPv4 or IPv6"},
	{HDR "api:\n  listen: \"\"\n", -EINVAL, 4, 11, "is empty"},
	{HDR "api:\n  listen: 0.0.0.0\n", -EINVAL, 4, 11,
	 "api.listen: '0.0.0.0' is not a loopback address; set api.allow_remote: true"},
	{HDR "api:\n  listen: \"::\"\n  allow_remote: false\n", -EINVAL, 4, 11,
	 "'::' is not a loopback address"},
	{HDR "api:\n  listen: 192.168.1.7\n", -EINVAL, 4, 11, "not a loopback address"},
	{HDR "api:\n  port: 65536\n", -EINVAL, 4, 9, "'65536' is out of range (0..65535)"},
	{HDR "api:\n  rate_per_s: 0\n", -EINVAL, 4, 15, "out of range (1..1000000)"},
	{HDR "api:\n  request_bytes_max: 100B\n", -EINVAL, 4, 22, "out of range (256B..16MiB)"},
	{HDR "api:\n  client_timeout: 500ms\n", -EINVAL, 4, 19, "out of range (1s..1h)"},
	{HDR "api:\n  connections_max: 2000\n", -EINVAL, 4, 20, "out of range (1..1024)"},
	{HDR "api:\n  token_path: api.token\n", -EINVAL, 4, 15, "is not an absolute path"},
	{HDR "api:\n  enabled: 1\n", -EINVAL, 4, 12, "expected true or false"},
	{HDR "api:\n  tls: true\n", -EINVAL, 4, 3, "unknown field 'api.tls'"},
	{HDR "kind: Domain\n", -EINVAL, 3, 1, "duplicate key 'kind' (first at line 2)"},
	{"apiVersion: pflight/v2\nkind: Domain\n", -EINVAL, 1, 13,
	 "apiVersion: 'pflight/v2' is not one of: pflight/v1"},
	{"apiVersion: pflight/v1\nkind: Host\n", -EINVAL, 2, 7,
	 "kind: 'Host' is not one of: Domain"},
	{"kind: Domain\n", -EINVAL, 1, 1, "missing required field 'apiVersion'"},
	{"apiVersion: pflight/v1\nmetadata:\n  name: x\n", -EINVAL, 1, 1,
	 "missing required field 'kind'"},
	{"", -EINVAL, 0, 0, "empty manifest"},
	{"# only a comment\n", -EINVAL, 0, 0, "empty manifest"},
	{"- apiVersion: pflight/v1\n- kind: Domain\n", -EINVAL, 1, 1,
	 "the manifest must be a mapping of sections, got a list"},
	{"pflight/v1\n", -EINVAL, 1, 1, "got a scalar"},
	{HDR "---\n" HDR, -EINVAL, 4, 1, "one YAML document"},
	{HDR "membership:\n  members_max: [1, 2\n", -EBADMSG, 0, 0, "YAML syntax: "},
	{"apiVersion: pflight/v1\nkind: Domain: x\n", -EBADMSG, 2, 13,
	 "YAML syntax: mapping values are not allowed in this context"},
	{HDR "\tmembership: {}\n", -EBADMSG, 3, 1, "YAML syntax"},
};

static void test_manifest_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
		const struct error_case *c = &error_cases[i];
		int r;

		memset(&m, 0xa5, sizeof(m));
		memcpy(&want, &m, sizeof(m));
		r = parse(c->text);
		if (r != c->errno_want || strstr(err.reason, c->reason) == NULL ||
		    (c->line != 0 && (err.line != c->line || err.column != c->column)))
			fail_msg("case %zu: got %d %s:%d:%d: %s", i, r, err.file, err.line,
				 err.column, err.reason);
		assert_string_equal(err.file, "test.yaml");
		assert_memory_equal(&m, &want, sizeof(m)); /* nothing half-applied */
	}
}

struct unit_case {
	const char *yaml;
	size_t offset;
	int width;
	uint64_t want;
};

#define AT(member)                                                                                 \
	offsetof(struct pf_manifest, member), (int)sizeof(((struct pf_manifest *)0)->member)

static const struct unit_case unit_cases[] = {
	{"membership:\n  heartbeat_interval: 100us\n", AT(membership.heartbeat_interval_ns),
	 100000},
	{"membership:\n  heartbeat_interval: 1.5s\n", AT(membership.heartbeat_interval_ns),
	 1500000000},
	{"membership:\n  heartbeat_interval: 1m\n", AT(membership.heartbeat_interval_ns),
	 UINT64_C(60000000000)},
	{"membership:\n  slot_grace: 0\n", AT(membership.slot_grace_ns), 0},
	{"membership:\n  slot_grace: 2500000ns\n", AT(membership.slot_grace_ns), 2500000},
	{"membership:\n  drain_timeout: 0.25h\n", AT(membership.drain_timeout_ns),
	 UINT64_C(900000000000)},
	{"membership:\n  state_bytes_max: 4KiB\n", AT(membership.state_bytes_max), 4096},
	{"membership:\n  state_bytes_max: 64MiB\n", AT(membership.state_bytes_max), 64u << 20},
	{"membership:\n  state_bytes_max: 3000\n", AT(membership.state_bytes_max), 3000},
	{"membership:\n  state_bytes_max: 2kB\n", AT(membership.state_bytes_max), 2000},
	{"membership:\n  message_bytes_max: 1.5KiB\n", AT(membership.message_bytes_max), 1536},
	{"governance:\n  audit:\n    rotate_size: 1TiB\n", AT(governance.audit_rotate_bytes),
	 UINT64_C(1) << 40},
	{"governance:\n  audit:\n    retain_size: 10GiB\n", AT(governance.audit_retain_bytes),
	 UINT64_C(10) << 30},
	{"governance:\n  audit:\n    retain_size: 0\n", AT(governance.audit_retain_bytes), 0},
	{"governance:\n  audit:\n    retain_age: 720h\n", AT(governance.audit_retain_age_ns),
	 UINT64_C(720) * 3600 * 1000000000},
	{"scheduling:\n  trust_floor: 0.25\n", AT(scheduling.trust_floor_ppm), 250000},
	{"scheduling:\n  trust_floor: 25%\n", AT(scheduling.trust_floor_ppm), 250000},
	{"scheduling:\n  trust_floor: 0.000001\n", AT(scheduling.trust_floor_ppm), 1},
	{"scheduling:\n  trust_floor: 1\n", AT(scheduling.trust_floor_ppm), 1000000},
	{"scheduling:\n  trust_floor: 12.5%\n", AT(scheduling.trust_floor_ppm), 125000},
	{"scheduling:\n  epsilon: 10\n", AT(scheduling.epsilon_ppm), 10000000},
	{"scheduling:\n  seed: 18446744073709551615\n", AT(scheduling.seed), UINT64_MAX},
	{"governance:\n  segment_mode: \"660\"\n", AT(governance.segment_mode), 0660},
	{"governance:\n  segment_mode: 0640\n", AT(governance.segment_mode), 0640},
	{"governance:\n  credentials:\n    tokens_required: true\n", AT(governance.tokens_required),
	 1},
	{"transport:\n  backend: dpdk\n", AT(transport.backend), PF_MANIFEST_BACKEND_DPDK},
	{"scheduling:\n  strategy: agent\n", AT(scheduling.strategy), PF_SCHED_AGENT},
	{"api:\n  enabled: false\n", AT(api.enabled), 0},
	{"api:\n  port: 0\n", AT(api.port), 0},
	{"api:\n  request_bytes_max: 1MiB\n", AT(api.request_bytes_max), 1u << 20},
	{"api:\n  client_timeout: 2m\n", AT(api.client_timeout_ns), UINT64_C(120000000000)},
	{"api:\n  listen: 0.0.0.0\n  allow_remote: true\n", AT(api.allow_remote), 1},
	{"api:\n  allow_remote: true\n  listen: 0.0.0.0\n", AT(api.allow_remote), 1},
	{"api:\n  listen: 127.1.2.3\n", AT(api.port), 7421},
	{"api:\n  listen: \"::ffff:127.0.0.1\"\n", AT(api.port), 7421},
};

static void test_manifest_unit_conversions(void **state)
{
	char text[256];

	(void)state;
	for (size_t i = 0; i < sizeof(unit_cases) / sizeof(unit_cases[0]); i++) {
		const struct unit_case *c = &unit_cases[i];
		uint64_t got = 0;

		(void)snprintf(text, sizeof(text), HDR "%s", c->yaml);
		if (parse(text) != 0)
			fail_msg("case %zu: %s:%d:%d: %s", i, err.file, err.line, err.column,
				 err.reason);
		if (c->width == 4) {
			uint32_t v;

			memcpy(&v, (const char *)&m + c->offset, sizeof(v));
			got = v;
		} else {
			memcpy(&got, (const char *)&m + c->offset, sizeof(got));
		}
		if (got != c->want)
			fail_msg("case %zu: got %llu, want %llu", i, (unsigned long long)got,
				 (unsigned long long)c->want);
	}
}

static void test_manifest_schema_reloadable(void **state)
{
	struct pf_manifest_field f = {.size = sizeof(f)};
	uint32_t n = 0, reloadable = 0, required = 0;
	int strategy = -1, members = -1, rule_uids = -1;

	(void)state;
	for (uint32_t i = 0; pf_manifest_schema(i, &f) == 0; i++, n++) {
		assert_non_null(f.path);
		assert_non_null(f.doc);
		assert_non_null(f.default_text);
		reloadable += f.reloadable;
		required += f.required;
		if (strcmp(f.path, "scheduling.strategy") == 0)
			strategy = (int)f.reloadable;
		if (strcmp(f.path, "membership.members_max") == 0) {
			members = (int)f.reloadable;
			assert_string_equal(f.range, "1..4096");
			assert_string_equal(f.default_text, "64");
			assert_string_equal(f.type_name, "integer");
		}
		if (strcmp(f.path, "governance.policies.<action>[].uids") == 0)
			rule_uids = (int)f.reloadable;
	}
	assert_int_equal(pf_manifest_schema(n, &f), -ENOENT);
	f.size = 4;
	assert_int_equal(pf_manifest_schema(0, &f), -EINVAL);
	assert_true(n > 40);
	assert_int_equal(required, 2);
	assert_int_equal(strategy, 1);
	assert_int_equal(members, 0);
	assert_int_equal(rule_uids, 1);
	assert_true(reloadable > 10 && reloadable < n);
}

static void test_manifest_reload_check(void **state)
{
	struct pf_manifest next;

	(void)state;
	pf_manifest_defaults(&m);
	memcpy(&next, &m, sizeof(m));
	assert_int_equal(pf_manifest_reload_check(&m, &next, &err), 0);
	next.scheduling.strategy = PF_SCHED_AGENT;
	next.governance.can_assign.rules_count = 1;
	next.membership.drain_timeout_ns = 1;
	assert_int_equal(pf_manifest_reload_check(&m, &next, &err), 0);
	next.membership.members_max = 8;
	assert_int_equal(pf_manifest_reload_check(&m, &next, &err), -EBUSY);
	assert_non_null(strstr(err.reason, "membership.members_max"));
	next.membership.members_max = m.membership.members_max;
	next.api.port = 8000; /* the API's socket is bound once: a restart changes it */
	assert_int_equal(pf_manifest_reload_check(&m, &next, &err), -EBUSY);
	assert_non_null(strstr(err.reason, "api.port"));
	assert_int_equal(pf_manifest_reload_check(&m, NULL, &err), -EINVAL);
}

static void test_manifest_load_errors(void **state)
{
	(void)state;
	assert_int_equal(pf_manifest_load("/nonexistent/phoenixfile.yaml", &m, &err), -ENOENT);
	assert_string_equal(err.file, "/nonexistent/phoenixfile.yaml");
	assert_non_null(strstr(err.reason, "cannot open"));
	assert_int_equal(pf_manifest_load("/", &m, &err), -EISDIR);
	assert_int_equal(pf_manifest_load(NULL, &m, &err), -EINVAL);
	assert_int_equal(pf_manifest_parse("x", 1, NULL, NULL, &err), -EINVAL);
	assert_int_equal(pf_manifest_parse(HDR, strlen(HDR), NULL, &m, NULL), 0);
	assert_int_equal(pf_manifest_parse("- 1", 3, NULL, &m, NULL), -EINVAL);
	assert_int_equal(pf_manifest_parse("a: [", 4, NULL, &m, &err), -EBADMSG);
	assert_string_equal(err.file, "<manifest>");
}

/* HDR, "metadata:", then n nested collections on one line (after a space for flow style,
 * indented on the next line for block style "- - - x"), each opened by `open` and closed
 * by `close` (closers may be ""), then a newline; the caller frees it. */
static char *nested(size_t n, const char *open, const char *close, size_t *ret_len)
{
	size_t ol = strlen(open), cl = strlen(close), cap = strlen(HDR) + 16 + n * (ol + cl) + 4;
	char *text = malloc(cap);
	size_t len;

	assert_non_null(text);
	len = (size_t)snprintf(text, cap, "%smetadata:%s", HDR, open[0] == '-' ? "\n  " : " ");
	for (size_t i = 0; i < n; i++, len += ol)
		memcpy(text + len, open, ol);
	memcpy(text + len, "x", 1);
	len++;
	for (size_t i = 0; i < n; i++, len += cl)
		memcpy(text + len, close, cl);
	text[len++] = '\n';
	text[len] = '\0';
	*ret_len = len;
	return text;
}

static int parse_nested(size_t n, const char *open, const char *close)
{
	size_t len;
	char *text = nested(n, open, close, &len);
	int r;

	memset(&err, 0, sizeof(err));
	memset(&m, 0xa5, sizeof(m));
	memcpy(&want, &m, sizeof(m));
	assert_true(len <= PF_MANIFEST_BYTES_MAX);
	r = pf_manifest_parse(text, len, "deep.yaml", &m, &err);
	free(text);
	assert_memory_equal(&m, &want, sizeof(m)); /* nothing applied */
	return r;
}

/* A document nested 300,000 levels deep (under 1 MiB) is refused for its depth, at the
 * line and column where it passes PF_MANIFEST_DEPTH_MAX: libyaml's loader would take
 * time quadratic in the depth before the schema is ever looked at. Flow and block style;
 * and at the limit itself the document is refused for its schema, not its depth. */
static void test_manifest_depth_limit(void **state)
{
	/* metadata's value starts at column 11 of line 3 at depth 2 (the root mapping is 1),
	 * so the collection at depth PF_MANIFEST_DEPTH_MAX + 1 opens at column
	 * 11 + (PF_MANIFEST_DEPTH_MAX - 1) times the width of an opener. */
	_Static_assert(PF_MANIFEST_DEPTH_MAX == 64, "the columns below are counted for 64");

	(void)state;
	assert_int_equal(parse_nested(300000, "[", "]"), -EINVAL);
	assert_non_null(strstr(err.reason, "nested deeper than 64 levels"));
	assert_string_equal(err.file, "deep.yaml");
	assert_int_equal(err.line, 3);
	assert_int_equal(err.column, 11 + 63);
	assert_int_equal(parse_nested(300000, "[", ""), -EINVAL); /* never closed */
	assert_non_null(strstr(err.reason, "nested deeper than 64 levels"));
	assert_int_equal(parse_nested(300000, "- ", ""), -EINVAL); /* block: "- - - x" */
	assert_non_null(strstr(err.reason, "nested deeper than 64 levels"));
	assert_int_equal(err.line, 4);
	assert_int_equal(err.column, 3 + 2 * 63);
	assert_int_equal(parse_nested(200000, "{a: ", "}"), -EINVAL);
	assert_non_null(strstr(err.reason, "nested deeper than 64 levels"));
	assert_int_equal(err.column, 11 + 4 * 63);
	/* One level fewer: the depth passes, the schema does not (metadata takes a mapping
	 * of names, not a list). */
	assert_int_equal(parse_nested(63, "[", "]"), -EINVAL);
	assert_null(strstr(err.reason, "nested deeper"));
	assert_int_equal(parse_nested(64, "[", "]"), -EINVAL);
	assert_non_null(strstr(err.reason, "nested deeper than 64 levels"));
}

/* HDR, then metadata as a flow list of n anchored scalars ("&a0 x, &a1 x, ..."). */
static int parse_anchors(size_t n)
{
	size_t cap = strlen(HDR) + 32 + n * 16, len;
	char *text = malloc(cap);
	int r;

	assert_non_null(text);
	len = (size_t)snprintf(text, cap, "%smetadata: [", HDR);
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(text + len, cap - len, "&a%zx x, ", i);
	len += (size_t)snprintf(text + len, cap - len, "]\n");
	assert_true(len <= PF_MANIFEST_BYTES_MAX);
	memset(&err, 0, sizeof(err));
	r = pf_manifest_parse(text, len, "anchors.yaml", &m, &err);
	free(text);
	return r;
}

/* More anchors than PF_MANIFEST_ANCHORS_MAX are refused before the document is loaded:
 * libyaml's loader compares each new anchor with every earlier one, so 100,000 of them
 * (under 1 MiB) cost time quadratic in their number. Refused at the first one too many;
 * up to the limit, the schema decides. */
static void test_manifest_anchor_limit(void **state)
{
	_Static_assert(PF_MANIFEST_ANCHORS_MAX == 256, "the column below is counted for 256");

	(void)state;
	assert_int_equal(parse_anchors(100000), -EINVAL);
	assert_non_null(strstr(err.reason, "more than 256 anchors"));
	assert_int_equal(err.line, 3);
	/* "&a0 x, " .. "&aff x, ": 16 of 7 bytes and 240 of 8 before the 257th. */
	assert_int_equal(err.column, 12 + 16 * 7 + 240 * 8);
	assert_int_equal(parse_anchors(256), -EINVAL);
	assert_null(strstr(err.reason, "anchors"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_manifest_defaults_match_domain_opts),
		cmocka_unit_test(test_manifest_minimal_is_default),
		cmocka_unit_test(test_manifest_example_parses),
		cmocka_unit_test(test_manifest_errors),
		cmocka_unit_test(test_manifest_unit_conversions),
		cmocka_unit_test(test_manifest_schema_reloadable),
		cmocka_unit_test(test_manifest_reload_check),
		cmocka_unit_test(test_manifest_load_errors),
		cmocka_unit_test(test_manifest_depth_limit),
		cmocka_unit_test(test_manifest_anchor_limit),
	};

	return cmocka_run_group_tests_name("ctl_manifest", tests, NULL, NULL);
}
