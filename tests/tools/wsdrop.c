// SPDX-License-Identifier: GPL-2.0
/* wsdrop -- drop chosen TCP segments on an interface, for fault-injection
 * tests.
 *
 *   wsdrop --dev IFACE (--match STRING | --syn) [--nth N] [--count K]
 *          [--dport PORT] [--ingress] [--for SECONDS]
 *
 * Attaches wsdrop.bpf.c to IFACE's clsact hook (egress unless --ingress) in
 * the current network namespace, prints "wsdrop: attached to IFACE egress",
 * and drops TCP segments whose payload begins with STRING (with --syn:
 * segments that open a connection, SYN without ACK): matches number
 * N .. N+K-1 (default 1 and 1). After SIGINT/SIGTERM or SECONDS (default 60)
 * it detaches and prints "wsdrop: matched M dropped D". STRING may use the
 * escapes \r, \n and \\. Exit status: 0 done, 2 bad arguments or attach
 * failure.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <net/if.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "wsdrop.skel.h"

#define MAX_MATCH 32 /* as in wsdrop.bpf.c */

static volatile sig_atomic_t stop;
static bool quiet_libbpf; /* hide libbpf's note about an existing clsact */

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: wsdrop --dev IFACE (--match STRING | --syn) [--nth N] [--count K]\n"
		   "              [--dport PORT] [--ingress] [--for SECONDS]\n");
}

/* Parse a decimal number in [min, max]; -1 on error. */
static long long parse_num(const char *opt, const char *s, long long min, long long max)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "wsdrop: %s: '%s' is not a number in %lld..%lld\n", opt, s, min,
			max);
		return -1;
	}
	return v;
}

/* Decode \r, \n and \\ into out; returns the length, or -1 on error. */
static int parse_match(const char *s, unsigned char *out)
{
	int n = 0;

	for (; *s; s++) {
		unsigned char c = *s;

		if (c == '\\') {
			switch (*++s) {
			case 'r': c = '\r'; break;
			case 'n': c = '\n'; break;
			case '\\': c = '\\'; break;
			default:
				fprintf(stderr, "wsdrop: --match: bad escape at '\\%.1s' "
						"(use \\r, \\n or \\\\)\n", s);
				return -1;
			}
		}
		if (n == MAX_MATCH) {
			fprintf(stderr, "wsdrop: --match: longer than %d bytes\n", MAX_MATCH);
			return -1;
		}
		out[n++] = c;
	}
	if (!n)
		fprintf(stderr, "wsdrop: --match: empty string\n");
	return n ? n : -1;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG || quiet_libbpf)
		return 0;
	return vfprintf(stderr, fmt, args);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"dev", required_argument, NULL, 'd'},	  {"match", required_argument, NULL, 'm'},
		{"nth", required_argument, NULL, 'n'},	  {"count", required_argument, NULL, 'c'},
		{"dport", required_argument, NULL, 'p'},  {"ingress", no_argument, NULL, 'i'},
		{"for", required_argument, NULL, 'f'},	  {"help", no_argument, NULL, 'h'},
		{"syn", no_argument, NULL, 's'},
		{},
	};
	const char *dev = NULL;
	unsigned char match[MAX_MATCH];
	int match_len = 0, ifindex, opt, err;
	long long nth = 1, count = 1, dport = 0, secs = 60;
	bool ingress = false, created = false, syn = false;
	struct wsdrop_bpf *skel;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'd': dev = optarg; break;
		case 'm': match_len = parse_match(optarg, match); break;
		case 'n': nth = parse_num("--nth", optarg, 1, LLONG_MAX); break;
		case 'c': count = parse_num("--count", optarg, 1, LLONG_MAX); break;
		case 'p': dport = parse_num("--dport", optarg, 0, 65535); break;
		case 'i': ingress = true; break;
		case 's': syn = true; break;
		case 'f': secs = parse_num("--for", optarg, 1, UINT_MAX); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
		if (match_len < 0 || nth < 0 || count < 0 || dport < 0 || secs < 0)
			return 2;
	}
	if (optind < argc || !dev || (!match_len && !syn)) {
		if (optind < argc)
			fprintf(stderr, "wsdrop: unexpected argument '%s'\n", argv[optind]);
		else
			fprintf(stderr, "wsdrop: %s is required\n", !dev ? "--dev" : "--match");
		usage(stderr);
		return 2;
	}
	ifindex = if_nametoindex(dev);
	if (!ifindex) {
		fprintf(stderr, "wsdrop: no interface '%s' in this network namespace: %s\n", dev,
			strerror(errno));
		return 2;
	}

	libbpf_set_print(libbpf_print);
	skel = wsdrop_bpf__open();
	if (!skel) {
		fprintf(stderr, "wsdrop: cannot open BPF skeleton: %s\n", strerror(errno));
		return 2;
	}
	memcpy((void *)skel->rodata->cfg_match, match, match_len);
	skel->rodata->cfg_match_len = match_len;
	skel->rodata->cfg_nth = nth;
	skel->rodata->cfg_count = count;
	skel->rodata->cfg_dport = dport;
	skel->rodata->cfg_syn = syn;
	err = wsdrop_bpf__load(skel);
	if (err) {
		fprintf(stderr, "wsdrop: cannot load BPF program: %s\n", strerror(-err));
		goto fail;
	}

	/* The clsact qdisc may already exist (another tool, or a previous
	 * run): then it is not ours to remove.
	 */
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
			    .attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, tc, .prog_fd = bpf_program__fd(skel->progs.wsdrop));
	quiet_libbpf = true;
	err = bpf_tc_hook_create(&hook);
	quiet_libbpf = false;
	if (!err)
		created = true;
	else if (err != -EEXIST) {
		fprintf(stderr, "wsdrop: cannot create clsact hook on %s: %s\n", dev,
			strerror(-err));
		goto fail;
	}
	err = bpf_tc_attach(&hook, &tc);
	if (err) {
		fprintf(stderr, "wsdrop: cannot attach to %s %s: %s\n", dev,
			ingress ? "ingress" : "egress", strerror(-err));
		goto fail_hook;
	}

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	printf("wsdrop: attached to %s %s\n", dev, ingress ? "ingress" : "egress");
	fflush(stdout);

	/* A signal cuts sleep() short and sets stop. */
	for (long long left = secs; left > 0 && !stop; left--)
		sleep(1);

	tc.flags = tc.prog_fd = tc.prog_id = 0; /* detach by handle/priority */
	err = bpf_tc_detach(&hook, &tc);
	if (err)
		fprintf(stderr, "wsdrop: detach from %s: %s\n", dev, strerror(-err));
	if (created) {
		/* Destroying the clsact qdisc needs both attach points set. */
		hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
		bpf_tc_hook_destroy(&hook);
	}
	printf("wsdrop: matched %llu dropped %llu\n", (unsigned long long)skel->bss->matched,
	       (unsigned long long)skel->bss->dropped);
	wsdrop_bpf__destroy(skel);
	return 0;

fail_hook:
	if (created) {
		hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
		bpf_tc_hook_destroy(&hook);
	}
fail:
	wsdrop_bpf__destroy(skel);
	return 2;
}
