/* store.c -- see store.h. The schema below is the documented one
 * (docs/schema.md); change both together and bump the schema version. */
#include "store/store.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/privfile.h"
#include "util/util.h"

#define APPLICATION_ID 0x57535031 /* "WSP1" */

/* ---- the spans table ----
 *
 * Its columns, listed once: the CREATE TABLE, the INSERT, the SELECT for
 * a file of any version and the ALTERs that upgrade an older one are made
 * from this list, and add_span and row_to_span walk it, so that what is
 * written, read and created cannot drift apart. Columns are only ever
 * added, at the end: a file's columns are in this order whatever version
 * created it. */

/* How a column holds its field of struct ws_span. */
enum col_kind {
	COL_UINT,     /* an unsigned integer of the field's size */
	COL_INT,      /* a signed one */
	COL_INT_NZ,   /* signed, NULL when 0 */
	COL_INT_OPT,  /* signed, NULL when negative (unknown, read as -1) */
	COL_REAL,     /* a float */
	COL_TEXT,     /* a char array */
	COL_TEXT_NZ,  /* the same, NULL when empty */
	COL_JSON,     /* the same, '{}' when empty */
	COL_ID,       /* bytes, as hex */
	COL_PARENT,   /* the same, '' when all zero (no parent) */
	COL_KIND,     /* enum ws_span_kind, by name */
	COL_PROTO,    /* enum ws_proto, by name */
	COL_DURATION, /* end_ns - start_ns: written for SQL users, never read */
	COL_ADDR,     /* a struct ws_endpoint's address, NULL when unknown */
	COL_PORT,     /* the same endpoint's port, NULL when unknown */
};

struct span_col {
	const char *name;
	const char *decl;  /* SQL type and constraints */
	int since;         /* the schema version that added it */
	const char *older; /* what a file older than that answers for it */
	enum col_kind kind;
	size_t off, size;  /* the field */
};

#define FIELD(m) offsetof(struct ws_span, m), sizeof(((struct ws_span *)0)->m)

static const struct span_col span_cols[] = {
	{"span_id", "TEXT NOT NULL", 1, NULL, COL_ID, FIELD(span_id)}, /* unique: spans_by_id (8) */
	{"trace_id", "TEXT NOT NULL", 1, NULL, COL_ID, FIELD(trace_id)},
	{"parent_span_id", "TEXT NOT NULL DEFAULT ''", 1, NULL, COL_PARENT, FIELD(parent_id)},
	{"recording_id", "INTEGER NOT NULL REFERENCES recordings(id)", 1, NULL, COL_INT, FIELD(recording_id)},
	{"conn_id", "INTEGER NOT NULL", 1, NULL, COL_UINT, FIELD(conn_id)},
	{"kind", "TEXT NOT NULL", 1, NULL, COL_KIND, FIELD(kind)},
	{"protocol", "TEXT NOT NULL", 1, NULL, COL_PROTO, FIELD(proto)},
	{"name", "TEXT NOT NULL", 1, NULL, COL_TEXT, FIELD(name)},
	{"start_ns", "INTEGER NOT NULL", 1, NULL, COL_UINT, FIELD(start_ns)},
	{"end_ns", "INTEGER NOT NULL", 1, NULL, COL_UINT, FIELD(end_ns)},
	{"duration_ns", "INTEGER NOT NULL", 1, NULL, COL_DURATION, 0, 0},
	{"service", "TEXT NOT NULL", 1, NULL, COL_TEXT, FIELD(service)},
	{"host", "TEXT NOT NULL", 1, NULL, COL_TEXT, FIELD(host)},
	{"pid", "INTEGER", 1, NULL, COL_UINT, FIELD(pid)},
	{"tid", "INTEGER", 1, NULL, COL_UINT, FIELD(tid)},
	{"local_addr", "TEXT", 1, NULL, COL_ADDR, FIELD(local)},
	{"local_port", "INTEGER", 1, NULL, COL_PORT, FIELD(local)},
	{"peer_addr", "TEXT", 1, NULL, COL_ADDR, FIELD(peer)},
	{"peer_port", "INTEGER", 1, NULL, COL_PORT, FIELD(peer)},
	{"method", "TEXT", 1, NULL, COL_TEXT, FIELD(method)},
	{"target", "TEXT", 1, NULL, COL_TEXT, FIELD(target)},
	{"query", "TEXT", 1, NULL, COL_TEXT, FIELD(query)},
	{"status", "INTEGER", 1, NULL, COL_INT_NZ, FIELD(status)},
	{"error", "TEXT", 1, NULL, COL_TEXT, FIELD(error)},
	{"req_bytes", "INTEGER", 1, NULL, COL_UINT, FIELD(req_bytes)},
	{"resp_bytes", "INTEGER", 1, NULL, COL_UINT, FIELD(resp_bytes)},
	{"req_body_bytes", "INTEGER", 1, NULL, COL_UINT, FIELD(req_body)},
	{"resp_body_bytes", "INTEGER", 1, NULL, COL_UINT, FIELD(resp_body)},
	{"req_seq", "INTEGER", 1, NULL, COL_UINT, FIELD(req_seq)},
	{"resp_seq", "INTEGER", 1, NULL, COL_UINT, FIELD(resp_seq)},
	{"req_first_enter_ns", "INTEGER", 1, NULL, COL_UINT, FIELD(req_t[WS_T_FIRST_ENTER])},
	{"req_first_exit_ns", "INTEGER", 1, NULL, COL_UINT, FIELD(req_t[WS_T_FIRST_EXIT])},
	{"req_last_enter_ns", "INTEGER", 1, NULL, COL_UINT, FIELD(req_t[WS_T_LAST_ENTER])},
	{"req_last_exit_ns", "INTEGER", 1, NULL, COL_UINT, FIELD(req_t[WS_T_LAST_EXIT])},
	{"resp_first_enter_ns", "INTEGER", 1, NULL, COL_UINT, FIELD(resp_t[WS_T_FIRST_ENTER])},
	{"resp_first_exit_ns", "INTEGER", 1, NULL, COL_UINT, FIELD(resp_t[WS_T_FIRST_EXIT])},
	{"resp_last_enter_ns", "INTEGER", 1, NULL, COL_UINT, FIELD(resp_t[WS_T_LAST_ENTER])},
	{"resp_last_exit_ns", "INTEGER", 1, NULL, COL_UINT, FIELD(resp_t[WS_T_LAST_EXIT])},
	{"flags", "INTEGER NOT NULL DEFAULT 0", 1, NULL, COL_UINT, FIELD(flags)},
	{"attributes", "TEXT NOT NULL DEFAULT '{}'", 1, NULL, COL_JSON, FIELD(attrs)},
	/* 2: trace assembly */
	{"req_last_tid", "INTEGER", 2, "0", COL_UINT, FIELD(req_last_tid)},
	{"resp_last_tid", "INTEGER", 2, "0", COL_UINT, FIELD(resp_last_tid)},
	{"conn_open_ns", "INTEGER", 2, "0", COL_UINT, FIELD(conn_open_ns)},
	{"traceparent", "TEXT", 2, "NULL", COL_TEXT_NZ, FIELD(traceparent)},
	{"link_method", "TEXT NOT NULL DEFAULT ''", 2, "''", COL_TEXT, FIELD(link_method)},
	{"link_confidence", "REAL", 2, "0", COL_REAL, FIELD(link_confidence)},
	{"link_candidates", "INTEGER", 2, "0", COL_UINT, FIELD(link_candidates)},
	/* 3: where the time went */
	{"req_arr_first_ns", "INTEGER", 3, "0", COL_UINT, FIELD(req_arr[0])},
	{"req_arr_last_ns", "INTEGER", 3, "0", COL_UINT, FIELD(req_arr[1])},
	{"resp_arr_first_ns", "INTEGER", 3, "0", COL_UINT, FIELD(resp_arr[0])},
	{"resp_arr_last_ns", "INTEGER", 3, "0", COL_UINT, FIELD(resp_arr[1])},
	{"sched_runq_ns", "INTEGER", 3, "NULL", COL_INT_OPT, FIELD(sched_runq)},
	{"sched_offcpu_ns", "INTEGER", 3, "NULL", COL_INT_OPT, FIELD(sched_offcpu)},
	{"conn_estab_ns", "INTEGER", 3, "0", COL_UINT, FIELD(conn_estab_ns)},
	{"srtt_us", "INTEGER", 3, "0", COL_UINT, FIELD(srtt_us)},
	/* 6: who a syscall was made for */
	{"req_goid", "INTEGER", 6, "0", COL_UINT, FIELD(req_goid)},
	{"req_last_goid", "INTEGER", 6, "0", COL_UINT, FIELD(req_last_goid)},
	{"resp_goid", "INTEGER", 6, "0", COL_UINT, FIELD(resp_goid)},
	{"resp_last_goid", "INTEGER", 6, "0", COL_UINT, FIELD(resp_last_goid)},
	{"req_waker", "INTEGER", 6, "0", COL_UINT, FIELD(req_waker)},
	{"req_wake_ns", "INTEGER", 6, "0", COL_UINT, FIELD(req_wake_ns)},
	{"req_waker2", "INTEGER", 6, "0", COL_UINT, FIELD(req_waker2)},
	{"req_wake2_ns", "INTEGER", 6, "0", COL_UINT, FIELD(req_wake2_ns)},
};

#define N_SPAN_COLS WS_ARRAY_SIZE(span_cols)
#define N_SPAN_IDS 3 /* COL_ID and COL_PARENT columns: span, trace, parent */

/* The tables other than spans, as the current version creates them; in
 * sqlite_master the spans table sits between the two halves. */
static const char schema_head[] =
	"CREATE TABLE IF NOT EXISTS meta (\n"
	"  key TEXT PRIMARY KEY,\n"
	"  value TEXT NOT NULL);\n"
	"CREATE TABLE IF NOT EXISTS recordings (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  source TEXT NOT NULL,\n"
	"  host TEXT NOT NULL,\n"
	"  command TEXT NOT NULL,\n"
	"  started_ns INTEGER NOT NULL,\n"
	"  ended_ns INTEGER,\n"
	"  status TEXT NOT NULL,\n"
	"  events INTEGER NOT NULL DEFAULT 0,\n"
	"  spans INTEGER NOT NULL DEFAULT 0,\n"
	"  lost INTEGER NOT NULL DEFAULT 0,\n"
	"  pid INTEGER, updated_ns INTEGER, boot_id TEXT);\n"
	"CREATE TABLE IF NOT EXISTS shedding (\n"
	"  recording_id INTEGER NOT NULL REFERENCES recordings(id),\n"
	"  ts_ns INTEGER NOT NULL,\n"
	"  level INTEGER NOT NULL,\n"
	"  cpu_pct REAL NOT NULL,\n"
	"  budget_pct REAL NOT NULL,\n"
	"  action TEXT NOT NULL);\n"
	"CREATE TABLE IF NOT EXISTS bpf_programs (\n"
	"  recording_id INTEGER NOT NULL REFERENCES recordings(id),\n"
	"  name TEXT NOT NULL,\n"
	"  hook TEXT NOT NULL,\n"
	"  runs INTEGER NOT NULL,\n"
	"  run_ns INTEGER NOT NULL,\n"
	"  PRIMARY KEY (recording_id, name));\n"
	"CREATE TABLE IF NOT EXISTS counters (\n"
	"  recording_id INTEGER NOT NULL REFERENCES recordings(id),\n"
	"  kind TEXT NOT NULL,\n"
	"  name TEXT NOT NULL,\n"
	"  value INTEGER NOT NULL,\n"
	"  PRIMARY KEY (recording_id, kind, name));\n"
	"CREATE TABLE IF NOT EXISTS connections (\n"
	"  recording_id INTEGER NOT NULL REFERENCES recordings(id),\n"
	"  conn_id INTEGER NOT NULL,\n"
	"  host TEXT NOT NULL,\n"
	"  pid INTEGER,\n"
	"  comm TEXT,\n"
	"  role TEXT,\n"
	"  protocol TEXT,\n"
	"  local_addr TEXT, local_port INTEGER,\n"
	"  peer_addr TEXT, peer_port INTEGER,\n"
	"  netns INTEGER,\n"
	"  opened_ns INTEGER, first_ns INTEGER, last_ns INTEGER, closed_ns INTEGER,\n"
	"  bytes_sent INTEGER, bytes_received INTEGER,\n"
	"  exchanges INTEGER, unmatched INTEGER,\n"
	"  flags INTEGER, last_error INTEGER,\n"
	"  estab_ns INTEGER, srtt_us INTEGER, rto_max_us INTEGER, retransmits INTEGER,\n"
	"  syn_retransmits INTEGER, resets_rx INTEGER, resets_tx INTEGER, drops INTEGER,\n"
	"  PRIMARY KEY (recording_id, conn_id));\n"
	"CREATE TABLE IF NOT EXISTS tcp_events (\n"
	"  recording_id INTEGER NOT NULL REFERENCES recordings(id),\n"
	"  conn_id INTEGER NOT NULL,\n"
	"  host TEXT NOT NULL,\n"
	"  ts_ns INTEGER NOT NULL,\n"
	"  kind TEXT NOT NULL,\n"
	"  role TEXT,\n"
	"  local_addr TEXT, local_port INTEGER,\n"
	"  peer_addr TEXT, peer_port INTEGER,\n"
	"  seq INTEGER, len INTEGER, tcp_flags INTEGER, ca_state INTEGER, tcp_state INTEGER,\n"
	"  srtt_us INTEGER, rto_us INTEGER, retrans_total INTEGER,\n"
	"  reason INTEGER, reason_name TEXT);\n"
	"CREATE INDEX IF NOT EXISTS tcp_events_by_conn ON tcp_events(recording_id, conn_id);\n"
	"CREATE TABLE IF NOT EXISTS drops (\n"
	"  recording_id INTEGER NOT NULL REFERENCES recordings(id),\n"
	"  host TEXT NOT NULL,\n"
	"  reason INTEGER NOT NULL,\n"
	"  name TEXT NOT NULL,\n"
	"  count INTEGER NOT NULL,\n"
	"  PRIMARY KEY (recording_id, reason));\n";

static const char schema_tail[] =
	"CREATE TABLE IF NOT EXISTS processes (\n"
	"  recording_id INTEGER NOT NULL REFERENCES recordings(id),\n"
	"  pid INTEGER NOT NULL,\n"
	"  comm TEXT NOT NULL,\n"
	"  runtime TEXT NOT NULL,\n"
	"  traced INTEGER NOT NULL,\n"
	"  detail TEXT NOT NULL,\n"
	"  PRIMARY KEY (recording_id, pid));\n"
	"CREATE TABLE IF NOT EXISTS goroutines (\n"
	"  recording_id INTEGER NOT NULL REFERENCES recordings(id),\n"
	"  pid INTEGER NOT NULL,\n"
	"  goid INTEGER NOT NULL,\n"
	"  parent_goid INTEGER NOT NULL,\n"
	"  ts_ns INTEGER NOT NULL);\n"
	"CREATE TABLE IF NOT EXISTS packets (\n"
	"  recording_id INTEGER NOT NULL REFERENCES recordings(id),\n"
	"  host TEXT NOT NULL,\n"
	"  client_addr TEXT NOT NULL, client_port INTEGER NOT NULL,\n"
	"  server_addr TEXT NOT NULL, server_port INTEGER NOT NULL,\n"
	"  roles_known INTEGER NOT NULL,\n"
	"  first_ns INTEGER NOT NULL, last_ns INTEGER NOT NULL,\n"
	"  count INTEGER NOT NULL, not_stored INTEGER NOT NULL,\n"
	"  retransmits INTEGER, fast_retransmits INTEGER, spurious_retransmits INTEGER,\n"
	"  dup_acks INTEGER, zero_windows INTEGER, out_of_order INTEGER, lost_segments INTEGER,\n"
	"  rtt_ns INTEGER,\n"
	"  data BLOB NOT NULL);\n"
	"CREATE INDEX IF NOT EXISTS packets_by_ports ON packets(client_port, server_port);\n";

/* The spans table's indexes. A recording that starts on an empty table
 * goes without them (defer_span_indexes) and builds them when it ends
 * (ws_store_build_span_indexes): one sort per index then costs a fraction
 * of keeping four B-trees ordered on every insert (ids and trace ids
 * arrive in random order). A file whose
 * recorder died without building them gets them at its next write
 * open; until then it reads the same, only slower. Files before
 * schema 8 declare span_id UNIQUE in the table instead of spans_by_id. */
static const struct span_index {
	const char *name;
	const char *sql;
	bool ids; /* what trace assembly needs before it writes its links */
} span_indexes[] = {
	{"spans_by_id", "CREATE UNIQUE INDEX IF NOT EXISTS spans_by_id ON spans(span_id)", true},
	{"spans_by_start", "CREATE INDEX IF NOT EXISTS spans_by_start ON spans(start_ns)", true},
	{"spans_by_trace", "CREATE INDEX IF NOT EXISTS spans_by_trace ON spans(trace_id)", false},
	{"spans_by_conn", "CREATE INDEX IF NOT EXISTS spans_by_conn ON spans(recording_id, conn_id)", false},
};

/* ---- migrations ----
 *
 * What each version added to the tables of an older file, in order. All
 * of it runs in one transaction with the schema itself (which creates the
 * tables and indexes a file lacks: IF NOT EXISTS) and the new version
 * number, so that an upgrade that fails leaves the file as it was. The
 * columns added here are the ones at the end of the tables above, in the
 * same order, so that an upgraded file has the columns of a new one. */
#define SPAN_COLUMNS NULL /* the span columns of that version (span_cols) */

static const struct migration {
	int version;
	const char *sql;
} migrations[] = {
	{2, SPAN_COLUMNS}, /* trace assembly */
	{3, SPAN_COLUMNS}, /* where the time went, TCP health */
	{3, "ALTER TABLE connections ADD COLUMN estab_ns INTEGER"},
	{3, "ALTER TABLE connections ADD COLUMN srtt_us INTEGER"},
	{3, "ALTER TABLE connections ADD COLUMN rto_max_us INTEGER"},
	{3, "ALTER TABLE connections ADD COLUMN retransmits INTEGER"},
	{3, "ALTER TABLE connections ADD COLUMN syn_retransmits INTEGER"},
	{3, "ALTER TABLE connections ADD COLUMN resets_rx INTEGER"},
	{3, "ALTER TABLE connections ADD COLUMN resets_tx INTEGER"},
	{3, "ALTER TABLE connections ADD COLUMN drops INTEGER"},
	/* 4: packets of captures (a new table) */
	{5, "ALTER TABLE recordings ADD COLUMN pid INTEGER"}, /* overhead, budget, loss */
	{5, "ALTER TABLE recordings ADD COLUMN updated_ns INTEGER"},
	{6, SPAN_COLUMNS}, /* who a syscall was made for */
	{7, "ALTER TABLE recordings ADD COLUMN boot_id TEXT"}, /* one machine, one clock */
};

/* The spans table's CREATE TABLE. */
static void span_create_sql(char *out, size_t n)
{
	size_t o = (size_t)snprintf(out, n, "CREATE TABLE IF NOT EXISTS spans (\n  id INTEGER PRIMARY KEY");

	for (size_t i = 0; i < N_SPAN_COLS && o < n; i++)
		o += (size_t)snprintf(out + o, n - o, ",\n  %s %s", span_cols[i].name, span_cols[i].decl);
	if (o < n)
		snprintf(out + o, n - o, ");\n");
}

/* The INSERT of a span: every column, bound in span_cols' order. */
static void span_insert_sql(char *out, size_t n)
{
	size_t o = (size_t)snprintf(out, n, "INSERT INTO spans (");

	for (size_t i = 0; i < N_SPAN_COLS && o < n; i++)
		o += (size_t)snprintf(out + o, n - o, "%s%s", i ? ", " : "", span_cols[i].name);
	for (size_t i = 0; i < N_SPAN_COLS && o < n; i++)
		o += (size_t)snprintf(out + o, n - o, "%s", i ? ",?" : ") VALUES (?");
	if (o < n)
		snprintf(out + o, n - o, ")");
}

/* The columns of span_cols as a file of that version answers them: what
 * it lacks reads as what it would have held. */
static void span_select_list(int version, bool for_links, char *out, size_t n)
{
	/* what trace assembly does not read: NULL saves copying them */
	static const char *const unread[] = {"trace_id",        "parent_span_id",  "duration_ns", "method",
					     "query",           "status",          "req_body_bytes", "resp_body_bytes",
					     "attributes",      "link_method",     "link_confidence", "link_candidates"};
	size_t o = 0;

	out[0] = 0;
	for (size_t i = 0; i < N_SPAN_COLS && o < n; i++) {
		const struct span_col *c = &span_cols[i];
		const char *what = c->since <= version ? c->name : c->older;
		for (size_t k = 0; for_links && k < WS_ARRAY_SIZE(unread); k++)
			if (strcmp(c->name, unread[k]) == 0)
				what = "NULL";
		o += (size_t)snprintf(out + o, n - o, "%s%s", i ? ", " : "", what);
	}
}

#define ADDR_TEXTS 4

struct ws_store {
	sqlite3 *db;
	struct addr_text {
		int family;
		uint8_t addr[16];
		char text[64];
	} addr_texts[ADDR_TEXTS];
	size_t addr_next;
	bool writing;
	sqlite3_stmt *ins_span, *ins_conn, *set_counter, *ins_tcp, *ins_pkts, *ins_goroutine, *upd_links;
	char path[4096];
	int version; /* schema version of the file */
	/* WAL checkpoints (page copies and fsync) run in their own thread, on
	 * their own connection, so the recorder never waits on the disk */
	pthread_t checkpointer;
	sqlite3 *ckpt_db;
	bool checkpointing;
	bool failed; /* a write failed: what is not committed is dropped */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stopping;
	uint64_t deadline_ns; /* a reader gives up on a statement past this (monotonic) */
	char read_err[4096 + 128]; /* the first row a report reader could not read ("": none) */
};

/* How long a reader may take in all: a file crafted to make a query run
 * for ever (a recursive view is refused, but not every trap can be named)
 * is interrupted. Reading 2 million spans and linking them takes 25 s. */
#define READ_LIMIT_NS (600 * 1000000000ull)

static int read_progress(void *arg)
{
	const struct ws_store *st = arg;

	return ws_now_mono_ns() > st->deadline_ns;
}

/* SQLite's defenses for a file that may come from anyone: no schema-
 * defined SQL functions or virtual tables run with our privileges, no
 * writes through PRAGMAs that corrupt, and a time limit. */
static void harden(struct ws_store *st, sqlite3 *db)
{
	sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_VIEW, 0, NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
	if (!st->writing) {
		st->deadline_ns = ws_now_mono_ns() + READ_LIMIT_NS;
		sqlite3_progress_handler(db, 100000, read_progress, st);
	}
}

/* wirespan creates tables and indexes only: a view or trigger means the
 * file was made by someone else, to run their SQL when it is read. */
static int check_objects(struct ws_store *st, char *err, size_t errlen)
{
	sqlite3_stmt *q;
	int rc, n = -1;
	char name[128] = "", type[16] = "";

	if (sqlite3_prepare_v2(st->db,
			       "SELECT type, name FROM sqlite_master WHERE type NOT IN ('table', 'index') LIMIT 1", -1,
			       &q, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot read %s: %s", st->path, sqlite3_errmsg(st->db));
		return -EIO;
	}
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		n = 1;
		snprintf(type, sizeof(type), "%s", (const char *)sqlite3_column_text(q, 0));
		ws_copy_text(name, sizeof(name), sqlite3_column_text(q, 1), (size_t)sqlite3_column_bytes(q, 1));
	} else if (rc == SQLITE_DONE) {
		n = 0;
	}
	sqlite3_finalize(q);
	if (n < 0) {
		snprintf(err, errlen, "cannot read %s: %s", st->path, sqlite3_errmsg(st->db));
		return -EIO;
	}
	if (n > 0) {
		snprintf(err, errlen,
			 "refusing %s: it holds a %s (%s), which wirespan never creates; the file was made or changed by "
			 "another program",
			 st->path, type, name);
		return -EINVAL;
	}
	return 0;
}

static void *checkpoint_loop(void *arg)
{
	struct ws_store *st = arg;
	sqlite3 *db = st->ckpt_db; /* opened by ws_store_open, used here only */

	pthread_mutex_lock(&st->lock);
	while (!st->stopping) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 500 * 1000000l;
		if (until.tv_nsec >= 1000000000l) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000l;
		}
		pthread_cond_timedwait(&st->wake, &st->lock, &until);
		if (st->stopping)
			break;
		pthread_mutex_unlock(&st->lock);
		sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		pthread_mutex_lock(&st->lock);
	}
	pthread_mutex_unlock(&st->lock);
	return NULL;
}

const char *ws_store_errmsg(struct ws_store *st) { return sqlite3_errmsg(st->db); }

/* Failures are reported by the caller, with ws_store_errmsg(). */
static int exec(struct ws_store *st, const char *sql)
{
	return sqlite3_exec(st->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
}

static int prepare(struct ws_store *st, const char *sql, sqlite3_stmt **out)
{
	if (sqlite3_prepare_v2(st->db, sql, -1, out, NULL) != SQLITE_OK) {
		ws_err("database %s: %s", st->path, sqlite3_errmsg(st->db));
		return -EIO;
	}
	return 0;
}

/* Refuse a file that is neither empty nor a wirespan store. */
static int check_identity(struct ws_store *st, char *err, size_t errlen)
{
	sqlite3_stmt *q;
	int app = 0, tables = 0, rc;

	rc = sqlite3_prepare_v2(st->db, "PRAGMA application_id", -1, &q, NULL);
	if (rc == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
		app = sqlite3_column_int(q, 0);
	else {
		snprintf(err, errlen, "%s is not a wirespan database (%s)", st->path, sqlite3_errmsg(st->db));
		sqlite3_finalize(q);
		return -EINVAL;
	}
	sqlite3_finalize(q);
	if (sqlite3_prepare_v2(st->db, "SELECT count(*) FROM sqlite_master", -1, &q, NULL) == SQLITE_OK &&
	    sqlite3_step(q) == SQLITE_ROW)
		tables = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	if (app != APPLICATION_ID && tables > 0) {
		snprintf(err, errlen, "%s is a database of another program, not of wirespan: choose another --db", st->path);
		return -EINVAL;
	}
	if (app != APPLICATION_ID && !st->writing) {
		snprintf(err, errlen, "%s holds no wirespan data yet (record with `wirespan record --db %s`)", st->path,
			 st->path);
		return -ENOENT;
	}
	return 0;
}

/* The schema version the file holds; a new file counts as current. */
static int file_version(struct ws_store *st)
{
	sqlite3_stmt *q;
	int v = WS_STORE_SCHEMA_VERSION;

	if (sqlite3_prepare_v2(st->db, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &q, NULL) ==
	    SQLITE_OK) {
		if (sqlite3_step(q) == SQLITE_ROW)
			v = sqlite3_column_int(q, 0);
		sqlite3_finalize(q);
	}
	return v;
}

/* Add the span columns of that version to an older file. */
static int add_span_columns(struct ws_store *st, int version, char **msg)
{
	char sql[256];

	for (size_t i = 0; i < N_SPAN_COLS; i++) {
		if (span_cols[i].since != version)
			continue;
		snprintf(sql, sizeof(sql), "ALTER TABLE spans ADD COLUMN %s %s", span_cols[i].name, span_cols[i].decl);
		if (sqlite3_exec(st->db, sql, NULL, NULL, msg) != SQLITE_OK)
			return -1;
	}
	return 0;
}

/* Bring the tables of an older file (st->version) to the current
 * version's: columns are only ever added. */
static int migrate(struct ws_store *st, char **msg)
{
	for (size_t i = 0; i < WS_ARRAY_SIZE(migrations); i++) {
		const struct migration *m = &migrations[i];
		int rc;

		if (m->version <= st->version)
			continue;
		rc = m->sql ? sqlite3_exec(st->db, m->sql, NULL, NULL, msg) : add_span_columns(st, m->version, msg);
		if (rc)
			return -1;
	}
	return 0;
}

/* Whether the spans table declares span_id UNIQUE itself (before 8). */
static bool unique_in_table(struct ws_store *st)
{
	sqlite3_stmt *q;
	bool yes = false;

	if (sqlite3_prepare_v2(st->db, "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_autoindex_spans_1'", -1, &q,
			       NULL) == SQLITE_OK) {
		yes = sqlite3_step(q) == SQLITE_ROW;
		sqlite3_finalize(q);
	}
	return yes;
}

/* Create the spans table's indexes it lacks (only those trace assembly
 * needs: ids_only). */
static int create_span_indexes(struct ws_store *st, bool ids_only, char **msg)
{
	bool in_table = unique_in_table(st);

	for (size_t i = 0; i < WS_ARRAY_SIZE(span_indexes); i++) {
		const struct span_index *x = &span_indexes[i];
		if ((ids_only && !x->ids) || (in_table && strcmp(x->name, "spans_by_id") == 0))
			continue;
		if (sqlite3_exec(st->db, x->sql, NULL, NULL, msg) != SQLITE_OK)
			return -1;
	}
	return 0;
}

/* Create what the file lacks (every table of a new one), with the
 * version and whose file it is. */
static int create_schema(struct ws_store *st, char **msg)
{
	char app[64], spans[4096];
	const char *const head[] = {app, schema_head, spans};
	const char *const tail[] = {
		schema_tail,
		"INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', '" WS_STR(
			WS_STORE_SCHEMA_VERSION) "'), ('created_by', 'wirespan')",
	};

	snprintf(app, sizeof(app), "PRAGMA application_id=%d", APPLICATION_ID);
	span_create_sql(spans, sizeof(spans));
	for (size_t i = 0; i < WS_ARRAY_SIZE(head); i++)
		if (sqlite3_exec(st->db, head[i], NULL, NULL, msg) != SQLITE_OK)
			return -1;
	if (create_span_indexes(st, false, msg))
		return -1;
	for (size_t i = 0; i < WS_ARRAY_SIZE(tail); i++)
		if (sqlite3_exec(st->db, tail[i], NULL, NULL, msg) != SQLITE_OK)
			return -1;
	return 0;
}

static int defer_span_indexes(struct ws_store *st)
{
	sqlite3_stmt *q;
	bool empty;
	char sql[128];

	if (prepare(st, "SELECT 1 FROM spans LIMIT 1", &q))
		return -EIO;
	empty = sqlite3_step(q) == SQLITE_DONE;
	sqlite3_finalize(q);
	if (!empty)
		return 0; /* what is there stays indexed as it grows */
	for (size_t i = 0; i < WS_ARRAY_SIZE(span_indexes); i++) {
		snprintf(sql, sizeof(sql), "DROP INDEX IF EXISTS %s", span_indexes[i].name);
		if (exec(st, sql))
			return -EIO;
	}
	return 0;
}

int ws_store_build_span_indexes(struct ws_store *st, bool ids_only)
{
	char *msg = NULL;

	if (ws_store_commit(st) || create_span_indexes(st, ids_only, &msg)) {
		ws_err("database %s: cannot index its spans: %s", st->path, msg ? msg : sqlite3_errmsg(st->db));
		sqlite3_free(msg);
		return -EIO;
	}
	return 0;
}

/* A new file's schema, or an older file's upgrade, in one transaction:
 * a failure (a file changed by hand, the disk full) leaves it as it was. */
static int set_schema(struct ws_store *st, char *err, size_t errlen)
{
	char *msg = NULL;
	bool upgrading = false;

	if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK)
		goto fail;
	upgrading = true;
	if (migrate(st, &msg))
		goto fail;
	upgrading = false;
	if (create_schema(st, &msg) || sqlite3_exec(st->db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK)
		goto fail;
	st->version = WS_STORE_SCHEMA_VERSION;
	return 0;
fail:
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	if (upgrading)
		snprintf(err, errlen,
			 "cannot upgrade database %s from schema version %d to %d: %s; the file is left as it was",
			 st->path, st->version, WS_STORE_SCHEMA_VERSION, msg ? msg : "unknown error");
	else
		snprintf(err, errlen, "cannot write database %s: %s", st->path, msg ? msg : "unknown error");
	sqlite3_free(msg);
	return -EIO;
}

/* SQLite keeps allocation statistics behind a global mutex by default: two
 * lock round trips per allocation that nobody reads. */
static void sqlite_setup(void) { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); }

/* Whether the migrations add the span columns of that version. */
static bool migrates_spans(int version)
{
	for (size_t i = 0; i < WS_ARRAY_SIZE(migrations); i++)
		if (migrations[i].version == version && migrations[i].sql == SPAN_COLUMNS)
			return true;
	return false;
}

/* What the code above takes span_cols to be: each version's columns after
 * those of the one before (so that an upgraded file's columns are in a new
 * file's order), added by a migration, with an answer for older files; and
 * the N_SPAN_IDS ids that add_span has room for. A mistake here is the
 * program's, found by its first test. */
static void check_span_cols(void)
{
	int since = 1, ids = 0;

	for (size_t i = 0; i < N_SPAN_COLS; i++) {
		const struct span_col *c = &span_cols[i];
		bool id = c->kind == COL_ID || c->kind == COL_PARENT;
		if (c->since < since || c->since > WS_STORE_SCHEMA_VERSION || (c->since > 1) != (c->older != NULL) ||
		    (c->since > 1 && !migrates_spans(c->since)) || (id && c->size > 16)) {
			ws_err("store: span column %s is out of place in span_cols", c->name);
			abort();
		}
		since = c->since;
		ids += id;
	}
	if (ids != N_SPAN_IDS) {
		ws_err("store: span_cols has %d id columns, not %d", ids, N_SPAN_IDS);
		abort();
	}
}

static void store_setup(void)
{
	sqlite_setup();
	check_span_cols();
}

int ws_store_open(const char *path, enum ws_store_mode mode, struct ws_store **out, char *err, size_t errlen)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct ws_store *st = ws_calloc(1, sizeof(*st));
	/* one connection, used by one thread: no SQLite mutexes needed */
	int flags = (mode == WS_STORE_WRITE ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY) | SQLITE_OPEN_NOMUTEX;
	int rc;

	*out = NULL;
	pthread_once(&once, store_setup);
	ws_strlcpy(st->path, path, sizeof(st->path));
	st->writing = mode == WS_STORE_WRITE;
	int fd = -1;
	struct stat fst;
	if (st->writing) {
		/* create it private, never through a link; an existing file
		 * must be ours and writable by us alone, and so must the
		 * journal files SQLite keeps beside it */
		bool created;
		fd = ws_privfile_open(path, "database", &created, err, errlen);
		if (fd < 0 || fstat(fd, &fst) != 0) {
			rc = fd < 0 ? fd : -errno;
			if (fd >= 0)
				close(fd);
			free(st);
			return rc;
		}
		static const char *const sides[] = {"-wal", "-shm", "-journal"};
		for (size_t i = 0; i < WS_ARRAY_SIZE(sides); i++) {
			char side[sizeof(st->path) + 16];
			snprintf(side, sizeof(side), "%s%s", path, sides[i]);
			if ((rc = ws_privfile_check(side, "database journal", err, errlen)) < 0) {
				close(fd);
				free(st);
				return rc;
			}
		}
		flags |= SQLITE_OPEN_NOFOLLOW;
	} else if (access(path, R_OK) != 0) {
		int e = errno;
		snprintf(err, errlen, "cannot read database %s: %s%s", path, strerror(e),
			 e == ENOENT ? " (record one with `wirespan record`, or pass --db FILE)" : "");
		free(st);
		return -e;
	}
	/* one thread uses this connection (the checkpointer has its own) */
	rc = sqlite3_open_v2(path, &st->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
	if (fd >= 0) {
		/* the file SQLite opened is the one checked */
		struct stat now;
		if (rc == SQLITE_OK && (stat(path, &now) != 0 || now.st_dev != fst.st_dev || now.st_ino != fst.st_ino)) {
			snprintf(err, errlen, "refusing database %s: it was replaced while it was being opened", path);
			close(fd);
			sqlite3_close(st->db);
			free(st);
			return -EAGAIN;
		}
	}
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot open database %s: %s", path, st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
		if (fd >= 0)
			close(fd);
		sqlite3_close(st->db);
		free(st);
		return -EIO;
	}
	sqlite3_busy_timeout(st->db, 5000);
	harden(st, st->db);
	rc = check_identity(st, err, errlen);
	if (rc >= 0)
		rc = check_objects(st, err, errlen);
	if (fd >= 0) { /* ours: private from now on, it holds spans */
		if (rc >= 0 && (fst.st_mode & 077))
			(void)fchmod(fd, fst.st_mode & 0700);
		close(fd);
	}
	if (rc < 0) {
		sqlite3_close(st->db);
		free(st);
		return rc;
	}
	st->version = file_version(st);
	if (st->version > WS_STORE_SCHEMA_VERSION) {
		snprintf(err, errlen, "%s was written by a newer wirespan (schema version %d; this one knows %d)", path,
			 st->version, WS_STORE_SCHEMA_VERSION);
		sqlite3_close(st->db);
		free(st);
		return -EINVAL;
	}
	if (st->writing) {
		char *msg = NULL, sql[4096];
		/* a new file gets 16 KiB pages (a span's row is ~600 bytes:
		 * fewer page splits and headers, ~20% less time per insert
		 * than 4 KiB; it takes effect only on an empty file); a 64 MiB
		 * page cache keeps the indexes in memory; checkpoints are left
		 * to the checkpointer thread */
		if (sqlite3_exec(st->db,
				 "PRAGMA page_size=16384; "
				 "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536; "
				 "PRAGMA wal_autocheckpoint=0;",
				 NULL, NULL, &msg) != SQLITE_OK) {
			snprintf(err, errlen, "cannot write database %s: %s", path, msg ? msg : "unknown error");
			sqlite3_free(msg);
			sqlite3_close(st->db);
			free(st);
			return -EIO;
		}
		if ((rc = set_schema(st, err, errlen)) < 0) {
			sqlite3_close(st->db);
			free(st);
			return rc;
		}
		span_insert_sql(sql, sizeof(sql));
		if (prepare(st, sql, &st->ins_span) ||
		    prepare(st,
			    "INSERT OR REPLACE INTO connections VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,"
			    "?,?,?,?,?,?,?,?)",
			    &st->ins_conn) ||
		    prepare(st, "INSERT INTO tcp_events VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
			    &st->ins_tcp) ||
		    prepare(st, "INSERT INTO goroutines VALUES (?,?,?,?,?)", &st->ins_goroutine) ||
		    prepare(st, "INSERT OR REPLACE INTO counters VALUES (?,?,?,?)", &st->set_counter)) {
			snprintf(err, errlen, "cannot prepare database %s", path);
			ws_store_close(st);
			return -EIO;
		}
	}
	if (st->writing) {
		pthread_mutex_init(&st->lock, NULL);
		pthread_cond_init(&st->wake, NULL);
		if (sqlite3_open_v2(path, &st->ckpt_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW,
				    NULL) == SQLITE_OK) {
			harden(st, st->ckpt_db);
			sqlite3_busy_timeout(st->ckpt_db, 1000);
			st->checkpointing = pthread_create(&st->checkpointer, NULL, checkpoint_loop, st) == 0;
		}
		if (!st->checkpointing) { /* no thread: checkpoint inline instead */
			sqlite3_close(st->ckpt_db);
			st->ckpt_db = NULL;
			sqlite3_exec(st->db, "PRAGMA wal_autocheckpoint=4096", NULL, NULL, NULL);
		}
	}
	*out = st;
	return 0;
}

static void checkpointer_stop(struct ws_store *st)
{
	pthread_mutex_lock(&st->lock);
	st->stopping = true;
	pthread_cond_signal(&st->wake);
	pthread_mutex_unlock(&st->lock);
	pthread_join(st->checkpointer, NULL);
	st->stopping = false;
}

void ws_store_restart_thread(struct ws_store *st)
{
	if (!st || !st->checkpointing)
		return;
	checkpointer_stop(st);
	if (pthread_create(&st->checkpointer, NULL, checkpoint_loop, st) != 0) {
		st->checkpointing = false; /* checkpoint inline instead */
		sqlite3_close(st->ckpt_db);
		st->ckpt_db = NULL;
		sqlite3_exec(st->db, "PRAGMA wal_autocheckpoint=4096", NULL, NULL, NULL);
	}
}

void ws_store_close(struct ws_store *st)
{
	if (!st)
		return;
	if (st->checkpointing) {
		checkpointer_stop(st);
		st->checkpointing = false;
		sqlite3_close(st->ckpt_db);
	}
	if (!sqlite3_get_autocommit(st->db)) /* a batch is open */
		sqlite3_exec(st->db, st->failed ? "ROLLBACK" : "COMMIT", NULL, NULL, NULL);
	sqlite3_finalize(st->ins_span);
	sqlite3_finalize(st->ins_conn);
	sqlite3_finalize(st->set_counter);
	sqlite3_finalize(st->ins_tcp);
	sqlite3_finalize(st->ins_goroutine);
	sqlite3_finalize(st->ins_pkts);
	sqlite3_finalize(st->upd_links);
	if (st->writing)
		sqlite3_exec(st->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
	sqlite3_close(st->db);
	free(st);
}

/* SQLite may end a transaction by itself after an error (disk full): ask
 * it rather than trusting a flag. */
static int begin_tx(struct ws_store *st)
{
	if (!sqlite3_get_autocommit(st->db))
		return 0;
	if (exec(st, "BEGIN")) {
		st->failed = true;
		return -EIO;
	}
	return 0;
}

int ws_store_commit(struct ws_store *st)
{
	if (sqlite3_get_autocommit(st->db))
		return 0;
	if (exec(st, "COMMIT")) {
		st->failed = true;
		return -EIO;
	}
	return 0;
}

/* Step a statement whose every parameter is bound each time. */
static int step_bound(struct ws_store *st, sqlite3_stmt *q)
{
	int rc = sqlite3_step(q);

	sqlite3_reset(q);
	if (rc == SQLITE_DONE)
		return 0;
	st->failed = true;
	return -EIO; /* the caller reports ws_store_errmsg() */
}

static int step_done(struct ws_store *st, sqlite3_stmt *q)
{
	int rc = step_bound(st, q);

	sqlite3_clear_bindings(q);
	return rc;
}

int64_t ws_store_begin_recording(struct ws_store *st, const struct ws_recording *r)
{
	sqlite3_stmt *q;
	int64_t id;

	if (defer_span_indexes(st) ||
	    prepare(st,
		    "INSERT INTO recordings (source, host, command, started_ns, status, pid, updated_ns, boot_id) "
		    "VALUES (?,?,?,?,'recording',?,?,?)",
		    &q))
		return -EIO;
	sqlite3_bind_text(q, 1, r->source, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(q, 2, r->host, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(q, 3, r->command, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(q, 4, (int64_t)r->started_ns);
	sqlite3_bind_int64(q, 5, getpid());
	sqlite3_bind_int64(q, 6, (int64_t)r->started_ns);
	if (r->boot_id)
		sqlite3_bind_text(q, 7, r->boot_id, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(q) != SQLITE_DONE) {
		sqlite3_finalize(q);
		return -EIO;
	}
	sqlite3_finalize(q);
	id = sqlite3_last_insert_rowid(st->db);
	return id;
}

int ws_store_set_recording_times(struct ws_store *st, int64_t id, uint64_t started_ns, uint64_t ended_ns)
{
	sqlite3_stmt *q;
	int rc;

	if (begin_tx(st) ||
	    prepare(st, "UPDATE recordings SET started_ns = ?, ended_ns = ?, updated_ns = ? WHERE id = ?", &q))
		return -EIO;
	sqlite3_bind_int64(q, 1, (int64_t)started_ns);
	sqlite3_bind_int64(q, 2, (int64_t)ended_ns);
	sqlite3_bind_int64(q, 3, (int64_t)ended_ns);
	sqlite3_bind_int64(q, 4, id);
	rc = sqlite3_step(q) == SQLITE_DONE ? 0 : -EIO;
	sqlite3_finalize(q);
	return rc ? rc : ws_store_commit(st);
}

/* An address as text, from the few a recording's spans repeat (spans
 * come in runs from a few hosts): valid until the next lookup, which may
 * reuse its slot. */
static const char *addr_text(struct ws_store *st, const struct ws_endpoint *ep)
{
	for (size_t i = 0; i < ADDR_TEXTS; i++) {
		struct addr_text *t = &st->addr_texts[i];
		if (t->family == ep->family && memcmp(t->addr, ep->addr, sizeof(t->addr)) == 0)
			return t->text;
	}
	struct addr_text *t = &st->addr_texts[st->addr_next++ % ADDR_TEXTS];
	t->family = ep->family;
	memcpy(t->addr, ep->addr, sizeof(t->addr));
	ws_addr_str(ep, t->text, sizeof(t->text));
	return t->text;
}

/* An endpoint as parameters i (address) and i + 1 (port), NULL when
 * unknown. The text is copied: the row's other address may take its
 * slot before the row is stepped. */
static void bind_addr(struct ws_store *st, sqlite3_stmt *q, int i, const struct ws_endpoint *ep)
{
	if (ep->family) {
		sqlite3_bind_text(q, i, addr_text(st, ep), -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(q, i + 1, ep->port);
	} else {
		sqlite3_bind_null(q, i);
		sqlite3_bind_null(q, i + 1);
	}
}

/* An integer field of a span, as its size and signedness say. */
static int64_t span_int(const struct ws_span *s, const struct span_col *c)
{
	const char *p = (const char *)s + c->off;
	bool sign = c->kind != COL_UINT;
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	int64_t v;

	switch (c->size) {
	case 1: memcpy(&u8, p, 1); return sign ? (int64_t)(int8_t)u8 : (int64_t)u8;
	case 2: memcpy(&u16, p, 2); return sign ? (int64_t)(int16_t)u16 : (int64_t)u16;
	case 4: memcpy(&u32, p, 4); return sign ? (int64_t)(int32_t)u32 : (int64_t)u32;
	default: memcpy(&v, p, 8); return v;
	}
}

static void span_set_int(struct ws_span *s, const struct span_col *c, int64_t v)
{
	char *p = (char *)s + c->off;
	uint8_t u8 = (uint8_t)v;
	uint16_t u16 = (uint16_t)v;
	uint32_t u32 = (uint32_t)v;

	switch (c->size) {
	case 1: memcpy(p, &u8, 1); break;
	case 2: memcpy(p, &u16, 2); break;
	case 4: memcpy(p, &u32, 4); break;
	default: memcpy(p, &v, 8); break;
	}
}

static bool all_zero(const char *p, size_t n)
{
	while (n--)
		if (*p++)
			return false;
	return true;
}

/* Bind column c of span s as parameter i. Its text is bound in place: it
 * outlives the step (step_done resets and clears the bindings), and so
 * does hex, the room for an id written as hex. */
static void bind_span_col(struct ws_store *st, sqlite3_stmt *q, int i, const struct span_col *c,
			  const struct ws_span *s, char *hex)
{
	const char *p = (const char *)s + c->off;
	int64_t v;
	float f;

	switch (c->kind) {
	case COL_UINT:
	case COL_INT: sqlite3_bind_int64(q, i, span_int(s, c)); break;
	case COL_INT_NZ:
		if ((v = span_int(s, c)) != 0)
			sqlite3_bind_int64(q, i, v);
		else
			sqlite3_bind_null(q, i);
		break;
	case COL_INT_OPT:
		if ((v = span_int(s, c)) >= 0)
			sqlite3_bind_int64(q, i, v);
		else
			sqlite3_bind_null(q, i);
		break;
	case COL_REAL:
		memcpy(&f, p, sizeof(f));
		sqlite3_bind_double(q, i, f);
		break;
	case COL_TEXT: sqlite3_bind_text(q, i, p, -1, SQLITE_STATIC); break;
	case COL_TEXT_NZ:
		if (p[0])
			sqlite3_bind_text(q, i, p, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(q, i);
		break;
	case COL_JSON: sqlite3_bind_text(q, i, p[0] ? p : "{}", -1, SQLITE_STATIC); break;
	case COL_ID:
	case COL_PARENT:
		hex[0] = 0;
		if (c->kind == COL_ID || !all_zero(p, c->size))
			ws_hex((const uint8_t *)p, c->size, hex);
		sqlite3_bind_text(q, i, hex, -1, SQLITE_STATIC);
		break;
	case COL_KIND: sqlite3_bind_text(q, i, ws_span_kind_name(s->kind), -1, SQLITE_STATIC); break;
	case COL_PROTO: sqlite3_bind_text(q, i, ws_proto_name(s->proto), -1, SQLITE_STATIC); break;
	case COL_DURATION: sqlite3_bind_int64(q, i, (int64_t)(s->end_ns - s->start_ns)); break;
	case COL_ADDR: bind_addr(st, q, i, (const struct ws_endpoint *)p); break;
	case COL_PORT: break; /* bound with its address */
	}
}

int ws_store_add_span(struct ws_store *st, const struct ws_span *s)
{
	char ids[N_SPAN_IDS][33];
	int nid = 0;

	if (begin_tx(st))
		return -EIO;
	for (size_t i = 0; i < N_SPAN_COLS; i++) {
		const struct span_col *c = &span_cols[i];
		bool id = c->kind == COL_ID || c->kind == COL_PARENT;
		bind_span_col(st, st->ins_span, (int)i + 1, c, s, id ? ids[nid++] : NULL);
	}
	return step_bound(st, st->ins_span);
}

int ws_store_add_conn(struct ws_store *st, int64_t recording, const char *host, const struct ct_conn_info *c)
{
	sqlite3_stmt *q = st->ins_conn;
	static const char *const roles[] = {"", "client", "server"};
	int i = 1;

	if (begin_tx(st))
		return -EIO;
	sqlite3_bind_int64(q, i++, recording);
	sqlite3_bind_int64(q, i++, (int64_t)c->id);
	sqlite3_bind_text(q, i++, host, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(q, i++, c->pid);
	sqlite3_bind_text(q, i++, c->comm, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(q, i++, roles[c->role % 3], -1, SQLITE_STATIC);
	sqlite3_bind_text(q, i++, ws_proto_name(c->proto), -1, SQLITE_STATIC);
	bind_addr(st, q, i, &c->local);
	i += 2;
	bind_addr(st, q, i, &c->peer);
	i += 2;
	sqlite3_bind_int64(q, i++, c->netns);
	if (c->t_open)
		sqlite3_bind_int64(q, i, (int64_t)c->t_open);
	i++;
	sqlite3_bind_int64(q, i++, (int64_t)c->t_first);
	sqlite3_bind_int64(q, i++, (int64_t)c->t_last);
	if (c->t_close)
		sqlite3_bind_int64(q, i, (int64_t)c->t_close);
	i++;
	sqlite3_bind_int64(q, i++, (int64_t)c->bytes[0]);
	sqlite3_bind_int64(q, i++, (int64_t)c->bytes[1]);
	sqlite3_bind_int64(q, i++, c->exchanges);
	sqlite3_bind_int64(q, i++, c->unmatched);
	sqlite3_bind_int64(q, i++, c->flags);
	sqlite3_bind_int64(q, i++, c->last_err);
	if (c->t_estab)
		sqlite3_bind_int64(q, i, (int64_t)c->t_estab);
	i++;
	sqlite3_bind_int64(q, i++, c->srtt_us);
	sqlite3_bind_int64(q, i++, c->rto_max_us);
	sqlite3_bind_int64(q, i++, c->retransmits);
	sqlite3_bind_int64(q, i++, c->syn_retransmits);
	sqlite3_bind_int64(q, i++, c->resets_rx);
	sqlite3_bind_int64(q, i++, c->resets_tx);
	sqlite3_bind_int64(q, i++, c->drops);
	return step_done(st, q);
}

static const char *const tcp_kinds[] = {"", "retransmit", "reset-received", "reset-sent", "drop", "held"};
static const char *const hold_names[] = {"", "nagle", "cwnd", "rwnd", "other"};
static const char *const role_names[] = {"", "client", "server"};

int ws_store_add_process(struct ws_store *st, int64_t recording, uint32_t pid, const char *comm, const char *runtime,
			 bool traced, const char *detail)
{
	sqlite3_stmt *q;
	int rc;

	if (begin_tx(st) || prepare(st, "INSERT OR REPLACE INTO processes VALUES (?,?,?,?,?,?)", &q))
		return -EIO;
	sqlite3_bind_int64(q, 1, recording);
	sqlite3_bind_int64(q, 2, pid);
	sqlite3_bind_text(q, 3, comm, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(q, 4, runtime, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(q, 5, traced);
	sqlite3_bind_text(q, 6, detail, -1, SQLITE_TRANSIENT);
	rc = step_done(st, q);
	sqlite3_finalize(q);
	return rc;
}

int ws_store_add_goroutine(struct ws_store *st, int64_t recording, uint32_t pid, uint64_t goid, uint64_t parent,
			   uint64_t ts_ns)
{
	sqlite3_stmt *q = st->ins_goroutine;

	if (begin_tx(st))
		return -EIO;
	sqlite3_bind_int64(q, 1, recording);
	sqlite3_bind_int64(q, 2, pid);
	sqlite3_bind_int64(q, 3, (int64_t)goid);
	sqlite3_bind_int64(q, 4, (int64_t)parent);
	sqlite3_bind_int64(q, 5, (int64_t)ts_ns);
	return step_done(st, q);
}

int ws_store_add_tcp_event(struct ws_store *st, int64_t recording, const char *host, const struct ws_event *ev,
			   const char *reason_name)
{
	sqlite3_stmt *q = st->ins_tcp;
	int i = 1;

	if (begin_tx(st))
		return -EIO;
	sqlite3_bind_int64(q, i++, recording);
	sqlite3_bind_int64(q, i++, (int64_t)ev->conn_id);
	sqlite3_bind_text(q, i++, host, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(q, i++, (int64_t)ev->t_exit);
	sqlite3_bind_text(q, i++, tcp_kinds[ev->tcp_what < WS_ARRAY_SIZE(tcp_kinds) ? ev->tcp_what : 0], -1,
			  SQLITE_STATIC);
	sqlite3_bind_text(q, i++, role_names[ev->role % 3], -1, SQLITE_STATIC);
	bind_addr(st, q, i, &ev->local);
	i += 2;
	bind_addr(st, q, i, &ev->peer);
	i += 2;
	if (ev->tcp_what == WS_TCPEV_RETRANS) {
		sqlite3_bind_int64(q, i, ev->seq);
		sqlite3_bind_int64(q, i + 1, ev->len);
		sqlite3_bind_int64(q, i + 2, ev->reason & 0xff);
		sqlite3_bind_int64(q, i + 3, ev->reason >> 8);
	} else if (ev->tcp_what == WS_TCPEV_HELD) {
		sqlite3_bind_int64(q, i, ev->seq);
		sqlite3_bind_int64(q, i + 1, ev->len);
		if (ev->reason >> 8) /* a capture's: the segment the ACK released */
			sqlite3_bind_int64(q, i + 2, ev->reason >> 8);
	}
	i += 4;
	sqlite3_bind_int64(q, i++, ev->newstate);
	sqlite3_bind_int64(q, i++, ev->srtt_us);
	sqlite3_bind_int64(q, i++, ev->rto_us);
	sqlite3_bind_int64(q, i++, ev->retrans);
	if (ev->tcp_what == WS_TCPEV_DROP) {
		sqlite3_bind_int64(q, i, ev->reason);
		sqlite3_bind_text(q, i + 1, reason_name ? reason_name : "", -1, SQLITE_TRANSIENT);
	} else if (ev->tcp_what == WS_TCPEV_HELD) { /* reason: how long (ns), reason_name: why */
		sqlite3_bind_int64(q, i, (int64_t)(ev->t_exit - WS_MIN(ev->t_enter, ev->t_exit)));
		uint32_t why = ev->reason & 0xff;
		sqlite3_bind_text(q, i + 1, hold_names[why < WS_ARRAY_SIZE(hold_names) ? why : 0], -1,
				  SQLITE_STATIC);
	}
	return step_done(st, q);
}

int ws_store_add_drops(struct ws_store *st, int64_t recording, const char *host, uint32_t reason, const char *name,
		       uint64_t count)
{
	sqlite3_stmt *q;
	int rc;

	if (begin_tx(st) || prepare(st, "INSERT OR REPLACE INTO drops VALUES (?,?,?,?,?)", &q))
		return -EIO;
	sqlite3_bind_int64(q, 1, recording);
	sqlite3_bind_text(q, 2, host, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(q, 3, reason);
	sqlite3_bind_text(q, 4, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(q, 5, (int64_t)count);
	rc = sqlite3_step(q) == SQLITE_DONE ? 0 : -EIO;
	sqlite3_finalize(q);
	return rc;
}

int ws_store_set_counter(struct ws_store *st, int64_t recording, const char *kind, const char *name, uint64_t v)
{
	sqlite3_stmt *q = st->set_counter;

	if (begin_tx(st))
		return -EIO;
	sqlite3_bind_int64(q, 1, recording);
	sqlite3_bind_text(q, 2, kind, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(q, 3, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(q, 4, (int64_t)v);
	return step_done(st, q);
}

int ws_store_count_export(struct ws_store *st, const struct ws_counter *rows, size_t n)
{
	sqlite3_stmt *q;
	int rc = 0;

	if (begin_tx(st) || prepare(st,
				    "INSERT INTO counters SELECT max(id), 'export', ?1, ?2 FROM recordings WHERE true "
				    "ON CONFLICT (recording_id, kind, name) DO UPDATE SET value = value + excluded.value",
				    &q))
		return -EIO;
	for (size_t i = 0; i < n && !rc; i++) {
		sqlite3_bind_text(q, 1, rows[i].name, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(q, 2, (int64_t)rows[i].v);
		rc = sqlite3_step(q) == SQLITE_DONE ? 0 : -EIO;
		sqlite3_reset(q);
	}
	sqlite3_finalize(q);
	return rc ? rc : ws_store_commit(st);
}

int ws_store_update_recording(struct ws_store *st, int64_t recording, uint64_t events, uint64_t spans, uint64_t lost)
{
	char sql[256];

	if (begin_tx(st))
		return -EIO;
	snprintf(sql, sizeof(sql),
		 "UPDATE recordings SET events=%llu, spans=%llu, lost=%llu, updated_ns=%llu WHERE id=%lld",
		 (unsigned long long)events, (unsigned long long)spans, (unsigned long long)lost,
		 (unsigned long long)ws_now_real_ns(), (long long)recording);
	return exec(st, sql);
}

int ws_store_add_shed(struct ws_store *st, int64_t recording, uint64_t ts_ns, unsigned level, double cpu_pct,
		      double budget_pct, const char *action)
{
	sqlite3_stmt *q;
	int rc;

	if (begin_tx(st) || prepare(st, "INSERT INTO shedding VALUES (?,?,?,?,?,?)", &q))
		return -EIO;
	sqlite3_bind_int64(q, 1, recording);
	sqlite3_bind_int64(q, 2, (int64_t)ts_ns);
	sqlite3_bind_int(q, 3, (int)level);
	sqlite3_bind_double(q, 4, cpu_pct);
	sqlite3_bind_double(q, 5, budget_pct);
	sqlite3_bind_text(q, 6, action, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(q) == SQLITE_DONE ? 0 : -EIO;
	sqlite3_finalize(q);
	return rc;
}

int ws_store_set_bpf_prog(struct ws_store *st, int64_t recording, const char *name, const char *hook, uint64_t runs,
			  uint64_t run_ns)
{
	sqlite3_stmt *q;
	int rc;

	if (begin_tx(st) || prepare(st, "INSERT OR REPLACE INTO bpf_programs VALUES (?,?,?,?,?)", &q))
		return -EIO;
	sqlite3_bind_int64(q, 1, recording);
	sqlite3_bind_text(q, 2, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(q, 3, hook, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(q, 4, (int64_t)runs);
	sqlite3_bind_int64(q, 5, (int64_t)run_ns);
	rc = sqlite3_step(q) == SQLITE_DONE ? 0 : -EIO;
	sqlite3_finalize(q);
	return rc;
}

int ws_store_end_recording(struct ws_store *st, int64_t recording, uint64_t ended_ns, const char *status)
{
	sqlite3_stmt *q;
	int rc;

	if (begin_tx(st) || prepare(st, "UPDATE recordings SET ended_ns=?, status=? WHERE id=?", &q))
		return -EIO;
	sqlite3_bind_int64(q, 1, (int64_t)ended_ns);
	sqlite3_bind_text(q, 2, status, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(q, 3, recording);
	rc = sqlite3_step(q) == SQLITE_DONE ? 0 : -EIO;
	sqlite3_finalize(q);
	return rc ? rc : ws_store_commit(st);
}

/* ---- reading ---- */

static void col_text(sqlite3_stmt *q, int i, char *out, size_t n)
{
	const unsigned char *t = sqlite3_column_text(q, i);

	ws_strlcpy(out, t ? (const char *)t : "", n);
}

static void col_endpoint(sqlite3_stmt *q, int i, struct ws_endpoint *ep)
{
	const unsigned char *t = sqlite3_column_text(q, i);

	memset(ep, 0, sizeof(*ep));
	if (t)
		ws_endpoint_parse((const char *)t, (uint16_t)sqlite3_column_int(q, i + 1), ep);
}

static void col_hex(sqlite3_stmt *q, int i, uint8_t *out, size_t n)
{
	const unsigned char *t = sqlite3_column_text(q, i);

	memset(out, 0, n);
	if (t && strlen((const char *)t) == 2 * n)
		ws_unhex((const char *)t, out, n);
}

/* Column i of a row into the field of span s that c says. */
static void read_span_col(sqlite3_stmt *q, int i, const struct span_col *c, struct ws_span *s)
{
	char *p = (char *)s + c->off, name[16];
	struct ws_endpoint *ep = (struct ws_endpoint *)p;
	const unsigned char *t;
	float f;

	switch (c->kind) {
	case COL_UINT:
	case COL_INT:
	case COL_INT_NZ: span_set_int(s, c, sqlite3_column_int64(q, i)); break;
	case COL_INT_OPT:
		span_set_int(s, c, sqlite3_column_type(q, i) == SQLITE_NULL ? -1 : sqlite3_column_int64(q, i));
		break;
	case COL_REAL:
		f = (float)sqlite3_column_double(q, i);
		memcpy(p, &f, sizeof(f));
		break;
	case COL_TEXT:
	case COL_TEXT_NZ:
	case COL_JSON: col_text(q, i, p, c->size); break;
	case COL_ID:
	case COL_PARENT: col_hex(q, i, (uint8_t *)p, c->size); break;
	case COL_KIND:
		col_text(q, i, name, sizeof(name));
		s->kind = strcmp(name, "client") == 0 ? WS_SPAN_CLIENT : WS_SPAN_SERVER;
		break;
	case COL_PROTO:
		col_text(q, i, name, sizeof(name));
		s->proto = ws_proto_by_name(name);
		break;
	case COL_DURATION: break;
	case COL_ADDR:
		memset(ep, 0, sizeof(*ep));
		if ((t = sqlite3_column_text(q, i)))
			ws_endpoint_parse((const char *)t, 0, ep);
		break;
	case COL_PORT:
		if (ep->family)
			ep->port = (uint16_t)sqlite3_column_int(q, i);
		break;
	}
}

static void row_to_span(sqlite3_stmt *q, struct ws_span *s)
{
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < N_SPAN_COLS; i++)
		read_span_col(q, (int)i, &span_cols[i], s);
}

int ws_store_each_span(struct ws_store *st, const struct ws_span_filter *f,
		       int (*fn)(void *ctx, const struct ws_span *s), void *ctx)
{
	char cols[4096], sql[4096 + 512];
	sqlite3_stmt *q;
	struct ws_span s;
	int rc, n = 0;

	span_select_list(st->version, f->for_links, cols, sizeof(cols));
	n = snprintf(sql, sizeof(sql), "SELECT %s FROM spans WHERE 1", cols);
	if (f->kind)
		n += snprintf(sql + n, sizeof(sql) - n, " AND kind = '%s'", ws_span_kind_name(f->kind));
	if (f->proto)
		n += snprintf(sql + n, sizeof(sql) - n, " AND protocol = '%s'", ws_proto_name(f->proto));
	if (f->service)
		n += snprintf(sql + n, sizeof(sql) - n, " AND service = ?1");
	n += snprintf(sql + n, sizeof(sql) - n, " ORDER BY start_ns, id");
	if (f->limit)
		snprintf(sql + n, sizeof(sql) - n, " LIMIT %llu", (unsigned long long)f->limit);
	if (prepare(st, sql, &q))
		return -EIO;
	if (f->service)
		sqlite3_bind_text(q, 1, f->service, -1, SQLITE_TRANSIENT);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		row_to_span(q, &s);
		if (fn(ctx, &s))
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		ws_err("database %s: %s", st->path, sqlite3_errmsg(st->db));
		sqlite3_finalize(q);
		return -EIO;
	}
	sqlite3_finalize(q);
	return 0;
}

/* What each process ran (schema 6), each host's boot (schema 7), and the
 * goroutines' creations. */
int ws_store_each_process(struct ws_store *st, const struct ws_store_procs *cb)
{
	sqlite3_stmt *q;
	int rc;

	if (st->version >= 7) {
		if (prepare(st, "SELECT host, boot_id FROM recordings WHERE boot_id IS NOT NULL", &q))
			return -EIO;
		while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
			char host[64], boot[64];
			col_text(q, 0, host, sizeof(host));
			col_text(q, 1, boot, sizeof(boot));
			cb->boot(cb->ctx, host, boot);
		}
		sqlite3_finalize(q);
		if (rc != SQLITE_DONE)
			goto fail;
	}
	if (st->version < 6)
		return 0;
	/* a process looked at more than once (before it loaded asyncio, say):
	 * the row that says it was traced counts */
	if (prepare(st, "SELECT r.host, p.pid, p.runtime, p.traced FROM processes p JOIN recordings r ON r.id = "
			"p.recording_id ORDER BY p.traced",
		    &q))
		return -EIO;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		char host[64], runtime[64];
		col_text(q, 0, host, sizeof(host));
		col_text(q, 2, runtime, sizeof(runtime));
		cb->runtime(cb->ctx, host, (uint32_t)sqlite3_column_int64(q, 1), runtime, sqlite3_column_int(q, 3) != 0);
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE)
		goto fail;
	if (prepare(st, "SELECT r.host, g.pid, g.goid, g.parent_goid, g.ts_ns FROM goroutines g JOIN recordings r ON "
			"r.id = g.recording_id",
		    &q))
		return -EIO;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		char host[64];
		col_text(q, 0, host, sizeof(host));
		cb->spawn(cb->ctx, host, (uint32_t)sqlite3_column_int64(q, 1), (uint64_t)sqlite3_column_int64(q, 2),
			  (uint64_t)sqlite3_column_int64(q, 3), (uint64_t)sqlite3_column_int64(q, 4));
	}
	sqlite3_finalize(q);
	if (rc == SQLITE_DONE)
		return 0;
fail:
	ws_err("database %s: %s", st->path, sqlite3_errmsg(st->db));
	return -EIO;
}

int ws_store_links_begin(struct ws_store *st)
{
	if (begin_tx(st) || prepare(st,
				    "UPDATE spans SET trace_id = ?1, parent_span_id = ?2, link_method = ?3, "
				    "link_confidence = ?4, link_candidates = ?5 WHERE span_id = ?6 AND "
				    "(trace_id != ?1 OR parent_span_id != ?2 OR link_method != ?3 OR "
				    "link_confidence IS NOT ?4 OR link_candidates IS NOT ?5)",
				    &st->upd_links))
		return -EIO;
	return 0;
}

int ws_store_set_links(struct ws_store *st, const struct ws_span *s, bool has_parent)
{
	sqlite3_stmt *q = st->upd_links;
	char sid[17], tid[33], pid[17] = "";

	ws_hex(s->span_id, 8, sid);
	ws_hex(s->trace_id, 16, tid);
	if (has_parent)
		ws_hex(s->parent_id, 8, pid);
	sqlite3_bind_text(q, 1, tid, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(q, 2, pid, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(q, 3, s->link_method, -1, SQLITE_TRANSIENT);
	sqlite3_bind_double(q, 4, s->link_confidence);
	sqlite3_bind_int64(q, 5, s->link_candidates);
	sqlite3_bind_text(q, 6, sid, -1, SQLITE_TRANSIENT);
	return step_done(st, q);
}

int ws_store_links_end(struct ws_store *st, bool ok)
{
	sqlite3_finalize(st->upd_links);
	st->upd_links = NULL;
	return ok ? ws_store_commit(st) : -EIO;
}

int ws_store_each_tcp_event(struct ws_store *st, int (*fn)(void *ctx, const struct ws_store_tcpev *e), void *ctx)
{
	sqlite3_stmt *q;
	int rc, stop = 0;

	if (st->version < 3)
		return 0; /* older files have no TCP events */
	if (prepare(st,
		    "SELECT recording_id, conn_id, ts_ns, kind, role, seq, len, tcp_flags, rto_us, srtt_us, reason, "
		    "reason_name FROM tcp_events WHERE kind != 'drop' ORDER BY ts_ns",
		    &q))
		return -EIO;
	while (!stop && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct ws_store_tcpev e = {0};
		e.recording_id = sqlite3_column_int64(q, 0);
		e.conn_id = (uint64_t)sqlite3_column_int64(q, 1);
		e.ts_ns = (uint64_t)sqlite3_column_int64(q, 2);
		col_text(q, 3, e.kind, sizeof(e.kind));
		col_text(q, 4, e.role, sizeof(e.role));
		e.seq = (uint32_t)sqlite3_column_int64(q, 5);
		e.len = (uint32_t)sqlite3_column_int64(q, 6);
		e.tcp_flags = (uint8_t)sqlite3_column_int(q, 7);
		e.rto_us = (uint32_t)sqlite3_column_int64(q, 8);
		e.srtt_us = (uint32_t)sqlite3_column_int64(q, 9);
		e.reason = (uint64_t)sqlite3_column_int64(q, 10);
		col_text(q, 11, e.reason_name, sizeof(e.reason_name));
		stop = fn(ctx, &e);
	}
	sqlite3_finalize(q);
	if (!stop && rc != SQLITE_DONE) {
		ws_err("database %s: %s", st->path, sqlite3_errmsg(st->db));
		return -EIO;
	}
	return 0;
}

int ws_store_add_flow(struct ws_store *st, int64_t recording, const char *host, const struct ws_store_flow *f)
{
	sqlite3_stmt *q;
	int i = 1;

	if (begin_tx(st))
		return -EIO;
	if (!st->ins_pkts &&
	    prepare(st, "INSERT INTO packets VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", &st->ins_pkts))
		return -EIO;
	q = st->ins_pkts;
	sqlite3_bind_int64(q, i++, recording);
	sqlite3_bind_text(q, i++, host, -1, SQLITE_TRANSIENT);
	bind_addr(st, q, i, &f->client);
	i += 2;
	bind_addr(st, q, i, &f->server);
	i += 2;
	sqlite3_bind_int(q, i++, f->roles_known);
	sqlite3_bind_int64(q, i++, (int64_t)f->first_ns);
	sqlite3_bind_int64(q, i++, (int64_t)f->last_ns);
	sqlite3_bind_int64(q, i++, f->n);
	sqlite3_bind_int64(q, i++, f->not_stored);
	sqlite3_bind_int64(q, i++, f->retrans);
	sqlite3_bind_int64(q, i++, f->fast_retrans);
	sqlite3_bind_int64(q, i++, f->spurious);
	sqlite3_bind_int64(q, i++, f->dup_acks);
	sqlite3_bind_int64(q, i++, f->zero_windows);
	sqlite3_bind_int64(q, i++, f->out_of_order);
	sqlite3_bind_int64(q, i++, f->lost_segments);
	sqlite3_bind_int64(q, i++, (int64_t)f->rtt_ns);
	sqlite3_bind_blob(q, i++, f->data ? f->data : "", (int)f->data_len, SQLITE_TRANSIENT);
	return step_done(st, q);
}

int ws_store_each_flow(struct ws_store *st, const struct ws_endpoint *a, const struct ws_endpoint *b,
		       int (*fn)(void *ctx, int64_t recording, const char *host, const struct ws_store_flow *f),
		       void *ctx)
{
	sqlite3_stmt *q;
	char as[64], bs[64];
	int rc;

	if (st->version < 4)
		return 0;
	if (prepare(st,
		    "SELECT recording_id, host, client_addr, client_port, server_addr, server_port, roles_known, "
		    "first_ns, last_ns, not_stored, rtt_ns, data FROM packets "
		    "WHERE (client_port = ?2 AND server_port = ?4 AND client_addr = ?1 AND server_addr = ?3) "
		    "OR (client_port = ?4 AND server_port = ?2 AND client_addr = ?3 AND server_addr = ?1) "
		    "ORDER BY first_ns",
		    &q))
		return -EIO;
	sqlite3_bind_text(q, 1, ws_addr_str(a, as, sizeof(as)), -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(q, 2, a->port);
	sqlite3_bind_text(q, 3, ws_addr_str(b, bs, sizeof(bs)), -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(q, 4, b->port);
	int stop = 0;
	while (!stop && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct ws_store_flow f = {0};
		char host[256];
		col_text(q, 1, host, sizeof(host));
		col_endpoint(q, 2, &f.client);
		col_endpoint(q, 4, &f.server);
		f.roles_known = sqlite3_column_int(q, 6);
		f.first_ns = (uint64_t)sqlite3_column_int64(q, 7);
		f.last_ns = (uint64_t)sqlite3_column_int64(q, 8);
		f.not_stored = (uint32_t)sqlite3_column_int64(q, 9);
		f.rtt_ns = (uint64_t)sqlite3_column_int64(q, 10);
		f.data = sqlite3_column_blob(q, 11);
		f.data_len = (size_t)sqlite3_column_bytes(q, 11);
		stop = fn(ctx, sqlite3_column_int64(q, 0), host, &f);
	}
	sqlite3_finalize(q);
	if (!stop && rc != SQLITE_DONE) {
		ws_err("database %s: %s", st->path, sqlite3_errmsg(st->db));
		return -EIO;
	}
	return 0;
}

int ws_store_version(const struct ws_store *st) { return st->version; }

int64_t ws_store_span_count(struct ws_store *st)
{
	sqlite3_stmt *q;
	int64_t n = -1;

	if (sqlite3_prepare_v2(st->db, "SELECT count(*) FROM spans", -1, &q, NULL) == SQLITE_OK &&
	    sqlite3_step(q) == SQLITE_ROW)
		n = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return n;
}

/* ---- reports ---- */

const char *ws_store_read_error(const struct ws_store *st) { return st->read_err[0] ? st->read_err : NULL; }

/* A report's query; a file that cannot answer it (an older one) is no
 * error here: the report leaves that part out. */
static int report_prepare(struct ws_store *st, const char *sql, sqlite3_stmt **q)
{
	return sqlite3_prepare_v2(st->db, sql, -1, q, NULL) == SQLITE_OK ? 0 : -ENOENT;
}

/* The next row of a report: true on one. The first failure (a damaged
 * file) is kept for ws_store_read_error() and ends the report. */
static bool report_row(struct ws_store *st, sqlite3_stmt *q, int *rc)
{
	int step = sqlite3_step(q);

	if (step == SQLITE_ROW)
		return true;
	if (step != SQLITE_DONE) {
		*rc = -EIO;
		if (!st->read_err[0])
			snprintf(st->read_err, sizeof(st->read_err),
				 "cannot read %s: %s (the file is damaged or not a wirespan database)", st->path,
				 sqlite3_errstr(step));
	}
	return false;
}

/* Column i as text, "" for NULL. */
static const char *col_str(sqlite3_stmt *q, int i)
{
	const unsigned char *t = sqlite3_column_text(q, i);

	return t ? (const char *)t : "";
}

int ws_store_each_recording(struct ws_store *st, int64_t id, bool all,
			    int (*fn)(void *ctx, const struct ws_store_recording *r), void *ctx)
{
	sqlite3_stmt *q;
	char sql[512];
	int rc = 0;

	/* pid and updated_ns came with schema 5 */
	snprintf(sql, sizeof(sql),
		 "SELECT id, source, host, command, status, started_ns, ended_ns, events, spans, lost, %s "
		 "FROM recordings %s ORDER BY id %s",
		 st->version >= 5 ? "pid, updated_ns" : "0, 0", id ? "WHERE id = ?" : "", all ? "" : "DESC LIMIT 1");
	if (report_prepare(st, sql, &q))
		return -ENOENT;
	if (id)
		sqlite3_bind_int64(q, 1, id);
	while (report_row(st, q, &rc)) {
		struct ws_store_recording r = {0};
		r.id = sqlite3_column_int64(q, 0);
		ws_strlcpy(r.source, col_str(q, 1), sizeof(r.source));
		ws_strlcpy(r.host, col_str(q, 2), sizeof(r.host));
		ws_strlcpy(r.command, col_str(q, 3), sizeof(r.command));
		ws_strlcpy(r.status, col_str(q, 4), sizeof(r.status));
		r.started_ns = (uint64_t)sqlite3_column_int64(q, 5);
		r.ended_ns = (uint64_t)sqlite3_column_int64(q, 6);
		r.events = (uint64_t)sqlite3_column_int64(q, 7);
		r.spans = (uint64_t)sqlite3_column_int64(q, 8);
		r.lost = (uint64_t)sqlite3_column_int64(q, 9);
		r.pid = sqlite3_column_int64(q, 10);
		r.updated_ns = (uint64_t)sqlite3_column_int64(q, 11);
		if (fn(ctx, &r))
			break;
	}
	sqlite3_finalize(q);
	return rc;
}

int ws_store_each_counter(struct ws_store *st, int64_t recording, const char *kind,
			  int (*fn)(void *ctx, const char *name, int64_t value), void *ctx)
{
	sqlite3_stmt *q;
	int rc = 0;

	if (report_prepare(st, "SELECT name, value FROM counters WHERE recording_id = ? AND kind = ? ORDER BY name",
			   &q))
		return -ENOENT;
	sqlite3_bind_int64(q, 1, recording);
	sqlite3_bind_text(q, 2, kind, -1, SQLITE_STATIC);
	while (report_row(st, q, &rc))
		if (fn(ctx, col_str(q, 0), sqlite3_column_int64(q, 1)))
			break;
	sqlite3_finalize(q);
	return rc;
}

/* The first value of a one-row query about a recording (and a name), or
 * otherwise. */
static int64_t report_value(struct ws_store *st, const char *sql, int64_t recording, const char *name,
			    int64_t otherwise)
{
	sqlite3_stmt *q;
	int64_t v = otherwise;
	int rc = 0;

	if (report_prepare(st, sql, &q))
		return otherwise;
	sqlite3_bind_int64(q, 1, recording);
	if (name)
		sqlite3_bind_text(q, 2, name, -1, SQLITE_STATIC);
	if (report_row(st, q, &rc))
		v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return v;
}

int64_t ws_store_counter(struct ws_store *st, int64_t recording, const char *name)
{
	return report_value(st, "SELECT value FROM counters WHERE recording_id = ? AND name = ?", recording, name, 0);
}

int64_t ws_store_recording_spans(struct ws_store *st, int64_t recording)
{
	return report_value(st, "SELECT count(*) FROM spans WHERE recording_id = ?", recording, NULL, -1);
}

int ws_store_each_shed(struct ws_store *st, int64_t recording, int (*fn)(void *ctx, const struct ws_store_shed *s),
		       void *ctx)
{
	sqlite3_stmt *q;
	int rc = 0;

	if (report_prepare(st,
			   "SELECT ts_ns, level, cpu_pct, budget_pct, action FROM shedding WHERE recording_id = ? "
			   "ORDER BY rowid",
			   &q))
		return -ENOENT;
	sqlite3_bind_int64(q, 1, recording);
	while (report_row(st, q, &rc)) {
		struct ws_store_shed s = {
			.ts_ns = (uint64_t)sqlite3_column_int64(q, 0),
			.level = sqlite3_column_int(q, 1),
			.cpu_pct = sqlite3_column_double(q, 2),
			.budget_pct = sqlite3_column_double(q, 3),
			.action = col_str(q, 4),
		};
		if (fn(ctx, &s))
			break;
	}
	sqlite3_finalize(q);
	return rc;
}

int ws_store_each_bpf_prog(struct ws_store *st, int64_t recording,
			   int (*fn)(void *ctx, const struct ws_store_bpf_prog *p), void *ctx)
{
	sqlite3_stmt *q;
	int rc = 0;

	if (report_prepare(st,
			   "SELECT name, hook, runs, run_ns FROM bpf_programs WHERE recording_id = ? "
			   "ORDER BY run_ns DESC",
			   &q))
		return -ENOENT;
	sqlite3_bind_int64(q, 1, recording);
	while (report_row(st, q, &rc)) {
		struct ws_store_bpf_prog p = {
			.name = col_str(q, 0),
			.hook = col_str(q, 1),
			.runs = sqlite3_column_int64(q, 2),
			.run_ns = sqlite3_column_int64(q, 3),
		};
		if (fn(ctx, &p))
			break;
	}
	sqlite3_finalize(q);
	return rc;
}

/* The groups of enum ws_store_group, as host and group name. */
static const char *const group_sql[] = {
	[WS_GROUP_PEER] = "host, CASE role WHEN 'client' THEN 'to ' ELSE 'from ' END || peer_addr || "
			  "CASE role WHEN 'client' THEN ':' || peer_port ELSE '' END",
	[WS_GROUP_CONN] = "host, role || ' ' || local_addr || ':' || local_port || ' - ' || peer_addr || ':' || "
			  "peer_port || ' (' || comm || ' pid ' || pid || ')'",
	[WS_GROUP_HOST] = "host, 'all connections'",
};

_Static_assert(CT_CONNECT_FAILED == 16, "the failed connects counted below");

int ws_store_each_peer_health(struct ws_store *st, enum ws_store_group by,
			      int (*fn)(void *ctx, const struct ws_store_peer_health *h), void *ctx)
{
	sqlite3_stmt *q;
	char sql[1024];
	int rc = 0;

	if ((unsigned)by >= WS_ARRAY_SIZE(group_sql))
		return -EINVAL;
	/* flags & 16: CT_CONNECT_FAILED */
	snprintf(sql, sizeof(sql),
		 "SELECT %s, count(*), sum(exchanges), sum(retransmits), sum(syn_retransmits), "
		 "sum(resets_rx), sum(resets_tx), sum(drops), max(rto_max_us), avg(NULLIF(srtt_us, 0)), "
		 "sum(flags & 16 != 0) FROM connections GROUP BY 1, 2 "
		 "ORDER BY sum(retransmits) DESC, sum(resets_rx + resets_tx) DESC, 2",
		 group_sql[by]);
	if (report_prepare(st, sql, &q))
		return -ENOENT;
	while (report_row(st, q, &rc)) {
		bool srtt_known = sqlite3_column_type(q, 10) != SQLITE_NULL; /* before the value is read */
		struct ws_store_peer_health h = {
			.host = col_str(q, 0),
			.group = col_str(q, 1),
			.connections = sqlite3_column_int64(q, 2),
			.exchanges = sqlite3_column_int64(q, 3),
			.retransmits = sqlite3_column_int64(q, 4),
			.syn_retransmits = sqlite3_column_int64(q, 5),
			.resets_rx = sqlite3_column_int64(q, 6),
			.resets_tx = sqlite3_column_int64(q, 7),
			.drops = sqlite3_column_int64(q, 8),
			.rto_max_us = sqlite3_column_int64(q, 9),
			.srtt_known = srtt_known,
			.srtt_avg_us = sqlite3_column_double(q, 10),
			.failed_connects = sqlite3_column_int64(q, 11),
		};
		if (fn(ctx, &h))
			break;
	}
	sqlite3_finalize(q);
	return rc;
}

int ws_store_each_drop_total(struct ws_store *st, int (*fn)(void *ctx, const struct ws_store_drop_total *d),
			     void *ctx)
{
	sqlite3_stmt *q;
	int rc = 0;

	if (report_prepare(st, "SELECT host, reason, name, sum(count) FROM drops GROUP BY host, reason ORDER BY 4 DESC",
			   &q))
		return -ENOENT;
	while (report_row(st, q, &rc)) {
		struct ws_store_drop_total d = {
			.host = col_str(q, 0),
			.reason = sqlite3_column_int64(q, 1),
			.name = col_str(q, 2),
			.packets = sqlite3_column_int64(q, 3),
		};
		if (fn(ctx, &d))
			break;
	}
	sqlite3_finalize(q);
	return rc;
}
