/* pcap.c -- `wirespan pcap`: tcpdump captures through the same pipeline as
 * live capture.
 *
 *   files -> libpcap -> decode -> connections (TCP analysis, packet
 *   records) -> events -> conntrack -> parsers -> spans -> store
 *
 * Each file is one recording (source "pcap") with its own host.name. The
 * first frames of each file are read once first, to learn which addresses
 * are the capturing host's (see pcap/offline.h); then the whole file builds
 * spans. Traces are assembled
 * over the whole database at the end, as after `record`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/opts.h"
#include "pipeline/pipeline.h"
#include "pcap/offline.h"
#include "store/store.h"
#include "util/util.h"

#define COMMIT_EVERY_FRAMES 200000
#define MAX_FILES 64
/* Frames read first to find each capture's local addresses: enough for the
 * handshakes of the hosts it holds, a fraction of a large capture. */
#define SIDES_SCAN_FRAMES 200000

struct pcap_run {
	struct pipeline *p;
	FILE *analysis; /* --analysis output, or NULL */
	const char *file;
	uint64_t flows_stored;
};

static void on_event(void *ctx, const struct ws_event *ev)
{
	struct pcap_run *r = ctx;

	r->p->records++;
	pipeline_event(r->p, ev);
}

static void on_advance(void *ctx, uint64_t now)
{
	struct pcap_run *r = ctx;

	ct_advance(r->p->ct, now);
}

static void on_flow(void *ctx, const struct ws_flowpkts *f)
{
	struct pcap_run *r = ctx;

	if (r->p->store_failed)
		return;
	if (ws_flowpkts_save(r->p->store, r->p->rec_id, r->p->host, f))
		r->p->store_failed = true;
	else
		r->flows_stored++;
}

static void on_analysis(void *ctx, uint32_t frame, const struct ws_pkt *p, const struct ws_tcpan_out *o)
{
	struct pcap_run *r = ctx;
	char names[256];

	(void)p;
	fprintf(r->analysis, "%s\t%u\t%s\t", r->file, frame, ws_tcpan_flag_names(o->flags, names, sizeof(names)));
	if (o->acks_frame)
		fprintf(r->analysis, "%u\t%.9f", o->acks_frame, o->ack_rtt_ns / 1e9);
	else
		fputc('\t', r->analysis);
	if (o->flags & WS_TA_DUP_ACK)
		fprintf(r->analysis, "\t%u\t%u\n", o->dupack_num, o->dupack_frame);
	else
		fputs("\t\t\n", r->analysis);
}

/* ADDR=NAME, ADDR:PORT=NAME or [ADDR6]:PORT=NAME */
static int parse_service_map(const char *arg, struct pipeline_service *out)
{
	const char *eq = strrchr(arg, '=');
	char addr[64];
	unsigned long long port = 0;

	if (!eq || eq == arg || !eq[1] || strlen(eq + 1) >= sizeof(out->name) || (size_t)(eq - arg) >= sizeof(addr))
		return -1;
	memcpy(addr, arg, (size_t)(eq - arg));
	addr[eq - arg] = 0;
	char *a = addr, *colon = NULL;
	if (a[0] == '[') {
		char *close = strchr(a, ']');
		if (!close || (close[1] && close[1] != ':'))
			return -1;
		*close = 0;
		colon = close[1] ? close + 1 : NULL;
		a++;
	} else if (strchr(a, ':') == strrchr(a, ':')) { /* IPv4, maybe with a port */
		colon = strchr(a, ':');
	}
	if (colon) {
		*colon = 0;
		if (ws_parse_uint(colon + 1, 65535, &port) || !port)
			return -1;
	}
	if (ws_endpoint_parse(a, (uint16_t)port, &out->ep))
		return -1;
	ws_strlcpy(out->name, eq + 1, sizeof(out->name));
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: wirespan pcap [options] FILE...\n"
		"\n"
		"Read tcpdump captures (pcap or pcapng: Ethernet, Linux cooked v1/v2, raw IP, VLAN tags,\n"
		"IPv4 and IPv6) and store the same spans as `wirespan record` would have, with each\n"
		"connection's packets and their TCP analysis for `wirespan explain`. Captures of both\n"
		"ends of the same conversations are matched packet by packet.\n"
		"\n"
		"  --db FILE          database to write (default wirespan.db)\n"
		"  --host NAME        host.name of the Nth capture, given once per file in file order\n"
		"                     (default: the file name without its extension)\n"
		"  --service-map ADDR[:PORT]=NAME\n"
		"                     service.name of the spans of that end (repeatable; default: the\n"
		"                     serving address and port); IPv6 as [ADDR]:PORT\n"
		"  --local ADDR       an address of the capturing host (repeatable): only its end of a\n"
		"                     connection yields spans (default: found from the captures)\n"
		"  --max-packets N    packets stored per connection (default 20000; 0: none)\n"
		"  --keep-query NAME  store the values of this query parameter (repeatable; by default\n"
		"                     every query value is stored as REDACTED)\n"
		"  --keep-header NAME store this header (repeatable; by default only Host without\n"
		"                     userinfo, User-Agent, Content-Type and traceparent)\n"
		"  --max-flows N      connections open at once (default %d); beyond, the tenth quiet\n"
		"                     longest are ended early and counted\n"
		"  --analysis         print each TCP packet's analysis to stdout: file, frame,\n"
		"                     flags (Wireshark's tcp.analysis names), acked frame, ACK RTT (s),\n"
		"                     duplicate ACK number and frame\n"
		"  --quiet            only warnings and errors\n"
		"  --debug-events     print every event to stderr\n",
		WS_OFFLINE_MAX_FLOWS);
}

static void default_host(const char *path, char *out, size_t n)
{
	const char *b = strrchr(path, '/');
	b = b ? b + 1 : path;
	ws_strlcpy(out, b, n);
	char *dot = strrchr(out, '.');
	if (dot && dot != out)
		*dot = 0;
}

static void print_file_summary(const char *path, struct pcap_run *r, const struct ws_capfile *cf,
			       const struct ws_offline *o, const char *locals, double secs)
{
	const struct ws_capfile_stats *cs = ws_capfile_stats(cf);
	const struct ws_offline_stats *os = ws_offline_stats(o);
	const struct ct_stats *ct = ct_stats(r->p->ct);

	fprintf(stderr,
		"wirespan: %s (%s, host %s, local %s): %llu frames, %llu TCP, %llu connections, %llu spans "
		"(%llu server, %llu client) in %.2fs\n",
		path, ws_capfile_linktype(cf), r->p->host, locals[0] ? locals : "unknown",
		(unsigned long long)cs->frames, (unsigned long long)cs->tcp, (unsigned long long)os->flows,
		(unsigned long long)r->p->spans, (unsigned long long)r->p->spans_server,
		(unsigned long long)r->p->spans_client, secs);
	fprintf(stderr,
		"wirespan:   TCP analysis: %llu retransmissions (%llu fast, %llu spurious), %llu duplicate ACKs, "
		"%llu zero windows, %llu out of order, %llu segments not captured; %llu held by their sender's TCP "
		"until an ACK\n",
		(unsigned long long)os->ta[0], (unsigned long long)os->ta[1], (unsigned long long)os->ta[2],
		(unsigned long long)os->ta[4], (unsigned long long)os->ta[5], (unsigned long long)os->ta[3],
		(unsigned long long)os->ta[9], (unsigned long long)os->holds);
	/* what the capture lacked, only what happened */
	const struct {
		uint64_t n;
		const char *what;
	} problems[] = {
		{cs->dec[WS_DEC_TRUNCATED], "frames with headers cut short"},
		{cs->dec[WS_DEC_BAD_HEADER], "frames with impossible headers"},
		{cs->dec[WS_DEC_FRAGMENT], "IP fragments (not reassembled)"},
		{cs->payload_cut, "segments cut by the snaplen"},
		{ct->gaps, "gaps in byte streams (bytes not captured)"},
		{os->flows_evicted, "connections ended early: more were open at once than --max-flows"},
	};
	char line[512];
	size_t used = 0;
	for (size_t i = 0; i < WS_ARRAY_SIZE(problems); i++)
		if (problems[i].n && used < sizeof(line))
			used += (size_t)snprintf(line + used, sizeof(line) - used, "%s%llu %s", used ? ", " : "",
						 (unsigned long long)problems[i].n, problems[i].what);
	if (used)
		ws_warn("%s: %s", path, line);
	if (os->flows_ends_unknown)
		ws_warn("%s: for %llu connections neither end could be placed on the capturing host; spans were "
			"made for both ends (name the host's addresses with --local)",
			path, (unsigned long long)os->flows_ends_unknown);
	if (ct->incomplete_at_end)
		fprintf(stderr, "wirespan:   %llu exchanges were still in progress when the capture ended (not stored)\n",
			(unsigned long long)ct->incomplete_at_end);
	if (ct->unpaired_lost)
		fprintf(stderr,
			"wirespan:   %llu requests and responses could not be paired for certain after packets were "
			"lost (not stored)\n",
			(unsigned long long)ct->unpaired_lost);
}

static int store_file_results(struct pcap_run *r, const struct ws_capfile *cf, const struct ws_offline *o,
			      const char *status)
{
	const struct ws_capfile_stats *cs = ws_capfile_stats(cf);
	const struct ws_offline_stats *os = ws_offline_stats(o);
	const struct ws_counter rows[] = {
		{"stat", "frames", cs->frames},
		{"stat", "tcp_segments", cs->tcp},
		{"stat", "not_ip", cs->dec[WS_DEC_NOT_IP]},
		{"stat", "not_tcp", cs->dec[WS_DEC_NOT_TCP]},
		{"lost", "ip_fragments", cs->dec[WS_DEC_FRAGMENT]},
		{"lost", "truncated_headers", cs->dec[WS_DEC_TRUNCATED]},
		{"lost", "bad_headers", cs->dec[WS_DEC_BAD_HEADER]},
		{"lost", "flows_evicted", os->flows_evicted},
		{"stat", "payload_cut", cs->payload_cut},
		{"stat", "flows", os->flows},
		{"stat", "flows_without_handshake", os->flows_no_handshake},
		{"stat", "flows_ends_unknown", os->flows_ends_unknown},
		{"stat", "packets_not_stored", os->packets_not_stored},
		{"stat", "tcp_retransmissions", os->ta[0]},
		{"stat", "tcp_fast_retransmissions", os->ta[1]},
		{"stat", "tcp_spurious_retransmissions", os->ta[2]},
		{"stat", "tcp_out_of_order", os->ta[3]},
		{"stat", "tcp_duplicate_acks", os->ta[4]},
		{"stat", "tcp_zero_windows", os->ta[5]},
		{"stat", "tcp_segments_not_captured", os->ta[9]},
	};
	uint64_t lost = cs->dec[WS_DEC_FRAGMENT] + cs->dec[WS_DEC_TRUNCATED] + cs->dec[WS_DEC_BAD_HEADER] +
			ct_stats(r->p->ct)->conns_evicted + os->flows_evicted;

	if (pipeline_end(r->p, rows, WS_ARRAY_SIZE(rows), lost, status))
		return -EIO;
	/* the recording is of the capture's time, not of when it was read */
	if (cs->first_ns && cs->last_ns >= cs->first_ns)
		return pipeline_times(r->p, cs->first_ns, cs->last_ns);
	return 0;
}

/* One capture: a recording of its own. Returns 0, or 1 after an error
 * (what was read before it is stored). */
static int read_capture(struct pipeline *p, const char *path, const char *host, const struct ws_sides *sides,
			size_t idx, const struct ws_offline_cfg *oc, bool quiet, FILE *analysis)
{
	struct pcap_run r = {.p = p, .analysis = analysis, .file = path};
	struct ws_capfile *cf;
	char err[1024], locals[512];
	int rc = 0;

	if (ws_capfile_open(path, &cf, err, sizeof(err))) {
		ws_err("%s", err);
		return 1;
	}
	ws_strlcpy(p->host, host, sizeof(p->host));
	/* each capture is a recording of its own, with its own counts */
	p->records = p->decode_errors = p->tcp_events = p->failed_connects = 0;
	ct_free(p->ct); /* the last capture's connections were flushed at its end */
	p->ct = NULL;
	struct ws_recording rec = {.source = "pcap", .host = host, .command = path, .started_ns = ws_now_real_ns()};
	if (pipeline_begin(p, &rec)) {
		ws_err("cannot write to the database: %s", pipeline_errmsg(p));
		ws_capfile_close(cf);
		return 1;
	}
	struct ws_offline_sink sink = {.event = on_event, .advance = on_advance, .flow = on_flow, .ctx = &r};
	if (analysis)
		sink.analysis = on_analysis;
	struct ws_offline *o = ws_offline_new(oc, &sink, sides, idx);

	uint64_t t0 = ws_now_mono_ns();
	struct ws_pkt pk;
	uint64_t ts;
	uint32_t frame;
	int res, got;
	while ((got = ws_capfile_next(cf, &pk, &ts, &frame, &res)) == 1) {
		if (res == WS_DEC_OK)
			ws_offline_packet(o, &pk, ts, frame);
		if (frame % COMMIT_EVERY_FRAMES == 0)
			pipeline_commit(p);
		if (p->store_failed)
			break;
	}
	if (got < 0) {
		ws_warn("%s: %s; the frames before it are kept", path, ws_capfile_error(cf));
		rc = 1;
	}
	ws_offline_finish(o);
	ct_flush(p->ct);
	if (store_file_results(&r, cf, o, rc ? "failed" : "complete")) {
		ws_err("cannot write to the database (%s): what was stored before is kept", pipeline_errmsg(p));
		rc = 1;
	}
	ws_sides_describe(sides, idx, locals, sizeof(locals));
	if (!quiet)
		print_file_summary(path, &r, cf, o, locals, (ws_now_mono_ns() - t0) / 1e9);
	ws_offline_free(o);
	ws_capfile_close(cf);
	return rc;
}

/* --host NAME, once per file */
static int opt_host(const struct cli_opt *o, const char *arg, void *to)
{
	if (!arg[0] || strlen(arg) >= 64)
		return cli_bad_value(o, arg);
	*(const char **)to = arg;
	return 0;
}

/* --local ADDR */
static int opt_local(const struct cli_opt *o, const char *arg, void *to)
{
	return ws_endpoint_parse(arg, 0, to) ? cli_bad_value(o, arg) : 0;
}

/* --service-map ADDR[:PORT]=NAME */
static int opt_service_map(const struct cli_opt *o, const char *arg, void *to)
{
	return parse_service_map(arg, to) ? cli_bad_value(o, arg) : 0;
}

int cmd_pcap(int argc, char **argv)
{
	const char *db = NULL, *hosts[MAX_FILES];
	struct ws_endpoint locals[64];
	struct pipeline_service smap[64];
	size_t nhosts = 0, nlocals = 0, nsmap = 0;
	struct ws_offline_cfg oc = {.max_packets = 20000};
	bool quiet = false, debug = false, analysis = false;
	const struct cli_opt opts[] = {
		CLI_DB(&db),
		CLI_FNS("host", opt_host, hosts, &nhosts, "a name of 1 to 63 characters"),
		CLI_FNS("local", opt_local, locals, &nlocals, "an IPv4 or IPv6 address"),
		CLI_UINT("max-packets", &oc.max_packets, 0, 100000000, NULL),
		CLI_UINT("max-flows", &oc.max_flows, 10, 100000000, NULL),
		CLI_KEEP_OPTS,
		CLI_SET("analysis", &analysis),
		CLI_SET("quiet", &quiet),
		CLI_FNS("service-map", opt_service_map, smap, &nsmap,
			"ADDR=NAME or ADDR:PORT=NAME ([ADDR]:PORT for IPv6; a name of 1 to 63 characters)"),
		CLI_SET("debug-events", &debug),
		{0},
	};
	const struct cli_cmd cmd = {.name = "pcap", .usage = usage, .opts = opts, .nargs = 1,
				    .args_what = "at least one capture file", .more_args = true};
	char err[1024];
	int rc = cli_parse(&cmd, argc, argv);

	if (rc >= 0)
		return rc;
	int nfiles = argc - optind;
	if (nfiles > MAX_FILES) {
		ws_err("at most %d capture files at once", MAX_FILES);
		return 2;
	}
	if (nhosts && nhosts != (size_t)nfiles) {
		ws_err("%zu --host names for %d files: give one per file, in file order", nhosts, nfiles);
		return 2;
	}
	char (*names)[64] = ws_calloc((size_t)nfiles, sizeof(*names));
	for (int i = 0; i < nfiles; i++) {
		if (nhosts)
			ws_strlcpy(names[i], hosts[i], sizeof(names[i]));
		else
			default_host(argv[optind + i], names[i], sizeof(names[i]));
	}

	/* first pass: whose ends are local to each capture */
	struct ws_sides *sides = ws_sides_new((size_t)nfiles);
	bool *usable = ws_calloc((size_t)nfiles, sizeof(*usable));
	int nusable = 0;
	rc = 0;
	for (size_t i = 0; i < nlocals; i++)
		ws_sides_force_local(sides, &locals[i]);
	for (int i = 0; i < nfiles; i++) {
		struct ws_capfile *cf;
		if (ws_capfile_open(argv[optind + i], &cf, err, sizeof(err))) {
			ws_err("%s", err);
			rc = 1;
			continue;
		}
		usable[i] = true;
		nusable++;
		if (!nlocals)
			ws_sides_scan(sides, (size_t)i, cf, SIDES_SCAN_FRAMES); /* a cut file is reported later */
		ws_capfile_close(cf);
	}
	ws_sides_decide(sides);

	struct pipeline p = {.debug_events = debug, .service_map = smap, .nservice_map = nsmap, .link_in_memory = true};
	bool opened = false;
	if (nusable) {
		umask(077);
		if (pipeline_open(&p, db, err, sizeof(err))) {
			ws_err("%s", err);
			rc = 1;
		} else {
			opened = true;
		}
	}
	for (int i = 0; i < nfiles && opened; i++)
		if (usable[i] && read_capture(&p, argv[optind + i], names[i], sides, (size_t)i, &oc, quiet,
					      analysis ? stdout : NULL))
			rc = 1;
	if (opened && pipeline_link(&p, 0))
		rc = 1;
	pipeline_close(&p);
	ws_sides_free(sides);
	free(usable);
	free(names);
	return rc;
}
