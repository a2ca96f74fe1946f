/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/packet_corpus.c
 * Goal: the seed corpus of fuzz_packet (tests/fuzz/packet/), reproducible: the same
 * files, byte for byte, every time it runs.
 * Method: packets of every shape the format allows (nothing carried, one short chunk,
 * several chunks with a short last one, every capability and the longest names, many
 * messages, empty ones among them, the snapshot flag), written by pf_seal_write() with a
 * key derived from a fixed seed and a fixed creation time. Run it by hand when the format
 * changes: `build/tests/packet_corpus tests/fuzz/packet`.
 */
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "pflight/seal.h"

static unsigned char pk[32], sk[64];

static int emit(const char *dir, const char *name, struct pf_packet_header *h, uint64_t state_len,
		uint32_t messages)
{
	static struct iovec msgs[64];
	static char text[64][80];
	char path[4096];
	uint8_t *state = malloc(state_len + 1);
	int fd, r;

	for (uint64_t i = 0; i < state_len; i++)
		state[i] = (uint8_t)(i * 31 + 7);
	for (uint32_t i = 0; i < messages && i < 64; i++) {
		snprintf(text[i], sizeof(text[i]), "m%u", i);
		msgs[i] = (struct iovec){text[i], i % 5 == 4 ? 0 : strlen(text[i])};
	}
	h->created_ns = 1800000000000000000ull;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return 1;
	r = pf_seal_write(fd, h, state, state_len, msgs, messages, sk) > 0 ? 0 : 1;
	close(fd);
	free(state);
	if (r != 0)
		fprintf(stderr, "packet_corpus: %s failed\n", name);
	return r;
}

static void base(struct pf_packet_header *h)
{
	pf_packet_header_init(h);
	h->vnode_id = 7;
	h->epoch = 3;
	h->checkpoint_seq = 2;
	h->chunk_bytes = 4096;
	snprintf(h->host, sizeof(h->host), "%s", "host-a");
	snprintf(h->namespace_name, sizeof(h->namespace_name), "%s", "prod");
	snprintf(h->name, sizeof(h->name), "%s", "orders/eu-1");
}

int main(int argc, char **argv)
{
	unsigned char seed[32];
	struct pf_packet_header h;
	int bad = 0;

	if (argc != 2 || sodium_init() < 0)
		return 2;
	memset(seed, 0x42, sizeof(seed));
	crypto_sign_seed_keypair(pk, sk, seed);
	base(&h);
	h.name[0] = '\0';
	h.namespace_name[0] = '\0';
	bad |= emit(argv[1], "empty.pfp", &h, 0, 0);
	base(&h);
	bad |= emit(argv[1], "one-short-chunk.pfp", &h, 100, 1);
	base(&h);
	h.home_node = 1;
	h.trust_floor_ppm = 250000;
	h.lineage_seq = 99;
	memset(h.lineage_hash, 0xab, sizeof(h.lineage_hash));
	bad |= emit(argv[1], "chunks-and-messages.pfp", &h, 3 * 4096 + 17, 3);
	base(&h);
	h.caps_count = PF_CAPS_MAX;
	for (uint32_t i = 0; i < PF_CAPS_MAX; i++)
		snprintf(h.caps[i], sizeof(h.caps[i]), "cap.%u/x:y_z-%.*s", i, 20,
			 "abcdefghijklmnopqrstuvwxyz");
	memset(h.name, 'n', PF_VNODE_NAME_MAX);
	memset(h.host, 'h', PF_PACKET_HOST_NAME_MAX);
	memset(h.namespace_name, 's', PF_DOMAIN_NAME_MAX);
	bad |= emit(argv[1], "longest-names.pfp", &h, 4096, 0);
	base(&h);
	bad |= emit(argv[1], "many-messages.pfp", &h, 10, 64);
	base(&h);
	h.flags = PF_PACKET_F_SNAPSHOT;
	h.chunk_bytes = 0; /* the default, 64 KiB */
	bad |= emit(argv[1], "snapshot-default-chunks.pfp", &h, 70000, 2);
	return bad;
}
