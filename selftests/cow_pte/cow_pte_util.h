/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the COW PTE selftests share: the cgroup set-up, choosing tests by
 * name and reporting them, test regions and their byte-exact checks.
 */
#ifndef COW_PTE_UTIL_H
#define COW_PTE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../kselftest.h"

#define PMD	(2UL << 20)	/* what one PTE table maps */
#define PAGE	4096UL

struct cow_pte_test {
	const char *name;
	int (*fn)(const char *root);	/* KSFT_PASS, KSFT_SKIP or KSFT_FAIL */
};

/*
 * Find the cgroup v2 root, enable the memory controller for its children
 * and check the kernel has memory.cow_pte; exit with a skip otherwise.
 */
void cow_pte_setup(char *root, size_t len);

/* Run the tests named on the command line (all without names) as TAP. */
void cow_pte_run_tests(const struct cow_pte_test *tests, int n,
		       const char *root, int argc, char **argv);

/*
 * Make a fresh cgroup @name below @root with memory.cow_pte = @opt_in, run
 * @fn(cgroup, @arg) in a new process in it and return what it returns.
 */
int run_in_cgroup(const char *root, const char *name, bool opt_in,
		  int (*fn)(const char *cg, void *arg), void *arg);

/* Wait for @pid: 0 when it exited with status 0, -1 otherwise (says why). */
int wait_child(pid_t pid);

/* @size bytes of private anonymous memory, aligned to 2 MiB, order-0. */
char *map_region(size_t size);

/* Page number @index of generation @gen: each 8-byte word is gen << 32 | index. */
void fill_page(char *page, size_t index, uint32_t gen);

/* Pages [first, first + n) of @p, each as fill_page() makes it. */
void fill(char *p, size_t first, size_t n, uint32_t gen);

/* 0 if pages [first, first + n) hold @gen (0: zero-filled), else says where. */
int check(const char *who, char *p, size_t first, size_t n, uint32_t gen);

/* A "Name:   N kB" line of /proc/PID/status, in kB; -1 if missing. */
long status_kb(pid_t pid, const char *name);

/* A key of /proc/vmstat; -1 if missing. */
long vmstat_of(const char *key);

/* A key of @cg's memory.stat; -1 if missing. */
long stat_of(const char *cg, const char *key);

/*
 * memory.stat is flushed every 2 seconds, or sooner after enough updates:
 * poll until @key is in [min, max], for up to 6 seconds.
 */
long stat_settles(const char *cg, const char *key, long min, long max);

/*
 * Put @cg over memory.max with nothing precharged, no swap and nobody to
 * kill (its processes must be OOM_SCORE_ADJ_MIN); 0 on success.
 */
int over_limit(const char *cg);

#endif
