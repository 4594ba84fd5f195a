/* export.c -- `wirespan export`: send stored spans to an OpenTelemetry
 * collector (Jaeger, Tempo, the Collector...) over OTLP/HTTP, in batches. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/dbset.h"
#include "cli/opts.h"
#include "export/otlp.h"
#include "export/send.h"
#include "store/store.h"
#include "util/json.h"
#include "util/util.h"

struct export_ctx {
	const struct dbset *d;
	struct ws_otlp_batch *batch;
	struct ws_otlp_sender *snd;
	enum ws_otlp_format format;
	size_t batch_max;
	uint64_t since_ns, until_ns; /* start times kept: [since, until) */
	struct ws_json j;
	uint64_t read, sent, dropped, requests, retries, bad;
	uint64_t skip;     /* spans read but already sent (an agent resuming a file) */
	bool stop_on_drop; /* keep the rest for later instead, quietly (the agent) */
	bool failed;
	char err[512];
};

static int flush(struct export_ctx *x);
static int export_span(void *ctx, const struct ws_span *stored);

/* What an export sent and dropped, counted in the database, where `status`
 * shows it. A database this user may not write is still exported. */
static void count_export(const char *path, const struct ws_counter *rows, size_t n)
{
	struct ws_store *st;
	char err[1024];

	if (!rows[0].v && !rows[1].v)
		return;
	if (ws_store_open(path, WS_STORE_WRITE, &st, err, sizeof(err))) {
		ws_warn("the export is not counted in %s: %s", path, err);
		return;
	}
	if (ws_store_count_export(st, rows, n))
		ws_warn("the export is not counted in %s: %s", path, ws_store_errmsg(st));
	ws_store_close(st);
}

/* Send the spans of every database of d, in batches, then what is left.
 * Nonzero when reading failed, or (stop_on_drop) a batch was not taken. */
static int run_export(struct export_ctx *x, const struct dbset *d)
{
	struct ws_span_filter all = {0};
	int rc = 0;

	x->d = d;
	x->batch = ws_otlp_batch_new();
	wj_init(&x->j);
	for (size_t i = 0; i < d->n && !rc; i++) {
		uint64_t sent = x->sent, dropped = x->dropped, requests = x->requests, retries = x->retries;
		rc = ws_store_each_span(d->st[i], &all, export_span, x);
		if (!x->failed) /* a request holds one database's spans: what each sent is known */
			flush(x);
		const struct ws_counter rows[] = {
			{"export", "spans_sent", x->sent - sent},
			{"export", "spans_dropped", x->dropped - dropped},
			{"export", "requests", x->requests - requests},
			{"export", "retries", x->retries - retries},
		};
		count_export(d->path[i], rows, WS_ARRAY_SIZE(rows));
	}
	wj_free(&x->j);
	ws_otlp_batch_free(x->batch);
	x->batch = NULL;
	return rc || x->failed;
}

int cli_export_file(const char *path, struct ws_otlp_sender *snd, int f, size_t batch, uint64_t skip,
		    uint64_t *sent)
{
	struct export_ctx x = {.batch_max = batch, .snd = snd, .format = (enum ws_otlp_format)f, .skip = skip,
			       .stop_on_drop = true};
	struct dbset d = {.path = {path}, .n = 1};
	struct ws_link_opts lo = {0};
	int rc = dbset_open(&d, &lo) || run_export(&x, &d);

	*sent = x.sent;
	dbset_close(&d);
	return rc ? -1 : 0;
}

static int flush(struct export_ctx *x)
{
	size_t n = ws_otlp_batch_spans(x->batch);
	uint8_t *body = NULL;
	size_t len = 0;
	unsigned attempts = 0;

	if (!n)
		return 0;
	if (ws_otlp_encode(x->batch, x->format, &body, &len)) {
		x->bad += n;
		x->dropped += n;
		ws_warn("%zu spans could not be encoded: dropped", n);
	} else if (ws_otlp_send(x->snd, body, len, &attempts, x->err, sizeof(x->err))) {
		if (x->stop_on_drop) {
			x->failed = true;
		} else {
			x->dropped += n;
			ws_warn("%zu spans dropped after %u attempts: %s", n, attempts, x->err);
		}
	} else {
		x->sent += n;
	}
	x->requests += attempts;
	x->retries += attempts > 1 ? attempts - 1 : 0;
	free(body);
	ws_otlp_batch_clear(x->batch);
	return x->failed ? 1 : 0;
}

static int export_span(void *ctx, const struct ws_span *stored)
{
	struct export_ctx *x = ctx;
	struct ws_span s;

	if (x->failed)
		return 1; /* the rest waits for the next try */
	if (stored->start_ns < x->since_ns || (x->until_ns && stored->start_ns >= x->until_ns))
		return 0;
	if (x->read++ < x->skip)
		return 0;
	dbset_linked_span(x->d, stored, &s);
	wj_reset(&x->j);
	ws_span_to_json(&s, &x->j);
	if (ws_otlp_batch_add(x->batch, x->j.buf, x->err, sizeof(x->err))) {
		x->bad++;
		x->dropped++;
		return 0;
	}
	if (ws_otlp_batch_spans(x->batch) >= x->batch_max)
		return flush(x);
	return 0;
}

/* A time: Unix seconds (with decimals), or UTC as 2026-12-02T18:30:00Z. */
static int parse_time(const char *s, uint64_t *ns)
{
	struct tm tm = {0};
	char *end;
	double v = strtod(s, &end);

	if (end != s && !*end && v >= 0) {
		*ns = (uint64_t)(v * 1e9);
		return 0;
	}
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end || (*end && strcmp(end, "Z") != 0))
		return -1;
	*ns = (uint64_t)timegm(&tm) * 1000000000ull;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: wirespan export --otlp URL [--db FILE]... [--since TIME] [--until TIME]\n"
		"                       [--protocol http/protobuf|http/json] [--header 'NAME: VALUE']...\n"
		"                       [--batch N] [--no-gzip] [--timeout SECONDS] [--attempts N]\n\n"
		"Send stored spans to an OpenTelemetry collector over OTLP/HTTP: Jaeger, Tempo, the\n"
		"Collector. URL is the traces endpoint (http://host:4318/v1/traces), or a base URL\n"
		"to which /v1/traces is added. Spans are exported as `wirespan spans --json` shows\n"
		"them, with trace ids and parents from assembling all the databases given; the\n"
		"attributes of who made a span (service.name, host.name, process.pid,\n"
		"process.executable.*) go to its resource. TIME is Unix seconds or UTC\n"
		"(2026-12-02T18:30:00Z); spans that start in [--since, --until) are sent.\n"
		"Requests are protobuf (default) or JSON, gzip-compressed, of at most N spans\n"
		"(default 512); one refused with 429, 502, 503 or 504, or not answered, is\n"
		"tried again after 0.5 s, 1 s, 2 s... (or as Retry-After says), up to --attempts\n"
		"(default 5) in all; then its spans are counted as dropped. Exit status 1 when\n"
		"any span was dropped.\n");
}

static const struct cli_choice protocols[] = {{"http/protobuf", WS_OTLP_PROTOBUF}, {"http/json", WS_OTLP_JSON}, {0}};

/* --since, --until */
static int opt_time(const struct cli_opt *o, const char *arg, void *to)
{
	return parse_time(arg, to) ? cli_bad_value(o, arg) : 0;
}

/* --header 'NAME: VALUE' */
static int opt_header(const struct cli_opt *o, const char *arg, void *to)
{
	if (!strchr(arg, ':'))
		return cli_bad_value(o, arg);
	*(const char **)to = arg;
	return 0;
}

int cmd_export(int argc, char **argv)
{
	struct ws_otlp_send_opts so = {.gzip = true};
	struct export_ctx x = {.batch_max = 512};
	struct dbset d = {0};
	struct ws_link_opts lo = {0};
	unsigned timeout_s = 0;
	const char *when = "Unix seconds or a UTC time such as 2026-12-02T18:30:00Z";
	const struct cli_opt opts[] = {
		CLI_DBS(d.path, &d.n),
		CLI_STR("otlp", &so.url),
		CLI_FN("since", opt_time, &x.since_ns, when),
		CLI_FN("until", opt_time, &x.until_ns, when),
		CLI_CHOICE("protocol", &so.format, protocols),
		CLI_FNS("header", opt_header, so.headers, &so.nheaders, "'NAME: VALUE'"),
		CLI_UINT("batch", &x.batch_max, 1, 100000, "a number of spans from 1 to 100000"),
		CLI_CLEAR("no-gzip", &so.gzip),
		CLI_UINT("timeout", &timeout_s, 1, 600, "seconds from 1 to 600"),
		CLI_UINT("attempts", &so.max_attempts, 1, 100, NULL),
		{0},
	};
	const struct cli_cmd cmd = {.name = "export", .usage = usage, .opts = opts};
	int rc = cli_parse(&cmd, argc, argv);

	if (rc >= 0)
		return rc;
	if (!so.url) {
		ws_err("export needs --otlp URL");
		return 2;
	}
	so.timeout_ms = timeout_s * 1000;
	if (x.until_ns && x.until_ns <= x.since_ns) {
		ws_err("--until must come after --since");
		return 2;
	}
	char err[512];
	x.format = so.format;
	if (!(x.snd = ws_otlp_sender_new(&so, err, sizeof(err)))) {
		ws_err("%s", err);
		return 2;
	}
	if ((rc = dbset_open(&d, &lo))) {
		dbset_close(&d);
		ws_otlp_sender_free(x.snd);
		return rc;
	}
	rc = run_export(&x, &d);
	fprintf(stderr,
		"wirespan: exported %llu of %llu spans to %s in %llu requests (%llu retried); dropped %llu%s\n",
		(unsigned long long)x.sent, (unsigned long long)x.read, ws_otlp_sender_url(x.snd),
		(unsigned long long)x.requests, (unsigned long long)x.retries, (unsigned long long)x.dropped,
		x.bad ? " (some could not be encoded)" : "");
	ws_otlp_sender_free(x.snd);
	dbset_close(&d);
	return rc || x.dropped ? 1 : 0;
}
