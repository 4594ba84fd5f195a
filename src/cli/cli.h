/* cli.h -- subcommands of the wirespan binary. Each returns the exit status:
 * 0 success, 1 failure, 2 bad usage. */
#ifndef WIRESPAN_CLI_H
#define WIRESPAN_CLI_H

int cmd_record(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_spans(int argc, char **argv);

#endif
