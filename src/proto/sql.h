/* sql.h -- what a span keeps of a SQL statement's text.
 *
 * Literals (strings, dollar-quoted strings, numbers) become '?', comments
 * and runs of white space become one space; identifiers, keywords,
 * operators and parameter markers ($1) stay. The operation is the first
 * keyword; the table (collection) is named only where the text leaves no
 * doubt: INSERT INTO t, UPDATE t, DELETE FROM t, a SELECT from one table
 * (no join, no second table, no subquery in FROM, no set operation),
 * COPY t, TRUNCATE t, CREATE / DROP / ALTER TABLE t; never for text that
 * holds more than one statement or was cut before that could be told. */
#ifndef WIRESPAN_PROTO_SQL_H
#define WIRESPAN_PROTO_SQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the text's quotes and comments mean. PostgreSQL: '...' strings
 * (backslashes only in E'...'), "..." identifiers, $tag$...$tag$, nested
 * block comments. MySQL: '...' and "..." strings with backslash escapes,
 * `...` identifiers, # line comments. */
enum ws_sql_dialect { WS_SQL_PG, WS_SQL_MYSQL };

struct ws_sql_summary {
	char op[32];          /* "SELECT", upper case; "" unknown */
	char collection[64];  /* "pgbench_accounts", "public.items"; "" not certain */
	char text[256];       /* the statement, literals replaced by '?' */
	bool cut;             /* the text kept is not the whole statement */
	bool multi;           /* more than one statement */
};

/* Summarise sql[0..n). complete: n bytes are the whole statement (false:
 * it was cut, so its last token may be partial). */
void ws_sql_summarise(const char *sql, size_t n, bool complete, enum ws_sql_dialect d, struct ws_sql_summary *out);

/* Statements a connection prepared, by name (PostgreSQL) or id (MySQL,
 * as its decimal text), the one used longest ago forgotten past max. */
struct ws_stmt_cache {
	struct ws_stmt_entry {
		char key[64];
		uint64_t used;
		struct ws_sql_summary sum;
	} *v;
	unsigned n, max;
	uint64_t tick;
};

void ws_stmt_init(struct ws_stmt_cache *c, unsigned max);
void ws_stmt_free(struct ws_stmt_cache *c);
const struct ws_sql_summary *ws_stmt_find(const struct ws_stmt_cache *c, const char *key);
void ws_stmt_put(struct ws_stmt_cache *c, const char *key, const struct ws_sql_summary *sum);
void ws_stmt_forget(struct ws_stmt_cache *c, const char *key);

struct ws_span_fields;

/* What a database span shows: method, target and query from a statement's
 * operation, table and text; its name OpenTelemetry's "operation table"
 * (the operation alone without a certain table, else the system's name). */
void ws_sql_span_fields(const char *op, const char *collection, const char *text, const char *system,
			struct ws_span_fields *s);

#endif
