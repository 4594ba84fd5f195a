/* json.c -- see json.h. */
#include "util/json.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

static void put(struct ws_json *j, const char *s, size_t n)
{
	if (j->len + n + 1 > j->cap) {
		size_t cap = j->cap ? j->cap : 256;
		while (cap < j->len + n + 1)
			cap *= 2;
		j->buf = ws_realloc(j->buf, cap);
		j->cap = cap;
	}
	memcpy(j->buf + j->len, s, n);
	j->len += n;
	j->buf[j->len] = 0;
}

static void putc_(struct ws_json *j, char c) { put(j, &c, 1); }

void wj_init(struct ws_json *j)
{
	memset(j, 0, sizeof(*j));
	put(j, "", 0);
}

void wj_free(struct ws_json *j)
{
	free(j->buf);
	memset(j, 0, sizeof(*j));
}

void wj_reset(struct ws_json *j)
{
	j->len = 0;
	if (j->buf)
		j->buf[0] = 0;
	j->depth = 0;
	j->after_key = false;
}

/* Separator before a value or key at the current level. */
static void sep(struct ws_json *j)
{
	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (j->depth > 0) {
		if (!j->first[j->depth - 1])
			putc_(j, ',');
		j->first[j->depth - 1] = false;
	}
}

static void open_(struct ws_json *j, char c)
{
	sep(j);
	putc_(j, c);
	if (j->depth < 32)
		j->first[j->depth] = true;
	j->depth++;
}

static void close_(struct ws_json *j, char c)
{
	j->depth--;
	putc_(j, c);
}

void wj_obj_begin(struct ws_json *j) { open_(j, '{'); }
void wj_obj_end(struct ws_json *j) { close_(j, '}'); }
void wj_arr_begin(struct ws_json *j) { open_(j, '['); }
void wj_arr_end(struct ws_json *j) { close_(j, ']'); }

/* Length of a valid UTF-8 sequence starting at s (max n bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static void put_escaped(struct ws_json *j, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;

	putc_(j, '"');
	for (size_t i = 0; i < n;) {
		/* a run of plain ASCII is copied at once */
		size_t run = i;
		while (run < n && s[run] >= 0x20 && s[run] < 0x80 && s[run] != '"' && s[run] != '\\')
			run++;
		if (run > i) {
			put(j, (const char *)s + i, run - i);
			i = run;
			continue;
		}
		unsigned char c = s[i];
		if (c == '"' || c == '\\') {
			char e[2] = {'\\', (char)c};
			put(j, e, 2);
			i++;
		} else if (c < 0x20) {
			char e[8];
			switch (c) {
			case '\n': put(j, "\\n", 2); break;
			case '\r': put(j, "\\r", 2); break;
			case '\t': put(j, "\\t", 2); break;
			default:
				snprintf(e, sizeof(e), "\\u%04x", c);
				put(j, e, 6);
			}
			i++;
		} else if (c < 0x80) {
			putc_(j, (char)c);
			i++;
		} else {
			size_t l = utf8_len(s + i, n - i);
			if (l) {
				put(j, (const char *)s + i, l);
				i += l;
			} else {
				put(j, "\xef\xbf\xbd", 3);
				i++;
			}
		}
	}
	putc_(j, '"');
}

void wj_key(struct ws_json *j, const char *key)
{
	sep(j);
	put_escaped(j, key, strlen(key));
	putc_(j, ':');
	j->after_key = true;
}

void wj_strn(struct ws_json *j, const char *s, size_t n)
{
	sep(j);
	put_escaped(j, s, n);
}

void wj_str(struct ws_json *j, const char *s) { wj_strn(j, s, strlen(s)); }

void wj_int(struct ws_json *j, int64_t v)
{
	char b[32];
	int n = snprintf(b, sizeof(b), "%" PRId64, v);

	sep(j);
	put(j, b, n);
}

void wj_uint(struct ws_json *j, uint64_t v)
{
	char b[32];
	int n = snprintf(b, sizeof(b), "%" PRIu64, v);

	sep(j);
	put(j, b, n);
}

void wj_bool(struct ws_json *j, bool v)
{
	sep(j);
	put(j, v ? "true" : "false", v ? 4 : 5);
}

void wj_members(struct ws_json *j, const char *obj)
{
	size_t n;

	if (!obj)
		return;
	while (*obj == ' ')
		obj++;
	n = strlen(obj);
	if (n < 2 || obj[0] != '{' || obj[n - 1] != '}')
		return;
	obj++;
	n -= 2;
	while (n && *obj == ' ') {
		obj++;
		n--;
	}
	if (!n)
		return;
	sep(j);
	put(j, obj, n);
}

void wj_kstr(struct ws_json *j, const char *key, const char *s)
{
	wj_key(j, key);
	wj_str(j, s);
}

void wj_num3(struct ws_json *j, double v)
{
	char b[48];
	int n;

	if (!(v == v) || v > 1e15 || v < -1e15)
		v = 0;
	n = snprintf(b, sizeof(b), "%.3f", v);
	while (n > 2 && b[n - 1] == '0' && b[n - 2] != '.') /* 0.900 -> 0.9, 1.000 -> 1.0: a number
							    * stays a double to those who type it */
		n--;
	sep(j);
	put(j, b, n);
}

void wj_knum3(struct ws_json *j, const char *key, double v)
{
	wj_key(j, key);
	wj_num3(j, v);
}

void wj_kint(struct ws_json *j, const char *key, int64_t v)
{
	wj_key(j, key);
	wj_int(j, v);
}

void wj_kuint(struct ws_json *j, const char *key, uint64_t v)
{
	wj_key(j, key);
	wj_uint(j, v);
}

void wj_kbool(struct ws_json *j, const char *key, bool v)
{
	wj_key(j, key);
	wj_bool(j, v);
}
