/* opts.h -- the options of a command, declared once in a table.
 *
 * Every command used to write the same prologue: a getopt_long table, a
 * switch that repeats each option's letter, --help, usage errors, the --db
 * list and its limit, numbers checked with a message of its own wording.
 * Here a command lists its options (a name and where the value goes, or a
 * function for what no type fits) and names its usage function (a function,
 * not a string: record's prints its defaults), and cli_parse does the rest
 * the same way for all:
 *
 *   --help          usage on stdout, exit status 0
 *   unknown option  getopt's message and usage on stderr, exit status 2
 *   bad value       "--NAME needs WHAT, not 'VALUE'", exit status 2
 *   operands        exactly cmd->nargs (or at least, more_args), else a
 *                   message and usage, 2
 *
 * Options are long only (no short letters), as getopt_long reads them:
 * --name value, --name=value, or any unique prefix of the name. */
#ifndef WIRESPAN_OPTS_H
#define WIRESPAN_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "util/util.h"

/* --db FILE: repeatable (one per host) up to this many; none given means
 * the one file every command reads and `record` writes by default. */
#define CLI_MAX_DBS 16
#define CLI_DEFAULT_DB "wirespan.db"

/* How an option's value reaches its target. */
enum cli_opt_kind {
	CLI_OPT_SET,	/* no argument: bool *to = true */
	CLI_OPT_CLEAR,	/* no argument: bool *to = false (--no-...) */
	CLI_OPT_COUNT,	/* no argument: ++*(int *)to (--verbose) */
	CLI_OPT_STR,	/* const char *: the argument itself */
	CLI_OPT_UINT,	/* an unsigned integer of any width, in [min, max] */
	CLI_OPT_REAL,	/* a float or double, in [fmin, fmax] */
	CLI_OPT_CHOICE, /* an integer or enum: the value of the name given */
	CLI_OPT_FN,	/* fn decides */
};

struct cli_choice {
	const char *name;
	int value;
};

struct cli_opt;
/* Apply an option: its value goes to `to` (o->to, or the next free one of
 * a repeatable option's array). Returns 0, or the exit status (2) after a
 * message, which cli_bad_value writes in the common form. arg is NULL
 * when no_arg. */
typedef int (*cli_opt_fn)(const struct cli_opt *o, const char *arg, void *to);

struct cli_opt {
	const char *name; /* without the dashes; NULL ends the table */
	enum cli_opt_kind kind;
	void *to;
	size_t size; /* of one value at to: numbers and choices come in any width */
	/* Repeatable: to is an array of max_n values, *n of them used. The
	 * option given once more is a usage error ("at most 16 --db options"). */
	size_t *n, max_n;
	const char *dflt; /* STR: the value when the option is not given */
	unsigned long long min, max;
	double fmin, fmax;
	const struct cli_choice *choices; /* CHOICE: ends with a NULL name */
	cli_opt_fn fn;
	bool no_arg;	  /* FN: takes no argument */
	const char *what; /* "--NAME needs WHAT": NULL says the range */
};

/* The table's lines. The macros take the target itself, so that its
 * width comes with it: &f.limit may be a uint64_t, &x.batch a size_t. */
#define CLI_SET(nm, p)                                       \
	{                                                    \
		.name = (nm), .kind = CLI_OPT_SET, .to = (p) \
	}
#define CLI_CLEAR(nm, p)                                       \
	{                                                      \
		.name = (nm), .kind = CLI_OPT_CLEAR, .to = (p) \
	}
#define CLI_COUNT(nm, p)                                       \
	{                                                      \
		.name = (nm), .kind = CLI_OPT_COUNT, .to = (p) \
	}
#define CLI_STR(nm, p)                                                             \
	{                                                                          \
		.name = (nm), .kind = CLI_OPT_STR, .to = (p), .size = sizeof(*(p)) \
	}
/* repeatable: arr is an array (its size is the limit), n a size_t * */
#define CLI_STRS(nm, arr, cnt)                                                                        \
	{                                                                                             \
		.name = (nm), .kind = CLI_OPT_STR, .to = (arr), .size = sizeof((arr)[0]), .n = (cnt), \
		.max_n = WS_ARRAY_SIZE(arr)                                                           \
	}
#define CLI_UINT(nm, p, lo, hi, w)                                                                             \
	{                                                                                                      \
		.name = (nm), .kind = CLI_OPT_UINT, .to = (p), .size = sizeof(*(p)), .min = (lo), .max = (hi), \
		.what = (w)                                                                                    \
	}
#define CLI_UINTS(nm, arr, cnt, lo, hi, w)                                                             \
	{                                                                                              \
		.name = (nm), .kind = CLI_OPT_UINT, .to = (arr), .size = sizeof((arr)[0]), .n = (cnt), \
		.max_n = WS_ARRAY_SIZE(arr), .min = (lo), .max = (hi), .what = (w)                     \
	}
#define CLI_REAL(nm, p, lo, hi, w)                                                                               \
	{                                                                                                        \
		.name = (nm), .kind = CLI_OPT_REAL, .to = (p), .size = sizeof(*(p)), .fmin = (lo), .fmax = (hi), \
		.what = (w)                                                                                      \
	}
#define CLI_CHOICE(nm, p, ch)                                                                          \
	{                                                                                              \
		.name = (nm), .kind = CLI_OPT_CHOICE, .to = (p), .size = sizeof(*(p)), .choices = (ch) \
	}
#define CLI_FN(nm, f, p, w)                                                         \
	{                                                                           \
		.name = (nm), .kind = CLI_OPT_FN, .to = (p), .fn = (f), .what = (w) \
	}
#define CLI_FNS(nm, f, arr, cnt, w)                                                                  \
	{                                                                                            \
		.name = (nm), .kind = CLI_OPT_FN, .to = (arr), .size = sizeof((arr)[0]), .n = (cnt), \
		.max_n = WS_ARRAY_SIZE(arr), .fn = (f), .what = (w)                                  \
	}
#define CLI_FN_NOARG(nm, f, p)                                                         \
	{                                                                              \
		.name = (nm), .kind = CLI_OPT_FN, .to = (p), .fn = (f), .no_arg = true \
	}
/* --db FILE...: paths is a const char *[CLI_MAX_DBS], cnt a size_t *;
 * CLI_DEFAULT_DB when none is given */
#define CLI_DBS(paths, cnt)                                                                               \
	{                                                                                                 \
		.name = "db", .kind = CLI_OPT_STR, .to = (paths), .size = sizeof((paths)[0]), .n = (cnt), \
		.max_n = WS_ARRAY_SIZE(paths), .dflt = CLI_DEFAULT_DB                                     \
	}
/* --db FILE for a command of one database: the last one given counts */
#define CLI_DB(p)                                                                                          \
	{                                                                                                  \
		.name = "db", .kind = CLI_OPT_STR, .to = (p), .size = sizeof(*(p)), .dflt = CLI_DEFAULT_DB \
	}

struct cli_cmd {
	const char *name;	    /* "spans", as messages name the command */
	void (*usage)(FILE *f);	    /* --help on stdout; after a usage error, on stderr */
	const struct cli_opt *opts; /* ends with {0}; --help is added */
	int nargs;		    /* operands after the options: exactly this many */
	const char *args_what;	    /* when they are missing: "explain needs ARGS_WHAT" */
	/* nargs or more operands (pcap FILE...): the command counts them and
	 * says its own limit, if it has one */
	bool more_args;
};

/* Parse argv (argv[0] is the command's name) into the targets the table
 * names. Returns -1 when the command goes on, its operands then
 * argv[optind..argc), the last of argv (getopt moves them to the end);
 * else the exit status: 0 after --help, 2 after a usage error, its
 * message written. */
int cli_parse(const struct cli_cmd *cmd, int argc, char **argv);

/* "--NAME needs WHAT, not 'ARG'" on stderr; returns 2 (for fn). */
int cli_bad_value(const struct cli_opt *o, const char *arg);

#endif
