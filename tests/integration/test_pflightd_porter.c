/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_pflightd_porter.c
 * Goal: a VNode goes from one pflightd to another as a Flight Packet file, end to end
 * through the CLI: `pflight export` writes a snapshot of a VNode whose owner keeps
 * running (it stays ACTIVE there), `pflight inspect` checks it, and `pflight import` on
 * the other daemon installs it: a member there loads exactly the committed state and
 * receives exactly the messages that state had not consumed, in order. And nothing bad
 * gets in: importing where the VNode lives (either host) is refused; a packet with one
 * chunk byte changed is refused as corrupt, one signed by a host nobody trusts as
 * untrusted, and neither defines anything; each refusal is audited
 * (vnode_import_refused), each success too (vnode_export, vnode_import). The daemon
 * writes only into the descriptor it is handed: a descriptor open for reading makes the
 * export fail and leaves nothing; an export of an unknown VNode leaves no file behind;
 * a client of another uid is refused before anything is read (root only).
 * Method: two real pflightd (paths given by meson) in the foreground, domains unique to
 * this process, as two hosts: host-a and host-b, each with its own host key
 * (transport.key), host-b listing host-a's public key as its peer (transport.peers) and
 * host-a listing none; control sockets, keys and audit logs in a mkdtemp() directory; this
 * process is the member on both sides.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pflight/pflight.h"
#include "tests/common/proc_util.h"
#include "tests/common/test_util.h"

#define WAIT_NS (30ull * 1000000000ull)
#define STATE_BYTES 3000u

static const char *daemon_path, *cli_path;
static char dir[64], name[2][64], sock[2][128], audit[2][160], dlog[2][160];
static pid_t daemons[2] = {-1, -1};
static int passed;

static void cleanup(void)
{
	for (int i = 0; i < 2; i++) {
		if (daemons[i] > 0 && kill(daemons[i], SIGKILL) == 0)
			(void)waitpid(daemons[i], NULL, 0);
		if (name[i][0] != '\0')
			(void)pf_domain_unlink(name[i]);
	}
	if (!passed) {
		char err[160];

		for (int i = 0; i < 2; i++)
			proc_print_file(dlog[i]);
		(void)snprintf(err, sizeof(err), "%s/cli.err", dir);
		proc_print_file(err);
	}
	proc_rm_dir(dir);
}

/* The public key host i's daemon wrote beside its key, as hex. */
static void pub_hex(int i, char *hex, size_t cap)
{
	char path[160];
	FILE *f;

	(void)snprintf(path, sizeof(path), "%s/%d.key.pub", dir, i);
	f = fopen(path, "r");
	CHECK(f != NULL && fgets(hex, (int)cap, f) != NULL);
	(void)fclose(f);
	hex[strcspn(hex, "\n")] = '\0';
	CHECK(strlen(hex) == 64);
}

static void start_daemon(int i)
{
	char manifest[160], peer[256] = "";
	FILE *f;
	char *argv[] = {(char *)daemon_path, "--foreground", "--manifest", manifest,
			"--control",         sock[i],        NULL};

	if (i == 1) {
		char hex[80];

		pub_hex(0, hex, sizeof(hex));
		(void)snprintf(peer, sizeof(peer),
			       "  peers:\n    - name: host-a\n      address: 127.0.0.1\n"
			       "      key: %s\n",
			       hex);
	}
	(void)snprintf(manifest, sizeof(manifest), "%s/%d.yaml", dir, i);
	f = fopen(manifest, "w");
	CHECK(f != NULL);
	fprintf(f,
		"apiVersion: pflight/v1\nkind: Domain\nmetadata:\n  name: %s\n"
		"membership:\n  vnodes_max: 64\n  state_bytes_max: 4096\n"
		/* This process is a member that beats only between its steps: slow ones
		 * (a sanitizer build, a loaded machine) must not make it a hung one. */
		"  heartbeat_misses: 100\n"
		"governance:\n  audit:\n    path: %s\n"
		"transport:\n  name: host-%c\n  key: %s/%d.key\n  port: %u\n%s"
		"api:\n  enabled: false\n",
		name[i], audit[i], 'a' + i, dir, i,
		/* A port of this run's own (a host that lists peers listens): never the default,
		 * which anything else on the machine may hold. */
		20000u + ((unsigned)getpid() % 3000u) * 2u + (unsigned)i, peer);
	CHECK(fclose(f) == 0);
	CHECK(proc_start(argv, dlog[i], " ready: ", WAIT_NS, &daemons[i]) == PROC_RUNNING);
}

/* `pflight <args>` with its stdout in *out (may be NULL): the exit status. */
static int cli(char **out, const char *args)
{
	char cmd[1024];
	char *o = NULL;
	int st;

	(void)snprintf(cmd, sizeof(cmd), "%s %s 2>>%s/cli.err", cli_path, args, dir);
	st = proc_capture(cmd, &o);
	if (out != NULL)
		*out = o;
	else
		free(o);
	return st;
}

/* `pflight --domain <domain i> <args>`: the exit status. */
static int cli_on(int i, char **out, const char *args)
{
	char all[512];

	(void)snprintf(all, sizeof(all), "--domain %s %s", name[i], args);
	return cli(out, all);
}

static struct pf_member *join_gpu(struct pf_domain *d)
{
	const char *caps[] = {"gpu"};
	struct pf_member_opts o;
	struct pf_member *m = NULL;

	pf_member_opts_init(&o);
	o.caps = caps;
	o.caps_count = 1;
	CHECK(pf_member_join(d, &o, &m) == 0);
	return m;
}

static void fill(uint8_t *s)
{
	for (uint32_t i = 0; i < STATE_BYTES; i++)
		s[i] = (uint8_t)(i * 13 + 7);
}

/* On A: VNode 5 (needs "gpu"), owned, state committed after "hello", two messages after. */
static struct pf_vnode *make_source(struct pf_domain *a, struct pf_member *m)
{
	const char *caps[] = {"gpu"};
	struct pf_vnode_spec sp;
	struct pf_vnode *v = NULL;
	uint8_t st[STATE_BYTES];
	char buf[64];
	size_t len;

	pf_vnode_spec_init(&sp);
	sp.caps = caps;
	sp.caps_count = 1;
	CHECK(pf_vnode_define(a, 5, &sp) == 0);
	CHECK(pf_vnode_claim(m, 0, WAIT_NS, &v) == 0 && pf_vnode_id(v) == 5); /* A placed it */
	CHECK(pf_send(a, 5, "hello", 5) == 0);
	CHECK(pf_recv(v, buf, sizeof(buf), &len) == 0 && len == 5);
	fill(st);
	CHECK(pf_checkpoint_commit(v, pf_vnode_epoch(v), st, sizeof(st)) == 0);
	CHECK(pf_send(a, 5, "m-one", 5) == 0);
	CHECK(pf_send(a, 5, "m-two", 5) == 0);
	return v;
}

static void check_inspect(const char *file)
{
	json_t *doc, *h;
	char *out = NULL, args[256];

	(void)snprintf(args, sizeof(args), "--json inspect %s", file);
	CHECK(cli(&out, args) == 0);
	doc = json_loads(out, 0, NULL);
	CHECK(doc != NULL && json_is_true(json_object_get(doc, "valid")));
	h = json_object_get(doc, "header");
	CHECK(json_integer_value(json_object_get(h, "vnode")) == 5);
	CHECK(json_integer_value(json_object_get(h, "state_bytes")) == STATE_BYTES);
	CHECK(json_integer_value(json_object_get(h, "messages")) == 2);
	CHECK(json_is_true(json_object_get(h, "snapshot")));
	CHECK(strcmp(json_string_value(json_array_get(json_object_get(h, "capabilities"), 0)),
		     "gpu") == 0);
	json_decref(doc);
	free(out);
}

/* On B: VNode 5 PENDING; a member with "gpu" finds the state and both messages, in order. */
static void check_target(struct pf_domain *b)
{
	struct pf_member *m = join_gpu(b);
	struct pf_vnode *v = NULL;
	uint8_t st[STATE_BYTES], want[STATE_BYTES];
	char buf[64];
	size_t len;

	/* B's scheduler places it on the first member that can take it: this one. */
	CHECK(pf_vnode_claim(m, 0, WAIT_NS, &v) == 0 && pf_vnode_id(v) == 5);
	CHECK(pf_checkpoint_load(v, st, sizeof(st), &len) == 0 && len == STATE_BYTES);
	fill(want);
	CHECK(memcmp(st, want, STATE_BYTES) == 0);
	CHECK(pf_recv(v, buf, sizeof(buf), &len) == 0 && len == 5 && memcmp(buf, "m-one", 5) == 0);
	CHECK(pf_recv(v, buf, sizeof(buf), &len) == 0 && len == 5 && memcmp(buf, "m-two", 5) == 0);
	CHECK(pf_recv(v, buf, sizeof(buf), &len) == -EAGAIN);
	CHECK(pf_vnode_release(v) == 0);
	CHECK(pf_member_leave(m) == 0);
}

/* A packet for VNode 7 signed by a key nobody trusts. */
static void write_stranger(const char *file)
{
	unsigned char pk[32], sk[64];
	struct pf_packet_header h;
	int fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0600);

	CHECK(fd >= 0 && pf_audit_keygen(pk, sk) == 0);
	pf_packet_header_init(&h);
	h.vnode_id = 7;
	h.epoch = 1;
	(void)snprintf(h.host, sizeof(h.host), "stranger");
	CHECK(pf_seal_write(fd, &h, "x", 1, NULL, 0, sk) > 0);
	CHECK(close(fd) == 0);
}

static uint32_t state_on(struct pf_domain *d, uint32_t id)
{
	struct pf_vnode_info vi = {.size = sizeof(vi)};

	CHECK(pf_vnode_info(d, id, &vi) == 0);
	return vi.state;
}

/* A corrupted copy of file (one chunk byte changed; the signature, over the digests,
 * stays intact) at bad. */
static void corrupt_copy(const char *file, const char *bad)
{
	struct pf_packet_view v;
	uint8_t *bytes = malloc(1 << 16);
	size_t len;
	FILE *f = fopen(file, "rb");

	CHECK(f != NULL && bytes != NULL);
	len = fread(bytes, 1, 1 << 16, f);
	(void)fclose(f);
	CHECK(pf_packet_parse(bytes, len, &v, NULL) == 0);
	bytes[v.chunks_offset + PF_PACKET_REC_BYTES + PF_PACKET_CHUNK_HEAD_BYTES + 100] ^= 1;
	f = fopen(bad, "wb");
	CHECK(f != NULL && fwrite(bytes, 1, len, f) == len && fclose(f) == 0);
	free(bytes);
}

/* The refusals: where the VNode lives, a corrupt chunk, an unknown signer. */
static void check_refusals(struct pf_domain *a, struct pf_domain *b, const char *file)
{
	char bad[160], stranger[160], args[400];

	(void)snprintf(bad, sizeof(bad), "%s/corrupt.pfp", dir);
	(void)snprintf(stranger, sizeof(stranger), "%s/stranger.pfp", dir);
	corrupt_copy(file, bad);
	write_stranger(stranger);
	(void)snprintf(args, sizeof(args), "import %s --control %s", file, sock[1]);
	CHECK(cli_on(1, NULL, args) == 1); /* lives on B now */
	(void)snprintf(args, sizeof(args), "import %s --control %s", file, sock[0]);
	CHECK(cli_on(0, NULL, args) == 1); /* lives on A */
	CHECK(state_on(a, 5) == PF_VNODE_ACTIVE);
	(void)snprintf(args, sizeof(args), "import %s --control %s", bad, sock[1]);
	CHECK(cli_on(1, NULL, args) == 1);
	(void)snprintf(args, sizeof(args), "import %s --control %s", stranger, sock[1]);
	CHECK(cli_on(1, NULL, args) == 1);
	CHECK(state_on(b, 7) == PF_VNODE_UNASSIGNED);
	(void)snprintf(args, sizeof(args), "inspect %s", bad);
	CHECK(cli(NULL, args) == 1);
}

/* The daemon writes only into what it is handed, and only for root or its own uid. */
static void check_descriptor_rule(void)
{
	char reply[PF_CONTROL_REPLY_MAX], file[160], args[400];
	int fd, st;
	pid_t pid;

	(void)snprintf(file, sizeof(file), "%s/readonly.pfp", dir);
	fd = open(file, O_RDWR | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0 && close(fd) == 0);
	fd = open(file, O_RDONLY);
	CHECK(pf_control_request_fd(sock[0], 0, "export 5", fd, reply, sizeof(reply), 0) > 0);
	CHECK(strstr(reply, "\"ok\":false") != NULL);
	CHECK(close(fd) == 0);
	CHECK(pf_control_request(sock[0], 0, "export 5", reply, sizeof(reply), 0) > 0);
	CHECK(strstr(reply, "carries no file descriptor") != NULL);
	/* An unknown VNode: refused, and the command leaves no file behind. */
	(void)snprintf(file, sizeof(file), "%s/none.pfp", dir);
	(void)snprintf(args, sizeof(args), "export 9 %s --control %s", file, sock[0]);
	CHECK(cli_on(0, NULL, args) == 1);
	CHECK(access(file, F_OK) < 0 && errno == ENOENT);
	if (geteuid() != 0)
		return;
	/* Let another uid reach the daemon's own check: through the directory, to the socket. */
	CHECK(chmod(dir, 0711) == 0 && chmod(sock[0], 0666) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int p[2];

		if (setgid(65534) != 0 || setuid(65534) != 0 || pipe(p) != 0)
			_exit(2);
		if (pf_control_request_fd(sock[0], 0, "export 5", p[1], reply, sizeof(reply), 0) <
		    0)
			_exit(3);
		_exit(strstr(reply, "\"error\":\"forbidden\"") != NULL ? 0 : 4);
	}
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void check_audit(void)
{
	CHECK(proc_audit_count(audit[0], "vnode_export", NULL, NULL) == 1);
	CHECK(proc_audit_count(audit[1], "vnode_import", "snapshot", "true") == 1);
	CHECK(proc_audit_count(audit[1], "vnode_import", "from_host", "host-a") == 1);
	CHECK(proc_audit_count(audit[1], "vnode_import_refused", "error", "corrupt") == 1);
	CHECK(proc_audit_count(audit[1], "vnode_import_refused", "error", "untrusted") == 1);
	CHECK(proc_audit_count(audit[1], "vnode_import_refused", "error", "lives_here") == 1);
	CHECK(proc_audit_count(audit[0], "vnode_import_refused", "error", "lives_here") == 1);
}

int main(int argc, char **argv)
{
	struct pf_domain *a = NULL, *b = NULL;
	struct pf_member *m;
	struct pf_vnode *v;
	char file[160], args[400];

	if (argc != 3) {
		fprintf(stderr, "usage: %s <pflightd> <pflight>\n", argv[0]);
		return 2;
	}
	daemon_path = argv[1];
	cli_path = argv[2];
	(void)snprintf(dir, sizeof(dir), "/tmp/pft-porter-XXXXXX");
	CHECK(mkdtemp(dir) != NULL);
	atexit(cleanup);
	for (int i = 0; i < 2; i++) {
		test_domain_name(name[i], sizeof(name[i]), i == 0 ? "porter-a" : "porter-b");
		(void)snprintf(sock[i], sizeof(sock[i]), "%s/%d.sock", dir, i);
		(void)snprintf(audit[i], sizeof(audit[i]), "%s/%d.audit.jsonl", dir, i);
		(void)snprintf(dlog[i], sizeof(dlog[i]), "%s/%d.log", dir, i);
		start_daemon(i);
	}
	CHECK(pf_domain_open(name[0], &a) == 0 && pf_domain_open(name[1], &b) == 0);
	m = join_gpu(a);
	v = make_source(a, m);
	(void)snprintf(file, sizeof(file), "%s/v5.pfp", dir);
	(void)snprintf(args, sizeof(args), "export 5 %s --control %s", file, sock[0]);
	CHECK(cli_on(0, NULL, args) == 0);
	CHECK(state_on(a, 5) == PF_VNODE_ACTIVE); /* a snapshot: it stays, owned */
	check_inspect(file);
	(void)snprintf(args, sizeof(args), "import %s --control %s", file, sock[1]);
	CHECK(cli_on(1, NULL, args) == 0);
	check_target(b);
	check_refusals(a, b, file);
	check_descriptor_rule();
	check_audit();
	CHECK(pf_vnode_release(v) == 0 && pf_member_leave(m) == 0);
	pf_domain_close(a);
	pf_domain_close(b);
	for (int i = 0; i < 2; i++)
		proc_stop(&daemons[i]);
	passed = 1;
	printf("ok: exported, inspected, imported; refusals and audit as expected\n");
	return 0;
}
