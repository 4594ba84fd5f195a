/* main.c -- the wirespan command: dispatch to subcommands. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "util/util.h"

#define WIRESPAN_VERSION "0.1.0"

static void usage(FILE *f)
{
	fprintf(f, "wirespan %s -- distributed traces from the kernel, with no code changes\n"
		   "\n"
		   "usage: wirespan COMMAND [options]\n"
		   "\n"
		   "  record    capture HTTP/1.x, HTTP/2, gRPC, Redis, PostgreSQL and MySQL exchanges live with eBPF (root)\n"
		   "  pcap      the same spans from tcpdump captures of one or both ends, offline\n"
		   "  spans     list recorded spans (--json: OpenTelemetry-shaped JSON lines)\n"
		   "  traces    list distributed traces, across the databases of several hosts\n"
		   "  explain   draw one trace as a waterfall, with where its time went and why\n"
		   "  tcp       TCP health per peer: retransmissions, resets, drops, RTO, RTT\n"
		   "  status    a recording's state, running or finished: lost events by cause,\n"
		   "            load shedding, wirespan's own CPU and memory, each BPF program's cost\n"
		   "  link      assemble and store the traces of a large recording\n"
		   "  replay    run a saved event stream through the pipeline again\n"
		   "  export    send spans to an OpenTelemetry collector (OTLP/HTTP, protobuf or JSON)\n"
		   "  agent     record always: rotated databases, OTLP push, Prometheus /metrics\n"
		   "\n"
		   "Every command takes --db FILE (default wirespan.db) and --help.\n",
		WIRESPAN_VERSION);
}

/* Names, paths and payload text come from other processes: on their way to
 * a terminal, control characters (ESC, CSI, BEL, ...) become '?', so no
 * recorded text can move the cursor, retitle the window or hide a line.
 * JSON output escapes them already; newlines and tabs are ours. */
struct safe_out {
	int fd;
	bool lead; /* the byte before began a UTF-8 sequence or continued one */
};

static ssize_t safe_write(void *cookie, const char *buf, size_t n)
{
	struct safe_out *o = cookie;
	char tmp[4096];
	size_t done = 0;

	while (done < n) {
		size_t k = n - done < sizeof(tmp) ? n - done : sizeof(tmp);
		for (size_t i = 0; i < k; i++) {
			unsigned char c = (unsigned char)buf[done + i];
			bool bad = (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f ||
				   (c >= 0x80 && c <= 0x9f && !o->lead); /* a bare C1 control */
			tmp[i] = bad ? '?' : (char)c;
			o->lead = c >= 0xc2 && c <= 0xf4 ? true : (c >= 0x80 && c <= 0xbf) ? o->lead : false;
			/* C1 controls encoded in UTF-8 (U+0080..U+009F) */
			if (i && (unsigned char)buf[done + i - 1] == 0xc2 && c >= 0x80 && c <= 0x9f)
				tmp[i - 1] = tmp[i] = '?';
		}
		for (size_t w = 0; w < k;) {
			ssize_t r = write(o->fd, tmp + w, k - w);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return done ? (ssize_t)done : -1;
			w += (size_t)r;
		}
		done += k;
	}
	return (ssize_t)n;
}

static void safe_stdout(void)
{
	static struct safe_out o = {.fd = STDOUT_FILENO};
	cookie_io_functions_t fns = {.write = safe_write};
	FILE *f = fopencookie(&o, "w", fns);

	if (!f)
		return;
	setvbuf(f, NULL, isatty(STDOUT_FILENO) ? _IOLBF : _IOFBF, 0);
	stdout = f;
}

int main(int argc, char **argv)
{
	safe_stdout();
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
	if (strcmp(cmd, "export") == 0)
		return cmd_export(argc - 1, argv + 1);
	if (strcmp(cmd, "agent") == 0)
		return cmd_agent(argc - 1, argv + 1);
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
