/* redact.c -- see redact.h. */
#include "proto/redact.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/util.h"

static char keep_query[WS_REDACT_KEEP_MAX][64], keep_header[WS_REDACT_KEEP_MAX][64];
static size_t nkeep_query, nkeep_header;

static const char *const credential_headers[] = {"authorization", "proxy-authorization", "cookie", "set-cookie"};

static int keep(char list[][64], size_t *n, const char *name, const char *what, char *err, size_t errlen)
{
	if (!name[0] || strlen(name) >= sizeof(list[0])) {
		snprintf(err, errlen, "--keep-%s needs a name of 1 to 63 characters", what);
		return -1;
	}
	if (*n == WS_REDACT_KEEP_MAX) {
		snprintf(err, errlen, "at most %d --keep-%s names", WS_REDACT_KEEP_MAX, what);
		return -1;
	}
	ws_strlcpy(list[(*n)++], name, sizeof(list[0]));
	return 0;
}

int ws_redact_keep_query(const char *name, char *err, size_t errlen)
{
	return keep(keep_query, &nkeep_query, name, "query", err, errlen);
}

int ws_redact_keep_header(const char *name, char *err, size_t errlen)
{
	for (size_t i = 0; i < WS_ARRAY_SIZE(credential_headers); i++)
		if (strcasecmp(name, credential_headers[i]) == 0) {
			snprintf(err, errlen,
				 "%s carries credentials: wirespan never stores its value (the span only says it was "
				 "present)",
				 name);
			return -1;
		}
	return keep(keep_header, &nkeep_header, name, "header", err, errlen);
}

bool ws_redact_header_kept(const char *name, size_t n)
{
	for (size_t i = 0; i < nkeep_header; i++)
		if (ws_strcaseeq_n(name, n, keep_header[i]))
			return true;
	return false;
}

struct out {
	char *b;
	size_t size, o;
};

static void put(struct out *w, const char *s, size_t n)
{
	for (size_t i = 0; i < n && w->o + 1 < w->size; i++)
		w->b[w->o++] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
	w->b[w->o] = 0;
}

static void puts_(struct out *w, const char *s) { put(w, s, strlen(s)); }

static bool query_kept(const char *name, size_t n)
{
	for (size_t k = 0; k < nkeep_query; k++)
		if (ws_strcaseeq_n(name, n, keep_query[k]))
			return true;
	return false;
}

/* The query item starting at i: where it ends ('&', ';' or n), with the
 * place of its '=' in *eq (== the end: no name, the item is a value). */
static size_t query_item(const char *q, size_t n, size_t i, size_t *eq)
{
	size_t end = i;

	while (end < n && q[end] != '&' && q[end] != ';')
		end++;
	for (*eq = i; *eq < end && q[*eq] != '='; (*eq)++)
		;
	return end;
}

void ws_redact_query(char *out, size_t size, const char *q, size_t n)
{
	struct out w = {out, size, 0};

	if (!size)
		return;
	out[0] = 0;
	for (size_t i = 0; i < n;) {
		size_t eq, end = query_item(q, n, i, &eq);
		bool kept = eq < end && query_kept(q + i, eq - i);
		if (eq == end) /* no name: the item is a value */
			puts_(&w, end > i ? "REDACTED" : "");
		else if (kept || eq + 1 == end)
			put(&w, q + i, end - i);
		else {
			put(&w, q + i, eq + 1 - i);
			puts_(&w, "REDACTED");
		}
		if (end < n)
			put(&w, q + end, 1);
		i = end + 1;
	}
}

/* A path segment after which the next one is a credential. */
static const char *const token_words[] = {
	"reset-password", "reset_password", "resetpassword", "password-reset", "password_reset", "reset",
	"token", "tokens", "verify", "verification", "confirm", "confirmation", "invite", "invitation",
	"activate", "activation", "magic", "magic-link", "login-link", "unsubscribe", "key", "keys", "apikey",
	"api-key", "api_key", "secret", "secrets", "session", "sessions", "auth", "oauth", "password", "passwd",
	"signature", "sig", "share", "download",
};

static bool is_token_word(const char *s, size_t n)
{
	for (size_t i = 0; i < WS_ARRAY_SIZE(token_words); i++)
		if (ws_strcaseeq_n(s, n, token_words[i]))
			return true;
	return false;
}

/* Long and mixing letters and digits (keys, signed ids, JWTs, UUIDs), or
 * bot<digits>:<anything> (Telegram), or already masked (a saved event
 * file's, mask.h: at least 5 stars). */
static bool looks_secret(const char *s, size_t n)
{
	size_t letters = 0, digits = 0, stars = 0;

	if (n > 4 && strncasecmp(s, "bot", 3) == 0 && isdigit((unsigned char)s[3]) && memchr(s, ':', n))
		return true;
	for (size_t i = 0; i < n; i++) {
		letters += isalpha((unsigned char)s[i]) != 0;
		digits += isdigit((unsigned char)s[i]) != 0;
		stars += s[i] == '*';
	}
	return (n >= 16 && letters && digits) || (n >= 5 && stars == n);
}

/* The path segment starting at i: where it ends ('/' or n), with the
 * length of its name (before any ;parameters) in *sn. */
static size_t path_segment(const char *p, size_t n, size_t i, size_t *sn)
{
	size_t end = i;

	while (end < n && p[end] != '/')
		end++;
	const char *semi = memchr(p + i, ';', end - i);
	*sn = semi ? (size_t)(semi - (p + i)) : end - i;
	return end;
}

/* Whether a segment's name is a credential: after a word such as token,
 * or looking like one; *after_word says so of the next segment. */
static bool segment_token(const char *s, size_t sn, bool *after_word)
{
	bool token = sn && (*after_word || looks_secret(s, sn));

	*after_word = sn && is_token_word(s, sn);
	return token;
}

/* The path parameter starting at k (its ';'), inside a segment ending at
 * end: where it ends, with its '=' in *eq (== the end: none). */
static size_t path_param(const char *p, size_t k, size_t end, size_t *eq)
{
	size_t e = k + 1;

	while (e < end && p[e] != ';')
		e++;
	const char *q = memchr(p + k, '=', e - k);
	*eq = q ? (size_t)(q - p) : e;
	return e;
}

void ws_redact_path(char *out, size_t size, const char *p, size_t n)
{
	struct out w = {out, size, 0};
	bool after_word = false;

	if (!size)
		return;
	out[0] = 0;
	for (size_t i = 0; i <= n;) {
		size_t sn, end = path_segment(p, n, i, &sn);
		if (segment_token(p + i, sn, &after_word))
			puts_(&w, "{token}");
		else
			put(&w, p + i, sn);
		for (size_t k = i + sn, eq, e; k < end; k = e) { /* each ;name=value */
			e = path_param(p, k, end, &eq);
			if (eq < e) {
				put(&w, p + k, eq + 1 - k);
				puts_(&w, "REDACTED");
			} else {
				put(&w, ";", 1);
			}
		}
		if (end < n)
			put(&w, "/", 1);
		i = end + 1;
	}
}

void ws_redact_host(char *out, size_t size, const char *h, size_t n)
{
	const char *at = memrchr(h, '@', n);

	if (at) { /* user:password@host */
		n -= (size_t)(at + 1 - h);
		h = at + 1;
	}
	ws_copy_text(out, size, (const uint8_t *)h, n);
}

static void fill(char *s, size_t n)
{
	memset(s, '*', n);
}

/* Mask a query string's values (as ws_redact_query would not keep them). */
static void mask_query(char *q, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t eq, end = query_item(q, n, i, &eq);
		if (eq == end)
			fill(q + i, end - i);
		else if (!query_kept(q + i, eq - i))
			fill(q + eq + 1, end - eq - 1);
		i = end + 1;
	}
}

/* Mask a path's tokens and parameter values (as ws_redact_path). */
static void mask_path(char *p, size_t n)
{
	bool after_word = false;

	for (size_t i = 0; i <= n;) {
		size_t sn, end = path_segment(p, n, i, &sn);
		if (segment_token(p + i, sn, &after_word))
			fill(p + i, sn);
		for (size_t k = i + sn, eq, e; k < end; k = e) { /* each ;name=value: ws_redact_path keeps the name */
			e = path_param(p, k, end, &eq);
			if (eq < e)
				fill(p + eq + 1, e - eq - 1);
			else
				fill(p + k + 1, e - k - 1);
		}
		i = end + 1;
	}
}

void ws_redact_mask_target(char *t, size_t n)
{
	/* absolute form: the authority's userinfo goes; the host stays */
	if (n > 7 && (strncasecmp(t, "http://", 7) == 0 || (n > 8 && strncasecmp(t, "https://", 8) == 0))) {
		size_t a = t[4] == ':' ? 7 : 8, e = a;
		while (e < n && t[e] != '/' && t[e] != '?')
			e++;
		const char *at = memrchr(t + a, '@', e - a);
		if (at)
			fill(t + a, (size_t)(at - (t + a)));
		t += e;
		n -= e;
	}
	const char *q = memchr(t, '?', n);
	size_t pn = q ? (size_t)(q - t) : n;
	mask_path(t, pn);
	if (q)
		mask_query(t + pn + 1, n - pn - 1);
}
