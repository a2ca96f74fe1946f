/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/porter.c: Flight Packets to and from files (porter.h).
 *
 * Why an import refuses a VNode that lives here. A packet in a file is a copy: the VNode
 * it was taken from may still run on its host. Installing it where the VNode is PENDING
 * or owned would give this host a second copy with its own future; so an import only
 * fills a VNode this host has never defined, or one it knows is owned by another host,
 * and then only from a packet at least as new as that host's epoch for it (an older one
 * would bring back a state the VNode has moved on from). Importing a snapshot on one host
 * while its VNode runs on another is an operator's choice (a restore); pflight's help says
 * so.
 *
 * Why read the file into memory instead of mapping it: a client may truncate its file
 * while the daemon reads it, and a mapping would then fault (SIGBUS) in the daemon.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "shm/pf_assert.h"
#include "tools/pflightd/log.h"
#include "tools/pflightd/porter.h"

/* The largest file an import reads: the largest state a domain allows, a full inbox of
 * the largest messages and the records around them. */
#define IMPORT_OVERHEAD_BYTES (UINT64_C(64) << 20)

struct msgs {
	struct iovec *iov;
	uint32_t count;
	uint32_t cap;
};

static void msgs_free(struct msgs *m)
{
	for (uint32_t i = 0; i < m->cap; i++)
		free(m->iov[i].iov_base);
	free(m->iov);
	memset(m, 0, sizeof(*m));
}

/* pf_transit_snapshot()'s callback: keep message index (a retry starts again at 0). */
static int msgs_add(void *arg, uint32_t index, const void *bytes, size_t len)
{
	struct msgs *m = arg;

	if (index >= PF_PACKET_MESSAGES_MAX)
		return -E2BIG;
	if (index >= m->cap) {
		uint32_t cap = m->cap == 0 ? 64 : 2 * m->cap;
		struct iovec *iov = realloc(m->iov, (size_t)cap * sizeof(*iov));

		if (iov == NULL)
			return -ENOMEM;
		memset(iov + m->cap, 0, (size_t)(cap - m->cap) * sizeof(*iov));
		m->iov = iov;
		m->cap = cap;
	}
	free(m->iov[index].iov_base);
	m->iov[index].iov_base = malloc(len + 1);
	if (m->iov[index].iov_base == NULL)
		return -ENOMEM;
	memcpy(m->iov[index].iov_base, bytes, len);
	m->iov[index].iov_len = len;
	return 0;
}

int porter_init(struct porter *p, struct pf_domain *domain, const struct pf_manifest *manifest,
		const unsigned char sk[PF_AUDIT_SECRET_KEY_BYTES], struct cmdq *to_auditor)
{
	char host[256];

	PF_ASSERT(p != NULL && manifest != NULL);
	memset(p, 0, sizeof(*p));
	if (domain == NULL || sk == NULL)
		return -EINVAL;
	p->domain = domain;
	p->to_auditor = to_auditor;
	memcpy(p->sk, sk, sizeof(p->sk));
	memcpy(p->trusted[0], sk + 32, PF_PACKET_KEY_BYTES); /* libsodium's sk: seed, then pk */
	p->trusted_count = 1;
	/* transport.peers in order: peer i is trusted[i + 1] (its host index is i). */
	for (uint32_t i = 0; i < manifest->transport.peers_count && i + 1 < PORTER_TRUSTED_MAX; i++)
		memcpy(p->trusted[p->trusted_count++], manifest->transport.peers[i].key,
		       PF_PACKET_KEY_BYTES);
	p->trust_floor_ppm = manifest->scheduling.trust_floor_ppm;
	(void)snprintf(p->namespace_name, sizeof(p->namespace_name), "%s",
		       manifest->metadata.namespace_name);
	/* This host's name: transport.name, else the machine's, kept to what a packet allows. */
	if (manifest->transport.name[0] != '\0')
		(void)snprintf(host, sizeof(host), "%s", manifest->transport.name);
	else if (gethostname(host, sizeof(host)) < 0)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	for (size_t i = 0; host[i] != '\0' && i < PF_PACKET_HOST_NAME_MAX; i++) {
		char c = host[i];

		p->host[i] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
					     (c >= '0' && c <= '9') || c == '.' || c == '-'
				     ? c
				     : '_';
	}
	if (p->host[0] == '\0')
		(void)snprintf(p->host, sizeof(p->host), "localhost");
	return 0;
}

void porter_fini(struct porter *p)
{
	if (p == NULL)
		return;
	memset(p->sk, 0, sizeof(p->sk));
}

static void hex(char *out, const uint8_t *bin, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[bin[i] >> 4];
		out[2 * i + 1] = digits[bin[i] & 15];
	}
	out[2 * n] = '\0';
}

static int fail(struct porter_outcome *out, int r, const char *error, const char *reason)
{
	PF_ASSERT(r < 0);
	out->r = r;
	out->error = error;
	(void)snprintf(out->reason, sizeof(out->reason), "%s", reason);
	return r;
}

/* The header of a snapshot of vnode: identity, constraints and who owned it. */
static int export_header(struct porter *p, uint32_t vnode, struct pf_packet_header *h)
{
	struct pf_vnode_info vi = {.size = sizeof(vi)};
	int r = pf_vnode_info(p->domain, vnode, &vi);

	if (r < 0)
		return r;
	pf_packet_header_init(h);
	h->vnode_id = vnode;
	h->flags = PF_PACKET_F_SNAPSHOT;
	h->created_ns = 0;
	h->home_node = vi.home_node;
	h->trust_floor_ppm = p->trust_floor_ppm;
	if (vi.owner_slot != UINT32_MAX) {
		struct pf_member_info mi = {.size = sizeof(mi)};

		h->member_slot = vi.owner_slot;
		h->member_generation = vi.owner_generation;
		if (pf_member_info(p->domain, vi.owner_slot, &mi) == 0)
			h->member_pid = (uint32_t)mi.pid;
	}
	for (uint32_t bit = 0; bit < 128 && h->caps_count < PF_CAPS_MAX; bit++) {
		const char *name;

		if ((vi.caps[bit / 64] & (UINT64_C(1) << (bit % 64))) == 0)
			continue;
		name = pf_capability_name(p->domain, bit);
		if (name == NULL)
			return -EBADMSG;
		(void)snprintf(h->caps[h->caps_count++], sizeof(h->caps[0]), "%s", name);
	}
	(void)snprintf(h->host, sizeof(h->host), "%s", p->host);
	(void)snprintf(h->namespace_name, sizeof(h->namespace_name), "%s", p->namespace_name);
	return 0;
}

static const char *export_error(int r)
{
	switch (r) {
	case -ENOENT:
		return "not_found";
	case -EREMOTE:
		return "remote";
	case -EBUSY:
		return "busy";
	default:
		return "error";
	}
}

int porter_export(struct porter *p, uint32_t vnode, int fd, const char *by,
		  struct porter_outcome *out)
{
	struct pf_domain_info di = {.size = sizeof(di)};
	struct pf_packet_header h;
	struct msgs m = {0};
	struct timespec ts;
	void *state = NULL;
	size_t len = 0;
	uint32_t epoch = 0;
	int64_t w = 0;
	int r;

	PF_ASSERT(p != NULL && out != NULL && by != NULL);
	memset(out, 0, sizeof(*out));
	out->vnode = vnode;
	r = pf_domain_info(p->domain, &di);
	if (r == 0 && vnode >= di.vnodes_max)
		r = -ENOENT;
	if (r == 0 && (state = malloc((size_t)di.state_bytes_max + 1)) == NULL)
		r = -ENOMEM;
	if (r == 0)
		r = pf_transit_snapshot(p->domain, vnode, state, di.state_bytes_max, &len,
					&out->seq, &epoch, &m.count, msgs_add, &m);
	if (r == 0)
		r = export_header(p, vnode, &h);
	if (r == 0) {
		(void)clock_gettime(CLOCK_REALTIME, &ts);
		h.created_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
		h.epoch = epoch;
		h.checkpoint_seq = out->seq;
		w = pf_seal_write(fd, &h, state, len, m.iov, m.count, p->sk);
		r = w < 0 ? (int)w : 0;
	}
	out->epoch = epoch;
	out->messages = m.count;
	out->state_bytes = len;
	out->file_bytes = w > 0 ? (uint64_t)w : 0;
	free(state);
	msgs_free(&m);
	if (r < 0) {
		p->refused++;
		return fail(out, r, export_error(r),
			    r == -ENOENT    ? "no such VNode here"
			    : r == -EREMOTE ? "the VNode is owned by another host"
			    : r == -EBUSY   ? "the VNode is moving between hosts, or its owner "
					      "committed throughout every try"
					    : strerror(-r));
	}
	p->exports++;
	if (cmdq_record(p->to_auditor, "vnode_export", vnode,
			"{\"epoch\":%u,\"seq\":%llu,\"state_bytes\":%zu,\"messages\":%u,"
			"\"file_bytes\":%lld,%s}",
			epoch, (unsigned long long)out->seq, len, out->messages, (long long)w,
			by) < 0)
		log_msg(LOG_ERROR, "auditor queue full: vnode_export of VNode %u not audited",
			vnode);
	return 0;
}

/* The whole file at fd into memory: 0 with *ret_buf and *ret_len, or a negative errno. */
static int read_file(int fd, uint64_t max, uint8_t **ret_buf, size_t *ret_len)
{
	struct stat st;
	uint8_t *buf;
	size_t got = 0;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((uint64_t)st.st_size > max)
		return -EFBIG;
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL)
		return -ENOMEM;
	while (got < (size_t)st.st_size) {
		ssize_t n = pread(fd, buf + got, (size_t)st.st_size - got, (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(buf);
			return n < 0 ? -errno : -EIO; /* shortened while we read */
		}
		got += (size_t)n;
	}
	*ret_buf = buf;
	*ret_len = got;
	return 0;
}

/* The host index of the packet's signer: 0..peers (in transport.peers order), or unknown
 * for this host itself (a file it wrote). */
static uint32_t signer_host(const struct porter *p, const uint8_t key[PF_PACKET_KEY_BYTES])
{
	for (uint32_t i = 1; i < p->trusted_count; i++)
		if (memcmp(p->trusted[i], key, PF_PACKET_KEY_BYTES) == 0)
			return i - 1;
	return PF_TRANSIT_HOST_UNKNOWN;
}

/* Arrive, install, deliver, arrived; undone (unarrive) when a step after arrive fails. */
static int install(struct porter *p, const struct pf_packet_view *v, const uint8_t *state,
		   uint32_t *ret_epoch)
{
	const struct pf_packet_header *h = &v->header;
	const char *caps[PF_CAPS_MAX];
	struct iovec *msgs = calloc(h->message_count + 1u, sizeof(*msgs));
	struct pf_packet_message m;
	uint64_t cursor = 0;
	uint32_t epoch, n = 0;
	int r;

	for (uint32_t i = 0; i < h->caps_count; i++)
		caps[i] = h->caps[i];
	if (msgs == NULL)
		return -ENOMEM;
	while (n < h->message_count && pf_packet_view_message(v, &cursor, &m) == 1)
		msgs[n++] = (struct iovec){(void *)(uintptr_t)m.data, m.len};
	r = pf_transit_arrive(p->domain, h->vnode_id, signer_host(p, h->host_key), h->epoch, caps,
			      h->caps_count, h->home_node, &epoch);
	if (r < 0) {
		free(msgs);
		return r;
	}
	r = pf_transit_install(p->domain, h->vnode_id, epoch, state, h->state_bytes,
			       h->checkpoint_seq, n);
	if (r == 0)
		r = pf_transit_deliver(p->domain, h->vnode_id, epoch, msgs, n);
	free(msgs);
	if (r == 0)
		r = pf_transit_arrived(p->domain, h->vnode_id, epoch);
	if (r < 0) {
		(void)pf_transit_unarrive(p->domain, h->vnode_id, epoch);
		return r;
	}
	*ret_epoch = epoch;
	return 0;
}

/* The checkpoint's bytes gathered from the chunks (a copy: the install wants them whole). */
static uint8_t *gather(const struct pf_packet_view *v)
{
	uint8_t *state = malloc(v->header.state_bytes + 1);

	if (state == NULL)
		return NULL;
	for (uint32_t i = 0; i < v->header.chunk_count; i++) {
		struct pf_packet_chunk c;

		if (pf_packet_view_chunk(v, i, &c) < 0) {
			free(state);
			return NULL;
		}
		memcpy(state + (uint64_t)i * v->header.chunk_bytes, c.data, c.len);
	}
	return state;
}

static const char *import_error(int r)
{
	switch (r) {
	case -EPROTO:
	case -EOVERFLOW:
	case -EPROTONOSUPPORT:
		return "malformed";
	case -EBADMSG:
		return "corrupt";
	case -EKEYREJECTED:
		return "bad_signature";
	case -ENOKEY:
		return "untrusted";
	case -EBUSY:
		return "lives_here";
	case -ESTALE:
		return "stale";
	case -EMSGSIZE:
	case -EFBIG:
		return "too_large";
	default:
		return "error";
	}
}

/* Parse and verify: 0, or a refusal with its reason in out. */
static int import_check(struct porter *p, const uint8_t *buf, size_t len, struct pf_packet_view *v,
			struct porter_outcome *out)
{
	struct pf_packet_fault f = {0, UINT32_MAX, UINT32_MAX, NULL};
	struct pf_domain_info di = {.size = sizeof(di)};
	int r = pf_packet_parse(buf, len, v, &f);

	if (r == 0)
		r = pf_seal_verify(v, (const uint8_t(*)[PF_PACKET_KEY_BYTES])p->trusted,
				   p->trusted_count, &f);
	if (r < 0) {
		(void)snprintf(out->reason, sizeof(out->reason), "%s (at byte %llu)",
			       f.what != NULL ? f.what : strerror(-r),
			       (unsigned long long)f.offset);
		return r;
	}
	out->vnode = v->header.vnode_id;
	r = pf_domain_info(p->domain, &di);
	if (r == 0 && v->header.vnode_id >= di.vnodes_max)
		r = -ENOENT;
	if (r == 0 && v->header.state_bytes > di.state_bytes_max)
		r = -EMSGSIZE;
	if (r < 0)
		(void)snprintf(out->reason, sizeof(out->reason), "%s",
			       r == -EMSGSIZE ? "its state is larger than this domain's "
						"state_bytes_max"
			       : r == -ENOENT ? "its VNode id is past this domain's vnodes_max"
					      : strerror(-r));
	return r;
}

static void import_refused(struct porter *p, const struct porter_outcome *out, const char *by)
{
	char esc[2 * PORTER_REASON_MAX];

	p->refused++;
	json_escape(out->reason, esc, sizeof(esc));
	if (cmdq_record(p->to_auditor, "vnode_import_refused",
			out->vnode == UINT32_MAX ? PF_AUDIT_NO_VNODE : out->vnode,
			"{\"error\":\"%s\",\"reason\":\"%s\",%s}", out->error, esc, by) < 0)
		log_msg(LOG_ERROR, "auditor queue full: vnode_import_refused not audited");
}

int porter_import(struct porter *p, int fd, const char *by, struct porter_outcome *out)
{
	struct pf_packet_view *v = malloc(sizeof(*v));
	char key[2 * PF_PACKET_KEY_BYTES + 1];
	uint8_t *buf = NULL, *state = NULL;
	size_t len = 0;
	uint32_t epoch = 0;
	int r;

	PF_ASSERT(p != NULL && out != NULL && by != NULL);
	memset(out, 0, sizeof(*out));
	out->vnode = UINT32_MAX;
	r = v == NULL ? -ENOMEM
		      : read_file(fd, PF_STATE_BYTES_MAX + IMPORT_OVERHEAD_BYTES, &buf, &len);
	if (r < 0)
		(void)snprintf(out->reason, sizeof(out->reason), "cannot read the file: %s",
			       strerror(-r));
	if (r == 0)
		r = import_check(p, buf, len, v, out);
	if (r == 0 && (state = gather(v)) == NULL)
		r = -ENOMEM;
	if (r == 0) {
		r = install(p, v, state, &epoch);
		if (r < 0)
			(void)snprintf(out->reason, sizeof(out->reason), "%s",
				       r == -EBUSY    ? "the VNode lives on this host"
				       : r == -ESTALE ? "this host knows a newer epoch of the VNode"
						      : strerror(-r));
	}
	if (r < 0) {
		out->r = r;
		out->error = import_error(r);
		import_refused(p, out, by);
	} else {
		p->imports++;
		out->epoch = epoch;
		out->seq = v->header.checkpoint_seq;
		out->state_bytes = v->header.state_bytes;
		out->messages = v->header.message_count;
		out->file_bytes = len;
		hex(key, v->header.host_key, PF_PACKET_KEY_BYTES);
		if (cmdq_record(p->to_auditor, "vnode_import", out->vnode,
				"{\"from_host\":\"%s\",\"from_key\":\"%s\",\"packet_epoch\":%llu,"
				"\"epoch\":%u,\"seq\":%llu,\"state_bytes\":%llu,\"messages\":%u,"
				"\"snapshot\":%s,%s}",
				v->header.host, key, (unsigned long long)v->header.epoch, epoch,
				(unsigned long long)out->seq, (unsigned long long)out->state_bytes,
				out->messages,
				(v->header.flags & PF_PACKET_F_SNAPSHOT) != 0 ? "true" : "false",
				by) < 0)
			log_msg(LOG_ERROR,
				"auditor queue full: vnode_import of VNode %u not audited",
				out->vnode);
	}
	free(state);
	free(buf);
	free(v);
	return r;
}
