/* tcp.c -- `wirespan tcp`: TCP health per peer, per connection or per host,
 * from the connections and TCP events the recordings kept, so that a user
 * can ask which peers retransmit, reset or time out, and what the kernel
 * dropped. */
#include <getopt.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/opts.h"
#include "store/store.h"
#include "util/json.h"
#include "util/util.h"

/* the first step that failed (ws_store_row) */
static int step_failed;

/* group by: the peer (its address, and its port when it is the server), a
 * connection, or the recording host */
static const char *const group_sql[] = {
	"host, CASE role WHEN 'client' THEN 'to ' ELSE 'from ' END || peer_addr || "
	"CASE role WHEN 'client' THEN ':' || peer_port ELSE '' END",
	"host, role || ' ' || local_addr || ':' || local_port || ' - ' || peer_addr || ':' || peer_port || "
	"' (' || comm || ' pid ' || pid || ')'",
	"host, 'all connections'",
};

static void usage_tcp(FILE *f)
{
	fprintf(f, "usage: wirespan tcp [--db FILE]... [--by peer|conn|host] [--json]\n"
		   "\n"
		   "TCP health of the recorded connections: retransmissions (SYN retransmissions\n"
		   "apart), resets, packets the kernel dropped, the largest retransmission timeout\n"
		   "and the smoothed RTT, grouped by peer (default), connection or host, most\n"
		   "retransmissions first; then the kernel's packet drops on each host by reason.\n");
}

static int report(struct ws_store *st, const char *path, int by, bool json, struct ws_json *j, bool *header)
{
	sqlite3 *db = ws_store_db(st);
	sqlite3_stmt *q;
	char sql[1024];

	if (ws_store_version(st) < 3) {
		ws_warn("%s was recorded by an older wirespan: it has no TCP health", path);
		return 0;
	}
	snprintf(sql, sizeof(sql),
		 "SELECT %s, count(*), sum(exchanges), sum(retransmits), sum(syn_retransmits), "
		 "sum(resets_rx), sum(resets_tx), sum(drops), max(rto_max_us), avg(NULLIF(srtt_us, 0)), "
		 "sum(flags & 16 != 0) FROM connections GROUP BY 1, 2 "
		 "ORDER BY sum(retransmits) DESC, sum(resets_rx + resets_tx) DESC, 2",
		 group_sql[by]);
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) {
		ws_err("database %s: %s", path, sqlite3_errmsg(db));
		return 1;
	}
	if (!json && !*header) {
		printf("%-12s %-52s %6s %9s %8s %5s %6s %6s %6s %9s %9s %7s\n", "HOST", "PEER", "CONNS", "EXCHANGES",
		       "RETRANS", "SYN", "RST_RX", "RST_TX", "DROPS", "MAX_RTO", "SRTT", "FAILED");
		*header = true;
	}
	while (ws_store_row(q, &step_failed)) {
		const char *host = (const char *)sqlite3_column_text(q, 0);
		const char *peer = (const char *)sqlite3_column_text(q, 1);
		char rto[32] = "-", srtt[32] = "-";
		if (sqlite3_column_int64(q, 9))
			ws_fmt_duration((uint64_t)sqlite3_column_int64(q, 9) * 1000, rto, sizeof(rto));
		if (sqlite3_column_type(q, 10) != SQLITE_NULL)
			ws_fmt_duration((uint64_t)(sqlite3_column_double(q, 10) * 1000), srtt, sizeof(srtt));
		if (json) {
			wj_reset(j);
			wj_obj_begin(j);
			wj_kstr(j, "host", host ? host : "");
			wj_kstr(j, "group", peer ? peer : "");
			wj_kint(j, "connections", sqlite3_column_int64(q, 2));
			wj_kint(j, "exchanges", sqlite3_column_int64(q, 3));
			wj_kint(j, "retransmits", sqlite3_column_int64(q, 4));
			wj_kint(j, "syn_retransmits", sqlite3_column_int64(q, 5));
			wj_kint(j, "resets_received", sqlite3_column_int64(q, 6));
			wj_kint(j, "resets_sent", sqlite3_column_int64(q, 7));
			wj_kint(j, "drops", sqlite3_column_int64(q, 8));
			wj_kint(j, "rto_max_us", sqlite3_column_int64(q, 9));
			wj_kint(j, "srtt_avg_us", (int64_t)sqlite3_column_double(q, 10));
			wj_kint(j, "failed_connects", sqlite3_column_int64(q, 11));
			wj_obj_end(j);
			fwrite(j->buf, 1, j->len, stdout);
			fputc('\n', stdout);
		} else {
			printf("%-12.12s %-52.52s %6lld %9lld %8lld %5lld %6lld %6lld %6lld %9s %9s %7lld\n", host ? host : "",
			       peer ? peer : "", (long long)sqlite3_column_int64(q, 2), (long long)sqlite3_column_int64(q, 3),
			       (long long)sqlite3_column_int64(q, 4), (long long)sqlite3_column_int64(q, 5),
			       (long long)sqlite3_column_int64(q, 6), (long long)sqlite3_column_int64(q, 7),
			       (long long)sqlite3_column_int64(q, 8), rto, srtt, (long long)sqlite3_column_int64(q, 11));
		}
	}
	sqlite3_finalize(q);
	/* the kernel's drops on the host, by reason */
	if (sqlite3_prepare_v2(db,
			       "SELECT host, reason, name, sum(count) FROM drops GROUP BY host, reason ORDER BY 4 DESC",
			       -1, &q, NULL) != SQLITE_OK) {
		ws_err("database %s: %s", path, sqlite3_errmsg(db));
		return 1;
	}
	while (ws_store_row(q, &step_failed)) {
		const char *host = (const char *)sqlite3_column_text(q, 0);
		const char *name = (const char *)sqlite3_column_text(q, 2);
		if (json) {
			wj_reset(j);
			wj_obj_begin(j);
			wj_kstr(j, "host", host ? host : "");
			wj_kstr(j, "kernel_drop_reason", name && name[0] ? name : "?");
			wj_kint(j, "reason", sqlite3_column_int64(q, 1));
			wj_kint(j, "packets", sqlite3_column_int64(q, 3));
			wj_obj_end(j);
			fwrite(j->buf, 1, j->len, stdout);
			fputc('\n', stdout);
		} else {
			printf("%-12.12s kernel dropped %lld packets: %s (reason %lld)\n", host ? host : "",
			       (long long)sqlite3_column_int64(q, 3), name && name[0] ? name : "?",
			       (long long)sqlite3_column_int64(q, 1));
		}
	}
	sqlite3_finalize(q);
	return 0;
}

int cmd_tcp(int argc, char **argv)
{
	static const struct cli_choice groups[] = {{"peer", 0}, {"conn", 1}, {"host", 2}, {0}};
	const char *dbs[CLI_MAX_DBS];
	size_t ndb = 0;
	int by = 0;
	bool json = false, header = false;
	const struct cli_opt opts[] = {
		CLI_DBS(dbs, &ndb),
		CLI_CHOICE("by", &by, groups),
		CLI_SET("json", &json),
		{0},
	};
	const struct cli_cmd cmd = {.name = "tcp", .usage = usage_tcp, .opts = opts};
	struct ws_json j;
	char err[1024];
	int rc = cli_parse(&cmd, argc, argv);

	if (rc >= 0)
		return rc;
	rc = 0;
	wj_init(&j);
	for (size_t i = 0; i < ndb && !rc; i++) {
		struct ws_store *st;
		if (ws_store_open(dbs[i], WS_STORE_READ, &st, err, sizeof(err))) {
			ws_err("%s", err);
			rc = 1;
			break;
		}
		step_failed = 0;
		rc = report(st, dbs[i], by, json, &j, &header);
		if (!rc && step_failed) {
			ws_err("cannot read %s: %s (the file is damaged or not a wirespan database)", dbs[i],
			       sqlite3_errstr(step_failed));
			rc = 1;
		}
		ws_store_close(st);
	}
	wj_free(&j);
	return rc ? rc : ferror(stdout) ? 1 : 0;
}
