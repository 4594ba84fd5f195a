/* spans.c -- `wirespan spans`: list stored spans, as a table or as JSON
 * lines following the output contract. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/dbset.h"
#include "cli/opts.h"
#include "store/store.h"
#include "util/json.h"
#include "util/util.h"

struct print_ctx {
	bool json;
	struct ws_json j;
	uint64_t n;
	const struct dbset *d;
	const char *trace; /* only this trace (hex prefix) */
};

static int print_span(void *ctx, const struct ws_span *stored)
{
	struct print_ctx *pc = ctx;
	struct ws_span linked, *s = &linked;

	dbset_linked_span(pc->d, stored, &linked);
	if (pc->trace) {
		char id[33];
		ws_hex(s->trace_id, 16, id);
		if (strncasecmp(id, pc->trace, strlen(pc->trace)) != 0)
			return 0;
	}
	pc->n++;
	if (pc->json) {
		wj_reset(&pc->j);
		ws_span_to_json(s, &pc->j);
		fwrite(pc->j.buf, 1, pc->j.len, stdout);
		fputc('\n', stdout);
		return ferror(stdout) ? 1 : 0;
	}
	char clock[32], dur[32], peer[64], status[16], name[sizeof(s->name) + sizeof(s->target) + 2];
	ws_fmt_clock(s->start_ns, clock, sizeof(clock));
	ws_fmt_duration(s->end_ns - s->start_ns, dur, sizeof(dur));
	ws_addr_str(&s->peer, peer, sizeof(peer));
	snprintf(peer + strlen(peer), sizeof(peer) - strlen(peer), ":%u", s->peer.port);
	if (s->status)
		snprintf(status, sizeof(status), "%d", s->status);
	else
		ws_strlcpy(status, s->error[0] ? s->error : "ok", sizeof(status));
	const struct proto_ops *ops = ws_proto_ops(s->proto);
	if (ops && ops->span && ops->span->target_names && s->target[0])
		snprintf(name, sizeof(name), "%.299s %.255s", s->name, s->target);
	else
		ws_strlcpy(name, s->name, sizeof(name));
	char pid[16] = "-"; /* a capture file knows no process */
	if (s->pid)
		snprintf(pid, sizeof(pid), "%u", s->pid);
	printf("%-15s %9s  %-6s %-15.15s %7s  %-21s  %-10s %-40.40s %s\n", clock, dur, ws_span_kind_name(s->kind),
	       s->service, pid, peer, s->proto ? ws_proto_name(s->proto) : "-", name, status);
	return ferror(stdout) ? 1 : 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: wirespan spans [--db FILE]... [--json] [--kind server|client] [--protocol http|redis|postgresql|mysql]\n"
		   "                      [--service NAME] [--trace ID] [--limit N] [--no-traceparent]\n"
		   "                      [--min-confidence X]\n"
		   "\n"
		   "List stored spans in start order (database by database). --json prints one\n"
		   "OpenTelemetry-shaped JSON object per line (see docs/schema.md for the attributes).\n"
		   "Trace ids and parents come from assembling the spans of all the databases given\n"
		   "(one per host): see `wirespan traces`.\n");
}

static const struct cli_choice kinds[] = {{"server", WS_SPAN_SERVER}, {"client", WS_SPAN_CLIENT}, {0}};

/* --protocol: a name the protocol registry knows */
static int opt_protocol(const struct cli_opt *o, const char *arg, void *to)
{
	if (!(*(int *)to = ws_proto_by_name(arg))) {
		ws_err("--%s is http, redis, postgresql or mysql, not '%s'", o->name, arg);
		return 2;
	}
	return 0;
}

/* --trace: a trace id or its prefix, in hex */
static int opt_trace(const struct cli_opt *o, const char *arg, void *to)
{
	if (!ws_is_hex(arg, 32))
		return cli_bad_value(o, arg);
	*(const char **)to = arg;
	return 0;
}

int cmd_spans(int argc, char **argv)
{
	struct ws_span_filter f = {0};
	struct print_ctx pc = {0};
	struct dbset d = {0};
	struct ws_link_opts lo = {0};
	const struct cli_opt opts[] = {
		CLI_DBS(d.path, &d.n),
		CLI_SET("json", &pc.json),
		CLI_CHOICE("kind", &f.kind, kinds),
		CLI_FN("protocol", opt_protocol, &f.proto, NULL),
		CLI_STR("service", &f.service),
		CLI_UINT("limit", &f.limit, 1, UINT64_MAX, NULL),
		CLI_FN("trace", opt_trace, &pc.trace, "a trace id (hex)"),
		DBSET_LINK_OPTS(&lo),
		{0},
	};
	const struct cli_cmd cmd = {.name = "spans", .usage = usage, .opts = opts};
	int rc = cli_parse(&cmd, argc, argv);

	if (rc >= 0)
		return rc;
	if ((rc = dbset_open(&d, &lo))) {
		dbset_close(&d);
		return rc;
	}
	pc.d = &d;
	if (pc.json)
		wj_init(&pc.j);
	else
		printf("%-15s %9s  %-6s %-15s %7s  %-21s  %-10s %-40s %s\n", "START", "DURATION", "KIND", "SERVICE", "PID",
		       "PEER", "PROTO", "NAME", "STATUS");
	for (size_t i = 0; i < d.n && !rc; i++)
		rc = ws_store_each_span(d.st[i], &f, print_span, &pc);
	if (pc.json)
		wj_free(&pc.j);
	if (!pc.json && pc.n == 0)
		fprintf(stderr, "wirespan: no spans in %s%s\n", d.path[0], d.n > 1 ? " and the other databases" : "");
	dbset_close(&d);
	return rc ? 1 : 0;
}
