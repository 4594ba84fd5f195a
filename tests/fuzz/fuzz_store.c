/* fuzz_store.c -- libFuzzer target for the readers of databases, which may
 * come from anyone: the input is a database file. It is opened as every
 * reader opens it (defensive settings, views and triggers refused), then
 * read the way `spans`, `traces` and `explain` read it: every span, trace
 * assembly and phases over the spans and TCP events, and the packets of
 * the connections between the first span's ends. Seeds: databases that
 * `wirespan pcap` wrote (tests/run.sh), so mutations start from valid
 * SQLite files with wirespan's schema. */
#include <fcntl.h>
#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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
	ws_phaseset_free(&ps);
	ws_tcpevs_free(&evs);
	ws_lset_free(&set);
	ws_store_close(st);
	return 0;
}
