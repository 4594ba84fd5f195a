/* fuzz_store.c -- libFuzzer target for the readers of databases, which may
 * come from anyone: the input is a database file. It is opened as every
 * reader opens it (defensive settings, views and triggers refused), then
 * read the way `spans`, `traces` and `explain` read it: every span, trace
 * assembly and phases over the spans and TCP events, and the packets of
 * the connections between the first span's ends; and the way `status` and
 * `tcp` read it: each recording's counters, shedding and BPF programs, the
 * TCP health of every grouping and the drops. Seeds: databases that
 * `wirespan pcap` wrote (tests/run.sh), so mutations start from valid
 * SQLite files with wirespan's schema. */
#include <fcntl.h>
#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pcap/offline.h"
#include "store/store.h"
#include "trace/link.h"
#include "trace/phases.h"

static int on_span(void *ctx, const struct ws_span *s)
{
	(void)ctx;
	(void)s;
	return 0;
}

static int on_flow(void *ctx, int64_t recording, const char *host, const struct ws_flowpkts *f)
{
	(void)ctx;
	(void)recording;
	(void)host;
	(void)f;
	return 0;
}

/* Rows the report readers may still call back with for this input: a
 * damaged b-tree can loop, handing out rows until the read time limit,
 * and each recording starts five more queries. */
static int report_rows;

static int on_row(void)
{
	return --report_rows < 0;
}

static int on_counter(void *ctx, const char *name, int64_t v)
{
	(void)ctx;
	(void)name;
	(void)v;
	return on_row();
}

static int on_shed(void *ctx, const struct ws_store_shed *s)
{
	(void)ctx;
	(void)s;
	return on_row();
}

static int on_prog(void *ctx, const struct ws_store_bpf_prog *p)
{
	(void)ctx;
	(void)p;
	return on_row();
}

static int on_health(void *ctx, const struct ws_store_peer_health *h)
{
	(void)ctx;
	(void)h;
	return on_row();
}

static int on_drop(void *ctx, const struct ws_store_drop_total *d)
{
	(void)ctx;
	(void)d;
	return on_row();
}

/* What `wirespan status` reads of each recording. */
static int on_recording(void *ctx, const struct ws_store_recording *r)
{
	struct ws_store *st = ctx;

	ws_store_recording_spans(st, r->id);
	ws_store_counter(st, r->id, "connections");
	ws_store_each_counter(st, r->id, "lost", on_counter, NULL);
	ws_store_each_shed(st, r->id, on_shed, NULL);
	ws_store_each_bpf_prog(st, r->id, on_prog, NULL);
	return on_row();
}

static void read_reports(struct ws_store *st)
{
	report_rows = 4096;
	ws_store_each_recording(st, 0, true, on_recording, st);
	for (int by = WS_GROUP_PEER; by <= WS_GROUP_HOST; by++)
		ws_store_each_peer_health(st, by, on_health, NULL);
	ws_store_each_drop_total(st, on_drop, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	char side[80], err[512];
	struct ws_store *st;

	if (!path[0])
		snprintf(path, sizeof(path), "/tmp/fuzz_store_%d.db", (int)getpid());
	for (const char *suf = "-wal\0-shm\0-journal\0"; *suf; suf += strlen(suf) + 1) {
		snprintf(side, sizeof(side), "%s%s", path, suf);
		unlink(side);
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	close(fd);
	if (ws_store_open(path, WS_STORE_READ, &st, err, sizeof(err)) != 0)
		return 0;
	struct ws_span_filter f = {0};
	ws_store_each_span(st, &f, on_span, NULL);
	struct ws_lset set;
	struct ws_tcpevs evs = {0};
	ws_lset_init(&set);
	ws_lset_load(&set, st, 0);
	ws_tcpevs_load(&evs, st, 0);
	struct ws_link_opts lo = {0};
	ws_link(&set, &lo);
	struct ws_phaseset ps;
	ws_phases_compute(&set, &evs, &ps);
	if (set.n) {
		struct ws_endpoint a, b;
		ws_endpoint_set(&a, AF_INET6, set.v[0].client.addr, set.v[0].client.port);
		ws_endpoint_set(&b, AF_INET6, set.v[0].server.addr, set.v[0].server.port);
		ws_flowpkts_each(st, &a, &b, on_flow, NULL);
	}
	read_reports(st);
	ws_phaseset_free(&ps);
	ws_tcpevs_free(&evs);
	ws_lset_free(&set);
	ws_store_close(st);
	return 0;
}
