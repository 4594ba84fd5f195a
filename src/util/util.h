/* util.h -- small helpers every layer uses: messages, time, ids, strings,
 * addresses, and allocation that never returns NULL. */
#ifndef WIRESPAN_UTIL_H
#define WIRESPAN_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WS_STR_(x) #x
#define WS_STR(x) WS_STR_(x)
#define WS_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define WS_MIN(a, b) ((a) < (b) ? (a) : (b))
#define WS_MAX(a, b) ((a) > (b) ? (a) : (b))

/* "wirespan: <message>" on stderr. */
void ws_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ws_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern int ws_verbose;
void ws_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Allocation failure is not recoverable for a tracer: report and exit. */
void *ws_malloc(size_t n);
void *ws_calloc(size_t n, size_t size);
void *ws_realloc(void *p, size_t n);
/* Ask for huge pages under the n bytes at p (large arrays filled once:
 * one page fault per 2 MiB instead of 512; the kernel may say no). */
void ws_hugepages(void *p, size_t n);
/* A large array that grows (p NULL: a new one): mapped on its own, in
 * huge pages, and grown by moving its pages, never by copying them
 * (malloc copies a block from its heap). Exits when out of memory. */
void *ws_big_realloc(void *p, size_t old_n, size_t n);
void ws_big_free(void *p, size_t n);
char *ws_strdup(const char *s);

uint64_t ws_now_mono_ns(void);
uint64_t ws_now_real_ns(void);
/* Offset to add to CLOCK_MONOTONIC to get Unix time, measured now. */
int64_t ws_mono_to_real_offset(void);

/* A fresh random 64-bit value (getrandom-seeded generator, not for crypto). */
uint64_t ws_random_u64(void);

/* Lowercase hex of n bytes into out (2n+1 bytes). */
void ws_hex(const uint8_t *in, size_t n, char *out);
/* Parse exactly 2n hex digits; 0 on success. */
int ws_unhex(const char *in, uint8_t *out, size_t n);
/* Whether s is 1 to max hex digits. */
bool ws_is_hex(const char *s, size_t max);

/* 8 bytes, most significant first (span ids): to and from a number. */
static inline uint64_t ws_be64_get(const uint8_t b[8])
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

static inline void ws_be64_put(uint8_t b[8], uint64_t v)
{
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (56 - 8 * i));
}

/* Integers of wire formats: network order (TCP/IP, PostgreSQL) and
 * little-endian (MySQL). */
static inline uint16_t ws_be16_get(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t ws_be32_get(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint16_t ws_le16_get(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t ws_le24_get(const uint8_t *p) { return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16; }
static inline uint32_t ws_le32_get(const uint8_t *p) { return ws_le24_get(p) | (uint32_t)p[3] << 24; }

/* SipHash-2-4 of n bytes under a key drawn at random once per process:
 * for tables whose keys come from input (capture files), so that no input
 * can be crafted to make its keys collide. */
uint64_t ws_keyed_hash(const void *p, size_t n);

/* A 64-bit finalizer (splitmix64): every input bit moves every output bit.
 * Invertible: never for keys an input chooses (ws_keyed_hash). */
static inline uint64_t ws_mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

/* Copy at most size-1 bytes and terminate; returns strlen(src). */
size_t ws_strlcpy(char *dst, const char *src, size_t size);
/* Copy n bytes of possibly unterminated text, dropping control bytes. */
void ws_copy_text(char *dst, size_t size, const uint8_t *src, size_t n);
bool ws_strcaseeq_n(const char *a, size_t alen, const char *b);

/* A network endpoint. IPv4-mapped IPv6 addresses are stored as IPv4. */
struct ws_endpoint {
	uint8_t family; /* AF_INET, AF_INET6, or 0 when unknown */
	uint8_t addr[16];
	uint16_t port;
};

void ws_endpoint_set(struct ws_endpoint *ep, int family, const uint8_t *addr, uint16_t port);
/* An address as text ("198.18.0.1", "::1") with a port. 0, or -1 when the
 * text is no address (ep then zeroed). */
int ws_endpoint_parse(const char *text, uint16_t port, struct ws_endpoint *ep);
/* A decimal number from 0 to max, nothing else. 0, or -1. */
int ws_parse_uint(const char *s, unsigned long long max, unsigned long long *out);
/* Address as text ("198.18.0.1", "::1"); out needs 46 bytes. */
const char *ws_addr_str(const struct ws_endpoint *ep, char *out, size_t n);

/* Format a duration in ns as "1.23ms" etc. into out. */
const char *ws_fmt_duration(uint64_t ns, char *out, size_t n);
/* Format unix ns as local "HH:MM:SS.uuuuuu". */
const char *ws_fmt_clock(uint64_t unix_ns, char *out, size_t n);

/* The kernel's boot id (/proc/sys/kernel/random/boot_id), or "" when
 * it cannot be read. Recordings that share it share one clock. */
void ws_boot_id(char *buf, size_t n);

#endif
