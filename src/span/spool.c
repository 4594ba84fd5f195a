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

/* The text fields, in the order they lie in the struct. */
static const struct {
	size_t off, size;
} texts[] = {
    TEXT(name),	 TEXT(service), TEXT(host),	   TEXT(method),      TEXT(target),
    TEXT(query), TEXT(error),	TEXT(traceparent), TEXT(link_method), TEXT(attrs),
};

static int by_offset(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

/* The text fields sorted by offset (the struct's order, whatever this
 * file lists). */
static size_t order[WS_ARRAY_SIZE(texts)][2];

static void sort_texts(void)
{
	if (order[WS_ARRAY_SIZE(texts) - 1][1])
		return;
	for (size_t i = 0; i < WS_ARRAY_SIZE(texts); i++) {
		order[i][0] = texts[i].off;
		order[i][1] = texts[i].size;
	}
	qsort(order, WS_ARRAY_SIZE(texts), sizeof(order[0]), by_offset);
}

void ws_spool_init(struct ws_spool *sp)
{
	memset(sp, 0, sizeof(*sp));
	sort_texts();
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
		size_t off = order[i][0], size = order[i][1];
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
	sp->bytes += n;
	sp->n++;
}

static void unpack(const char *p, struct ws_span *s)
{
	char *out = (char *)s;
	size_t at = 0;

	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < WS_ARRAY_SIZE(texts); i++) {
		size_t off = order[i][0];
		uint16_t len;
		memcpy(out + at, p, off - at);
		p += off - at;
		memcpy(&len, p, sizeof(len));
		memcpy(out + off, p + sizeof(len), len);
		p += sizeof(len) + len;
		at = off + order[i][1];
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
