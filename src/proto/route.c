/* route.c -- see route.h. */
#include "proto/route.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#define SEGMENT_MAX 40 /* longer: free text or an id, not a name */
#define HEX_MIN 8      /* fewer hex digits are as often a word (a1, 3d, b2b) as an id */

static bool all_of(const char *s, size_t n, int (*is)(int))
{
	for (size_t i = 0; i < n; i++)
		if (!is((unsigned char)s[i]))
			return false;
	return n > 0;
}

/* Dashes where the pattern has them ("dddd-dd-dd"), characters of a kind
 * (is) everywhere else. */
static bool shaped(const char *s, size_t n, const char *pattern, int (*is)(int))
{
	if (n != strlen(pattern))
		return false;
	for (size_t i = 0; i < n; i++)
		if (pattern[i] == '-' ? s[i] != '-' : !is((unsigned char)s[i]))
			return false;
	return true;
}

static bool has_digit(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (isdigit((unsigned char)s[i]))
			return true;
	return false;
}

/* The placeholder for a segment's name, or NULL: it stays. */
static const char *placeholder(const char *s, size_t n)
{
	if (all_of(s, n, isdigit))
		return "{id}";
	if (shaped(s, n, "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", isxdigit))
		return "{uuid}";
	if (shaped(s, n, "dddd-dd-dd", isdigit))
		return "{date}";
	/* a word of the letters a-f (cafebabe, added) is not an id */
	if (n >= HEX_MIN && all_of(s, n, isxdigit) && has_digit(s, n))
		return "{hex}";
	if (n > SEGMENT_MAX)
		return "{seg}";
	return NULL;
}

void ws_route_template(char *out, size_t size, const char *path)
{
	size_t o = 0, n = strcspn(path, "?");

	if (!size)
		return;
	if (!n) /* an empty path is the root's */
		path = "/", n = 1;
	for (size_t i = 0; i < n;) {
		if (path[i] == '/') {
			if (o + 1 >= size)
				break;
			out[o++] = '/';
			i++;
			continue;
		}
		size_t end = i + strcspn(path + i, "/?");
		const char *semi = memchr(path + i, ';', end - i);
		size_t sn = semi ? (size_t)(semi - (path + i)) : end - i;
		const char *rep = placeholder(path + i, sn);
		size_t rn = rep ? strlen(rep) : sn, pn = end - i - sn; /* name, ;parameters */
		if (o + rn + pn >= size)
			break; /* never half a segment */
		memcpy(out + o, rep ? rep : path + i, rn);
		memcpy(out + o + rn, path + i + sn, pn);
		o += rn + pn;
		i = end;
	}
	out[o] = 0;
}
