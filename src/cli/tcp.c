/* tcp.c -- `wirespan tcp`: TCP health per peer, per connection or per host,
 * from the connections and TCP events the recordings kept, so that a user
 * can ask which peers retransmit, reset or time out, and what the kernel
 * dropped. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/opts.h"
#include "store/store.h"
#include "util/json.h"
#include "util/util.h"

static void usage_tcp(FILE *f)
{
	fprintf(f, "usage: wirespan tcp [--db FILE]... [--by peer|conn|host] [--json]\n"
		   "\n"
		   "TCP health of the recorded connections: retransmissions (SYN retransmissions\n"
		   "apart), resets, packets the kernel dropped, the largest retransmission timeout\n"
		   "and the smoothed RTT, grouped by peer (default), connection or host, most\n"
		   "retransmissions first; then the kernel's packet drops on each host by reason.\n");
}

struct tcp_out {
	struct ws_json *j; /* NULL: text */
	bool *header;      /* the text header is printed (once for every --db) */
};

static void print_header(struct tcp_out *o)
{
	if (o->j || *o->header)
		return;
	printf("%-12s %-52s %6s %9s %8s %5s %6s %6s %6s %9s %9s %7s\n", "HOST", "PEER", "CONNS", "EXCHANGES", "RETRANS",
	       "SYN", "RST_RX", "RST_TX", "DROPS", "MAX_RTO", "SRTT", "FAILED");
	*o->header = true;
}

static void put_json_line(struct ws_json *j)
{
	fwrite(j->buf, 1, j->len, stdout);
	fputc('\n', stdout);
}

static int put_health(void *ctx, const struct ws_store_peer_health *h)
{
	struct tcp_out *o = ctx;
	struct ws_json *j = o->j;
	char rto[32] = "-", srtt[32] = "-";

	print_header(o);
	if (h->rto_max_us)
		ws_fmt_duration((uint64_t)h->rto_max_us * 1000, rto, sizeof(rto));
	if (h->srtt_known)
		ws_fmt_duration((uint64_t)(h->srtt_avg_us * 1000), srtt, sizeof(srtt));
	if (!j) {
		printf("%-12.12s %-52.52s %6lld %9lld %8lld %5lld %6lld %6lld %6lld %9s %9s %7lld\n", h->host, h->group,
		       (long long)h->connections, (long long)h->exchanges, (long long)h->retransmits,
		       (long long)h->syn_retransmits, (long long)h->resets_rx, (long long)h->resets_tx,
		       (long long)h->drops, rto, srtt, (long long)h->failed_connects);
		return 0;
	}
	wj_reset(j);
	wj_obj_begin(j);
	wj_kstr(j, "host", h->host);
	wj_kstr(j, "group", h->group);
	wj_kint(j, "connections", h->connections);
	wj_kint(j, "exchanges", h->exchanges);
	wj_kint(j, "retransmits", h->retransmits);
	wj_kint(j, "syn_retransmits", h->syn_retransmits);
	wj_kint(j, "resets_received", h->resets_rx);
	wj_kint(j, "resets_sent", h->resets_tx);
	wj_kint(j, "drops", h->drops);
	wj_kint(j, "rto_max_us", h->rto_max_us);
	wj_kint(j, "srtt_avg_us", (int64_t)h->srtt_avg_us);
	wj_kint(j, "failed_connects", h->failed_connects);
	wj_obj_end(j);
	put_json_line(j);
	return 0;
}

static int put_drops(void *ctx, const struct ws_store_drop_total *d)
{
	struct tcp_out *o = ctx;
	struct ws_json *j = o->j;
	const char *name = d->name[0] ? d->name : "?";

	if (!j) {
		printf("%-12.12s kernel dropped %lld packets: %s (reason %lld)\n", d->host, (long long)d->packets, name,
		       (long long)d->reason);
		return 0;
	}
	wj_reset(j);
	wj_obj_begin(j);
	wj_kstr(j, "host", d->host);
	wj_kstr(j, "kernel_drop_reason", name);
	wj_kint(j, "reason", d->reason);
	wj_kint(j, "packets", d->packets);
	wj_obj_end(j);
	put_json_line(j);
	return 0;
}

/* One database's groups, then the kernel's drops on its hosts by reason.
 * A row that cannot be read ends its part; ws_store_read_error() says so
 * once the file is done. */
static int report(struct ws_store *st, const char *path, enum ws_store_group by, struct tcp_out *o)
{
	if (ws_store_version(st) < 3) {
		ws_warn("%s was recorded by an older wirespan: it has no TCP health", path);
		return 0;
	}
	if (ws_store_each_peer_health(st, by, put_health, o) == -ENOENT) {
		ws_err("database %s: %s", path, ws_store_errmsg(st));
		return 1;
	}
	print_header(o); /* even with no connections */
	if (ws_store_each_drop_total(st, put_drops, o) == -ENOENT) {
		ws_err("database %s: %s", path, ws_store_errmsg(st));
		return 1;
	}
	return 0;
}

int cmd_tcp(int argc, char **argv)
{
	static const struct cli_choice groups[] = {
		{"peer", WS_GROUP_PEER}, {"conn", WS_GROUP_CONN}, {"host", WS_GROUP_HOST}, {0}};
	const char *dbs[CLI_MAX_DBS];
	size_t ndb = 0;
	int by = WS_GROUP_PEER;
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
	struct tcp_out out = {.j = json ? &j : NULL, .header = &header};
	for (size_t i = 0; i < ndb && !rc; i++) {
		struct ws_store *st;
		if (ws_store_open(dbs[i], WS_STORE_READ, &st, err, sizeof(err))) {
			ws_err("%s", err);
			rc = 1;
			break;
		}
		rc = report(st, dbs[i], by, &out);
		if (!rc && ws_store_read_error(st)) {
			ws_err("%s", ws_store_read_error(st));
			rc = 1;
		}
		ws_store_close(st);
	}
	wj_free(&j);
	return rc ? rc : ferror(stdout) ? 1 : 0;
}
