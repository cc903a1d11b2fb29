// SPDX-License-Identifier: GPL-2.0
/*
 * cowpte: show and change which memory cgroups share page tables
 * copy-on-write at fork (memory.cow_pte), and run a command in one.
 *
 * See cowpte.1.
 */
#include "cg.h"
#include "cowpte.h"
#include "output.h"
#include "state.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef COWPTE_VERSION
#define COWPTE_VERSION	"0.1"
#endif

#define RUN_CGROUP	"cowpte.run"

/* A command has finished successfully early (--help). */
#define CP_DONE		(-1)

void cp_err(const char *fmt, ...)
{
	va_list ap;

	fputs("cowpte: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

int cp_fail(int errnum, const char *fmt, ...)
{
	va_list ap;

	fputs("cowpte: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", strerror(errnum));

	switch (errnum) {
	case EACCES:
	case EPERM:
		cp_err("run as root, or as the owner of a delegated cgroup subtree\n");
		return CP_EXIT_PERM;
	default:
		return CP_EXIT_FAIL;
	}
}

static int usage(FILE *f, int status)
{
	fprintf(f,
		"Usage: cowpte status [-r] [--json] [CGROUP]\n"
		"       cowpte enable CGROUP\n"
		"       cowpte disable CGROUP\n"
		"       cowpte run [--cgroup CGROUP] [--] CMD [ARG...]\n"
		"       cowpte --help | --version\n"
		"\n"
		"Share page tables copy-on-write at fork in a memory cgroup and its subtree.\n"
		"\n"
		"  status         setting, effective state (and which cgroup decides it),\n"
		"                 page-table sharing statistics of CGROUP (default: the\n"
		"                 caller's cgroup)\n"
		"    -r, --recursive  also every cgroup below CGROUP\n"
		"    -j, --json       JSON output\n"
		"  enable         opt CGROUP and its subtree in (memory.cow_pte = 1)\n"
		"  disable        clear CGROUP's own setting (memory.cow_pte = 0)\n"
		"  run            run CMD in an opted-in cgroup, created if needed\n"
		"    -c, --cgroup CGROUP  default: " RUN_CGROUP " beside the caller's cgroup\n"
		"                         (below the root for a caller in the root)\n"
		"\n"
		"CGROUP is a path below the cgroup2 mount, e.g. batch.slice/job1; / is the root.\n"
		"Exit status: 0 success, 1 failure, 2 usage, 3 no cgroup v2, 4 memory controller\n"
		"not enabled, 5 kernel without the feature, 6 cow_pte=off, 7 no such cgroup,\n"
		"8 permission denied; run: CMD's status, 127 CMD not found, 126 not executable.\n"
		"See cowpte(1).\n");

	return status;
}

static int usage_error(void)
{
	fputs("Try 'cowpte --help'.\n", stderr);

	return CP_EXIT_USAGE;
}

/* For getopt_long() returning '?' or ':' (opterr is 0). */
static int bad_option(int c, char *argv[])
{
	if (c == ':')
		cp_err("option '%s' needs an argument\n", argv[optind - 1]);
	else if (optopt)
		cp_err("invalid option '-%c'\n", optopt);
	else
		cp_err("invalid option '%s'\n", argv[optind - 1]);

	return usage_error();
}

static int too_many_arguments(const char *cmd)
{
	cp_err("%s: too many arguments\n", cmd);

	return usage_error();
}

/*
 * Options of a command, of which only --help is common and the others go
 * to opt(); CP_EXIT_OK when the command is to go on, CP_DONE after --help.
 * argv[0] is the command.
 */
static int parse_options(int argc, char *argv[], const char *optstring,
			 const struct option *longopts, int (*opt)(int c, void *arg), void *arg)
{
	int c, ret;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, optstring, longopts, NULL)) != -1) {
		if (c == 'h')
			return usage(stdout, CP_DONE);
		if (c == '?' || c == ':')
			return bad_option(c, argv);
		ret = opt ? opt(c, arg) : CP_EXIT_OK;
		if (ret)
			return ret;
	}

	return CP_EXIT_OK;
}

/* A CGROUP from the command line. */
static int parse_cgroup(const char *arg, char **cg)
{
	int ret;

	ret = cp_cgroup_name(arg, cg);

	return ret == CP_EXIT_USAGE ? usage_error() : ret;
}

/* A command's CGROUP argument, required or not. */
static int cgroup_argument(int argc, char *argv[], bool required, char **cg)
{
	if (argc - optind > 1)
		return too_many_arguments(argv[0]);
	if (optind < argc)
		return parse_cgroup(argv[optind], cg);
	if (!required)
		return cp_self_cgroup(cg);

	cp_err("%s: no CGROUP given\n", argv[0]);

	return usage_error();
}

struct status_options {
	bool recursive;
	bool json;
};

static int status_option(int c, void *arg)
{
	struct status_options *o = arg;

	if (c == 'r')
		o->recursive = true;
	else
		o->json = true;

	return CP_EXIT_OK;
}

/*
 * Status of the named cgroups, the first being the one the user gave.
 * Below it, cgroups without the memory controller are left out: their
 * processes are charged to the nearest ancestor that has it.
 */
static int get_statuses(char * const *names, size_t nr, struct cp_status *sts, size_t *got)
{
	bool enabled;
	size_t i;
	int ret;

	for (i = 0; i < nr; i++) {
		if (i) {
			ret = cp_memcg_enabled(names[i], &enabled);
			if (ret)
				return cp_fail(ret, "cannot read the controllers of %s", names[i]);
			if (!enabled)
				continue;
		}
		ret = cp_get_status(names[i], &sts[(*got)++]);
		if (ret)
			return ret;
	}

	return CP_EXIT_OK;
}

static int show_status(char *cg, const struct status_options *o)
{
	/* cg alone, or with -r the subtree, which the list then owns. */
	struct cp_list list = { .names = &cg, .nr = 1 };
	struct cp_status *sts;
	size_t i, got = 0;
	bool off;
	int ret;

	ret = cp_feature_off(&off);
	if (!ret && o->recursive)
		ret = cp_list_subtree(cg, &list);
	if (ret)
		return ret;

	sts = calloc(list.nr, sizeof(*sts));
	if (!sts)
		ret = cp_fail(ENOMEM, "%s", cp_name(cg));
	else
		ret = get_statuses(list.names, list.nr, sts, &got);
	if (!ret)
		(o->json ? out_json : out_human)(stdout, sts, got, off);

	for (i = 0; i < got; i++)
		cp_free_status(&sts[i]);
	free(sts);
	if (o->recursive)
		cp_free_list(&list);

	return ret;
}

static int cmd_status(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "recursive",	no_argument,	NULL, 'r' },
		{ "json",	no_argument,	NULL, 'j' },
		{ "help",	no_argument,	NULL, 'h' },
		{ NULL,		0,		NULL, 0 }
	};
	struct status_options o = { 0 };
	char *cg = NULL;
	int ret;

	ret = parse_options(argc, argv, ":rjh", longopts, status_option, &o);
	if (!ret)
		ret = cgroup_argument(argc, argv, false, &cg);
	if (!ret)
		ret = cg_init();
	if (!ret)
		ret = cp_check_cgroup(cg);
	if (!ret)
		ret = show_status(cg, &o);
	free(cg);

	return ret;
}

/* Name a cgroup below the root, where memory.cow_pte exists. */
static int below_root(const char *cmd, const char *cg)
{
	if (*cg)
		return CP_EXIT_OK;

	cp_err("%s: the root cgroup has no memory.cow_pte; name a cgroup below it\n", cmd);

	return usage_error();
}

/* "NAME: memory.cow_pte=N, effective: ..." after a change. */
static int report_setting(const char *cg)
{
	char effective[FILENAME_MAX + 32];
	struct cp_status st;
	int ret;

	ret = cp_get_status(cg, &st);
	if (!ret) {
		out_effective(&st, effective, sizeof(effective));
		printf("%s: memory.cow_pte=%d, effective: %s\n", cg, st.setting, effective);
	}
	cp_free_status(&st);

	return ret;
}

static int set_cow_pte(int argc, char *argv[], bool on)
{
	static const struct option longopts[] = {
		{ "help",	no_argument,	NULL, 'h' },
		{ NULL,		0,		NULL, 0 }
	};
	char *cg = NULL;
	int ret;

	ret = parse_options(argc, argv, ":h", longopts, NULL, NULL);
	if (!ret)
		ret = cgroup_argument(argc, argv, true, &cg);
	if (!ret)
		ret = below_root(argv[0], cg);
	if (!ret)
		ret = cg_init();
	if (!ret)
		ret = cp_check_cgroup(cg);
	/* Writing 0 works under cow_pte=off, so that resetting does. */
	if (!ret && on)
		ret = cp_require_feature_on();
	if (!ret)
		ret = cp_set(cg, on);
	if (!ret)
		ret = report_setting(cg);
	free(cg);

	return ret;
}

static int cmd_enable(int argc, char *argv[])
{
	return set_cow_pte(argc, argv, true);
}

static int cmd_disable(int argc, char *argv[])
{
	return set_cow_pte(argc, argv, false);
}

/* --cgroup, the only option of run. */
static int run_option(int c __attribute__((unused)), void *arg)
{
	char **cg = arg;

	free(*cg);
	*cg = NULL;

	return parse_cgroup(optarg, cg);
}

/*
 * cowpte.run beside the caller's cgroup: the parent has the memory
 * controller for its children and, by cgroup v2's no-internal-process rule,
 * no processes of its own.  Below the root for a caller in the root.
 */
static int default_run_cgroup(char **cg)
{
	char *self, *parent;
	int ret;

	ret = cp_self_cgroup(&self);
	if (ret)
		return ret;

	parent = cg_parent(self);
	if (!parent || asprintf(cg, "%s%s" RUN_CGROUP, parent, *parent ? "/" : "") < 0) {
		*cg = NULL;
		ret = cp_fail(ENOMEM, "%s", cp_name(self));
	}
	free(parent);
	free(self);

	return ret;
}

/* Processes live in leaves: a cgroup giving controllers to children has none. */
static int check_leaf(const char *cg)
{
	char buf[FILENAME_MAX];
	int err;

	err = cg_read(cg, "cgroup.subtree_control", buf, sizeof(buf));
	if (err)
		return cp_fail(err, "cannot read cgroup.subtree_control of %s", cg);
	if (!buf[0])
		return CP_EXIT_OK;

	cp_err("cgroup %s gives controllers to its children (%s): cgroup v2 allows no processes in it\n",
	       cg, buf);
	cp_err("pick a cgroup without children with --cgroup\n");

	return CP_EXIT_FAIL;
}

/* Create the cgroup if needed, opt it in and move into it. */
static int enter_run_cgroup(const char *cg)
{
	int ret, err;

	ret = cp_require_feature_on();
	if (!ret && !cg_exists(cg)) {
		ret = cp_check_new_cgroup(cg);
		if (!ret) {
			err = cg_create(cg);
			if (err)
				ret = cp_fail(err, "cannot create cgroup %s", cg);
		}
	}
	if (!ret)
		ret = cp_check_cgroup(cg);
	if (!ret)
		ret = check_leaf(cg);
	if (!ret)
		ret = cp_set(cg, true);
	if (ret)
		return ret;

	err = cg_attach_self(cg);
	if (err)
		return cp_fail(err, "cannot move into cgroup %s", cg);

	return CP_EXIT_OK;
}

static int cmd_run(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "cgroup",	required_argument,	NULL, 'c' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL,		0,			NULL, 0 }
	};
	char *cg = NULL;
	char **cmd;
	int ret;

	/* '+': the options after CMD are CMD's. */
	ret = parse_options(argc, argv, "+:c:h", longopts, run_option, &cg);
	if (!ret && optind == argc) {
		cp_err("run: no command given\n");
		ret = usage_error();
	}
	if (!ret && !cg)
		ret = default_run_cgroup(&cg);
	if (!ret)
		ret = below_root(argv[0], cg);
	if (!ret)
		ret = cg_init();
	if (!ret)
		ret = enter_run_cgroup(cg);
	free(cg);
	cg_exit();
	if (ret)
		return ret;

	cmd = argv + optind;
	if (fflush(stdout))
		return cp_fail(errno, "standard output");
	execvp(cmd[0], cmd);
	ret = errno;
	cp_err("%s: %s\n", cmd[0], strerror(ret));

	return ret == ENOENT ? CP_EXIT_NOT_FOUND : CP_EXIT_CANNOT_EXEC;
}

static const struct command {
	const char *name;
	int (*fn)(int argc, char *argv[]);
} commands[] = {
	{ "status",	cmd_status },
	{ "enable",	cmd_enable },
	{ "disable",	cmd_disable },
	{ "run",	cmd_run },
};

static int run_command(int argc, char *argv[])
{
	size_t i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(commands); i++) {
		if (!strcmp(argv[0], commands[i].name)) {
			ret = commands[i].fn(argc, argv);
			return ret == CP_DONE ? CP_EXIT_OK : ret;
		}
	}

	cp_err("unknown command '%s'\n", argv[0]);

	return usage_error();
}

int main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "help",	no_argument,	NULL, 'h' },
		{ "version",	no_argument,	NULL, 'V' },
		{ NULL,		0,		NULL, 0 }
	};
	int c, ret;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			return usage(stdout, CP_EXIT_OK);
		case 'V':
			printf("cowpte %s\n", COWPTE_VERSION);
			return CP_EXIT_OK;
		default:
			return bad_option(c, argv);
		}
	}
	if (optind == argc) {
		cp_err("no command given\n");
		return usage_error();
	}

	ret = run_command(argc - optind, argv + optind);
	cg_exit();

	if (fflush(stdout) || ferror(stdout)) {
		cp_err("cannot write the output\n");
		ret = ret ? : CP_EXIT_FAIL;
	}

	return ret;
}
