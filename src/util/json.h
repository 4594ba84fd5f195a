/* json.h -- a small JSON writer into a growable buffer.
 *
 * Commas are managed for the caller: write a key, then a value; containers
 * nest up to 32 deep. Strings are escaped per RFC 8259; bytes that are not
 * valid UTF-8 are written as U+FFFD so output is always valid JSON. */
#ifndef WIRESPAN_JSON_H
#define WIRESPAN_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ws_json {
	char *buf;
	size_t len, cap;
	int depth;
	bool first[32];
	bool after_key;
};

void wj_init(struct ws_json *j);
void wj_free(struct ws_json *j);
void wj_reset(struct ws_json *j);

void wj_obj_begin(struct ws_json *j);
void wj_obj_end(struct ws_json *j);
void wj_arr_begin(struct ws_json *j);
void wj_arr_end(struct ws_json *j);
void wj_key(struct ws_json *j, const char *key);
void wj_str(struct ws_json *j, const char *s);
void wj_strn(struct ws_json *j, const char *s, size_t n);
void wj_int(struct ws_json *j, int64_t v);
void wj_uint(struct ws_json *j, uint64_t v);
void wj_bool(struct ws_json *j, bool v);
/* A finite number with up to 3 decimals (non-finite values write 0). */
void wj_num3(struct ws_json *j, double v);
/* Insert the members of an already-encoded JSON object ("{...}") into the
 * object being written. Empty or "{}" inserts nothing. */
void wj_members(struct ws_json *j, const char *object_text);

/* Shorthands for "key": value pairs. */
void wj_kstr(struct ws_json *j, const char *key, const char *s);
void wj_kint(struct ws_json *j, const char *key, int64_t v);
void wj_kuint(struct ws_json *j, const char *key, uint64_t v);
void wj_kbool(struct ws_json *j, const char *key, bool v);
void wj_knum3(struct ws_json *j, const char *key, double v);

#endif
