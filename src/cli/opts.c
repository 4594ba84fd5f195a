/* opts.c -- a command's options parsed from its table (see opts.h): one
 * getopt_long loop, one set of usage errors, one wording for bad values. */
#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/opts.h"

/* More than record's options, with room to grow. */
#define CLI_MAX_OPTS 64
/* getopt_long's answer for line i of the table: above any character it
 * returns of its own ('?' for an unknown option) */
#define VAL_BASE 0x100

/* The largest value o accepts: never more than its target holds. */
static unsigned long long uint_max(const struct cli_opt *o)
{
	if (o->size && o->size < sizeof(unsigned long long))
		return WS_MIN(o->max, (1ull << (8 * o->size)) - 1);
	return o->max;
}

int cli_bad_value(const struct cli_opt *o, const char *arg)
{
	char what[96];

	if (o->what)
		ws_strlcpy(what, o->what, sizeof(what));
	else if (o->kind == CLI_OPT_REAL)
		snprintf(what, sizeof(what), "a number from %g to %g", o->fmin, o->fmax);
	else if (o->min == 1 && uint_max(o) == ULLONG_MAX)
		ws_strlcpy(what, "a positive number", sizeof(what));
	else
		snprintf(what, sizeof(what), "a number from %llu to %llu", o->min, uint_max(o));
	ws_err("--%s needs %s, not '%s'", o->name, what, arg);
	return 2;
}

/* "--kind is server or client, not 'x'" */
static int bad_choice(const struct cli_opt *o, const char *arg)
{
	char names[256] = "";
	size_t len = 0;

	for (const struct cli_choice *c = o->choices; c->name && len < sizeof(names); c++) {
		const char *sep = c == o->choices ? "" : c[1].name ? ", " : " or ";
		len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s", sep, c->name);
	}
	ws_err("--%s is %s, not '%s'", o->name, names, arg);
	return 2;
}

/* Store v in the integer of o->size bytes at p (a field of any width:
 * uint16_t port, size_t batch, an enum). memcpy: no aliasing to worry of. */
static void store_uint(void *p, size_t size, unsigned long long v)
{
	uint8_t u8 = (uint8_t)v;
	uint16_t u16 = (uint16_t)v;
	uint32_t u32 = (uint32_t)v;
	uint64_t u64 = v;

	switch (size) {
	case 1: memcpy(p, &u8, 1); break;
	case 2: memcpy(p, &u16, 2); break;
	case 4: memcpy(p, &u32, 4); break;
	default: memcpy(p, &u64, 8); break;
	}
}

static int parse_uint(const struct cli_opt *o, const char *arg, void *to)
{
	unsigned long long v;

	if (ws_parse_uint(arg, uint_max(o), &v) || v < o->min)
		return cli_bad_value(o, arg);
	store_uint(to, o->size, v);
	return 0;
}

static int parse_real(const struct cli_opt *o, const char *arg, void *to)
{
	char *end;
	double v = strtod(arg, &end);

	/* NaN fails both comparisons */
	if (end == arg || *end || !(v >= o->fmin && v <= o->fmax))
		return cli_bad_value(o, arg);
	if (o->size == sizeof(float)) {
		float f = (float)v;
		memcpy(to, &f, sizeof(f));
	} else {
		memcpy(to, &v, sizeof(v));
	}
	return 0;
}

static int parse_choice(const struct cli_opt *o, const char *arg, void *to)
{
	for (const struct cli_choice *c = o->choices; c->name; c++)
		if (strcmp(c->name, arg) == 0) {
			store_uint(to, o->size, (unsigned long long)c->value);
			return 0;
		}
	return bad_choice(o, arg);
}

/* Apply one option given on the command line: 0, or the exit status. */
static int apply(const struct cli_opt *o, const char *arg)
{
	void *to = o->to;

	if (o->n) {
		if (*o->n == o->max_n) {
			ws_err("at most %zu --%s options", o->max_n, o->name);
			return 2;
		}
		to = (char *)o->to + *o->n * o->size;
	}
	switch (o->kind) {
	case CLI_OPT_SET: *(bool *)to = true; break;
	case CLI_OPT_CLEAR: *(bool *)to = false; break;
	case CLI_OPT_COUNT: ++*(int *)to; break;
	case CLI_OPT_STR: *(const char **)to = arg; break;
	case CLI_OPT_UINT:
		if (parse_uint(o, arg, to))
			return 2;
		break;
	case CLI_OPT_REAL:
		if (parse_real(o, arg, to))
			return 2;
		break;
	case CLI_OPT_CHOICE:
		if (parse_choice(o, arg, to))
			return 2;
		break;
	case CLI_OPT_FN:
		if (o->fn(o, arg, to))
			return 2;
		break;
	}
	if (o->n)
		++*o->n;
	return 0;
}

static bool takes_arg(const struct cli_opt *o)
{
	switch (o->kind) {
	case CLI_OPT_SET:
	case CLI_OPT_CLEAR:
	case CLI_OPT_COUNT: return false;
	case CLI_OPT_FN: return !o->no_arg;
	default: return true;
	}
}

/* A default for each string option that was not given. */
static void apply_defaults(const struct cli_opt *opts, const bool *given)
{
	for (size_t i = 0; opts[i].name; i++) {
		const struct cli_opt *o = &opts[i];
		if (o->kind != CLI_OPT_STR || !o->dflt || given[i])
			continue;
		if (o->n)
			((const char **)o->to)[(*o->n)++] = o->dflt;
		else
			*(const char **)o->to = o->dflt;
	}
}

static int operands(const struct cli_cmd *cmd, int argc, char **argv)
{
	int have = argc - optind;

	if (have == cmd->nargs || (cmd->more_args && have > cmd->nargs))
		return -1;
	if (have > cmd->nargs)
		ws_err("%s: unexpected argument '%s'", cmd->name, argv[optind + cmd->nargs]);
	else
		ws_err("%s needs %s", cmd->name, cmd->args_what);
	cmd->usage(stderr);
	return 2;
}

int cli_parse(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct option lo[CLI_MAX_OPTS + 2];
	bool given[CLI_MAX_OPTS] = {false};
	size_t n = 0;
	int c, rc;

	for (; cmd->opts[n].name; n++) {
		if (n == CLI_MAX_OPTS) {
			ws_err("%s: more than %d options: raise CLI_MAX_OPTS", cmd->name, CLI_MAX_OPTS);
			return 2;
		}
		lo[n] = (struct option){cmd->opts[n].name, takes_arg(&cmd->opts[n]) ? required_argument : no_argument,
					NULL, VAL_BASE + (int)n};
	}
	lo[n] = (struct option){"help", no_argument, NULL, 'h'};
	lo[n + 1] = (struct option){0};

	/* 0, not 1: glibc then also forgets where it was inside a previous
	 * scan (a parse that stopped at an error, the agent parsing record's
	 * options again) */
	optind = 0;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c == 'h') {
			cmd->usage(stdout);
			return 0;
		}
		if (c < VAL_BASE) { /* getopt said what was wrong */
			cmd->usage(stderr);
			return 2;
		}
		given[c - VAL_BASE] = true;
		if ((rc = apply(&cmd->opts[c - VAL_BASE], optarg)))
			return rc;
	}
	apply_defaults(cmd->opts, given);
	return operands(cmd, argc, argv);
}
