/* test_opts.c -- the option tables of src/cli/opts.c: each kind of target
 * at its width, repeatable options and their limit, defaults, operands,
 * and the exit status and message of each usage error. */
#include <math.h>
#include <unistd.h>

#include "cli/opts.h"
#include "harness.h"

struct target {
	const char *dbs[CLI_MAX_DBS];
	size_t ndb;
	const char *name;
	bool json, gzip;
	int verbose, kind;
	uint16_t ports[4];
	size_t nports;
	uint8_t small;
	size_t batch;
	uint64_t limit;
	float conf;
	double ms;
	const char *tags[2];
	size_t ntags;
	int calls;
	const char *ops[4]; /* the operands, argv[optind..argc) */
	int nops;
	char out[64], err[1024]; /* what cli_parse wrote to stdout, stderr */
};

static void usage(FILE *f)
{
	fputs("usage: test\n", f);
}

static const struct cli_choice kinds[] = {{"server", 1}, {"client", 2}, {0}};

/* a function target, repeatable: keeps tags that begin with '+' */
static int opt_tag(const struct cli_opt *o, const char *arg, void *to)
{
	if (arg[0] != '+')
		return cli_bad_value(o, arg);
	*(const char **)to = arg;
	return 0;
}

static int opt_call(const struct cli_opt *o, const char *arg, void *to)
{
	(void)o;
	CHECK(arg == NULL, "a function without argument gets none");
	++*(int *)to;
	return 0;
}

/* Parse the words of line (at most 40) with the table, nargs operands
 * (or more); returns what cli_parse returns, t filled, what it wrote in
 * t->out and t->err. */
static int parse_args(struct target *t, int nargs, bool more, const char *line)
{
	const struct cli_opt opts[] = {
	    CLI_DBS(t->dbs, &t->ndb),
	    CLI_STR("name", &t->name),
	    CLI_SET("json", &t->json),
	    CLI_CLEAR("no-gzip", &t->gzip),
	    CLI_COUNT("verbose", &t->verbose),
	    CLI_CHOICE("kind", &t->kind, kinds),
	    CLI_UINTS("port", t->ports, &t->nports, 1, 65535, "a port number"),
	    CLI_UINT("small", &t->small, 0, 1000, NULL),
	    CLI_UINT("batch", &t->batch, 1, 100000, NULL),
	    CLI_UINT("limit", &t->limit, 1, UINT64_MAX, NULL),
	    CLI_REAL("conf", &t->conf, 0, 1, NULL),
	    CLI_REAL("ms", &t->ms, 0, HUGE_VAL, "milliseconds"),
	    CLI_FNS("tag", opt_tag, t->tags, &t->ntags, "+TAG"),
	    CLI_FN_NOARG("call", opt_call, &t->calls),
	    {0},
	};
	const struct cli_cmd cmd = {
	    .name = "test", .usage = usage, .opts = opts, .nargs = nargs, .args_what = "a thing", .more_args = more};
	static char buf[1024];
	char *argv[42] = {"test"};
	int argc = 1;

	memset(t, 0, sizeof(*t));
	t->gzip = true;
	snprintf(buf, sizeof(buf), "%s", line);
	for (char *w = strtok(buf, " "); w && argc < 41; w = strtok(NULL, " "))
		argv[argc++] = w;
	t_context = line;

	FILE *saved_out = stdout, *saved_err = stderr;
	char *out = NULL, *err = NULL;
	size_t olen = 0, elen = 0;
	int rc;
	stdout = open_memstream(&out, &olen);
	stderr = open_memstream(&err, &elen);
	rc = cli_parse(&cmd, argc, argv);
	for (int i = optind; rc == -1 && i < argc && t->nops < (int)WS_ARRAY_SIZE(t->ops); i++)
		t->ops[t->nops++] = argv[i];
	fclose(stdout);
	fclose(stderr);
	stdout = saved_out;
	stderr = saved_err;
	snprintf(t->out, sizeof(t->out), "%s", out);
	snprintf(t->err, sizeof(t->err), "%s", err);
	free(out);
	free(err);
	return rc;
}

static int parse(struct target *t, int nargs, const char *line)
{
	return parse_args(t, nargs, false, line);
}

static void test_targets(void)
{
	struct target t;

	CHECK_INT(parse(&t, 0, ""), -1);
	CHECK_INT(t.ndb, 1);
	CHECK_STR(t.dbs[0], CLI_DEFAULT_DB);
	CHECK(t.name == NULL && !t.json && t.gzip && !t.kind, "nothing given, nothing set");

	CHECK_INT(parse(&t, 0,
			"--db a --db=b --name x --json --no-gzip --verbose --verbose --kind client "
			"--port 80 --port 65535 --small 255 --batch 100000 --limit 18446744073709551615 "
			"--conf 0.5 --ms 1.5 --tag +a --tag +b --call"),
		  -1);
	CHECK_INT(t.ndb, 2);
	CHECK_STR(t.dbs[0], "a");
	CHECK_STR(t.dbs[1], "b");
	CHECK_STR(t.name, "x");
	CHECK(t.json && !t.gzip, "flags");
	CHECK_INT(t.verbose, 2);
	CHECK_INT(t.kind, 2);
	CHECK_INT(t.nports, 2);
	CHECK_INT(t.ports[0], 80);
	CHECK_INT(t.ports[1], 65535);
	CHECK_INT(t.small, 255);
	CHECK_INT(t.batch, 100000);
	CHECK(t.limit == UINT64_MAX, "limit %llu", (unsigned long long)t.limit);
	CHECK(t.conf == 0.5f && t.ms == 1.5, "reals %g %g", t.conf, t.ms);
	CHECK_INT(t.ntags, 2);
	CHECK_STR(t.tags[1], "+b");
	CHECK_INT(t.calls, 1);

	/* a unique prefix names an option, as getopt_long reads it */
	CHECK_INT(parse(&t, 0, "--na y --li 3"), -1);
	CHECK_STR(t.name, "y");
	CHECK_INT(t.limit, 3);
}

static void test_usage_errors(void)
{
	static const struct {
		const char *line, *msg;
	} bad[] = {
	    {"--bogus", "unrecognized option '--bogus'\nusage: test\n"},
	    {"stray", "wirespan: test: unexpected argument 'stray'\nusage: test\n"},
	    {"--name", "option '--name' requires an argument\nusage: test\n"},
	    {"--json=1", "option '--json' doesn't allow an argument\nusage: test\n"},
	    {"-h", "invalid option -- 'h'\nusage: test\n"},
	    {"--kind x", "wirespan: --kind is server or client, not 'x'\n"},
	    {"--port 0", "wirespan: --port needs a port number, not '0'\n"},
	    {"--port 65536", "--port needs a port number, not '65536'"},
	    {"--port x", "--port needs a port number, not 'x'"},
	    {"--port 1 --port 2 --port 3 --port 4 --port 5", "wirespan: at most 4 --port options\n"},
	    /* the 8-bit target takes no more than it holds, whatever max says */
	    {"--small 256", "--small needs a number from 0 to 255, not '256'"},
	    {"--small -1", "--small needs a number from 0 to 255, not '-1'"},
	    {"--batch 0", "--batch needs a number from 1 to 100000, not '0'"},
	    {"--limit 0", "--limit needs a positive number, not '0'"},
	    {"--limit -1", "--limit needs a positive number, not '-1'"},
	    {"--limit 1x", "--limit needs a positive number, not '1x'"},
	    {"--conf 2", "--conf needs a number from 0 to 1, not '2'"},
	    {"--conf x", "--conf needs a number from 0 to 1, not 'x'"},
	    {"--conf nan", "--conf needs a number from 0 to 1, not 'nan'"},
	    {"--ms -1", "--ms needs milliseconds, not '-1'"},
	    {"--tag x", "--tag needs +TAG, not 'x'"},
	    {"--tag +1 --tag +2 --tag +3", "at most 2 --tag options"},
	};
	struct target t;
	char many[1024] = "";

	for (size_t i = 0; i < WS_ARRAY_SIZE(bad); i++) {
		CHECK_INT(parse(&t, 0, bad[i].line), 2);
		CHECK(strstr(t.err, bad[i].msg), "message '%s'", t.err);
	}
	for (int i = 0; i <= CLI_MAX_DBS; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "--db d%d ", i);
	CHECK_INT(parse(&t, 0, many), 2);
	CHECK_STR(t.err, "wirespan: at most 16 --db options\n");
	many[strlen(many) - strlen("--db d16 ")] = 0;
	CHECK_INT(parse(&t, 0, many), -1);
	CHECK_INT(t.ndb, CLI_MAX_DBS);
}

static void test_operands(void)
{
	struct target t;

	CHECK_INT(parse(&t, 1, ""), 2);
	CHECK_STR(t.err, "wirespan: test needs a thing\nusage: test\n");
	CHECK_INT(parse(&t, 1, "a b"), 2);
	CHECK_STR(t.err, "wirespan: test: unexpected argument 'b'\nusage: test\n");
	CHECK_INT(parse(&t, 1, "abc --json"), -1); /* getopt moves it to the end */
	CHECK(t.json, "option after the operand");
	CHECK_INT(parse(&t, 1, "-- --json"), -1);
	CHECK(!t.json, "after --, an operand");
	CHECK_INT(parse(&t, 1, "a"), -1);
	CHECK_INT(t.nops, 1);
	CHECK_STR(t.ops[0], "a");

	/* one or more (pcap FILE...): all of them, in order, from optind */
	CHECK_INT(parse_args(&t, 1, true, ""), 2);
	CHECK_STR(t.err, "wirespan: test needs a thing\nusage: test\n");
	CHECK_INT(parse_args(&t, 1, true, "a"), -1);
	CHECK_INT(t.nops, 1);
	CHECK_INT(parse_args(&t, 1, true, "a --json b --name x c"), -1);
	CHECK(t.json && t.name && !strcmp(t.name, "x"), "options between the operands");
	CHECK_INT(t.nops, 3);
	CHECK_STR(t.ops[0], "a");
	CHECK_STR(t.ops[1], "b");
	CHECK_STR(t.ops[2], "c");
	CHECK_INT(parse_args(&t, 0, true, ""), -1);
	CHECK_INT(t.nops, 0);

	CHECK_INT(parse(&t, 0, "--help --bogus"), 0);
	CHECK_STR(t.out, "usage: test\n");
	CHECK_STR(t.err, "");
}

int main(void)
{
	test_targets();
	test_usage_errors();
	test_operands();
	return t_summary("test_opts");
}
