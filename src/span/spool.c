/* spool.c -- see spool.h. A packed span: its length (4 bytes), then the
 * struct's bytes in order, each text field cut to its length (2 bytes)
 * and its characters. */
#include "span/spool.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

#define CHUNK (8 * 1024 * 1024)

#define TEXT(m)                                                               \
	{                                                                     \
		offsetof(struct ws_span, m), sizeof(((struct ws_span *)0)->m) \
	}

/* The text fields, in the order they lie in the struct (checked below:
 * packing walks the struct once, front to back). */
static const struct {
	size_t off, size;
} texts[] = {
    TEXT(name),	 TEXT(service), TEXT(host),	   TEXT(method),      TEXT(target),
    TEXT(query), TEXT(error),	TEXT(traceparent), TEXT(link_method), TEXT(attrs),
};

#define BEFORE(a, b) _Static_assert(offsetof(struct ws_span, a) < offsetof(struct ws_span, b), #a " lies before " #b)
BEFORE(name, service);
BEFORE(service, host);
BEFORE(host, method);
BEFORE(method, target);
BEFORE(target, query);
BEFORE(query, error);
BEFORE(error, traceparent);
BEFORE(traceparent, link_method);
BEFORE(link_method, attrs);

void ws_spool_init(struct ws_spool *sp)
{
	memset(sp, 0, sizeof(*sp));
}

static char *room(struct ws_spool *sp, size_t n)
{
	if (!sp->nchunks || sp->chunks[sp->nchunks - 1].used + n > CHUNK) {
		sp->chunks = ws_realloc(sp->chunks, (sp->nchunks + 1) * sizeof(*sp->chunks));
		sp->chunks[sp->nchunks++] = (struct ws_spool_chunk){ws_malloc(CHUNK), 0};
		ws_hugepages(sp->chunks[sp->nchunks - 1].p, CHUNK);
	}
	return sp->chunks[sp->nchunks - 1].p + sp->chunks[sp->nchunks - 1].used;
}

void ws_spool_add(struct ws_spool *sp, const struct ws_span *s)
{
	char *out = room(sp, sizeof(uint32_t) + sizeof(*s) + 2 * WS_ARRAY_SIZE(texts)), *p = out + sizeof(uint32_t);
	const char *in = (const char *)s;
	size_t at = 0;

	for (size_t i = 0; i < WS_ARRAY_SIZE(texts); i++) {
		size_t off = texts[i].off, size = texts[i].size;
		uint16_t len = (uint16_t)strnlen(in + off, size);
		memcpy(p, in + at, off - at);
		p += off - at;
		memcpy(p, &len, sizeof(len));
		memcpy(p + sizeof(len), in + off, len);
		p += sizeof(len) + len;
		at = off + size;
	}
	memcpy(p, in + at, sizeof(*s) - at);
	p += sizeof(*s) - at;
	uint32_t n = (uint32_t)(p - out);
	memcpy(out, &n, sizeof(n));
	sp->chunks[sp->nchunks - 1].used += n;
}

static void unpack(const char *p, struct ws_span *s)
{
	char *out = (char *)s;
	size_t at = 0;

	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < WS_ARRAY_SIZE(texts); i++) {
		size_t off = texts[i].off;
		uint16_t len;
		memcpy(out + at, p, off - at);
		p += off - at;
		memcpy(&len, p, sizeof(len));
		memcpy(out + off, p + sizeof(len), len);
		p += sizeof(len) + len;
		at = off + texts[i].size;
	}
	memcpy(out + at, p, sizeof(*s) - at);
}

int ws_spool_each(const struct ws_spool *sp, int (*fn)(void *ctx, size_t i, struct ws_span *s), void *ctx)
{
	struct ws_span *s = ws_malloc(sizeof(*s));
	size_t k = 0;
	int rc = 0;

	for (size_t c = 0; c < sp->nchunks && !rc; c++) {
		const char *p = sp->chunks[c].p, *end = p + sp->chunks[c].used;
		while (p < end && !rc) {
			uint32_t n;
			memcpy(&n, p, sizeof(n));
			unpack(p + sizeof(n), s);
			p += n;
			rc = fn(ctx, k++, s);
		}
	}
	free(s);
	return rc;
}

void ws_spool_free(struct ws_spool *sp)
{
	for (size_t i = 0; i < sp->nchunks; i++)
		free(sp->chunks[i].p);
	free(sp->chunks);
	memset(sp, 0, sizeof(*sp));
}
