/* SPDX-License-Identifier: MIT */
/*
 * tools/pflight/packet.c: `pflight export`, `pflight import` (through pflightd) and
 * `pflight inspect` (a file alone).
 *
 * Export and import hand the daemon a file descriptor this process opened with its own
 * rights (pf_control_request_fd): the daemon never opens a path a client names, so a
 * client cannot make it write or read a file the client itself may not. Export creates
 * its file exclusively (an existing file is never overwritten) and removes it when the
 * daemon refuses.
 *
 * Inspect parses and verifies the file here (pflight/packet.h, pflight/seal.h): the form,
 * every chunk and the messages against their digests, and the signature with the key the
 * header names. Whether that key is one a host trusts is the host's business: inspect
 * shows it (--trust FILE checks it against a public key file).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static void hex(char *out, const uint8_t *bin, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[bin[i] >> 4];
		out[2 * i + 1] = digits[bin[i] & 15];
	}
	out[2 * n] = '\0';
}

/* --control PATH anywhere in argv (removed from it), else the domain's default. */
static int control_path(struct cli *c, int *argc, char **argv, char *buf, size_t cap)
{
	for (int i = 1; i + 1 < *argc; i++) {
		if (strcmp(argv[i], "--control") != 0)
			continue;
		if (snprintf(buf, cap, "%s", argv[i + 1]) >= (int)cap)
			return -ENAMETOOLONG;
		memmove(&argv[i], &argv[i + 2], (size_t)(*argc - i - 2) * sizeof(argv[0]));
		*argc -= 2;
		return 0;
	}
	return pf_control_path(c->domain, 0, buf, cap) < 0 ? -EINVAL : 0;
}

/* Send req with file to the daemon; its reply parsed, or NULL after saying why. */
static json_t *ask(struct cli *c, const char *what, const char *path, const char *req, int file)
{
	struct pf_domain_info di = {.size = sizeof(di)};
	char out[PF_CONTROL_REPLY_MAX];
	json_t *reply;
	int r = pf_domain_info(c->d, &di);

	if (r == 0)
		r = pf_control_request_fd(path, di.segment_uid, req, file, out, sizeof(out), 0);
	if (r < 0) {
		fprintf(stderr, "pflight: %s: pflightd at %s: %s\n", what, path, strerror(-r));
		return NULL;
	}
	reply = json_loads(out, 0, NULL);
	if (reply == NULL)
		fprintf(stderr, "pflight: %s: unreadable reply: %s\n", what, out);
	return reply;
}

static int refused(struct cli *c, const char *what, const char *file, json_t *reply)
{
	const char *err = json_string_value(json_object_get(reply, "error"));
	const char *why = json_string_value(json_object_get(reply, "reason"));

	fprintf(stderr, "pflight: %s %s: %s%s%s\n", what, file, err != NULL ? err : "refused",
		why != NULL ? ": " : "", why != NULL ? why : "");
	(void)cli_emit(c, reply);
	return EXIT_FAILED;
}

int cmd_export(struct cli *c, int argc, char **argv)
{
	char path[PF_CONTROL_PATH_MAX], req[64];
	uint32_t vnode;
	json_t *reply;
	int fd;

	if (control_path(c, &argc, argv, path, sizeof(path)) < 0 || argc != 3 ||
	    cli_parse_u32("<vnode>", argv[1], 0, UINT32_MAX, &vnode) < 0)
		return EXIT_USAGE;
	fd = open(argv[2], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "pflight: export: %s: %s\n", argv[2], strerror(errno));
		return EXIT_FAILED;
	}
	(void)snprintf(req, sizeof(req), "export %u", vnode);
	reply = ask(c, "export", path, req, fd);
	(void)close(fd);
	if (reply == NULL || !json_is_true(json_object_get(reply, "ok"))) {
		(void)unlink(argv[2]); /* ours: created above, exclusively */
		return reply == NULL ? EXIT_FAILED : refused(c, "export to", argv[2], reply);
	}
	if (!c->json)
		printf("VNode %u: exported to %s (epoch %lld, %lld bytes of state, %lld messages, "
		       "%lld bytes)\n",
		       vnode, argv[2],
		       (long long)json_integer_value(json_object_get(reply, "packet_epoch")),
		       (long long)json_integer_value(json_object_get(reply, "state_bytes")),
		       (long long)json_integer_value(json_object_get(reply, "messages")),
		       (long long)json_integer_value(json_object_get(reply, "file_bytes")));
	return cli_emit(c, reply) != 0 ? EXIT_FAILED : 0;
}

int cmd_import(struct cli *c, int argc, char **argv)
{
	char path[PF_CONTROL_PATH_MAX];
	json_t *reply;
	int fd;

	if (control_path(c, &argc, argv, path, sizeof(path)) < 0 || argc != 2)
		return EXIT_USAGE;
	fd = open(argv[1], O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		fprintf(stderr, "pflight: import: %s: %s\n", argv[1], strerror(errno));
		return EXIT_FAILED;
	}
	reply = ask(c, "import", path, "import", fd);
	(void)close(fd);
	if (reply == NULL)
		return EXIT_FAILED;
	if (!json_is_true(json_object_get(reply, "ok")))
		return refused(c, "import", argv[1], reply);
	if (!c->json)
		printf("VNode %lld: imported from %s (epoch %lld here, %lld bytes of state, %lld "
		       "messages)\n",
		       (long long)json_integer_value(json_object_get(reply, "vnode")), argv[1],
		       (long long)json_integer_value(json_object_get(reply, "epoch")),
		       (long long)json_integer_value(json_object_get(reply, "state_bytes")),
		       (long long)json_integer_value(json_object_get(reply, "messages")));
	return cli_emit(c, reply) != 0 ? EXIT_FAILED : 0;
}

/* The whole file into memory (inspect reads what it checks once). */
static int slurp(const char *file, uint8_t **ret_buf, size_t *ret_len)
{
	FILE *f = fopen(file, "rb");
	struct stat st;
	uint8_t *buf;

	if (f == NULL)
		return -errno;
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
		(void)fclose(f);
		return -EINVAL;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL || fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		free(buf);
		(void)fclose(f);
		return buf == NULL ? -ENOMEM : -EIO;
	}
	(void)fclose(f);
	*ret_buf = buf;
	*ret_len = (size_t)st.st_size;
	return 0;
}

static json_t *header_json(const struct pf_packet_header *h)
{
	char key[2 * PF_PACKET_KEY_BYTES + 1], lin[2 * PF_PACKET_DIGEST_BYTES + 1];
	json_t *caps = json_array();

	for (uint32_t i = 0; i < h->caps_count; i++)
		json_array_append_new(caps, json_string(h->caps[i]));
	hex(key, h->host_key, PF_PACKET_KEY_BYTES);
	hex(lin, h->lineage_hash, PF_PACKET_DIGEST_BYTES);
	return json_pack("{s:s, s:I, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:s, "
			 "s:s, s:I, s:I, s:I, s:I, s:I, s:o, s:I, s:s}",
			 "version", "1.0", "vnode", (json_int_t)h->vnode_id, "name", h->name,
			 "snapshot", (h->flags & PF_PACKET_F_SNAPSHOT) != 0, "epoch",
			 (json_int_t)h->epoch, "checkpoint_seq", (json_int_t)h->checkpoint_seq,
			 "state_bytes", (json_int_t)h->state_bytes, "chunk_bytes",
			 (json_int_t)h->chunk_bytes, "chunks", (json_int_t)h->chunk_count,
			 "messages", (json_int_t)h->message_count, "message_bytes",
			 (json_int_t)h->message_bytes, "created_ns", (json_int_t)h->created_ns,
			 "host", h->host, "host_key", key, "namespace", h->namespace_name,
			 "member_slot", (json_int_t)h->member_slot, "member_generation",
			 (json_int_t)h->member_generation, "member_pid", (json_int_t)h->member_pid,
			 "home_node", (json_int_t)h->home_node, "trust_floor_ppm",
			 (json_int_t)h->trust_floor_ppm, "capabilities", caps, "lineage_seq",
			 (json_int_t)h->lineage_seq, "lineage_hash", lin);
}

static const char *errno_name(int r)
{
	switch (r) {
	case -EPROTO:
		return "malformed";
	case -EOVERFLOW:
		return "truncated_or_too_large";
	case -EPROTONOSUPPORT:
		return "unsupported";
	case -EBADMSG:
		return "corrupt";
	case -EKEYREJECTED:
		return "bad_signature";
	case -ENOKEY:
		return "untrusted";
	default:
		return "error";
	}
}

/* Parse, verify (against trusted, or any signer), and say so. */
static json_t *inspect_doc(const uint8_t *buf, size_t len, const uint8_t *trusted, int *ret_r)
{
	struct pf_packet_fault f = {0, UINT32_MAX, UINT32_MAX, NULL};
	struct pf_packet_view *v = calloc(1, sizeof(*v));
	json_t *doc;
	int r = v == NULL ? -ENOMEM : pf_packet_parse(buf, len, v, &f);

	if (r == 0)
		r = pf_seal_verify(v, (const uint8_t(*)[PF_PACKET_KEY_BYTES])trusted,
				   trusted != NULL ? 1 : 0, &f);
	doc = json_pack("{s:b, s:I}", "valid", r == 0, "file_bytes", (json_int_t)len);
	if (v != NULL && v->base != NULL)
		json_object_set_new(doc, "header", header_json(&v->header));
	if (r < 0) {
		json_object_set_new(doc, "error", json_string(errno_name(r)));
		json_object_set_new(doc, "reason",
				    json_string(f.what != NULL ? f.what : strerror(-r)));
		json_object_set_new(doc, "offset", json_integer((json_int_t)f.offset));
		if (f.record != UINT32_MAX)
			json_object_set_new(doc, "record", json_integer(f.record));
		if (f.index != UINT32_MAX)
			json_object_set_new(doc, "index", json_integer(f.index));
	}
	free(v);
	*ret_r = r;
	return doc;
}

static void inspect_print(const char *file, json_t *doc)
{
	json_t *h = json_object_get(doc, "header");

	printf("%s: %s\n", file,
	       json_is_true(json_object_get(doc, "valid")) ? "a valid Flight Packet" : "REFUSED");
	if (!json_is_true(json_object_get(doc, "valid")))
		printf("  %s: %s (byte %lld)\n", json_string_value(json_object_get(doc, "error")),
		       json_string_value(json_object_get(doc, "reason")),
		       (long long)json_integer_value(json_object_get(doc, "offset")));
	if (h == NULL)
		return;
	printf("  VNode %lld%s%s, epoch %lld, checkpoint %lld, %s\n",
	       (long long)json_integer_value(json_object_get(h, "vnode")),
	       json_string_length(json_object_get(h, "name")) > 0 ? " " : "",
	       json_string_value(json_object_get(h, "name")),
	       (long long)json_integer_value(json_object_get(h, "epoch")),
	       (long long)json_integer_value(json_object_get(h, "checkpoint_seq")),
	       json_is_true(json_object_get(h, "snapshot")) ? "a snapshot" : "a move");
	printf("  state %lld bytes in %lld chunks of %lld; %lld messages (%lld bytes)\n",
	       (long long)json_integer_value(json_object_get(h, "state_bytes")),
	       (long long)json_integer_value(json_object_get(h, "chunks")),
	       (long long)json_integer_value(json_object_get(h, "chunk_bytes")),
	       (long long)json_integer_value(json_object_get(h, "messages")),
	       (long long)json_integer_value(json_object_get(h, "message_bytes")));
	printf("  from host %s (key %s), member %lld.%lld (pid %lld)\n",
	       json_string_value(json_object_get(h, "host")),
	       json_string_value(json_object_get(h, "host_key")),
	       (long long)json_integer_value(json_object_get(h, "member_slot")),
	       (long long)json_integer_value(json_object_get(h, "member_generation")),
	       (long long)json_integer_value(json_object_get(h, "member_pid")));
	printf("  requires %zu capabilities, trust >= %lld ppm, home node %lld\n",
	       json_array_size(json_object_get(h, "capabilities")),
	       (long long)json_integer_value(json_object_get(h, "trust_floor_ppm")),
	       (long long)json_integer_value(json_object_get(h, "home_node")));
}

int cmd_inspect(struct cli *c, int argc, char **argv)
{
	uint8_t pk[PF_AUDIT_PUBLIC_KEY_BYTES], *buf = NULL;
	const char *file = NULL, *trust = NULL;
	size_t len = 0;
	json_t *doc;
	int r;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--trust") == 0 && i + 1 < argc)
			trust = argv[++i];
		else if (file == NULL && strncmp(argv[i], "--", 2) != 0)
			file = argv[i];
		else
			return EXIT_USAGE;
	}
	if (file == NULL)
		return EXIT_USAGE;
	if (trust != NULL && (r = pf_audit_pubkey_load(trust, pk)) < 0) {
		fprintf(stderr, "pflight: inspect: --trust %s: %s\n", trust, strerror(-r));
		return EXIT_FAILED;
	}
	r = slurp(file, &buf, &len);
	if (r < 0) {
		fprintf(stderr, "pflight: inspect: %s: %s\n", file, strerror(-r));
		return EXIT_FAILED;
	}
	doc = inspect_doc(buf, len, trust != NULL ? pk : NULL, &r);
	free(buf);
	if (!c->json)
		inspect_print(file, doc);
	if (cli_emit(c, doc) != 0)
		return EXIT_FAILED;
	return r < 0 ? EXIT_FAILED : 0;
}
