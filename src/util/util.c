/* util.c -- see util.h. */
#include "util/util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

int ws_verbose;

static void vmsg(const char *prefix, const char *fmt, va_list ap)
{
	fprintf(stderr, "wirespan: %s", prefix);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void ws_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("", fmt, ap);
	va_end(ap);
}

void ws_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("warning: ", fmt, ap);
	va_end(ap);
}

void ws_debug(const char *fmt, ...)
{
	va_list ap;

	if (!ws_verbose)
		return;
	va_start(ap, fmt);
	vmsg("debug: ", fmt, ap);
	va_end(ap);
}

static void oom(size_t n)
{
	fprintf(stderr, "wirespan: out of memory allocating %zu bytes\n", n);
	exit(70);
}

void *ws_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		oom(n);
	return p;
}

void *ws_calloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		oom(n * size);
	return p;
}

void ws_hugepages(void *p, size_t n)
{
	/* whole pages: the flag on part of a mapping would split it (and a
	 * split mapping can no longer be moved by mremap) */
	const uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t from = ((uintptr_t)p + pg - 1) & ~(pg - 1), to = ((uintptr_t)p + n) & ~(pg - 1);

	if (to > from)
		(void)madvise((void *)from, to - from, MADV_HUGEPAGE);
}

static size_t page_round(size_t n)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	return (n + pg - 1) / pg * pg;
}

void *ws_big_realloc(void *p, size_t old_n, size_t n)
{
	void *q;

	if (!p)
		q = mmap(NULL, page_round(n), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	else
		q = mremap(p, page_round(old_n), page_round(n), MREMAP_MAYMOVE);
	if (q == MAP_FAILED) {
		fprintf(stderr, "wirespan: out of memory (%zu bytes): %s\n", n, strerror(errno));
		exit(1);
	}
	ws_hugepages(q, page_round(n));
	return q;
}

void ws_big_free(void *p, size_t n)
{
	if (p)
		munmap(p, page_round(n));
}

void *ws_realloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q)
		oom(n);
	return q;
}

char *ws_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = ws_malloc(n);

	memcpy(p, s, n);
	return p;
}

static uint64_t ts_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t ws_now_mono_ns(void) { return ts_ns(CLOCK_MONOTONIC); }
uint64_t ws_now_real_ns(void) { return ts_ns(CLOCK_REALTIME); }

int64_t ws_mono_to_real_offset(void)
{
	/* Bracket the realtime read between two monotonic reads and keep the
	 * tightest of a few tries. */
	int64_t best = 0;
	uint64_t best_gap = UINT64_MAX;

	for (int i = 0; i < 5; i++) {
		uint64_t m1 = ws_now_mono_ns(), r = ws_now_real_ns(), m2 = ws_now_mono_ns();
		if (m2 - m1 < best_gap) {
			best_gap = m2 - m1;
			best = (int64_t)r - (int64_t)(m1 + (m2 - m1) / 2);
		}
	}
	return best;
}

static uint64_t rng_state;

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t ws_random_u64(void)
{
	if (!rng_state) {
		if (getrandom(&rng_state, sizeof(rng_state), 0) != sizeof(rng_state))
			rng_state = ws_now_real_ns() ^ ((uint64_t)getpid() << 32);
		rng_state |= 1;
	}
	return splitmix64(&rng_state);
}

void ws_hex(const uint8_t *in, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[in[i] >> 4];
		out[2 * i + 1] = d[in[i] & 15];
	}
	out[2 * n] = 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int ws_unhex(const char *in, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int hi = hexval((unsigned char)in[2 * i]), lo;
		if (hi < 0)
			return -1;
		lo = hexval((unsigned char)in[2 * i + 1]);
		if (lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return in[2 * n] == 0 ? 0 : -1;
}

bool ws_is_hex(const char *s, size_t max)
{
	size_t n = strlen(s);

	return n >= 1 && n <= max && strspn(s, "0123456789abcdefABCDEF") == n;
}

size_t ws_strlcpy(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);

	if (size) {
		size_t c = n < size - 1 ? n : size - 1;
		memcpy(dst, src, c);
		dst[c] = 0;
	}
	return n;
}

void ws_copy_text(char *dst, size_t size, const uint8_t *src, size_t n)
{
	size_t o = 0;

	if (!size)
		return;
	for (size_t i = 0; i < n && o + 1 < size; i++)
		dst[o++] = (src[i] < 0x20 || src[i] == 0x7f) ? '?' : (char)src[i];
	dst[o] = 0;
}

bool ws_strcaseeq_n(const char *a, size_t alen, const char *b)
{
	return strlen(b) == alen && strncasecmp(a, b, alen) == 0;
}

void ws_endpoint_set(struct ws_endpoint *ep, int family, const uint8_t *addr, uint16_t port)
{
	static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	memset(ep, 0, sizeof(*ep));
	ep->port = port;
	if (family == AF_INET6 && memcmp(addr, v4mapped, 12) == 0) {
		ep->family = AF_INET;
		memcpy(ep->addr, addr + 12, 4);
	} else if (family == AF_INET) {
		ep->family = AF_INET;
		memcpy(ep->addr, addr, 4);
	} else if (family == AF_INET6) {
		ep->family = AF_INET6;
		memcpy(ep->addr, addr, 16);
	}
}

const char *ws_addr_str(const struct ws_endpoint *ep, char *out, size_t n)
{
	if (!ep->family || !inet_ntop(ep->family, ep->addr, out, n))
		ws_strlcpy(out, "", n);
	return out;
}

const char *ws_fmt_duration(uint64_t ns, char *out, size_t n)
{
	if (ns < 1000)
		snprintf(out, n, "%luns", (unsigned long)ns);
	else if (ns < 1000000)
		snprintf(out, n, "%.1fus", ns / 1e3);
	else if (ns < 1000000000)
		snprintf(out, n, "%.2fms", ns / 1e6);
	else
		snprintf(out, n, "%.3fs", ns / 1e9);
	return out;
}

const char *ws_fmt_clock(uint64_t unix_ns, char *out, size_t n)
{
	time_t s = unix_ns / 1000000000ull;
	struct tm tm;

	localtime_r(&s, &tm);
	snprintf(out, n, "%02d:%02d:%02d.%06lu", tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (unsigned long)(unix_ns % 1000000000ull / 1000));
	return out;
}

int ws_endpoint_parse(const char *text, uint16_t port, struct ws_endpoint *ep)
{
	uint8_t a[16] = {0};

	memset(ep, 0, sizeof(*ep));
	if (inet_pton(AF_INET, text, a) == 1)
		ws_endpoint_set(ep, AF_INET, a, port);
	else if (inet_pton(AF_INET6, text, a) == 1)
		ws_endpoint_set(ep, AF_INET6, a, port);
	else
		return -1;
	return 0;
}

int ws_parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *s == '\0' || *end || *s == '-' || v > max)
		return -1;
	*out = v;
	return 0;
}

void ws_boot_id(char *buf, size_t n)
{
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");

	if (n)
		buf[0] = 0;
	if (!f)
		return;
	if (!fgets(buf, (int)n, f))
		buf[0] = 0;
	buf[strcspn(buf, "\n")] = 0;
	fclose(f);
}

static unsigned char hash_key[crypto_shorthash_siphash24_KEYBYTES];
static pthread_once_t hash_key_once = PTHREAD_ONCE_INIT;

static void hash_key_init(void)
{
	if (sodium_init() < 0)
		abort(); /* libsodium cannot fail here but for a broken system */
	randombytes_buf(hash_key, sizeof(hash_key));
}

uint64_t ws_keyed_hash(const void *p, size_t n)
{
	unsigned char out[crypto_shorthash_siphash24_BYTES];
	uint64_t h;

	pthread_once(&hash_key_once, hash_key_init);
	crypto_shorthash_siphash24(out, p, n, hash_key);
	memcpy(&h, out, sizeof(h));
	return h;
}
