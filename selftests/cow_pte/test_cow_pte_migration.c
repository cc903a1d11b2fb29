// SPDX-License-Identifier: GPL-2.0
/*
 * Migrating pages that a parent and its child map through shared PTE
 * tables.  try_to_migrate() walks each mm that maps a page and must unshare
 * the table for it first, without sleeping: a copy for the first mm, the
 * table itself for the last.  The pages must land on the other node for
 * both processes, and neither may see the other's later writes.
 *
 * The same must hold when the cgroup is at memory.max: the table
 * copy is then charged over the limit (as an atomic allocation is), rather
 * than leaving every page behind a shared table unmigratable for as long
 * as the cgroup stays full.
 *
 * Needs two NUMA nodes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/mempolicy.h>

#include "cgroup_util.h"
#include "cow_pte_util.h"

#define TABLES	4
#define REGION	(TABLES * PMD)
#define NPAGES	(REGION / PAGE)

/* The controller (outside the cgroup) and the two sharers (inside). */
struct migration {
	int ready[2];		/* sharer -> controller: a struct sharer */
	int go[2];		/* controller -> sharers: one byte each */
};

struct sharer {
	pid_t pid;
	char *region;
};

static long move_pages(pid_t pid, unsigned long count, void **pages,
		       const int *nodes, int *status, int flags)
{
	return syscall(__NR_move_pages, pid, count, pages, nodes, status,
		       flags);
}

/* Tell the controller where the region is, wait, check, write. */
static int sharer_run(struct migration *m, const char *who, char *p,
		      uint32_t gen)
{
	struct sharer s = { getpid(), p };
	char c;

	if (write(m->ready[1], &s, sizeof(s)) != sizeof(s) ||
	    read(m->go[0], &c, 1) != 1)
		return -1;
	if (check(who, p, 0, NPAGES, 1))
		return -1;
	fill(p, 0, NPAGES, gen);	/* must not reach the other one */
	return check(who, p, 0, NPAGES, gen);
}

/* In the cgroup: fill the region, fork, both sharers wait. */
static int sharers(const char *cg, void *arg)
{
	struct migration *m = arg;
	char *p = map_region(REGION);
	pid_t pid;
	long kb;

	/* Nobody to kill when the limit drops below the usage. */
	if (!p || write_text("/proc/self/oom_score_adj", "-1000", 5) < 0)
		return 1;
	fill(p, 0, NPAGES, 1);
	pid = fork();
	if (pid == 0) {
		kb = status_kb(getpid(), "VmPTEShared");
		if (kb < TABLES * (long)(PAGE / 1024)) {
			ksft_print_msg("child: VmPTEShared %ld kB\n", kb);
			_exit(1);
		}
		_exit(sharer_run(m, "child", p, 3) ? 1 : 0);
	}
	if (sharer_run(m, "parent", p, 2) || wait_child(pid))
		return 1;
	return 0;
}

/* The node of @pid's page at @addr, or -1. */
static int node_of(pid_t pid, void *addr)
{
	int status;

	if (move_pages(pid, 1, &addr, NULL, &status, 0) || status < 0)
		return -1;
	return status;
}

/* Move all of @pid's region to @node; 0 if every page landed there. */
static int move_region(pid_t pid, char *p, int node)
{
	static void *pages[NPAGES];
	static int nodes[NPAGES], status[NPAGES];
	long ret;
	size_t i;

	for (i = 0; i < NPAGES; i++) {
		pages[i] = p + i * PAGE;
		nodes[i] = node;
	}
	ret = move_pages(pid, NPAGES, pages, nodes, status, MPOL_MF_MOVE_ALL);
	if (ret) {
		ksft_print_msg("move_pages: %ld (%s)\n", ret,
			       ret < 0 ? strerror(errno) : "pages not moved");
		return -1;
	}
	for (i = 0; i < NPAGES; i++)
		if (status[i] != node) {
			ksft_print_msg("page %zu: status %d, not node %d\n", i,
				       status[i], node);
			return -1;
		}
	return 0;
}

/* Both sharers' pages must now be on @node: they are the same pages. */
static int region_on(struct sharer *s, int node)
{
	int i;

	for (i = 0; i < 2; i++)
		if (node_of(s[i].pid, s[i].region) != node ||
		    node_of(s[i].pid, s[i].region + REGION - PAGE) != node) {
			ksft_print_msg("pid %d: region not on node %d\n",
				       s[i].pid, node);
			return -1;
		}
	return 0;
}

static int migrate(const char *cg, struct sharer *s, bool at_limit)
{
	long copies = stat_of(cg, "cow_pte_unshare_copy");
	long max_events, fails = stat_of(cg, "cow_pte_unshare_fail");
	int node;

	if (at_limit && over_limit(cg))
		return -1;
	max_events = cg_read_key_long(cg, "memory.events", "max ");
	node = node_of(s[1].pid, s[1].region);
	if (node < 0 || move_region(s[1].pid, s[1].region, !node) ||
	    region_on(s, !node))
		return -1;
	if (at_limit &&
	    cg_read_key_long(cg, "memory.events", "max ") <= max_events) {
		ksft_print_msg("the cgroup never hit memory.max: no test\n");
		return -1;
	}
	if (at_limit && cg_write(cg, "memory.max", "max"))
		return -1;
	if (stat_settles(cg, "cow_pte_unshare_copy", copies + TABLES,
			 LONG_MAX) < copies + TABLES ||
	    stat_of(cg, "cow_pte_unshare_fail") != fails) {
		ksft_print_msg("unshare copies %ld -> %ld, failures %ld -> %ld\n",
			       copies, stat_of(cg, "cow_pte_unshare_copy"),
			       fails, stat_of(cg, "cow_pte_unshare_fail"));
		return -1;
	}
	return 0;
}

/*
 * Automatic NUMA balancing would move the sharers' pages on its own and
 * unshare their tables when it scans them: hold it off during a test.
 * Returns the setting to restore, or "" if the kernel has none.
 */
#define NUMA_BALANCING	"/proc/sys/kernel/numa_balancing"

static void numa_balancing_off(char *saved, size_t len)
{
	saved[0] = '\0';
	if (read_text(NUMA_BALANCING, saved, len) <= 0)
		saved[0] = '\0';
	else if (write_text(NUMA_BALANCING, "0", 1) < 0)
		ksft_exit_fail_msg("cannot turn NUMA balancing off\n");
}

static void numa_balancing_restore(const char *saved)
{
	if (saved[0])
		write_text(NUMA_BALANCING, (char *)saved, strlen(saved));
}

static int migrate_shared(const char *root, bool at_limit)
{
	char *cg = cg_name(root, "cow_pte_migration");
	struct migration m;
	struct sharer s[2];
	char balancing[16];
	int ret = KSFT_FAIL, i;
	pid_t pid = -1;

	if (access("/sys/devices/system/node/node1", F_OK)) {
		ksft_print_msg("one NUMA node: nothing to migrate to\n");
		free(cg);
		return KSFT_SKIP;
	}
	numa_balancing_off(balancing, sizeof(balancing));
	if (!cg || cg_create(cg) || cg_write(cg, "memory.cow_pte", "1") ||
	    pipe(m.ready) || pipe(m.go))
		goto out;
	pid = cg_run_nowait(cg, sharers, &m);
	/* A sharer that dies must end the controller's reads. */
	close(m.ready[1]);
	close(m.go[0]);
	for (i = 0; i < 2; i++)
		if (read(m.ready[0], &s[i], sizeof(s[i])) != sizeof(s[i]))
			goto out;
	if (migrate(cg, s, at_limit))
		goto out;
	if (write(m.go[1], "gg", 2) == 2 && !wait_child(pid))
		ret = KSFT_PASS;
	pid = -1;
out:
	if (pid > 0) {
		cg_write(cg, "memory.max", "max");
		cg_killall(cg);
		wait_child(pid);
	}
	if (cg)
		cg_destroy(cg);
	free(cg);
	numa_balancing_restore(balancing);
	return ret;
}

static int test_move_pages(const char *root)
{
	return migrate_shared(root, false);
}

static int test_move_pages_at_limit(const char *root)
{
	return migrate_shared(root, true);
}

#define T(x) { #x, x }
static const struct cow_pte_test tests[] = {
	T(test_move_pages),
	T(test_move_pages_at_limit),
};
#undef T

int main(int argc, char **argv)
{
	char root[PATH_MAX];

	ksft_print_header();
	cow_pte_setup(root, sizeof(root));
	cow_pte_run_tests(tests, ARRAY_SIZE(tests), root, argc, argv);
}
