// SPDX-License-Identifier: GPL-2.0
/*
 * Fork semantics with copy-on-write PTE tables: after a fork in an opted-in
 * cgroup, parent and child each see their own writes and only theirs, for
 * every kind of change made under a shared table; the tables are shared
 * (VmPTEShared, memory.stat) and the accounting returns to zero.
 *
 * Every case checks every byte of the region in both processes.
 *
 * Usage: test_cow_pte_fork [TEST...]   (default: every test)
 */
#define _GNU_SOURCE

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <linux/limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../kselftest.h"
#include "cgroup_util.h"
#include "cow_pte_util.h"

#define PMD		(2UL << 20)
#define PAGE		4096UL
#define TABLES		16			/* region: 32 MiB */
#define REGION		(TABLES * PMD)
#define NPAGES		(REGION / PAGE)

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT	21
#endif

static char root[PATH_MAX];

/* A region aligned to 2 MiB, order-0 pages only. */
static char *map_region(size_t size)
{
	char *p = mmap(NULL, size + PMD, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *a;

	if (p == MAP_FAILED)
		return NULL;
	a = (char *)(((uintptr_t)p + PMD - 1) & ~(PMD - 1));
	if (a > p)
		munmap(p, a - p);
	munmap(a + size, p + PMD - a);
	madvise(a, size, MADV_NOHUGEPAGE);
	return a;
}

/* Page i holds 8-byte words (gen << 32 | i). */
static void fill(char *p, size_t first, size_t n, uint32_t gen)
{
	size_t i, w;

	for (i = first; i < first + n; i++) {
		uint64_t *q = (uint64_t *)(p + i * PAGE);
		uint64_t v = (uint64_t)gen << 32 | i;

		for (w = 0; w < PAGE / 8; w++)
			q[w] = v;
	}
}

/* 0 if pages [first, first + n) hold @gen; gen 0 means zero-filled. */
static int check(const char *who, char *p, size_t first, size_t n,
		 uint32_t gen)
{
	size_t i, w;

	for (i = first; i < first + n; i++) {
		uint64_t *q = (uint64_t *)(p + i * PAGE);
		uint64_t v = gen ? (uint64_t)gen << 32 | i : 0;

		for (w = 0; w < PAGE / 8; w++)
			if (q[w] != v) {
				ksft_print_msg("%s: page %zu word %zu is %#llx, expected %#llx\n",
					       who, i, w,
					       (unsigned long long)q[w],
					       (unsigned long long)v);
				return -1;
			}
	}
	return 0;
}

/* A "Name:   N kB" line of /proc/PID/status, in kB; -1 if missing. */
static long status_kb(pid_t pid, const char *name)
{
	char path[64], line[256];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, name, strlen(name)) &&
		    line[strlen(name)] == ':') {
			v = strtol(line + strlen(name) + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static long stat_of(const char *cg, const char *key)
{
	char k[64];

	snprintf(k, sizeof(k), "%s ", key);
	return cg_read_key_long(cg, "memory.stat", k);
}

/*
 * memory.stat is flushed every 2 seconds, or sooner after enough updates:
 * poll until @key is in [min, max], for up to 6 seconds.
 */
static long stat_settles(const char *cg, const char *key, long min, long max)
{
	long v = -1;
	int i;

	for (i = 0; i < 60; i++) {
		v = stat_of(cg, key);
		if (v >= min && v <= max)
			break;
		usleep(100000);
	}
	return v;
}

/* Make a fresh cgroup, set memory.cow_pte, run @fn in a process in it. */
static int run_in_cgroup(const char *name, bool opt_in,
			 int (*fn)(const char *cg, void *arg), void *arg)
{
	char *cg = cg_name(root, name);
	int ret = KSFT_FAIL;

	if (!cg || cg_create(cg))
		goto out;
	if (cg_write(cg, "memory.cow_pte", opt_in ? "1" : "0"))
		goto out;
	ret = cg_run(cg, fn, arg);
out:
	if (cg)
		cg_destroy(cg);
	free(cg);
	return ret;
}

/* Child side of a fork: run @fn, exit with its result. */
static int wait_child(pid_t pid)
{
	int status;

	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	if (!WIFEXITED(status)) {
		ksft_print_msg("child died with signal %d\n",
			       WTERMSIG(status));
		return -1;
	}
	return WEXITSTATUS(status) ? -1 : 0;
}

/*
 * Sharing: the child maps the region's tables shared, memory.stat shows
 * them while it lives and nothing after; each side sees its own writes.
 */
static int share_and_write(const char *cg, void *arg)
{
	int go[2], ready[2];
	long shared, saved, events;
	char *p = map_region(REGION);
	char c;
	pid_t pid;

	if (!p || pipe(go) || pipe(ready))
		return KSFT_FAIL;
	fill(p, 0, NPAGES, 1);
	events = stat_of(cg, "cow_pte_share");

	pid = fork();
	if (pid == 0) {
		long own = status_kb(getpid(), "VmPTE");
		long shr = status_kb(getpid(), "VmPTEShared");

		if (shr < (long)(TABLES * PAGE / 1024)) {
			ksft_print_msg("child VmPTEShared %ld kB, VmPTE %ld kB\n",
				       shr, own);
			_exit(1);
		}
		if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(1);
		if (check("child before writing", p, 0, NPAGES, 1))
			_exit(1);
		fill(p, 0, NPAGES / 2, 2);
		if (check("child", p, 0, NPAGES / 2, 2) ||
		    check("child", p, NPAGES / 2, NPAGES / 2, 1))
			_exit(1);
		_exit(0);
	}
	if (pid < 0 || read(ready[0], &c, 1) != 1)
		return KSFT_FAIL;
	shared = stat_settles(cg, "pagetables_shared", TABLES * PAGE, LONG_MAX);
	saved = stat_settles(cg, "pagetables_saved", TABLES * PAGE, LONG_MAX);
	if (shared < (long)(TABLES * PAGE) || saved < (long)(TABLES * PAGE) ||
	    stat_settles(cg, "cow_pte_share", events + TABLES, LONG_MAX) <
	    events + TABLES) {
		ksft_print_msg("memory.stat while shared: pagetables_shared %ld, pagetables_saved %ld, cow_pte_share %ld (was %ld)\n",
			       shared, saved, stat_of(cg, "cow_pte_share"),
			       events);
		return KSFT_FAIL;
	}
	/* The parent writes the other half while the child still shares. */
	fill(p, NPAGES / 2, NPAGES / 2, 3);
	if (write(go[1], "g", 1) != 1 || wait_child(pid))
		return KSFT_FAIL;
	if (check("parent", p, 0, NPAGES / 2, 1) ||
	    check("parent", p, NPAGES / 2, NPAGES / 2, 3))
		return KSFT_FAIL;
	shared = stat_settles(cg, "pagetables_shared", 0, 0);
	saved = stat_settles(cg, "pagetables_saved", 0, 0);
	if (shared || saved) {
		ksft_print_msg("after the child: pagetables_shared %ld, pagetables_saved %ld\n",
			       shared, saved);
		return KSFT_FAIL;
	}
	return KSFT_PASS;
}

static int test_share_and_write(void)
{
	return run_in_cgroup("cow_pte_share", true, share_and_write, NULL);
}

/* Without opting in, fork copies: nothing is shared. */
static int not_shared(const char *cg, void *arg)
{
	char *p = map_region(REGION);
	pid_t pid;

	if (!p)
		return KSFT_FAIL;
	fill(p, 0, NPAGES, 1);
	pid = fork();
	if (pid == 0)
		_exit(status_kb(getpid(), "VmPTEShared") != 0 ||
		      check("child", p, 0, NPAGES, 1));
	return wait_child(pid) ? KSFT_FAIL : KSFT_PASS;
}

static int test_not_opted_in(void)
{
	return run_in_cgroup("cow_pte_off", false, not_shared, NULL);
}

/*
 * A chain of forks, each generation writing a slice of its own and
 * checking that neither its ancestors' nor its descendants' writes leak.
 */
#define DEPTH 5

static int chain(char *p, int gen)
{
	size_t slice = NPAGES / DEPTH;
	pid_t pid;
	int g;

	/* What this process sees: gen g wrote slice g-1 for g <= gen. */
	for (g = 1; g <= DEPTH; g++)
		if (check("chain", p, (g - 1) * slice, slice,
			  g <= gen ? g : 1))
			return -1;
	if (gen == DEPTH)
		return 0;
	pid = fork();
	if (pid == 0) {
		fill(p, gen * slice, slice, gen + 1);
		_exit(chain(p, gen + 1) ? 1 : 0);
	}
	if (wait_child(pid))
		return -1;
	for (g = 1; g <= DEPTH; g++)
		if (check("chain after child", p, (g - 1) * slice, slice,
			  g <= gen ? g : 1))
			return -1;
	return 0;
}

static int fork_chain(const char *cg, void *arg)
{
	char *p = map_region(REGION);

	if (!p)
		return KSFT_FAIL;
	fill(p, 0, NPAGES, 1);
	return chain(p, 1) ? KSFT_FAIL : KSFT_PASS;
}

static int test_fork_chain(void)
{
	return run_in_cgroup("cow_pte_chain", true, fork_chain, NULL);
}

/*
 * One change under a shared table: the actor (parent or child) makes it
 * and checks its own view, then the other side checks that its view is
 * what it was before the fork.
 */
struct change {
	const char *name;
	/* make the change on p; return 0 and the view to expect */
	int (*act)(char *p);
	int (*check)(const char *who, char *p);
};

#define MID	(PMD + PMD / 2)	/* inside the second table */

static int act_write_one(char *p)
{
	p[MID] = 42;
	return 0;
}

static int check_write_one(const char *who, char *p)
{
	size_t pg = MID / PAGE;

	uint64_t v = (uint64_t)1 << 32 | pg;

	if (p[MID] != 42)
		return -1;
	memcpy(&p[MID], (char *)&v + MID % 8, 1);	/* undo, then compare */
	return check(who, p, 0, NPAGES, 1);
}

static int act_munmap_part(char *p)
{
	return munmap(p + MID, 16 * PAGE);
}

static int check_munmap_part(const char *who, char *p)
{
	size_t hole = MID / PAGE;

	return check(who, p, 0, hole, 1) ||
	       check(who, p, hole + 16, NPAGES - hole - 16, 1);
}

static int act_munmap_table(char *p)
{
	return munmap(p + PMD, PMD);
}

static int check_munmap_table(const char *who, char *p)
{
	size_t n = PMD / PAGE;

	return check(who, p, 0, n, 1) || check(who, p, 2 * n, NPAGES - 2 * n, 1);
}

static int act_mprotect_part(char *p)
{
	return mprotect(p + MID, 16 * PAGE, PROT_READ);
}

static int check_all(const char *who, char *p)
{
	return check(who, p, 0, NPAGES, 1);
}

static int act_dontneed_part(char *p)
{
	return madvise(p + MID, 16 * PAGE, MADV_DONTNEED);
}

static int check_dontneed_part(const char *who, char *p)
{
	size_t hole = MID / PAGE;

	return check(who, p, 0, hole, 1) || check(who, p, hole, 16, 0) ||
	       check(who, p, hole + 16, NPAGES - hole - 16, 1);
}

static int act_dontneed_table(char *p)
{
	return madvise(p + PMD, PMD, MADV_DONTNEED);
}

static int check_dontneed_table(const char *who, char *p)
{
	size_t n = PMD / PAGE;

	return check(who, p, 0, n, 1) || check(who, p, n, n, 0) ||
	       check(who, p, 2 * n, NPAGES - 2 * n, 1);
}

static int act_free_part(char *p)
{
	return madvise(p + MID, 16 * PAGE, MADV_FREE);
}

/* After MADV_FREE a page reads back as it was, or as zeroes. */
static int check_free_part(const char *who, char *p)
{
	size_t hole = MID / PAGE, i;

	for (i = hole; i < hole + 16; i++)
		if (check(who, p, i, 1, 1) && check(who, p, i, 1, 0))
			return -1;
	return check(who, p, 0, hole, 1) ||
	       check(who, p, hole + 16, NPAGES - hole - 16, 1);
}

static int act_pageout(char *p)
{
	return madvise(p, REGION, MADV_PAGEOUT);
}

static int act_cold(char *p)
{
	return madvise(p, REGION, MADV_COLD);
}

/* Move part of a table, and a whole aligned table, elsewhere and back. */
static int act_mremap(char *p)
{
	char *dst = map_region(2 * PMD);
	char *q;

	if (!dst)
		return -1;
	q = mremap(p + MID, 16 * PAGE, 16 * PAGE,
		   MREMAP_MAYMOVE | MREMAP_FIXED, dst + PAGE);
	if (q == MAP_FAILED ||
	    mremap(q, 16 * PAGE, 16 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED,
		   p + MID) == MAP_FAILED)
		return -1;
	q = mremap(p + 2 * PMD, PMD, PMD, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	if (q == MAP_FAILED ||
	    mremap(q, PMD, PMD, MREMAP_MAYMOVE | MREMAP_FIXED,
		   p + 2 * PMD) == MAP_FAILED)
		return -1;
	return munmap(dst, 2 * PMD);
}

static const struct change changes[] = {
	{ "write",		act_write_one,		check_write_one },
	{ "munmap_part",	act_munmap_part,	check_munmap_part },
	{ "munmap_table",	act_munmap_table,	check_munmap_table },
	{ "mprotect_part",	act_mprotect_part,	check_all },
	{ "dontneed_part",	act_dontneed_part,	check_dontneed_part },
	{ "dontneed_table",	act_dontneed_table,	check_dontneed_table },
	{ "free_part",		act_free_part,		check_free_part },
	{ "pageout",		act_pageout,		check_all },
	{ "cold",		act_cold,		check_all },
	{ "mremap",		act_mremap,		check_all },
};

struct change_run {
	const struct change *change;
	bool child_acts;
};

static int one_change(const char *cg, void *arg)
{
	struct change_run *run = arg;
	const struct change *ch = run->change;
	char *p = map_region(REGION);
	int done[2];
	pid_t pid;
	char c;

	if (!p || pipe(done))
		return KSFT_FAIL;
	fill(p, 0, NPAGES, 1);
	pid = fork();
	if (pid < 0)
		return KSFT_FAIL;
	if ((pid == 0) == run->child_acts) {
		const char *who = pid ? "parent (acting)" : "child (acting)";
		int ret = 0;

		if (ch->act(p) || ch->check(who, p)) {
			ksft_print_msg("%s: %s failed\n", who, ch->name);
			ret = -1;
		}
		if (write(done[1], "d", 1) != 1)
			ret = -1;
		if (pid == 0)
			_exit(ret ? 1 : 0);
		return wait_child(pid) || ret ? KSFT_FAIL : KSFT_PASS;
	}
	/* The observer: its view must be the one from before the fork. */
	if (read(done[0], &c, 1) != 1)
		c = 0;
	if (pid == 0)
		_exit(c != 'd' || check_all("child (observing)", p));
	if (c != 'd' || check_all("parent (observing)", p))
		return KSFT_FAIL;
	return wait_child(pid) ? KSFT_FAIL : KSFT_PASS;
}

static int test_changes(void)
{
	struct change_run run;
	int i, ret = KSFT_PASS;

	for (i = 0; i < ARRAY_SIZE(changes); i++) {
		run.change = &changes[i];
		for (run.child_acts = false; ; run.child_acts = true) {
			if (run_in_cgroup("cow_pte_change", true, one_change,
					  &run) != KSFT_PASS) {
				ksft_print_msg("%s by the %s: FAIL\n",
					       changes[i].name,
					       run.child_acts ? "child" : "parent");
				ret = KSFT_FAIL;
			}
			if (run.child_acts)
				break;
		}
	}
	return ret;
}

/*
 * The forking task's cgroup decides, also with CLONE_INTO_CGROUP, whose
 * target cgroup the child only enters after copy_mm().
 */
static int clone_into(const char *cg, void *arg)
{
	const char *target = arg;
	char *p = map_region(REGION);
	int fd, want_shared = strstr(cg, "_in") != NULL;
	long shr;
	pid_t pid;

	if (!p)
		return KSFT_FAIL;
	fill(p, 0, NPAGES, 1);
	fd = open(target, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return KSFT_FAIL;
	pid = clone_into_cgroup(fd);
	if (pid < 0)
		return errno == ENOSYS ? KSFT_SKIP : KSFT_FAIL;
	if (pid == 0) {
		shr = status_kb(getpid(), "VmPTEShared");
		if ((shr > 0) != want_shared) {
			ksft_print_msg("cgroup %s, target %s: VmPTEShared %ld kB\n",
				       cg, target, shr);
			_exit(1);
		}
		_exit(check("child", p, 0, NPAGES, 1) ? 1 : 0);
	}
	close(fd);
	return wait_child(pid) ? KSFT_FAIL : KSFT_PASS;
}

static int test_clone_into_cgroup(void)
{
	char *in = cg_name(root, "cow_pte_target_in");
	char *out = cg_name(root, "cow_pte_target_out");
	int ret = KSFT_FAIL;

	if (!in || !out || cg_create(in) || cg_create(out) ||
	    cg_write(in, "memory.cow_pte", "1"))
		goto out;
	/* opted-in parent, child into a cgroup that is not: shared */
	ret = run_in_cgroup("cow_pte_src_in", true, clone_into, out);
	/* parent not opted in, child into an opted-in cgroup: copied */
	if (ret == KSFT_PASS)
		ret = run_in_cgroup("cow_pte_src_out", false, clone_into, in);
out:
	if (in)
		cg_destroy(in);
	if (out)
		cg_destroy(out);
	free(in);
	free(out);
	return ret;
}

/*
 * The target of the design: after forking a 1 GiB order-0 parent the child
 * owns at most 64 kB of page tables and maps the rest shared.
 */
static int big_child(const char *cg, void *arg)
{
	size_t size = 1UL << 30;
	char *p = map_region(size);
	long own, shr;
	pid_t pid;
	int fds[2];

	if (!p || pipe(fds))
		return KSFT_FAIL;
	memset(p, 1, size);
	pid = fork();
	if (pid == 0) {
		char c;

		read(fds[0], &c, 1);
		_exit(0);
	}
	if (pid < 0)
		return KSFT_FAIL;
	own = status_kb(pid, "VmPTE");
	shr = status_kb(pid, "VmPTEShared");
	write(fds[1], "x", 1);
	if (wait_child(pid))
		return KSFT_FAIL;
	ksft_print_msg("child of a 1 GiB parent: VmPTE %ld kB, VmPTEShared %ld kB\n",
		       own, shr);
	return own >= 0 && own <= 64 && shr >= 2040 ? KSFT_PASS : KSFT_FAIL;
}

static int test_child_page_tables(void)
{
	return run_in_cgroup("cow_pte_big", true, big_child, NULL);
}

static const struct {
	const char *name;
	int (*fn)(void);
} tests[] = {
	{ "test_share_and_write",	test_share_and_write },
	{ "test_not_opted_in",		test_not_opted_in },
	{ "test_fork_chain",		test_fork_chain },
	{ "test_changes",		test_changes },
	{ "test_clone_into_cgroup",	test_clone_into_cgroup },
	{ "test_child_page_tables",	test_child_page_tables },
};

int main(int argc, char **argv)
{
	char *probe, *file;
	int i, n = 0;

	ksft_print_header();
	if (cg_find_unified_root(root, sizeof(root), NULL))
		ksft_exit_skip("cgroup v2 isn't mounted\n");
	if (cg_read_strstr(root, "cgroup.subtree_control", "memory") &&
	    cg_write(root, "cgroup.subtree_control", "+memory"))
		ksft_exit_skip("cannot enable the memory controller\n");
	probe = cg_name(root, "cow_pte_probe");
	if (!probe || cg_create(probe))
		ksft_exit_skip("cannot create a cgroup\n");
	file = cg_control(probe, "memory.cow_pte");
	i = access(file, F_OK);
	free(file);
	cg_destroy(probe);
	free(probe);
	if (i)
		ksft_exit_skip("the kernel has no memory.cow_pte (CONFIG_COW_PTE)\n");

	for (i = 0; i < ARRAY_SIZE(tests); i++)
		n += test_selected(tests[i].name, argc, argv);
	if (!n)
		ksft_exit_fail_msg("no test named %s\n", argv[1]);
	ksft_set_plan(n);
	for (i = 0; i < ARRAY_SIZE(tests); i++) {
		if (!test_selected(tests[i].name, argc, argv))
			continue;
		report_test(tests[i].name, tests[i].fn());
	}
	ksft_finished();
}
