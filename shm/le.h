/* SPDX-License-Identifier: MIT */
/*
 * shm/le.h: little-endian integers at any byte address, for wire and file formats (the
 * Flight Packet, the host link, pflightd's host frames). memcpy and <endian.h>: no
 * alignment assumed, one load or store on x86-64.
 */
#ifndef PF_SHM_LE_H
#define PF_SHM_LE_H

#include <endian.h>
#include <stdint.h>
#include <string.h>

static inline void put16le(uint8_t *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, sizeof(v));
}

static inline void put32le(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, sizeof(v));
}

static inline void put64le(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, sizeof(v));
}

static inline uint16_t get16le(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return le16toh(v);
}

static inline uint32_t get32le(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static inline uint64_t get64le(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

#endif /* PF_SHM_LE_H */
