/* agent.c -- `wirespan agent --config FILE`: the recorder, always on.
 *
 * It records into a directory of databases, one at a time, closing each
 * (a complete recording of its own) when it is old or large enough and
 * going on in the next; it keeps at most so many files, or so many hours.
 * A closed database has its traces assembled and, with an OTLP endpoint,
 * its spans sent there by a thread of their own: a collector that is down
 * holds files back, up to a bound, after which the oldest's spans are
 * counted as dropped. /metrics serves RED per service and route, TCP health
 * per peer, and the agent's own cost and loss to Prometheus. SIGHUP reads
 * the configuration again; SIGTERM and SIGINT stop it cleanly (the last
 * database is closed and, if it can be, sent). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/opts.h"
#include "trace/link.h"
#include "export/metrics.h"
#include "export/otlp.h"
#include "export/send.h"
#include "store/store.h"
#include "util/util.h"

#define MAX_ARGS 128
#define MAX_FILES 4096

struct agent_cfg {
	char dir[2048];
	double rotate_s;
	uint64_t rotate_bytes;
	unsigned retain_files;
	double retain_s;
	char otlp[1024];
	enum ws_otlp_format otlp_format;
	char headers[16][256];
	size_t nheaders;
	unsigned queue_files; /* closed files waiting to be sent, at most */
	char metrics[128];    /* ADDR:PORT, "" none */
	char record[4096];    /* record's options */
};

/* a closed database */
struct dbfile {
	char path[2304];
	uint64_t spans, sent; /* spans it holds, sent so far */
	bool done;            /* sent (or nothing to send to) */
};

struct agent {
	const char *conf_path;
	struct MHD_Daemon *mhd;
	int metrics_fd; /* bound before the privileges go, -1: none */
	pthread_t exp;
	bool exp_started;
	struct agent_cfg cfg;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct dbfile files[MAX_FILES]; /* oldest first */
	size_t nfiles;
	uint64_t opened_mono; /* the current database's */
	char current[2304];
	unsigned seq;
	bool stopping;
	/* counted for /metrics */
	uint64_t rotations, exported, export_dropped, deleted, export_failures;
	struct ws_metrics *m;
	struct ws_sink sink;
};

static volatile sig_atomic_t reload_requested;

static void on_hup(int sig)
{
	(void)sig;
	reload_requested = 1;
}

/* ---- configuration ---- */

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = 0;
	return s;
}

/* Read the configuration from a file root (or we) own and no one else can
 * write, never through a link. */
static int read_config(const char *path, struct agent_cfg *c, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat sb;
	char line[4096];
	int n = 0;

	memset(c, 0, sizeof(*c));
	c->rotate_s = 300;
	c->rotate_bytes = 256ull << 20;
	c->retain_files = 48;
	c->queue_files = 16;
	if (fd < 0) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (sb.st_uid != 0 && sb.st_uid != geteuid()) ||
	    (sb.st_mode & 022)) {
		snprintf(err, errlen,
			 "refusing %s: a configuration must be a regular file owned by root (or you) that no one else "
			 "can write (chmod go-w)",
			 path);
		close(fd);
		return -1;
	}
	FILE *f = fdopen(fd, "r");
	while (fgets(line, sizeof(line), f)) {
		n++;
		char *l = trim(line), *eq;
		if (!*l || *l == '#')
			continue;
		if (!(eq = strchr(l, '='))) {
			snprintf(err, errlen, "%s:%d: expected 'key = value'", path, n);
			goto bad;
		}
		*eq = 0;
		char *k = trim(l), *v = trim(eq + 1), *end;
		double d = strtod(v, &end);
		bool num = end != v && !*end && d >= 0;
		if (strcmp(k, "db_dir") == 0 && *v)
			ws_strlcpy(c->dir, v, sizeof(c->dir));
		else if (strcmp(k, "rotate_seconds") == 0 && num && d >= 1)
			c->rotate_s = d;
		else if (strcmp(k, "rotate_megabytes") == 0 && num && d >= 1)
			c->rotate_bytes = (uint64_t)(d * 1048576);
		else if (strcmp(k, "retain_files") == 0 && num && d >= 1 && d <= MAX_FILES / 2)
			c->retain_files = (unsigned)d;
		else if (strcmp(k, "retain_hours") == 0 && num)
			c->retain_s = d * 3600;
		else if (strcmp(k, "otlp_endpoint") == 0)
			ws_strlcpy(c->otlp, v, sizeof(c->otlp));
		else if (strcmp(k, "otlp_protocol") == 0 && (!strcmp(v, "http/protobuf") || !strcmp(v, "http/json")))
			c->otlp_format = strcmp(v, "http/json") == 0 ? WS_OTLP_JSON : WS_OTLP_PROTOBUF;
		else if (strcmp(k, "otlp_header") == 0 && strchr(v, ':') && c->nheaders < 16)
			ws_strlcpy(c->headers[c->nheaders++], v, sizeof(c->headers[0]));
		else if (strcmp(k, "export_queue_files") == 0 && num && d >= 1 && d <= MAX_FILES / 2)
			c->queue_files = (unsigned)d;
		else if (strcmp(k, "metrics_listen") == 0)
			ws_strlcpy(c->metrics, v, sizeof(c->metrics));
		else if (strcmp(k, "record") == 0)
			ws_strlcpy(c->record, v, sizeof(c->record));
		else {
			snprintf(err, errlen, "%s:%d: unknown key or bad value: %s = %s", path, n, k, v);
			goto bad;
		}
	}
	fclose(f);
	if (!c->dir[0]) {
		snprintf(err, errlen, "%s: db_dir is missing", path);
		return -1;
	}
	return 0;
bad:
	fclose(f);
	return -1;
}

/* ---- files ---- */

static bool our_file(const char *name)
{
	size_t n = strlen(name);
	return strncmp(name, "wirespan-", 9) == 0 && n > 12 && strcmp(name + n - 3, ".db") == 0;
}

/* a database's files: itself, its write-ahead log, its shared memory */
static const char *const db_suffixes[] = {"", "-wal", "-shm"};

static uint64_t file_bytes(const char *path)
{
	char p[2400];
	struct stat sb;
	uint64_t n = 0;

	for (size_t i = 0; i < 2; i++) { /* the shared-memory file holds no data */
		snprintf(p, sizeof(p), "%s%s", path, db_suffixes[i]);
		if (lstat(p, &sb) == 0)
			n += (uint64_t)sb.st_size;
	}
	return n;
}

static void remove_db(const char *path)
{
	char p[2400];

	for (size_t i = 0; i < WS_ARRAY_SIZE(db_suffixes); i++) {
		snprintf(p, sizeof(p), "%s%s", path, db_suffixes[i]);
		unlink(p);
	}
}

/* Keep at most retain_files closed files, none older than retain_hours;
 * one not sent yet counts its unsent spans as dropped. Under the lock. */
static void retain(struct agent *a)
{
	time_t now = time(NULL);

	while (a->nfiles) {
		struct dbfile *f = &a->files[0];
		struct stat sb;
		bool old = a->cfg.retain_s > 0 && stat(f->path, &sb) == 0 && now - sb.st_mtime > a->cfg.retain_s;
		if (a->nfiles <= a->cfg.retain_files && !old)
			break;
		if (!f->done)
			a->export_dropped += f->spans - f->sent;
		remove_db(f->path);
		a->deleted++;
		memmove(&a->files[0], &a->files[1], (a->nfiles - 1) * sizeof(a->files[0]));
		a->nfiles--;
	}
	/* a collector that stays down: files waiting beyond the bound are dropped */
	size_t waiting = 0;
	for (size_t i = 0; i < a->nfiles; i++)
		waiting += !a->files[i].done;
	for (size_t i = 0; i < a->nfiles && waiting > a->cfg.queue_files; i++)
		if (!a->files[i].done) {
			a->export_dropped += a->files[i].spans - a->files[i].sent;
			a->files[i].done = true;
			waiting--;
		}
}

/* The next database's name: the time, and a number against clashes. */
static void next_db(void *ctx, char *path, size_t size)
{
	struct agent *a = ctx;
	char t[32];
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(t, sizeof(t), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(path, size, "%s/wirespan-%s-%04u.db", a->cfg.dir, t, a->seq++ % 10000);
	pthread_mutex_lock(&a->lock);
	ws_strlcpy(a->current, path, sizeof(a->current));
	a->opened_mono = ws_now_mono_ns();
	a->rotations++;
	pthread_mutex_unlock(&a->lock);
}

static void closed(void *ctx, const char *db, uint64_t spans)
{
	struct agent *a = ctx;

	pthread_mutex_lock(&a->lock);
	if (a->nfiles == MAX_FILES) { /* retention keeps far fewer; never reached */
		remove_db(a->files[0].path);
		memmove(&a->files[0], &a->files[1], (MAX_FILES - 1) * sizeof(a->files[0]));
		a->nfiles--;
	}
	struct dbfile *f = &a->files[a->nfiles++];
	memset(f, 0, sizeof(*f));
	ws_strlcpy(f->path, db, sizeof(f->path));
	f->spans = spans;
	retain(a);
	pthread_cond_signal(&a->wake);
	pthread_mutex_unlock(&a->lock);
}

static void reload(struct agent *a)
{
	struct agent_cfg c;
	char err[1024];

	reload_requested = 0;
	if (read_config(a->conf_path, &c, err, sizeof(err))) {
		ws_warn("SIGHUP: %s; keeping the configuration in use", err);
		return;
	}
	pthread_mutex_lock(&a->lock);
	if (strcmp(c.record, a->cfg.record) || strcmp(c.dir, a->cfg.dir) || strcmp(c.metrics, a->cfg.metrics))
		ws_warn("SIGHUP: record, db_dir and metrics_listen take effect when the agent starts again");
	ws_strlcpy(c.record, a->cfg.record, sizeof(c.record));
	ws_strlcpy(c.dir, a->cfg.dir, sizeof(c.dir));
	ws_strlcpy(c.metrics, a->cfg.metrics, sizeof(c.metrics));
	a->cfg = c;
	retain(a);
	pthread_cond_signal(&a->wake);
	pthread_mutex_unlock(&a->lock);
	fprintf(stderr, "wirespan: agent: configuration read again from %s\n", a->conf_path);
}

static bool rotate_due(void *ctx, const char *db)
{
	struct agent *a = ctx;

	if (reload_requested)
		reload(a);
	pthread_mutex_lock(&a->lock);
	bool due = ws_now_mono_ns() - a->opened_mono >= (uint64_t)(a->cfg.rotate_s * 1e9) ||
		   file_bytes(db) >= a->cfg.rotate_bytes;
	pthread_mutex_unlock(&a->lock);
	return due;
}

/* ---- the exporter: closed files, oldest first ---- */

static void *exporter(void *arg)
{
	struct agent *a = arg;
	struct ws_otlp_sender *snd = NULL;
	char url[1024] = "", err[512];

	pthread_mutex_lock(&a->lock);
	for (;;) {
		struct dbfile *f = NULL;
		for (size_t i = 0; i < a->nfiles && !f; i++)
			if (!a->files[i].done)
				f = &a->files[i];
		if (!f) {
			if (a->stopping)
				break;
			pthread_cond_wait(&a->wake, &a->lock);
			continue;
		}
		char path[sizeof(f->path)];
		ws_strlcpy(path, f->path, sizeof(path));
		uint64_t skip = f->sent;
		struct agent_cfg c = a->cfg;
		pthread_mutex_unlock(&a->lock);

		/* assemble its traces once, then send */
		int rc = 0;
		uint64_t sent = 0;
		if (skip == 0) {
			struct ws_store *st;
			if (ws_store_open(path, WS_STORE_WRITE, &st, err, sizeof(err)) == 0) {
				ws_link_store(st, path, WS_LINK_MAX_SPANS);
				ws_store_close(st);
			}
		}
		if (c.otlp[0]) {
			if (!snd || strcmp(url, c.otlp) != 0) {
				struct ws_otlp_send_opts so = {.url = c.otlp, .format = c.otlp_format, .gzip = true,
							       .max_attempts = 3};
				for (size_t i = 0; i < c.nheaders; i++)
					so.headers[so.nheaders++] = c.headers[i];
				ws_otlp_sender_free(snd);
				snd = ws_otlp_sender_new(&so, err, sizeof(err));
				ws_strlcpy(url, c.otlp, sizeof(url));
				if (!snd)
					ws_warn("agent: %s", err);
			}
			rc = snd ? cli_export_file(path, snd, c.otlp_format, 512, skip, &sent) : -1;
		}
		pthread_mutex_lock(&a->lock);
		for (size_t i = 0; i < a->nfiles; i++) {
			struct dbfile *g = &a->files[i];
			if (strcmp(g->path, path) != 0)
				continue;
			g->sent += sent;
			a->exported += sent;
			if (rc == 0)
				g->done = true;
		}
		if (rc) { /* the collector did not take it: try again in a while */
			a->export_failures++;
			if (!a->stopping) {
				struct timespec ts;
				clock_gettime(CLOCK_REALTIME, &ts);
				ts.tv_sec += 5;
				pthread_cond_timedwait(&a->wake, &a->lock, &ts);
			} else {
				break;
			}
		}
	}
	pthread_mutex_unlock(&a->lock);
	ws_otlp_sender_free(snd);
	return NULL;
}

/* ---- metrics ---- */



static void tick(void *ctx, const struct rec_report *r)
{
	struct agent *a = ctx;
	struct ws_metrics *m = a->m;

	ws_metrics_set(m, "wirespan_events_total", "counter", "Kernel events the agent read.", NULL, NULL,
		       (double)r->records);
	for (size_t i = 0; i < r->nrows; i++) {
		if (strcmp(r->rows[i].kind, "lost") == 0)
			ws_metrics_set(m, "wirespan_events_lost_total", "counter",
				       "Events not captured or not recorded, by cause.", "cause", r->rows[i].name,
				       (double)r->rows[i].v);
		else if (strcmp(r->rows[i].name, "shed_syscalls") == 0)
			ws_metrics_set(m, "wirespan_shed_syscalls_total", "counter",
				       "Data syscalls whose bytes were not captured, to stay in the CPU budget.", NULL, NULL,
				       (double)r->rows[i].v);
	}
	ws_metrics_set(m, "wirespan_events_lost_total", "counter", "Events not captured or not recorded, by cause.",
		       "cause", "conns_evicted", (double)r->conns_evicted);
	ws_metrics_set(m, "wirespan_cpu_seconds_total", "counter", "CPU the agent used, by where.", "mode", "user",
		       r->user_ns / 1e9);
	ws_metrics_set(m, "wirespan_cpu_seconds_total", "counter", "CPU the agent used, by where.", "mode", "system",
		       r->sys_ns / 1e9);
	ws_metrics_set(m, "wirespan_cpu_seconds_total", "counter", "CPU the agent used, by where.", "mode", "bpf",
		       r->bpf_ns / 1e9);
	ws_metrics_set(m, "wirespan_max_resident_memory_bytes", "gauge", "Peak resident memory of the agent.", NULL,
		       NULL, r->max_rss_kb * 1024.0);
	pthread_mutex_lock(&a->lock);
	uint64_t bytes = file_bytes(a->current), waiting = 0;
	for (size_t i = 0; i < a->nfiles; i++) {
		bytes += file_bytes(a->files[i].path);
		waiting += !a->files[i].done;
	}
	double v[] = {(double)a->rotations, (double)a->nfiles + 1, (double)bytes, (double)a->exported,
		      (double)a->export_dropped, (double)waiting, (double)a->export_failures, (double)a->deleted};
	pthread_mutex_unlock(&a->lock);
	static const char *const names[][3] = {
		{"wirespan_databases_opened_total", "counter", "Databases the agent opened (one per rotation)."},
		{"wirespan_databases", "gauge", "Databases kept on disk, the one being written included."},
		{"wirespan_databases_bytes", "gauge", "Bytes of the databases kept on disk."},
		{"wirespan_export_spans_total", "counter", "Spans the OTLP endpoint took."},
		{"wirespan_export_dropped_spans_total", "counter",
		 "Spans never sent: their database left the export queue or was deleted first."},
		{"wirespan_export_queue_databases", "gauge", "Closed databases waiting to be sent."},
		{"wirespan_export_failures_total", "counter", "Times the OTLP endpoint did not take a batch."},
		{"wirespan_databases_deleted_total", "counter", "Databases removed by retention."},
	};
	for (size_t i = 0; i < WS_ARRAY_SIZE(names); i++)
		ws_metrics_set(m, names[i][0], names[i][1], names[i][2], NULL, NULL, v[i]);
}

static enum MHD_Result serve(void *cls, struct MHD_Connection *c, const char *url, const char *method,
			     const char *version, const char *upload, size_t *upload_len, void **state)
{
	struct agent *a = cls;
	struct MHD_Response *r;
	enum MHD_Result ret;

	(void)version, (void)upload, (void)upload_len, (void)state;
	if (strcmp(method, "GET") != 0 || strcmp(url, "/metrics") != 0) {
		static const char nf[] = "not found: wirespan serves /metrics\n";
		r = MHD_create_response_from_buffer(sizeof(nf) - 1, (void *)nf, MHD_RESPMEM_PERSISTENT);
		ret = MHD_queue_response(c, MHD_HTTP_NOT_FOUND, r);
		MHD_destroy_response(r);
		return ret;
	}
	size_t len;
	char *text = ws_metrics_render(a->m, &len);
	r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

/* The metrics socket, bound and listening before the recorder gives up
 * root, so that a port below 1024 can be asked for; served after. A
 * socket, or -1 and err. */
static int metrics_socket(const char *listen_on, char *err, size_t errlen)
{
	char host[64];
	const char *colon = strrchr(listen_on, ':');
	unsigned long long port;
	struct sockaddr_in sin = {.sin_family = AF_INET};
	int one = 1;

	if (!colon || (size_t)(colon - listen_on) >= sizeof(host) || ws_parse_uint(colon + 1, 65535, &port) ||
	    !port) {
		snprintf(err, errlen, "metrics_listen needs ADDRESS:PORT (an IPv4 address), not '%s'", listen_on);
		return -1;
	}
	memcpy(host, listen_on, (size_t)(colon - listen_on));
	host[colon - listen_on] = 0;
	if (inet_pton(AF_INET, host[0] ? host : "0.0.0.0", &sin.sin_addr) != 1) {
		snprintf(err, errlen, "metrics_listen: '%s' is not an IPv4 address", host);
		return -1;
	}
	sin.sin_port = htons((uint16_t)port);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) || listen(fd, 64)) {
		snprintf(err, errlen, "cannot serve metrics on %s: %s", listen_on, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static struct MHD_Daemon *start_metrics(struct agent *a, char *err, size_t errlen)
{
	struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
						serve, a, MHD_OPTION_LISTEN_SOCKET, a->metrics_fd,
						MHD_OPTION_CONNECTION_LIMIT, 16u, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
						MHD_OPTION_END);
	if (d)
		a->metrics_fd = -1; /* the daemon's now: closed when it stops */
	else
		snprintf(err, errlen, "cannot serve metrics on %s", a->cfg.metrics);
	return d;
}

/* Capture has begun and the recorder holds no more than it needs: the
 * metrics server and the exporter start now, as threads of that recorder
 * (capabilities are per thread), under its seccomp allow-list. */
static int started(void *ctx, char *err, size_t errlen)
{
	struct agent *a = ctx;

	if (a->metrics_fd >= 0 && !(a->mhd = start_metrics(a, err, errlen)))
		return -1;
	if (pthread_create(&a->exp, NULL, exporter, a) != 0) {
		snprintf(err, errlen, "cannot start the exporter thread");
		return -1;
	}
	a->exp_started = true;
	return 0;
}

/* ---- the command ---- */

static void usage(FILE *f)
{
	fprintf(f, "usage: wirespan agent --config FILE\n\n"
		   "Record always, into a directory of databases rotated by age and size, kept by count\n"
		   "and age; send each closed one to an OTLP endpoint; serve Prometheus metrics. See\n"
		   "docs/agent.md for the configuration (scripts/wirespan-agent.conf is an example) and\n"
		   "scripts/wirespan-agent.service for systemd. SIGHUP reads the configuration again;\n"
		   "SIGTERM stops.\n");
}

int cmd_agent(int argc, char **argv)
{
	static struct agent a; /* large: the file list */
	const struct cli_opt opts[] = {CLI_STR("config", &a.conf_path), {0}};
	const struct cli_cmd cmd = {.name = "agent", .usage = usage, .opts = opts};
	char err[1024];
	struct stat sb;
	int rc;

	/* -h as well, as before: the agent took it, cli_parse knows long options only */
	if (argc == 2 && !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	if ((rc = cli_parse(&cmd, argc, argv)) >= 0)
		return rc;
	if (!a.conf_path) {
		ws_err("agent needs --config FILE");
		usage(stderr);
		return 2;
	}
	if (read_config(a.conf_path, &a.cfg, err, sizeof(err))) {
		ws_err("%s", err);
		return 2;
	}
	/* the directory: ours, and no one else's to write in */
	if (lstat(a.cfg.dir, &sb) != 0 || !S_ISDIR(sb.st_mode) || (sb.st_uid != 0 && sb.st_uid != geteuid()) ||
	    (sb.st_mode & 022)) {
		ws_err("db_dir %s must be an existing directory owned by root (or you) that no one else can write "
		       "(mkdir -m 0700 %s)",
		       a.cfg.dir, a.cfg.dir);
		return 2;
	}
	/* databases of an earlier run are kept (by retention), not sent again */
	DIR *d = opendir(a.cfg.dir);
	struct dirent *e;
	while (d && (e = readdir(d)) && a.nfiles < MAX_FILES)
		if (our_file(e->d_name)) {
			struct dbfile *f = &a.files[a.nfiles++];
			memset(f, 0, sizeof(*f));
			snprintf(f->path, sizeof(f->path), "%s/%s", a.cfg.dir, e->d_name);
			f->done = true;
		}
	if (d)
		closedir(d);
	qsort(a.files, a.nfiles, sizeof(a.files[0]), (int (*)(const void *, const void *))strcmp);
	pthread_mutex_init(&a.lock, NULL);
	pthread_cond_init(&a.wake, NULL);
	retain(&a);
	a.metrics_fd = -1;
	if (a.cfg.metrics[0] && (a.metrics_fd = metrics_socket(a.cfg.metrics, err, sizeof(err))) < 0) {
		ws_err("%s", err);
		return 1;
	}
	a.m = ws_metrics_new(10000);
	ws_metrics_sink(a.m, &a.sink);

	struct sigaction sa = {.sa_handler = on_hup};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGHUP, &sa, NULL);

	/* record's options, then the first database */
	char *args[MAX_ARGS], first[2304];
	int n = 0;
	args[n++] = "record";
	next_db(&a, first, sizeof(first));
	args[n++] = "--db";
	args[n++] = first;
	args[n++] = "--quiet";
	char rec[sizeof(a.cfg.record)];
	ws_strlcpy(rec, a.cfg.record, sizeof(rec));
	for (char *save, *t = strtok_r(rec, " \t", &save); t && n < MAX_ARGS - 1; t = strtok_r(NULL, " \t", &save))
		args[n++] = t;
	args[n] = NULL;
	fprintf(stderr, "wirespan: agent: databases in %s (rotated every %.0fs or %.0f MiB, %u kept)%s%s%s%s\n",
		a.cfg.dir, a.cfg.rotate_s, a.cfg.rotate_bytes / 1048576.0, a.cfg.retain_files,
		a.cfg.otlp[0] ? "; spans to " : "", a.cfg.otlp, a.cfg.metrics[0] ? "; metrics on " : "",
		a.cfg.metrics);
	struct rec_agent hooks = {.rotate_due = rotate_due, .next_db = next_db, .closed = closed, .tick = tick,
				  .started = started, .sink = &a.sink, .ctx = &a};
	rc = cli_record_agent(n, args, &hooks);

	/* stop: the exporter sends what it can of what is queued, then ends */
	pthread_mutex_lock(&a.lock);
	a.stopping = true;
	pthread_cond_signal(&a.wake);
	pthread_mutex_unlock(&a.lock);
	if (a.exp_started)
		pthread_join(a.exp, NULL);
	if (a.mhd)
		MHD_stop_daemon(a.mhd);
	if (a.metrics_fd >= 0)
		close(a.metrics_fd);
	fprintf(stderr, "wirespan: agent: %llu databases opened, %llu spans sent, %llu dropped from the export\n",
		(unsigned long long)a.rotations, (unsigned long long)a.exported, (unsigned long long)a.export_dropped);
	ws_metrics_free(a.m);
	return rc;
}
