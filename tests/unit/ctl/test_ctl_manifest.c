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
 * fields a SIGHUP may reload. The transport's host identity and peers round-trip field by
 * field (keys decoded from either case); each way to get a peer wrong (missing, malformed or
 * out-of-range field, a name or key listed twice, a peer named as this host, one peer past
 * PF_MANIFEST_PEERS_MAX) is refused at the entry's own line and column, naming it.
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
/* Ed25519 public keys of RFC 8032's test vectors 1 and 2, and others of the right form. */
#define KEY_A "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
#define KEY_A_UPPER "D75A980182B10AB7D54BFED3C964073A0EE172F3DAA62325AF021A68F707511A"
#define KEY_63 "75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
#define KEY_B "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"
#define KEY_0 "0000000000000000000000000000000000000000000000000000000000000000"
#define HOST63 "hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh"
#define HOST64 "h" HOST63
#define PEERS "transport:\n  peers:\n"
#define PEER_B "    - {name: b, address: 10.0.0.2, key: " KEY_B "}\n"
#define PEER_HOST_B "    - {name: host-b, address: 10.0.0.2, key: " KEY_A "}\n"

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
	assert_string_equal(m.transport.name, "");
	assert_string_equal(m.transport.key_path, "");
	assert_int_equal(m.transport.peers_count, 0);
	assert_int_equal(m.governance.group, -1);
	assert_int_equal(m.governance.segment_mode, 0600);
	assert_int_equal(m.cluster.etcd_endpoints_count, 0);
	assert_string_equal(m.cluster.name, "default");
	assert_int_equal(m.cluster.lease_ttl_ns, UINT64_C(10000000000));
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
	assert_int_equal(parse(HDR "transport: {}\n"), 0);
	assert_memory_equal(&m, &want, sizeof(m));
	assert_int_equal(parse(HDR "transport:\n  peers: []\n"), 0);
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

/* The 32 bytes of a key written as 64 hex digits. */
static void key_bytes(const char *hex, uint8_t ret_key[PF_MANIFEST_KEY_BYTES])
{
	for (size_t i = 0; i < PF_MANIFEST_KEY_BYTES; i++) {
		unsigned int byte;

		assert_int_equal(sscanf(hex + 2 * i, "%2x", &byte), 1);
		ret_key[i] = (uint8_t)byte;
	}
}

static void assert_peer(const struct pf_manifest_peer *p, const char *name, const char *address,
			uint32_t port, const char *key_hex)
{
	uint8_t key[PF_MANIFEST_KEY_BYTES];

	key_bytes(key_hex, key);
	assert_string_equal(p->name, name);
	assert_string_equal(p->address, address);
	assert_int_equal(p->port, port);
	assert_memory_equal(p->key, key, sizeof(key));
}

static void check_example_transport(const struct pf_manifest_transport *t)
{
	assert_int_equal(t->backend, PF_MANIFEST_BACKEND_IO_URING);
	assert_string_equal(t->listen, "0.0.0.0");
	assert_int_equal(t->port, 7521);
	assert_int_equal(t->zero_copy_threshold_bytes, 32768);
	assert_int_equal(t->sqpoll_cpu, -1);
	assert_string_equal(t->name, "eu1-a");
	assert_string_equal(t->key_path, "/etc/pflight/host.key");
	assert_int_equal(t->peers_count, 2);
	assert_peer(&t->peers[0], "eu1-b", "10.0.0.12", 7521, KEY_A);
	assert_peer(&t->peers[1], "eu1-c", "fd00::13", 7420, KEY_B);
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
	check_example_transport(&m.transport);
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

/* Every field of the transport section, each away from its default, and back out. A peer
 * takes the host-name rule of a Flight Packet (a leading '.' too), any numeric address,
 * its key in either case, and the default port when it has none. */
static const char transport_full[] =
	HDR "transport:\n"
	    "  backend: dpdk\n"
	    "  listen: 10.1.0.1\n"
	    "  port: 7500\n"
	    "  zero_copy_threshold: 0\n"
	    "  sqpoll_cpu: 3\n"
	    "  name: host-a.eu_1\n"
	    "  key: /var/lib/pflight/eu1.host.key\n"
	    "  peers:\n"
	    "    - name: host-b\n"
	    "      address: 10.1.0.2\n"
	    "      port: 1\n"
	    "      key: " KEY_A_UPPER "\n"
	    "    - {name: .c, address: \"fe80::1\", key: " KEY_B "}\n"
	    "    - {name: " HOST63 ", address: \"::ffff:10.1.0.4\", port: 65535, key: " KEY_0 "}\n";

static void test_manifest_transport_round_trip(void **state)
{
	const struct pf_manifest_transport *t = &m.transport;

	(void)state;
	if (parse(transport_full) != 0)
		fail_msg("%s:%d:%d: %s", err.file, err.line, err.column, err.reason);
	assert_int_equal(t->backend, PF_MANIFEST_BACKEND_DPDK);
	assert_string_equal(t->listen, "10.1.0.1");
	assert_int_equal(t->port, 7500);
	assert_int_equal(t->zero_copy_threshold_bytes, 0);
	assert_int_equal(t->sqpoll_cpu, 3);
	assert_string_equal(t->name, "host-a.eu_1");
	assert_string_equal(t->key_path, "/var/lib/pflight/eu1.host.key");
	assert_int_equal(t->peers_count, 3);
	assert_peer(&t->peers[0], "host-b", "10.1.0.2", 1, KEY_A);
	assert_peer(&t->peers[1], ".c", "fe80::1", 7420, KEY_B);
	assert_peer(&t->peers[2], HOST63, "::ffff:10.1.0.4", 65535, KEY_0);
	for (uint32_t i = t->peers_count; i < PF_MANIFEST_PEERS_MAX; i++)
		assert_int_equal(t->peers[i].name[0], 0); /* no entry past the count */
}

/* HDR, then transport.peers with n entries h0, h1, ..., each its own address and key. */
static int parse_peers(uint32_t n)
{
	size_t cap = strlen(HDR) + 32 + (size_t)n * 128, len;
	char *text = malloc(cap);
	int r;

	assert_non_null(text);
	len = (size_t)snprintf(text, cap, "%s%s", HDR, PEERS);
	for (uint32_t i = 0; i < n; i++)
		len += (size_t)snprintf(text + len, cap - len,
					"    - {name: h%u, address: 10.0.%u.%u, key: %064x}\n", i,
					i / 256, i % 256, i + 1);
	assert_true(len < cap);
	memset(&err, 0, sizeof(err));
	r = pf_manifest_parse(text, len, "peers.yaml", &m, &err);
	free(text);
	return r;
}

/* PF_MANIFEST_PEERS_MAX peers are accepted, in order; one more is refused at the entry
 * past the limit. */
static void test_manifest_peers_max(void **state)
{
	char key[65];

	_Static_assert(PF_MANIFEST_PEERS_MAX == 64, "the line below is counted for 64");
	(void)state;
	assert_int_equal(parse_peers(PF_MANIFEST_PEERS_MAX), 0);
	assert_int_equal(m.transport.peers_count, PF_MANIFEST_PEERS_MAX);
	for (uint32_t i = 0; i < PF_MANIFEST_PEERS_MAX; i += 63) {
		char name[8], address[16];

		(void)snprintf(name, sizeof(name), "h%u", i);
		(void)snprintf(address, sizeof(address), "10.0.0.%u", i);
		(void)snprintf(key, sizeof(key), "%064x", i + 1);
		assert_peer(&m.transport.peers[i], name, address, 7420, key);
	}
	assert_int_equal(parse_peers(PF_MANIFEST_PEERS_MAX + 1), -EINVAL);
	assert_string_equal(err.reason, "transport.peers: more than 64 peers");
	assert_int_equal(err.line, 5 + 64); /* HDR, transport, peers, then h0 on line 5 */
	assert_int_equal(err.column, 7);
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
	{HDR "cluster:\n  lease_ttl: 1s\n", -EINVAL, 4, 14, "'1s' is out of range (2s..1h)"},
	{HDR "cluster:\n  name: .hidden\n", -EINVAL, 4, 9, "name"},
	{HDR "cluster:\n  etcd_endpoints: [etcd.example:2379]\n", -EINVAL, 4, 20,
	 "cluster.etcd_endpoints[0]: 'etcd.example:2379' is not an http:// or https:// URL"},
	{HDR "membership:\n  state_bytes_max: 2GiB\n", -EINVAL, 4, 20,
	 "'2GiB' is out of range (1B..1GiB)"},
	{HDR "scheduling:\n  trust_floor: 1.5\n", -EINVAL, 4, 16, "'1.5' is out of range (0..1)"},
	{HDR "scheduling:\n  trust_floor: 101%\n", -EINVAL, 4, 16, "out of range"},
	{HDR "scheduling:\n  seed: 18446744073709551616\n", -EINVAL, 4, 9, "out of range"},
	{HDR "governance:\n  segment_mode: \"0400\"\n", -EINVAL, 4, 17, "owner rw required"},
	{HDR "governance:\n  segment_mode: \"0666\"\n", -EINVAL, 4, 17,
	 "'0666' lets every user of the host write the domain (others may not write; give a "
	 "group access with governance.group)"},
	{HDR "governance:\n  segment_mode: \"0602\"\n", -EINVAL, 4, 17, "others may not write"},
	{HDR "governance:\n  group: -2\n", -EINVAL, 4, 10, "'-2' is out of range (-1..2147483647)"},
	{HDR "transport:\n  sqpoll_cpu: -2\n", -EINVAL, 4, 15, "'-2' is out of range (-1..4095)"},
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
	{HDR "transport:\n  name: \"a b\"\n", -EINVAL, 4, 9,
	 "transport.name: 'a b' is not a valid host name (empty or 1..63 bytes of [A-Za-z0-9._-])"},
	{HDR "transport:\n  name: host_a/b\n", -EINVAL, 4, 9, "is not a valid host name"},
	{HDR "transport:\n  name: " HOST64 "\n", -EINVAL, 4, 9,
	 "transport.name: 'hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh' is "
	 "too long"},
	{HDR "transport:\n  key: host.key\n", -EINVAL, 4, 8,
	 "transport.key: 'host.key' is not an absolute path"},
	{HDR "transport:\n  peers: {name: b}\n", -EINVAL, 4, 10,
	 "transport.peers: expected a list of peers, got a mapping"},
	{HDR "transport:\n  peers: [host-b]\n", -EINVAL, 4, 11,
	 "transport.peers[0]: expected a mapping, got a scalar"},
	{HDR PEERS "    - {address: 10.0.0.2, key: " KEY_A "}\n", -EINVAL, 5, 7,
	 "transport.peers[0]: missing required field 'name'"},
	{HDR PEERS PEER_B "    - name: c\n      key: " KEY_A "\n", -EINVAL, 6, 7,
	 "transport.peers[1]: missing required field 'address'"},
	{HDR PEERS "    - {name: b, address: 10.0.0.2}\n", -EINVAL, 5, 7,
	 "transport.peers[0]: missing required field 'key'"},
	{HDR PEERS "    - {name: b/c, address: 10.0.0.2, key: " KEY_A "}\n", -EINVAL, 5, 14,
	 "transport.peers[0].name: 'b/c' is not a valid host name (1..63 bytes of [A-Za-z0-9._-])"},
	{HDR PEERS "    - {name: \"\", address: 10.0.0.2, key: " KEY_A "}\n", -EINVAL, 5, 14,
	 "transport.peers[0].name: '' is empty"},
	{HDR PEERS "    - {name: b, address: host-b.example, key: " KEY_A "}\n", -EINVAL, 5, 26,
	 "transport.peers[0].address: 'host-b.example' is not a numeric IPv4 or IPv6 address"},
	{HDR PEERS "    - {name: b, address: \"10.0.0.2:7420\", key: " KEY_A "}\n", -EINVAL, 5, 26,
	 "is not a numeric IPv4 or IPv6 address"},
	{HDR PEERS "    - {name: b, address: 10.0.0.2, port: 0, key: " KEY_A "}\n", -EINVAL, 5, 42,
	 "transport.peers[0].port: '0' is out of range (1..65535)"},
	{HDR PEERS "    - {name: b, address: 10.0.0.2, port: 65536, key: " KEY_A "}\n", -EINVAL, 5,
	 42, "'65536' is out of range (1..65535)"},
	{HDR PEERS "    - {name: b, address: 10.0.0.2, key: abc}\n", -EINVAL, 5, 41,
	 "transport.peers[0].key: 'abc' is not an Ed25519 public key (64 hex digits)"},
	{HDR PEERS "    - {name: b, address: 10.0.0.2, key: g" KEY_63 "}\n", -EINVAL, 5, 41,
	 "is not an Ed25519 public key"},
	{HDR PEERS "    - {name: b, address: 10.0.0.2, key: " KEY_A "0}\n", -EINVAL, 5, 41,
	 "is too long"},
	{HDR PEERS "    - {name: b, address: 10.0.0.2, key: " KEY_A ", zone: eu}\n", -EINVAL, 5,
	 107, "unknown field 'transport.peers[0].zone'"},
	{HDR PEERS "    - {name: b, name: c, address: 10.0.0.2, key: " KEY_A "}\n", -EINVAL, 5, 17,
	 "duplicate key 'name' (first at line 5)"},
	{HDR PEERS "    - {name: host-b, address: 10.0.0.2, key: " KEY_A "}\n"
		   "    - {name: host-c, address: 10.0.0.3, key: " KEY_B "}\n"
		   "    - {name: host-b, address: 10.0.0.4, key: " KEY_0 "}\n",
	 -EINVAL, 7, 14,
	 "transport.peers[2].name: 'host-b' is listed twice (first at transport.peers[0])"},
	{HDR PEERS "    - {name: b, address: 10.0.0.2, key: " KEY_A "}\n"
		   "    - {name: c, address: 10.0.0.3, key: " KEY_A_UPPER "}\n",
	 -EINVAL, 6, 41,
	 "transport.peers[1].key: "
	 "'D75A980182B10AB7D54BFED3C964073A0EE172F3DAA62325AF021A68F707511A' is listed twice "
	 "(first at transport.peers[0])"},
	{HDR "transport:\n  name: host-a\n  peers:\n" PEER_HOST_B
	     "    - {name: host-a, address: 10.0.0.3, key: " KEY_B "}\n",
	 -EINVAL, 7, 14,
	 "transport.peers[1].name: 'host-a' is this host's own name (transport.name)"},
	{HDR PEERS "    - name: host-a\n      address: \"::1\"\n      key: " KEY_A
		   "\n  name: host-a\n",
	 -EINVAL, 5, 13, "transport.peers[0].name: 'host-a' is this host's own name"},
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

/* What the schema says of the transport fields: a bit of *seen per entry checked. */
static void check_schema_transport(const struct pf_manifest_field *f, uint32_t *seen)
{
	if (strcmp(f->path, "transport.name") == 0) {
		*seen |= 1u;
		assert_int_equal(f->reloadable, 0);
		assert_string_equal(f->range, "empty or 1..63 bytes of [A-Za-z0-9._-]");
	} else if (strcmp(f->path, "transport.peers") == 0) {
		*seen |= 2u;
		assert_int_equal(f->type, PF_MANIFEST_OBJECT_LIST);
		assert_int_equal(f->reloadable, 0);
		assert_string_equal(f->type_name, "list of peers");
		assert_string_equal(f->range, "up to 64 peers");
		assert_string_equal(f->default_text, "[]");
	} else if (strcmp(f->path, "transport.peers[]") == 0) {
		*seen |= 4u; /* the entries' section comes before their fields */
		assert_int_equal(f->type, PF_MANIFEST_SECTION);
		assert_int_equal(*seen & 8u, 0);
	} else if (strcmp(f->path, "transport.peers[].name") == 0) {
		*seen |= 8u;
		assert_int_equal(f->required, 1);
		assert_int_equal(f->reloadable, 0);
		assert_string_equal(f->default_text, "");
	} else if (strcmp(f->path, "transport.peers[].key") == 0) {
		*seen |= 16u;
		assert_int_equal(f->required, 1);
		assert_string_equal(f->range, "64 hex digits");
	} else if (strcmp(f->path, "transport.peers[].port") == 0) {
		*seen |= 32u;
		assert_int_equal(f->required, 0);
		assert_string_equal(f->default_text, "7420");
		assert_string_equal(f->range, "1..65535");
	}
}

static void test_manifest_schema_reloadable(void **state)
{
	struct pf_manifest_field f = {.size = sizeof(f)};
	uint32_t n = 0, reloadable = 0, required = 0;
	int strategy = -1, members = -1, rule_uids = -1;
	uint32_t transport_seen = 0;

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
		check_schema_transport(&f, &transport_seen);
	}
	assert_int_equal(pf_manifest_schema(n, &f), -ENOENT);
	f.size = 4;
	assert_int_equal(pf_manifest_schema(0, &f), -EINVAL);
	assert_true(n > 40);
	assert_int_equal(required, 5); /* apiVersion, kind; a peer's name, address and key */
	assert_int_equal(transport_seen, 0x3f);
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

/* A peer's index is its host index in the segment, and peers know this host by its name
 * and key: none of them changes without a restart. */
static void test_manifest_reload_transport(void **state)
{
	struct pf_manifest next;

	(void)state;
	assert_int_equal(parse(transport_full), 0);
	memcpy(&next, &m, sizeof(m));
	assert_int_equal(pf_manifest_reload_check(&m, &next, &err), 0);
	next.transport.peers[2].port = 7420;
	assert_int_equal(pf_manifest_reload_check(&m, &next, &err), -EBUSY);
	assert_non_null(strstr(err.reason, "transport.peers changed"));
	memcpy(&next, &m, sizeof(m));
	next.transport.peers_count = 2; /* the last one dropped */
	assert_int_equal(pf_manifest_reload_check(&m, &next, &err), -EBUSY);
	assert_non_null(strstr(err.reason, "transport.peers changed"));
	memcpy(&next, &m, sizeof(m));
	next.transport.name[0] = 'H';
	assert_int_equal(pf_manifest_reload_check(&m, &next, &err), -EBUSY);
	assert_non_null(strstr(err.reason, "transport.name changed"));
	memcpy(&next, &m, sizeof(m));
	next.transport.key_path[1] = 'V';
	assert_int_equal(pf_manifest_reload_check(&m, &next, &err), -EBUSY);
	assert_non_null(strstr(err.reason, "transport.key changed"));
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
		cmocka_unit_test(test_manifest_transport_round_trip),
		cmocka_unit_test(test_manifest_peers_max),
		cmocka_unit_test(test_manifest_errors),
		cmocka_unit_test(test_manifest_unit_conversions),
		cmocka_unit_test(test_manifest_schema_reloadable),
		cmocka_unit_test(test_manifest_reload_check),
		cmocka_unit_test(test_manifest_reload_transport),
		cmocka_unit_test(test_manifest_load_errors),
		cmocka_unit_test(test_manifest_depth_limit),
		cmocka_unit_test(test_manifest_anchor_limit),
	};

	return cmocka_run_group_tests_name("ctl_manifest", tests, NULL, NULL);
}
