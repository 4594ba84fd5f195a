/* main.c -- the wirespan command: dispatch to subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "util/util.h"

#define WIRESPAN_VERSION "0.1.0"

static void usage(FILE *f)
{
	fprintf(f, "wirespan %s -- distributed traces from the kernel, with no code changes\n"
		   "\n"
		   "usage: wirespan COMMAND [options]\n"
		   "\n"
		   "  record    capture HTTP/1.x and Redis exchanges live with eBPF (root)\n"
		   "  pcap      the same spans from tcpdump captures of one or both ends, offline\n"
		   "  spans     list recorded spans (--json: OpenTelemetry-shaped JSON lines)\n"
		   "  traces    list distributed traces, across the databases of several hosts\n"
		   "  explain   draw one trace as a waterfall, with where its time went and why\n"
		   "  tcp       TCP health per peer: retransmissions, resets, drops, RTO, RTT\n"
		   "  status    a recording's state, running or finished: lost events by cause,\n"
		   "            load shedding, wirespan's own CPU and memory, each BPF program's cost\n"
		   "  link      assemble and store the traces of a large recording\n"
		   "  replay    run a saved raw event stream through the pipeline again\n"
		   "\n"
		   "Every command takes --db FILE (default wirespan.db) and --help.\n",
		WIRESPAN_VERSION);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "record") == 0)
		return cmd_record(argc - 1, argv + 1);
	if (strcmp(cmd, "pcap") == 0)
		return cmd_pcap(argc - 1, argv + 1);
	if (strcmp(cmd, "spans") == 0)
		return cmd_spans(argc - 1, argv + 1);
	if (strcmp(cmd, "traces") == 0)
		return cmd_traces(argc - 1, argv + 1);
	if (strcmp(cmd, "explain") == 0)
		return cmd_explain(argc - 1, argv + 1);
	if (strcmp(cmd, "tcp") == 0)
		return cmd_tcp(argc - 1, argv + 1);
	if (strcmp(cmd, "link") == 0)
		return cmd_link(argc - 1, argv + 1);
	if (strcmp(cmd, "status") == 0)
		return cmd_status(argc - 1, argv + 1);
	if (strcmp(cmd, "replay") == 0)
		return cmd_replay(argc - 1, argv + 1);
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
		printf("wirespan %s\n", WIRESPAN_VERSION);
		return 0;
	}
	ws_err("unknown command '%s'", cmd);
	usage(stderr);
	return 2;
}
