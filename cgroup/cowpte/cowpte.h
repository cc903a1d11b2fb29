/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cowpte: exit codes and error reporting shared by its modules.
 */
#ifndef COWPTE_H
#define COWPTE_H

/* Exit codes, documented in cowpte.1 (EXIT STATUS). */
enum {
	CP_EXIT_OK		= 0,
	CP_EXIT_FAIL		= 1,	/* anything not listed below */
	CP_EXIT_USAGE		= 2,	/* wrong command line */
	CP_EXIT_NO_CGROUP2	= 3,	/* memory controller not on a cgroup2 mount */
	CP_EXIT_NO_MEMCG	= 4,	/* memory controller not enabled for the cgroup */
	CP_EXIT_NO_FEATURE	= 5,	/* kernel without COW page tables */
	CP_EXIT_FEATURE_OFF	= 6,	/* booted with cow_pte=off */
	CP_EXIT_NO_SUCH_CGROUP	= 7,	/* the cgroup does not exist */
	CP_EXIT_PERM		= 8,	/* permission denied */
	CP_EXIT_CANNOT_EXEC	= 126,	/* run: CMD found but not executable */
	CP_EXIT_NOT_FOUND	= 127,	/* run: CMD not found */
};

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* "cowpte: <message>" on stderr. */
void cp_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * "cowpte: <message>: <strerror(errnum)>" on stderr, followed by a hint
 * when errnum has a usual remedy; returns the exit code for errnum.
 */
int cp_fail(int errnum, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Display name of a cgroup: "/" for the root cgroup "". */
static inline const char *cp_name(const char *cg)
{
	return *cg ? cg : "/";
}

#endif /* COWPTE_H */
