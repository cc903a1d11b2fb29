// SPDX-License-Identifier: GPL-2.0
/* What the COW PTE selftests share; see cow_pte_util.h. */
#define _GNU_SOURCE

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup_util.h"
#include "cow_pte_util.h"

void cow_pte_setup(char *root, size_t len)
{
	char *probe, *file;
	int missing;

	/*
	 * Line-buffered even into a log file: children report and then
	 * _exit(), which would drop a fully buffered message.
	 */
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (cg_find_unified_root(root, len, NULL))
		ksft_exit_skip("cgroup v2 isn't mounted\n");
	if (cg_read_strstr(root, "cgroup.controllers", "memory"))
		ksft_exit_skip("memory controller isn't available\n");
	if (cg_read_strstr(root, "cgroup.subtree_control", "memory") &&
	    cg_write(root, "cgroup.subtree_control", "+memory"))
		ksft_exit_skip("cannot enable the memory controller\n");
	probe = cg_name(root, "cow_pte_probe");
	if (!probe || cg_create(probe))
		ksft_exit_skip("cannot create a cgroup\n");
	file = cg_control(probe, "memory.cow_pte");
	missing = access(file, F_OK);
	free(file);
	cg_destroy(probe);
	free(probe);
	if (missing)
		ksft_exit_skip("the kernel has no memory.cow_pte (CONFIG_COW_PTE)\n");
}

static bool test_selected(const char *name, int argc, char **argv)
{
	int i;

	if (argc < 2)
		return true;
	for (i = 1; i < argc; i++)
		if (!strcmp(argv[i], name))
			return true;
	return false;
}

static void report_test(const char *name, int result)
{
	switch (result) {
	case KSFT_PASS:
		ksft_test_result_pass("%s\n", name);
		break;
	case KSFT_SKIP:
		ksft_test_result_skip("%s\n", name);
		break;
	default:
		ksft_test_result_fail("%s\n", name);
	}
}

void cow_pte_run_tests(const struct cow_pte_test *tests, int n,
		       const char *root, int argc, char **argv)
{
	int i, planned = 0;

	for (i = 0; i < n; i++)
		planned += test_selected(tests[i].name, argc, argv);
	if (!planned)
		ksft_exit_fail_msg("no test named %s\n", argv[1]);
	ksft_set_plan(planned);
	for (i = 0; i < n; i++)
		if (test_selected(tests[i].name, argc, argv))
			report_test(tests[i].name, tests[i].fn(root));
	ksft_finished();
}

int run_in_cgroup(const char *root, const char *name, bool opt_in,
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

int wait_child(pid_t pid)
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

char *map_region(size_t size)
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

void fill_page(char *page, size_t index, uint32_t gen)
{
	uint64_t *q = (uint64_t *)page;
	uint64_t v = (uint64_t)gen << 32 | index;
	size_t w;

	for (w = 0; w < PAGE / 8; w++)
		q[w] = v;
}

void fill(char *p, size_t first, size_t n, uint32_t gen)
{
	size_t i;

	for (i = first; i < first + n; i++)
		fill_page(p + i * PAGE, i, gen);
}

int check(const char *who, char *p, size_t first, size_t n, uint32_t gen)
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

long status_kb(pid_t pid, const char *name)
{
	char path[64], line[256];
	size_t len = strlen(name);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, name, len) && line[len] == ':') {
			v = strtol(line + len + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

long vmstat_of(const char *key)
{
	char line[128];
	size_t len = strlen(key);
	long v = -1;
	FILE *f = fopen("/proc/vmstat", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, len) && line[len] == ' ')
			v = atol(line + len + 1);
	fclose(f);
	return v;
}

long stat_of(const char *cg, const char *key)
{
	char k[64], flush[512];

	/*
	 * memory.stat is flushed lazily: fewer pending updates than 64 per
	 * CPU may wait for ever.  Reading cpu.stat flushes the statistics
	 * of every controller in the subtree.
	 */
	cg_read(cg, "cpu.stat", flush, sizeof(flush));
	snprintf(k, sizeof(k), "%s ", key);
	return cg_read_key_long(cg, "memory.stat", k);
}

long stat_settles(const char *cg, const char *key, long min, long max)
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

/*
 * Put @cg over its limit with nothing precharged and nothing to reclaim:
 * a limit of half the usage drains the per-CPU charge stocks, reclaim
 * finds no swap and the memcg OOM killer nobody to kill (the processes
 * in it are OOM_SCORE_ADJ_MIN), so the limit stays below the usage.  They
 * must sleep meanwhile.
 */
int over_limit(const char *cg)
{
	long usage = cg_read_long(cg, "memory.current");

	return usage <= 0 || cg_write(cg, "memory.swap.max", "0") ||
	       cg_write_numeric(cg, "memory.max", usage / 2);
}
