/* redact.h -- what of a request may reach storage: an allow-list.
 *
 * Query values are replaced by REDACTED unless their parameter's name was
 * allowed (--keep-query); an item without a name is a value. Path segments
 * that look like credentials become {token}: the segment after a word such
 * as reset-password, token, verify, invite, unsubscribe, key, session; a
 * segment of 16 or more characters mixing letters and digits (API keys,
 * signed ids, JWTs, UUIDs); a Telegram-style bot<id>:<token>. Path
 * parameters keep their names only (;jsessionid=REDACTED). Host loses any
 * userinfo. Headers are kept only when allowed: Host, User-Agent,
 * Content-Type and traceparent by default, others by --keep-header (never
 * Authorization, Proxy-Authorization, Cookie or Set-Cookie, which are only
 * marked as present). */
#ifndef WIRESPAN_PROTO_REDACT_H
#define WIRESPAN_PROTO_REDACT_H

#include <stdbool.h>
#include <stddef.h>

#define WS_REDACT_KEEP_MAX 16

/* Allow a query parameter's value, or a header (case-insensitive). 0, or
 * -1 with the reason in err (too many, or a header that is a credential). */
int ws_redact_keep_query(const char *name, char *err, size_t errlen);
int ws_redact_keep_header(const char *name, char *err, size_t errlen);
bool ws_redact_header_kept(const char *name, size_t n);

/* Write the redacted form of q[0..n) (a query string, without '?'), of a
 * path, and of a Host value, as text with control characters replaced. */
void ws_redact_query(char *out, size_t size, const char *q, size_t n);
void ws_redact_path(char *out, size_t size, const char *p, size_t n);
void ws_redact_host(char *out, size_t size, const char *h, size_t n);

/* The same rules, applied in place and length for length (for saved event
 * files, mask.h): every byte the forms above would not keep of a request
 * target (origin or absolute form) becomes '*'. A path segment of '*'
 * only is what a masked token looks like, and ws_redact_path shows it as
 * {token} too. */
void ws_redact_mask_target(char *t, size_t n);

#endif
