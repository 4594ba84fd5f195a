/* cli.h -- subcommands of the wirespan binary. Each returns the exit status:
 * 0 success, 1 failure, 2 bad usage. */
#ifndef WIRESPAN_CLI_H
#define WIRESPAN_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <stdint.h>

int cmd_record(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_spans(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_agent(int argc, char **argv);

/* `record` driven by the agent: it rotates databases and hears, each tick,
 * what the recorder counts. */
struct ws_counter;
struct ws_sink;
struct rec_report {
	const struct ws_counter *rows; /* the recording's counters (kind, name, value) */
	size_t nrows;
	uint64_t lost, records, user_ns, sys_ns, bpf_ns, max_rss_kb, conns_evicted;
};
struct rec_agent {
	/* each tick (once a second): whether to close db and start the next */
	bool (*rotate_due)(void *ctx, const char *db);
	void (*next_db)(void *ctx, char *path, size_t size);
	/* a database is complete (closed): spans it holds */
	void (*closed)(void *ctx, const char *db, uint64_t spans);
	void (*tick)(void *ctx, const struct rec_report *r);
	/* capture has begun and privileges are dropped: start threads here,
	 * so that they hold no more than the recorder (0, or -1 and err) */
	int (*started)(void *ctx, char *err, size_t errlen);
	const struct ws_sink *sink; /* another destination of what is recorded (metrics) */
	void *ctx;
};
int cli_record_agent(int argc, char **argv, const struct rec_agent *agent);

/* Send a database's spans (trace ids from assembling it alone) to a
 * collector, skipping the first `skip`; stops at the first batch the
 * collector did not take. 0 when all were sent; *sent counts those sent
 * this time. */
struct ws_otlp_sender;
int cli_export_file(const char *path, struct ws_otlp_sender *snd, int format, size_t batch, uint64_t skip,
		    uint64_t *sent);
int cmd_traces(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_tcp(int argc, char **argv);
int cmd_pcap(int argc, char **argv);
int cmd_status(int argc, char **argv);

int cmd_link(int argc, char **argv);

/* --keep-query NAME and --keep-header NAME, for the option tables (opts.h)
 * of the commands that store payloads (record, pcap): each name is handed
 * to redaction as it comes. */
struct cli_opt;
int cli_opt_keep(const struct cli_opt *o, const char *arg, void *to);
#define CLI_KEEP_OPTS CLI_FN("keep-query", cli_opt_keep, NULL, NULL), CLI_FN("keep-header", cli_opt_keep, NULL, NULL)

#endif
