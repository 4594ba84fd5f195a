/* sql.c -- see sql.h. One pass over the text: a tokenizer that writes the
 * sanitised text as it goes and keeps the first tokens for the operation
 * and table. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"
#include "proto/sql.h"
#include "util/util.h"

#define TOKENS_MAX 64

enum tok_kind { T_WORD, T_QUOTED, T_PUNCT, T_LITERAL, T_PARAM };

struct tok {
	enum tok_kind kind;
	int depth;    /* parentheses around it */
	bool partial; /* the text was cut inside it */
	char s[64];   /* a word in upper case; a quoted identifier as written */
	char ident[64]; /* a word as PostgreSQL folds it (lower case) */
};

struct lex {
	const char *p, *end;
	bool complete;
	enum ws_sql_dialect dialect;
	struct ws_sql_summary *out;
	size_t o; /* bytes written to out->text */
	struct tok t[TOKENS_MAX];
	int nt, depth;
	bool more_tokens; /* tokens past TOKENS_MAX */
	bool gap;         /* white space or a comment since the last token */
};

static bool word_start(unsigned char c) { return isalpha(c) || c == '_' || c >= 0x80; }
static bool word_char(unsigned char c) { return isalnum(c) || c == '_' || c == '$' || c >= 0x80; }

static void put(struct lex *L, const char *s, size_t n)
{
	size_t room = sizeof(L->out->text) - 1 - L->o;

	if (n > room) {
		n = room;
		L->out->cut = true;
	}
	memcpy(L->out->text + L->o, s, n);
	L->o += n;
	L->out->text[L->o] = 0;
}

/* One space where the text had white space or comments between tokens,
 * never at the start. */
static void space(struct lex *L)
{
	if (L->gap && L->o)
		put(L, " ", 1);
	L->gap = false;
}

static struct tok *add(struct lex *L, enum tok_kind k)
{
	if (L->nt == TOKENS_MAX) {
		L->more_tokens = true;
		return NULL;
	}
	struct tok *t = &L->t[L->nt++];
	memset(t, 0, sizeof(*t));
	t->kind = k;
	t->depth = L->depth;
	return t;
}

/* A literal ends at its closing quote; a cut text may end inside it. */
static void literal(struct lex *L)
{
	struct tok *t = add(L, T_LITERAL);

	put(L, "?", 1);
	if (t && L->p >= L->end && !L->complete)
		t->partial = true;
}

/* 'text' with '' inside (or "text" with ""); backslash escapes too for
 * E'...' and MySQL */
static void skip_string(struct lex *L, unsigned char quote, bool backslashes)
{
	L->p++;
	while (L->p < L->end) {
		if (backslashes && *L->p == '\\' && L->p + 1 < L->end) {
			L->p += 2;
			continue;
		}
		if (*L->p == (char)quote) {
			if (L->p + 1 < L->end && L->p[1] == (char)quote) {
				L->p += 2;
				continue;
			}
			L->p++;
			return;
		}
		L->p++;
	}
}

/* $tag$ ... $tag$ (the tag may be empty); false if p is not one */
static bool skip_dollar(struct lex *L)
{
	const char *q = L->p + 1;

	while (q < L->end && (isalnum((unsigned char)*q) || *q == '_'))
		q++;
	if (q >= L->end || *q != '$' || isdigit((unsigned char)L->p[1]))
		return false;
	size_t tag = (size_t)(q - L->p) + 1;
	const char *open = L->p;
	L->p = q + 1;
	while (L->p < L->end) {
		if (*L->p == '$' && (size_t)(L->end - L->p) >= tag && memcmp(L->p, open, tag) == 0) {
			L->p += tag;
			return true;
		}
		L->p++;
	}
	return true;
}

static void lex(struct lex *L)
{
	while (L->p < L->end) {
		unsigned char c = (unsigned char)*L->p;
		if (isspace(c)) {
			L->p++;
			L->gap = true;
			continue;
		}
		if ((c == '-' && L->p + 1 < L->end && L->p[1] == '-') || (c == '#' && L->dialect == WS_SQL_MYSQL)) {
			/* to the end of the line */
			while (L->p < L->end && *L->p != '\n')
				L->p++;
			L->gap = true;
			continue;
		}
		if (c == '/' && L->p + 1 < L->end && L->p[1] == '*') {
			/* PostgreSQL's nest; MySQL's end at the first close */
			const char *e = NULL;
			int depth = 1;
			for (const char *q = L->p + 2; q + 1 < L->end; q++) {
				if (q[0] == '/' && q[1] == '*' && L->dialect == WS_SQL_PG) {
					depth++;
					q++;
				} else if (q[0] == '*' && q[1] == '/' && --depth == 0) {
					e = q + 2;
					break;
				} else if (q[0] == '*' && q[1] == '/') {
					q++;
				}
			}
			L->p = e ? e : L->end;
			L->gap = true;
			continue;
		}
		space(L);
		bool my = L->dialect == WS_SQL_MYSQL;
		if (c == '\'' || (c == '"' && my)) { /* MySQL: "..." is a string too, and backslashes escape */
			skip_string(L, c, my);
			literal(L);
		} else if (c == '$' && L->p + 1 < L->end && isdigit((unsigned char)L->p[1])) {
			const char *s = L->p++;
			while (L->p < L->end && isdigit((unsigned char)*L->p))
				L->p++;
			add(L, T_PARAM);
			put(L, s, (size_t)(L->p - s));
		} else if (c == '$' && skip_dollar(L)) {
			literal(L);
		} else if (c == '"' || (c == '`' && my)) { /* an identifier */
			const char *s = ++L->p;
			while (L->p < L->end && !(*L->p == (char)c && !(L->p + 1 < L->end && L->p[1] == (char)c)))
				L->p += *L->p == (char)c ? 2 : 1;
			struct tok *t = add(L, T_QUOTED);
			if (t) {
				ws_copy_text(t->s, sizeof(t->s), (const uint8_t *)s, (size_t)(L->p - s));
				memcpy(t->ident, t->s, sizeof(t->ident));
				t->partial = L->p >= L->end;
			}
			put(L, (const char *)&c, 1);
			put(L, s, (size_t)(L->p - s));
			put(L, (const char *)&c, 1);
			if (L->p < L->end)
				L->p++;
		} else if (isdigit(c) || (c == '.' && L->p + 1 < L->end && isdigit((unsigned char)L->p[1]))) {
			while (L->p < L->end && (isalnum((unsigned char)*L->p) || *L->p == '.' ||
						 ((*L->p == '+' || *L->p == '-') && (L->p[-1] == 'e' || L->p[-1] == 'E'))))
				L->p++;
			literal(L);
		} else if (word_start(c)) {
			const char *s = L->p;
			while (L->p < L->end && word_char((unsigned char)*L->p))
				L->p++;
			size_t n = (size_t)(L->p - s);
			/* E'..', B'..', X'..', N'..', U&'..': a prefix of the literal */
			if (L->p < L->end && *L->p == '\'' && n == 1) {
				skip_string(L, '\'', toupper(c) == 'E' || L->dialect == WS_SQL_MYSQL);
				literal(L);
				continue;
			}
			if (L->p + 1 < L->end && n == 1 && toupper(c) == 'U' && L->p[0] == '&' && L->p[1] == '\'') {
				L->p++;
				skip_string(L, '\'', L->dialect == WS_SQL_MYSQL);
				literal(L);
				continue;
			}
			struct tok *t = add(L, T_WORD);
			if (t) {
				size_t k = WS_MIN(n, sizeof(t->s) - 1);
				for (size_t i = 0; i < k; i++) {
					t->s[i] = (char)toupper((unsigned char)s[i]);
					t->ident[i] = (char)tolower((unsigned char)s[i]);
				}
				t->partial = (L->p >= L->end && !L->complete) || n >= sizeof(t->s);
			}
			put(L, s, n);
		} else {
			if (c == '(')
				L->depth++;
			struct tok *t = add(L, T_PUNCT);
			if (t) {
				t->s[0] = (char)c;
				t->partial = false;
			}
			if (c == ')' && L->depth > 0)
				L->depth--;
			put(L, L->p, 1);
			L->p++;
		}
	}
	if (L->o && L->out->text[L->o - 1] == ' ')
		L->out->text[--L->o] = 0;
}

static bool is(const struct lex *L, int i, const char *word)
{
	return i < L->nt && L->t[i].kind == T_WORD && strcmp(L->t[i].s, word) == 0;
}

static bool punct(const struct lex *L, int i, char c)
{
	return i < L->nt && L->t[i].kind == T_PUNCT && L->t[i].s[0] == c;
}

/* A table name at token i: ident or ident.ident; sets *next. */
static bool table_name(const struct lex *L, int i, char *out, size_t size, int *next)
{
	const struct tok *a = i < L->nt ? &L->t[i] : NULL;

	if (!a || (a->kind != T_WORD && a->kind != T_QUOTED) || a->partial)
		return false;
	if (punct(L, i + 1, '.')) {
		const struct tok *b = i + 2 < L->nt ? &L->t[i + 2] : NULL;
		if (!b || (b->kind != T_WORD && b->kind != T_QUOTED) || b->partial)
			return false;
		snprintf(out, size, "%s.%s", a->ident, b->ident);
		*next = i + 3;
	} else {
		ws_strlcpy(out, a->ident, size);
		*next = i + 1;
	}
	/* the name must be followed by something: a cut text may have cut it */
	return *next < L->nt || L->complete;
}

static const char *const select_followers[] = {"WHERE", "GROUP", "ORDER", "LIMIT", "OFFSET", "FOR",
					      "HAVING", "WINDOW", "FETCH"};

static bool follower(const struct lex *L, int i)
{
	if (i >= L->nt)
		return L->complete && !L->more_tokens;
	if (punct(L, i, ';'))
		return true;
	for (size_t k = 0; k < WS_ARRAY_SIZE(select_followers); k++)
		if (is(L, i, select_followers[k]))
			return true;
	return false;
}

/* SELECT ... FROM one table [alias] followed by the end or a clause. */
static bool select_table(const struct lex *L, char *out, size_t size)
{
	int from = -1, next;

	for (int i = 0; i < L->nt; i++) {
		const struct tok *t = &L->t[i];
		if (t->depth != 0)
			continue;
		if (is(L, i, "UNION") || is(L, i, "INTERSECT") || is(L, i, "EXCEPT") || is(L, i, "JOIN") ||
		    is(L, i, "WITH"))
			return false;
		if (is(L, i, "FROM")) {
			if (from >= 0)
				return false;
			from = i;
		}
	}
	if (from < 0 || !table_name(L, from + 1, out, size, &next))
		return false;
	if (is(L, next, "AS"))
		next++;
	if (next < L->nt && L->t[next].kind == T_WORD && !follower(L, next) && !L->t[next].partial)
		next++; /* an alias */
	return follower(L, next);
}

static void analyse(struct lex *L)
{
	struct ws_sql_summary *s = L->out;
	int i = 0, next;

	while (punct(L, i, '('))
		i++;
	if (i < L->nt && L->t[i].kind == T_WORD && !L->t[i].partial) {
		bool letters = true;
		for (const char *c = L->t[i].s; *c; c++)
			letters &= isalpha((unsigned char)*c) != 0;
		if (letters && strlen(L->t[i].s) < sizeof(s->op))
			ws_strlcpy(s->op, L->t[i].s, sizeof(s->op));
	}
	for (int k = 0; k < L->nt; k++)
		if (punct(L, k, ';') && L->t[k].depth == 0 && k + 1 < L->nt)
			s->multi = true;
	if (!s->op[0] || s->multi)
		return;
	char *c = s->collection;
	size_t n = sizeof(s->collection);
	int a = i + 1;
	if (strcmp(s->op, "INSERT") == 0) {
		if (is(L, a, "INTO") && table_name(L, a + 1, c, n, &next))
			return;
	} else if (strcmp(s->op, "UPDATE") == 0) {
		if (is(L, a, "ONLY"))
			a++;
		if (table_name(L, a, c, n, &next))
			return;
	} else if (strcmp(s->op, "DELETE") == 0) {
		if (is(L, a, "FROM")) {
			a++;
			if (is(L, a, "ONLY"))
				a++;
			if (table_name(L, a, c, n, &next))
				return;
		}
	} else if (strcmp(s->op, "SELECT") == 0) {
		if (select_table(L, c, n))
			return;
	} else if (strcmp(s->op, "COPY") == 0) {
		if (table_name(L, a, c, n, &next) && !punct(L, next, '.'))
			return;
	} else if (strcmp(s->op, "TRUNCATE") == 0) {
		if (is(L, a, "TABLE"))
			a++;
		if (is(L, a, "ONLY"))
			a++;
		if (table_name(L, a, c, n, &next) && !punct(L, next, ','))
			return;
	} else if (strcmp(s->op, "CREATE") == 0 || strcmp(s->op, "DROP") == 0 || strcmp(s->op, "ALTER") == 0) {
		while (is(L, a, "TEMP") || is(L, a, "TEMPORARY") || is(L, a, "UNLOGGED") || is(L, a, "GLOBAL") ||
		       is(L, a, "LOCAL"))
			a++;
		if (is(L, a, "TABLE")) {
			a++;
			if (is(L, a, "IF") && is(L, a + 1, "NOT") && is(L, a + 2, "EXISTS"))
				a += 3;
			else if (is(L, a, "IF") && is(L, a + 1, "EXISTS"))
				a += 2;
			if (table_name(L, a, c, n, &next) && !punct(L, next, ','))
				return;
		}
	}
	c[0] = 0;
}

void ws_sql_span_fields(const char *op, const char *collection, const char *text, const char *system,
			struct ws_span_fields *s)
{
	ws_strlcpy(s->method, op, sizeof(s->method));
	ws_strlcpy(s->target, collection, sizeof(s->target));
	ws_strlcpy(s->query, text, sizeof(s->query));
	if (op[0] && collection[0])
		snprintf(s->name, sizeof(s->name), "%s %s", op, collection);
	else
		ws_strlcpy(s->name, op[0] ? op : system, sizeof(s->name));
}

/* ---- prepared statements ---- */

void ws_stmt_init(struct ws_stmt_cache *c, unsigned max)
{
	memset(c, 0, sizeof(*c));
	c->max = max;
}

void ws_stmt_free(struct ws_stmt_cache *c)
{
	free(c->v);
	c->v = NULL;
	c->n = 0;
}

static struct ws_stmt_entry *stmt_at(const struct ws_stmt_cache *c, const char *key)
{
	for (unsigned i = 0; i < c->n; i++)
		if (strcmp(c->v[i].key, key) == 0)
			return &c->v[i];
	return NULL;
}

const struct ws_sql_summary *ws_stmt_find(const struct ws_stmt_cache *c, const char *key)
{
	const struct ws_stmt_entry *e = stmt_at(c, key);

	return e ? &e->sum : NULL;
}

void ws_stmt_put(struct ws_stmt_cache *c, const char *key, const struct ws_sql_summary *sum)
{
	struct ws_stmt_entry *e = stmt_at(c, key);

	if (!e) {
		if (!c->v)
			c->v = ws_calloc(c->max, sizeof(*c->v));
		if (c->n < c->max) {
			e = &c->v[c->n++];
		} else { /* forget the one used longest ago */
			e = &c->v[0];
			for (unsigned i = 1; i < c->n; i++)
				if (c->v[i].used < e->used)
					e = &c->v[i];
		}
		ws_strlcpy(e->key, key, sizeof(e->key));
	}
	e->sum = *sum;
	e->used = ++c->tick;
}

void ws_stmt_forget(struct ws_stmt_cache *c, const char *key)
{
	struct ws_stmt_entry *e = stmt_at(c, key);

	if (e)
		*e = c->v[--c->n];
}

void ws_sql_summarise(const char *sql, size_t n, bool complete, enum ws_sql_dialect d, struct ws_sql_summary *out)
{
	struct lex L;

	memset(out, 0, sizeof(*out));
	memset(&L, 0, sizeof(L));
	L.dialect = d;
	L.p = sql;
	L.end = sql + n;
	L.complete = complete;
	L.out = out;
	lex(&L);
	if (!complete)
		out->cut = true;
	analyse(&L);
}
