/* cli.h -- subcommands of the wirespan binary. Each returns the exit status:
 * 0 success, 1 failure, 2 bad usage. */
#ifndef WIRESPAN_CLI_H
#define WIRESPAN_CLI_H

#include <stdint.h>

int cmd_record(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_spans(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_traces(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_tcp(int argc, char **argv);
int cmd_pcap(int argc, char **argv);
int cmd_status(int argc, char **argv);

struct ws_store;
/* Assemble the traces of a database and store the trace ids and parents
 * (the end of `record` and `replay`). Returns 0, or 1 after an error. */
int cli_link_store(struct ws_store *st, const char *path);
/* The same, unless the database holds more than max_spans spans: then say
 * that readers assemble the traces (trace assembly holds every span in
 * memory, and the recorder's memory must stay bounded). */
#define CLI_LINK_MAX_SPANS 500000
int cli_link_store_bounded(struct ws_store *st, const char *path, uint64_t max_spans);
int cmd_link(int argc, char **argv);

#endif
