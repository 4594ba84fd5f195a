/* cli.h -- subcommands of the wirespan binary. Each returns the exit status:
 * 0 success, 1 failure, 2 bad usage. */
#ifndef WIRESPAN_CLI_H
#define WIRESPAN_CLI_H

int cmd_record(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_spans(int argc, char **argv);
int cmd_traces(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_tcp(int argc, char **argv);
int cmd_pcap(int argc, char **argv);

struct ws_store;
/* Assemble the traces of a database and store the trace ids and parents
 * (the end of `record` and `replay`). Returns 0, or 1 after an error. */
int cli_link_store(struct ws_store *st, const char *path);

#endif
