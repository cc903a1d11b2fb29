// SPDX-License-Identifier: GPL-2.0
/*
 * COW PTE tables meeting the rest of mm: threads that write while another
 * thread forks, MADV_DONTFORK/WIPEONFORK, KSM, PTE-mapped THPs, writes into
 * another process through /proc/PID/mem, vmsplice, io_uring buffers pinned
 * before the fork, mlock against reclaim, swapoff, and running out of
 * memory in the middle of an unshare.  Each case checks every byte both
 * processes see.
 *
 * Usage: test_cow_pte_interactions [TEST...]   (default: every test)
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <liburing.h>
#include <linux/fs.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../kselftest.h"
#include "cgroup_util.h"
#include "cow_pte_util.h"

#define TABLES		16
#define REGION		(TABLES * PMD)
#define NPAGES		(REGION / PAGE)

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT	21
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE	25
#endif

/* The child maps at least @tables shared PTE tables. */
static int child_shares(int tables)
{
	long kb = status_kb(getpid(), "VmPTEShared");

	if (kb >= tables * (long)(PAGE / 1024))
		return 0;
	ksft_print_msg("child: VmPTEShared %ld kB, expected %d tables\n",
		       kb, tables);
	return -1;
}

/* Fork; the child runs @fn(p) and exits with its result; 0 if it passed. */
static int fork_and_check(char *p, int (*fn)(char *p))
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(fn(p) ? 1 : 0);
	return wait_child(pid);
}

/*
 * Threads write while another thread forks, again and again.  Each writer
 * owns a slice and writes it whole with a rising generation, checking
 * each page before (previous generation) and after writing it.  A child must see a settled snapshot (its memory does not
 * change while the writers go on) whose every word belongs to its page;
 * its own writes must not reach the parent, whose writers check that the
 * slice holds their last generation when they stop.
 */
#define WRITERS	2
#define FORKS	6
#define SLICE	(NPAGES / WRITERS)

struct writer {
	char *p;
	size_t first;
	uint32_t gen;
	atomic_bool stop;
	bool bad;
	pthread_t thread;
};

static void *write_slice(void *arg)
{
	struct writer *w = arg;
	size_t i;

	while (!atomic_load(&w->stop)) {
		w->gen++;
		for (i = w->first; i < w->first + SLICE; i++) {
			/* a child's write reaching the parent shows here */
			if (check("writer", w->p, i, 1, w->gen - 1)) {
				w->bad = true;
				return NULL;
			}
			fill(w->p, i, 1, w->gen);
			if (check("writer", w->p, i, 1, w->gen)) {
				w->bad = true;
				return NULL;
			}
		}
	}
	return NULL;
}

/* Every word belongs to its page; generations are those of a writer. */
static int snapshot_sane(char *p)
{
	uint64_t *q = (uint64_t *)p;
	size_t i;

	for (i = 0; i < REGION / 8; i++)
		if ((q[i] & 0xffffffff) != i / (PAGE / 8) || !(q[i] >> 32)) {
			ksft_print_msg("child: word %zu is %#llx\n", i,
				       (unsigned long long)q[i]);
			return -1;
		}
	return 0;
}

static int settled_child(char *p)
{
	char *copy = malloc(REGION);

	if (!copy || child_shares(TABLES) || snapshot_sane(p))
		return -1;
	memcpy(copy, p, REGION);
	usleep(100000);			/* the parent's writers go on */
	if (memcmp(copy, p, REGION)) {
		ksft_print_msg("child: its memory changed after the fork\n");
		return -1;
	}
	fill(p, 0, NPAGES, 0xc41d);	/* must not reach the parent */
	return check("child", p, 0, NPAGES, 0xc41d);
}

static void *forker(void *arg)
{
	int i;

	for (i = 0; i < FORKS; i++)
		if (fork_and_check(arg, settled_child))
			return (void *)1;
	return NULL;
}

static int threads_fork(const char *cg, void *arg)
{
	struct writer w[WRITERS];
	char *p = map_region(REGION);
	pthread_t f;
	void *forks_failed = (void *)1;
	int i, ret = KSFT_PASS;

	if (!p)
		return KSFT_FAIL;
	fill(p, 0, NPAGES, 1);
	for (i = 0; i < WRITERS; i++) {
		w[i] = (struct writer){ .p = p, .first = i * SLICE, .gen = 1 };
		pthread_create(&w[i].thread, NULL, write_slice, &w[i]);
	}
	/* Fork from a thread that is not the main one. */
	if (!pthread_create(&f, NULL, forker, p))
		pthread_join(f, &forks_failed);
	for (i = 0; i < WRITERS; i++) {
		atomic_store(&w[i].stop, true);
		pthread_join(w[i].thread, NULL);
		if (w[i].bad || check("parent", p, w[i].first, SLICE, w[i].gen))
			ret = KSFT_FAIL;
	}
	return forks_failed ? KSFT_FAIL : ret;
}

static int test_threads_fork(const char *root)
{
	return run_in_cgroup(root, "cow_pte_threads", true, threads_fork, NULL);
}

/*
 * MADV_DONTFORK and MADV_WIPEONFORK over ranges that cut through tables:
 * the child has no mapping, or zeroes, there and the rest shared.
 */
static char *dontfork_area, *wipe_area;

#define CUT_FIRST	(PMD / 2 / PAGE)
#define CUT_PAGES	(2 * PMD / PAGE + 3)
#define AREA_PAGES	(4 * PMD / PAGE)

static int dontfork_child(char *unused)
{
	unsigned char vec[CUT_PAGES];
	size_t after = CUT_FIRST + CUT_PAGES;

	if (child_shares(2))
		return -1;
	if (mincore(dontfork_area + CUT_FIRST * PAGE, CUT_PAGES * PAGE, vec) !=
	    -1 || errno != ENOMEM) {
		ksft_print_msg("child: the MADV_DONTFORK range is mapped\n");
		return -1;
	}
	if (check("child", dontfork_area, 0, CUT_FIRST, 1) ||
	    check("child", dontfork_area, after, AREA_PAGES - after, 1) ||
	    check("child", wipe_area, 0, CUT_FIRST, 2) ||
	    check("child", wipe_area, CUT_FIRST, CUT_PAGES, 0) ||
	    check("child", wipe_area, after, AREA_PAGES - after, 2))
		return -1;
	fill(dontfork_area, 0, CUT_FIRST, 3);
	fill(wipe_area, 0, AREA_PAGES, 3);
	return check("child", wipe_area, 0, AREA_PAGES, 3);
}

static int dontfork_wipeonfork(const char *cg, void *arg)
{
	dontfork_area = map_region(4 * PMD);
	wipe_area = map_region(4 * PMD);
	if (!dontfork_area || !wipe_area)
		return KSFT_FAIL;
	fill(dontfork_area, 0, AREA_PAGES, 1);
	fill(wipe_area, 0, AREA_PAGES, 2);
	if (madvise(dontfork_area + CUT_FIRST * PAGE, CUT_PAGES * PAGE,
		    MADV_DONTFORK) ||
	    madvise(wipe_area + CUT_FIRST * PAGE, CUT_PAGES * PAGE,
		    MADV_WIPEONFORK))
		return KSFT_FAIL;
	if (fork_and_check(NULL, dontfork_child))
		return KSFT_FAIL;
	return check("parent", dontfork_area, 0, AREA_PAGES, 1) ||
	       check("parent", wipe_area, 0, AREA_PAGES, 2) ?
	       KSFT_FAIL : KSFT_PASS;
}

static int test_dontfork_wipeonfork(const char *root)
{
	return run_in_cgroup(root, "cow_pte_dontfork", true,
			     dontfork_wipeonfork, NULL);
}

/*
 * KSM merges identical pages behind shared tables (its write_protect_page
 * has to unshare them first); each side then writes one page of its own.
 */
#define KSM_DIR		"/sys/kernel/mm/ksm"
#define KSM_PAGES	(4 * PMD / PAGE)
#define KSM_BYTE	0x5a

static long ksm_merging_pages(pid_t pid)
{
	char path[64], buf[32];

	snprintf(path, sizeof(path), "/proc/%d/ksm_merging_pages", pid);
	if (read_text(path, buf, sizeof(buf)) < 0)
		return -1;
	return atol(buf);
}

/* 0 if every byte is KSM_BYTE except byte 0 of page @own: @own. */
static int check_ksm(const char *who, char *p, size_t own)
{
	size_t i;

	for (i = 0; i < KSM_PAGES * PAGE; i++) {
		char want = i == own * PAGE ? (char)own : KSM_BYTE;

		if (p[i] != want) {
			ksft_print_msg("%s: byte %zu is %#x, expected %#x\n",
				       who, i, p[i], want);
			return -1;
		}
	}
	return 0;
}

static int ksm_wait_merged(pid_t child, pid_t parent)
{
	int i;

	for (i = 0; i < 600; i++) {
		if (ksm_merging_pages(child) >= KSM_PAGES / 2 &&
		    ksm_merging_pages(parent) >= KSM_PAGES / 2)
			return 0;
		usleep(100000);
	}
	ksft_print_msg("KSM merged %ld pages of the child, %ld of the parent\n",
		       ksm_merging_pages(child), ksm_merging_pages(parent));
	return -1;
}

static int ksm_merge(const char *cg, void *arg)
{
	char *p = map_region(KSM_PAGES * PAGE);
	int merged[2], done[2], ret;
	pid_t pid;
	char c;

	if (!p || pipe(merged) || pipe(done))
		return KSFT_FAIL;
	memset(p, KSM_BYTE, KSM_PAGES * PAGE);
	if (madvise(p, KSM_PAGES * PAGE, MADV_MERGEABLE))
		return KSFT_FAIL;
	pid = fork();
	if (pid == 0) {
		if (child_shares(4) || read(merged[0], &c, 1) != 1 || c != 'm')
			_exit(1);
		p[PAGE] = 1;
		_exit(check_ksm("child", p, 1) ? 1 : 0);
	}
	if (pid < 0 || write_text(KSM_DIR "/run", "1", 1) < 0)
		return KSFT_FAIL;
	ret = ksm_wait_merged(pid, getpid());
	write_text(KSM_DIR "/run", "0", 1);
	if (write(merged[1], ret ? "f" : "m", 1) != 1 || ret)
		return KSFT_FAIL;
	p[0] = 0;
	ret = check_ksm("parent", p, 0);
	return wait_child(pid) || ret ? KSFT_FAIL : KSFT_PASS;
}

static int test_ksm_merge(const char *root)
{
	char run[16], pages[16], sleep_ms[16];
	int ret;

	if (read_text(KSM_DIR "/run", run, sizeof(run)) < 0 ||
	    read_text(KSM_DIR "/pages_to_scan", pages, sizeof(pages)) < 0 ||
	    read_text(KSM_DIR "/sleep_millisecs", sleep_ms, sizeof(sleep_ms)) < 0) {
		ksft_print_msg("no KSM (%s)\n", KSM_DIR);
		return KSFT_SKIP;
	}
	write_text(KSM_DIR "/pages_to_scan", "4096", 4);
	write_text(KSM_DIR "/sleep_millisecs", "10", 2);
	ret = run_in_cgroup(root, "cow_pte_ksm", true, ksm_merge, NULL);
	write_text(KSM_DIR "/pages_to_scan", pages, strlen(pages));
	write_text(KSM_DIR "/sleep_millisecs", sleep_ms, strlen(sleep_ms));
	write_text(KSM_DIR "/run", run, strlen(run));
	return ret;
}

/*
 * KSM's zero-page merging: the global ksm_zero_pages count goes up by the
 * pages a child maps through fork, and must come down when the child
 * drops its share of the tables at exit, as when it zaps them.
 */
static long ksm_zero_pages(void)
{
	char buf[32];

	if (read_text(KSM_DIR "/ksm_zero_pages", buf, sizeof(buf)) < 0)
		return -1;
	return atol(buf);
}

static int exit_sharing(char *p)
{
	return child_shares(4);
}

static int ksm_zero(const char *cg, void *arg)
{
	char *p = map_region(KSM_PAGES * PAGE);
	long before = ksm_zero_pages(), merged;
	int i, ret;

	if (!p || before < 0)
		return KSFT_FAIL;
	memset(p, 0, KSM_PAGES * PAGE);
	if (madvise(p, KSM_PAGES * PAGE, MADV_MERGEABLE) ||
	    write_text(KSM_DIR "/run", "1", 1) < 0)
		return KSFT_FAIL;
	for (i = 0; i < 600 && ksm_zero_pages() < before + KSM_PAGES; i++)
		usleep(100000);
	write_text(KSM_DIR "/run", "0", 1);
	merged = ksm_zero_pages();
	if (merged < before + KSM_PAGES) {
		ksft_print_msg("KSM merged %ld zero pages\n", merged - before);
		return KSFT_FAIL;
	}
	ret = fork_and_check(p, exit_sharing);
	if (ksm_zero_pages() != merged) {
		ksft_print_msg("ksm_zero_pages %ld before the fork, %ld after the child exited\n",
			       merged, ksm_zero_pages());
		return KSFT_FAIL;
	}
	return ret ? KSFT_FAIL : KSFT_PASS;
}

static int test_ksm_zero_pages(const char *root)
{
	char run[16], pages[16], sleep_ms[16], zero[16];
	int ret;

	if (read_text(KSM_DIR "/run", run, sizeof(run)) < 0 ||
	    read_text(KSM_DIR "/pages_to_scan", pages, sizeof(pages)) < 0 ||
	    read_text(KSM_DIR "/sleep_millisecs", sleep_ms, sizeof(sleep_ms)) < 0 ||
	    read_text(KSM_DIR "/use_zero_pages", zero, sizeof(zero)) < 0) {
		ksft_print_msg("no KSM (%s)\n", KSM_DIR);
		return KSFT_SKIP;
	}
	write_text(KSM_DIR "/pages_to_scan", "4096", 4);
	write_text(KSM_DIR "/sleep_millisecs", "10", 2);
	write_text(KSM_DIR "/use_zero_pages", "1", 1);
	ret = run_in_cgroup(root, "cow_pte_ksm_zero", true, ksm_zero, NULL);
	write_text(KSM_DIR "/use_zero_pages", zero, strlen(zero));
	write_text(KSM_DIR "/pages_to_scan", pages, strlen(pages));
	write_text(KSM_DIR "/sleep_millisecs", sleep_ms, strlen(sleep_ms));
	write_text(KSM_DIR "/run", run, strlen(run));
	return ret;
}

/*
 * PMD-sized THPs split into PTE-mapped ones before the fork: the shared
 * tables map large folios; both sides write, then MADV_COLLAPSE runs on
 * once-shared tables (it may refuse; nothing may change).
 */
#define THP_TABLES	4
#define THP_PAGES	(THP_TABLES * PMD / PAGE)

static long anon_huge_kb(void)
{
	char buf[4096], *s;

	if (read_text("/proc/self/smaps_rollup", buf, sizeof(buf)) < 0)
		return -1;
	s = strstr(buf, "AnonHugePages:");
	return s ? atol(s + strlen("AnonHugePages:")) : -1;
}

static int split_pmds(char *p)
{
	int i;

	for (i = 0; i < THP_TABLES; i++)
		if (mprotect(p + i * PMD + PAGE, PAGE, PROT_READ) ||
		    mprotect(p + i * PMD + PAGE, PAGE, PROT_READ | PROT_WRITE))
			return -1;
	return 0;
}

/* Even pages are written by the parent, odd ones by the child. */
static int check_halves(const char *who, char *p, uint32_t even, uint32_t odd)
{
	size_t i;

	for (i = 0; i < THP_PAGES; i++)
		if (check(who, p, i, 1, i % 2 ? odd : even))
			return -1;
	return 0;
}

static void write_half(char *p, size_t parity, uint32_t gen)
{
	size_t i;

	for (i = parity; i < THP_PAGES; i += 2)
		fill(p, i, 1, gen);
}

static int thp_child(char *p)
{
	if (child_shares(THP_TABLES))
		return -1;
	write_half(p, 1, 3);
	madvise(p, THP_TABLES * PMD, MADV_COLLAPSE);
	return check_halves("child", p, 1, 3);
}

static int thp_pte_mapped(const char *cg, void *arg)
{
	char *p = map_region(THP_TABLES * PMD);

	if (!p || madvise(p, THP_TABLES * PMD, MADV_HUGEPAGE))
		return KSFT_FAIL;
	fill(p, 0, THP_PAGES, 1);
	if (anon_huge_kb() < (long)(PMD / 1024)) {
		ksft_print_msg("no THP was allocated (AnonHugePages %ld kB)\n",
			       anon_huge_kb());
		return KSFT_FAIL;
	}
	if (split_pmds(p) || anon_huge_kb() != 0)
		return KSFT_FAIL;
	if (fork_and_check(p, thp_child))
		return KSFT_FAIL;
	write_half(p, 0, 2);
	madvise(p, THP_TABLES * PMD, MADV_COLLAPSE);
	return check_halves("parent", p, 2, 1) ? KSFT_FAIL : KSFT_PASS;
}

/* Run @fn in cgroup @name with THP in "madvise" mode, then restore it. */
static int run_with_thp(const char *root, const char *name,
			int (*fn)(const char *cg, void *arg))
{
	const char *file = "/sys/kernel/mm/transparent_hugepage/enabled";
	char old[128], *open, *close;
	int ret;

	if (read_text(file, old, sizeof(old)) < 0) {
		ksft_print_msg("no THP (%s)\n", file);
		return KSFT_SKIP;
	}
	open = strchr(old, '[');
	close = open ? strchr(open, ']') : NULL;
	if (!close)
		return KSFT_FAIL;
	*close = '\0';
	write_text(file, "madvise", 7);
	ret = run_in_cgroup(root, name, true, fn, NULL);
	write_text(file, open + 1, strlen(open + 1));
	return ret;
}

static int test_thp_pte_mapped(const char *root)
{
	return run_with_thp(root, "cow_pte_thp", thp_pte_mapped);
}

/*
 * MADV_COLLAPSE after a fork that shared the tables.  Collapse needs a
 * writable entry, and a shared table has none, so each side first writes
 * one page per table: the parent's write copies the table, the child's
 * takes it over.  Both must then collapse; the child's table was shared,
 * so collapse frees it RCU-deferred and deposits a fresh one, which the
 * child's split uses.  Each side sees only its own writes throughout.
 */
static void touch_tables(char *p, uint32_t gen)
{
	int i;

	for (i = 0; i < THP_TABLES; i++)
		fill(p, i * (PMD / PAGE), 1, gen);
}

static int check_touched(const char *who, char *p, uint32_t gen)
{
	size_t i;

	for (i = 0; i < THP_PAGES; i++)
		if (check(who, p, i, 1, i % (PMD / PAGE) ? 1 : gen))
			return -1;
	return 0;
}

static int collapse(const char *who, char *p, uint32_t gen)
{
	touch_tables(p, gen);
	if (madvise(p, THP_TABLES * PMD, MADV_HUGEPAGE) ||
	    madvise(p, THP_TABLES * PMD, MADV_COLLAPSE)) {
		ksft_print_msg("%s: MADV_COLLAPSE: %s\n", who, strerror(errno));
		return -1;
	}
	if (anon_huge_kb() < (long)(THP_TABLES * PMD / 1024)) {
		ksft_print_msg("%s: AnonHugePages %ld kB after MADV_COLLAPSE\n",
			       who, anon_huge_kb());
		return -1;
	}
	return check_touched(who, p, gen);
}

static int collapse_child(char *p, int go)
{
	char c;

	if (child_shares(THP_TABLES) || read(go, &c, 1) != 1 ||
	    collapse("child", p, 3) || split_pmds(p) || anon_huge_kb() != 0 ||
	    check_touched("child", p, 3))
		return -1;
	fill(p, 0, THP_PAGES, 4);
	return check("child", p, 0, THP_PAGES, 4);
}

static int collapse_shared(const char *cg, void *arg)
{
	long copies = stat_of(cg, "cow_pte_unshare_copy");
	long reuses = stat_of(cg, "cow_pte_unshare_reuse");
	char *p = map_region(THP_TABLES * PMD);
	int go[2];
	pid_t pid;

	if (!p || pipe(go))
		return KSFT_FAIL;
	fill(p, 0, THP_PAGES, 1);
	pid = fork();
	if (pid == 0)
		_exit(collapse_child(p, go[0]) ? 1 : 0);
	if (pid < 0 || collapse("parent", p, 2) || write(go[1], "g", 1) != 1 ||
	    wait_child(pid) || check_touched("parent", p, 2))
		return KSFT_FAIL;
	if (stat_settles(cg, "cow_pte_unshare_copy", copies + THP_TABLES,
			 LONG_MAX) < copies + THP_TABLES ||
	    stat_settles(cg, "cow_pte_unshare_reuse", reuses + THP_TABLES,
			 LONG_MAX) < reuses + THP_TABLES) {
		ksft_print_msg("unshare copies %ld, reuses %ld: expected %d more each\n",
			       stat_of(cg, "cow_pte_unshare_copy") - copies,
			       stat_of(cg, "cow_pte_unshare_reuse") - reuses,
			       THP_TABLES);
		return KSFT_FAIL;
	}
	return KSFT_PASS;
}

static int test_collapse(const char *root)
{
	return run_with_thp(root, "cow_pte_collapse", collapse_shared);
}

/*
 * GUP into another process: the parent writes through /proc/CHILD/mem into
 * a read-only area the child shares with it (FOLL_FORCE breaks COW in the
 * child's mm, charged to the child); the child writes its own the same way.
 */
static int proc_mem_write(pid_t pid, char *addr, char v)
{
	char path[64];
	int fd, ret;

	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	fd = open(path, O_RDWR);
	if (fd < 0)
		return -1;
	ret = pwrite(fd, &v, 1, (off_t)(uintptr_t)addr) == 1 ? 0 : -1;
	close(fd);
	return ret;
}

/* All pages gen 1, except byte 0 of page @page, which is @v. */
static int check_poked(const char *who, char *p, size_t page, char v)
{
	if (p[page * PAGE] != v) {
		ksft_print_msg("%s: byte 0 of page %zu is %d, expected %d\n",
			       who, page, p[page * PAGE], v);
		return -1;
	}
	return check(who, p, 0, page, 1) ||
	       check(who, p, page + 1, NPAGES - page - 1, 1);
}

static int proc_mem(const char *cg, void *arg)
{
	char *p = map_region(REGION);
	size_t page = NPAGES / 2 + 5;
	int ready[2], poked[2], done[2];
	char c, orig;
	pid_t pid;

	if (!p || pipe(ready) || pipe(poked) || pipe(done))
		return KSFT_FAIL;
	fill(p, 0, NPAGES, 1);
	orig = p[page * PAGE];
	if (mprotect(p, REGION, PROT_READ))
		return KSFT_FAIL;
	pid = fork();
	if (pid == 0) {
		if (child_shares(TABLES) || write(ready[1], "r", 1) != 1 ||
		    read(poked[0], &c, 1) != 1 ||
		    check_poked("child (written by the parent)", p, page, 42))
			_exit(1);
		if (proc_mem_write(getpid(), p + page * PAGE, 43) ||
		    check_poked("child (written by itself)", p, page, 43) ||
		    write(done[1], "d", 1) != 1)
			_exit(1);
		_exit(0);
	}
	close(ready[1]);
	if (pid < 0 || read(ready[0], &c, 1) != 1 ||
	    proc_mem_write(pid, p + page * PAGE, 42) ||
	    write(poked[1], "p", 1) != 1 || check_poked("parent", p, page, orig))
		return KSFT_FAIL;
	close(done[1]);
	if (read(done[0], &c, 1) != 1 || check_poked("parent", p, page, orig))
		return KSFT_FAIL;
	return wait_child(pid) ? KSFT_FAIL : KSFT_PASS;
}

static int test_proc_mem(const char *root)
{
	return run_in_cgroup(root, "cow_pte_proc_mem", true, proc_mem, NULL);
}

/*
 * vmsplice: the child splices a page it shares into a pipe, the parent
 * then writes the page.  What the child reads back must be what a plain
 * fork gives, so the scenario runs in a cgroup that is not opted in and in
 * one that is, and the bytes must match.
 */
#define SPLICE_PAGE	(NPAGES / 2 + 3)

static int vmsplice_scenario(const char *cg, void *arg)
{
	char *out = arg;	/* MAP_SHARED: the child's result */
	char *p = map_region(REGION);
	int pipefd[2], go[2], spliced[2];
	struct iovec iov;
	pid_t pid;
	char c;

	if (!p || pipe(pipefd) || pipe(go) || pipe(spliced))
		return KSFT_FAIL;
	fill(p, 0, NPAGES, 1);
	pid = fork();
	if (pid == 0) {
		iov.iov_base = p + SPLICE_PAGE * PAGE;
		iov.iov_len = PAGE;
		if (vmsplice(pipefd[1], &iov, 1, 0) != PAGE ||
		    munmap(p, REGION) || write(spliced[1], "s", 1) != 1 ||
		    read(go[0], &c, 1) != 1 || read(pipefd[0], out, PAGE) != PAGE)
			_exit(1);
		_exit(0);
	}
	if (pid < 0 || read(spliced[0], &c, 1) != 1)
		return KSFT_FAIL;
	fill(p, SPLICE_PAGE, 1, 2);
	if (write(go[1], "g", 1) != 1 || wait_child(pid))
		return KSFT_FAIL;
	return check("parent", p, 0, SPLICE_PAGE, 1) ||
	       check("parent", p, SPLICE_PAGE, 1, 2) ||
	       check("parent", p, SPLICE_PAGE + 1, NPAGES - SPLICE_PAGE - 1, 1) ?
	       KSFT_FAIL : KSFT_PASS;
}

static int test_vmsplice(const char *root)
{
	char *out = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (out == MAP_FAILED ||
	    run_in_cgroup(root, "cow_pte_splice_off", false, vmsplice_scenario,
			  out) != KSFT_PASS ||
	    run_in_cgroup(root, "cow_pte_splice_on", true, vmsplice_scenario,
			  out + PAGE) != KSFT_PASS)
		return KSFT_FAIL;
	if (memcmp(out, out + PAGE, PAGE)) {
		ksft_print_msg("vmsplice: the child read %#llx opted in, %#llx with a plain fork\n",
			       *(unsigned long long *)(out + PAGE),
			       *(unsigned long long *)out);
		return KSFT_FAIL;
	}
	ksft_print_msg("vmsplice: the child read generation %llu both ways\n",
		       *(unsigned long long *)out >> 32);
	return KSFT_PASS;
}

/*
 * io_uring buffers registered (pinned) before the fork: fork copies the
 * tables holding pinned pages instead of sharing them; reads into the
 * buffer afterwards land in the parent only.
 */
static int uring_child(char *p)
{
	return child_shares(TABLES - 1) || check("child", p, 0, NPAGES, 1);
}

static int uring_pinned(const char *cg, void *arg)
{
	char *p = map_region(REGION);
	struct iovec iov = { .iov_base = p + PMD, .iov_len = 16 * PAGE };
	static char buf[16 * PAGE] __attribute__((aligned(PAGE)));
	struct io_uring_cqe *cqe;
	struct io_uring ring;
	char name[] = "cow_pte_uring.XXXXXX";
	int fd, ret, i;

	if (!p)
		return KSFT_FAIL;
	fill(p, 0, NPAGES, 1);
	for (i = 0; i < 16; i++)
		fill_page(buf + i * PAGE, PMD / PAGE + i, 5);
	fd = mkstemp(name);
	if (fd < 0 || write(fd, buf, sizeof(buf)) != sizeof(buf))
		return KSFT_FAIL;
	unlink(name);
	ret = io_uring_queue_init(4, &ring, 0);
	if (ret) {
		ksft_print_msg("io_uring_queue_init: %s\n", strerror(-ret));
		return KSFT_FAIL;
	}
	if (io_uring_register_buffers(&ring, &iov, 1) ||
	    fork_and_check(p, uring_child))
		return KSFT_FAIL;
	io_uring_prep_read_fixed(io_uring_get_sqe(&ring), fd, iov.iov_base,
				 iov.iov_len, 0, 0);
	if (io_uring_submit_and_wait(&ring, 1) != 1 ||
	    io_uring_wait_cqe(&ring, &cqe) || cqe->res != (int)iov.iov_len)
		return KSFT_FAIL;
	io_uring_cqe_seen(&ring, cqe);
	io_uring_queue_exit(&ring);
	return check("parent", p, 0, PMD / PAGE, 1) ||
	       check("parent", p, PMD / PAGE, 16, 5) ||
	       check("parent", p, PMD / PAGE + 16, NPAGES - PMD / PAGE - 16, 1) ?
	       KSFT_FAIL : KSFT_PASS;
}

static int test_io_uring_pinned(const char *root)
{
	return run_in_cgroup(root, "cow_pte_uring", true, uring_pinned, NULL);
}

/*
 * mlock in the parent while the child's pages are reclaimed: the child's
 * MADV_PAGEOUT swaps out the copies it alone maps and must not unmap a
 * page of the parent's locked area, which stays present (not even a swap
 * entry in the parent's page table) and locked.
 */
#define PM_PRESENT	(1ULL << 63)
#define PM_SWAP		(1ULL << 62)

static int all_present(const char *who, char *p, size_t npages)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);
	uint64_t *pm = calloc(npages, sizeof(*pm));
	off_t off = (uintptr_t)p / PAGE * sizeof(*pm);
	size_t i;
	int ret = -1;

	if (fd < 0 || !pm ||
	    pread(fd, pm, npages * sizeof(*pm), off) != (ssize_t)(npages * sizeof(*pm)))
		goto out;
	for (i = 0; i < npages; i++)
		if ((pm[i] & (PM_PRESENT | PM_SWAP)) != PM_PRESENT) {
			ksft_print_msg("%s: page %zu: pagemap %#llx\n", who, i,
				       (unsigned long long)pm[i]);
			goto out;
		}
	ret = 0;
out:
	free(pm);
	if (fd >= 0)
		close(fd);
	return ret;
}

static int mlock_child(char *p)
{
	if (child_shares(TABLES))
		return -1;
	fill(p, 0, NPAGES / 2, 2);		/* the child's own copies */
	if (madvise(p, REGION, MADV_PAGEOUT))
		return -1;
	if (status_kb(getpid(), "VmSwap") < (long)(REGION / 2 / 1024)) {
		ksft_print_msg("child: VmSwap %ld kB after MADV_PAGEOUT\n",
			       status_kb(getpid(), "VmSwap"));
		return -1;
	}
	return check("child", p, 0, NPAGES / 2, 2) ||
	       check("child", p, NPAGES / 2, NPAGES / 2, 1);
}

static int mlock_reclaim(const char *cg, void *arg)
{
	char *p = map_region(REGION);
	pid_t pid;
	int go[2];
	char c;

	if (!p || pipe(go))
		return KSFT_FAIL;
	fill(p, 0, NPAGES, 1);
	pid = fork();
	if (pid == 0)
		_exit(read(go[0], &c, 1) != 1 || mlock_child(p));
	if (pid < 0 || mlock(p, REGION)) {
		ksft_print_msg("mlock: %s\n", strerror(errno));
		return KSFT_FAIL;
	}
	if (write(go[1], "g", 1) != 1 || wait_child(pid))
		return KSFT_FAIL;
	if (status_kb(getpid(), "VmLck") < (long)(REGION / 1024) ||
	    all_present("parent", p, NPAGES))
		return KSFT_FAIL;
	return check("parent", p, 0, NPAGES, 1) ? KSFT_FAIL : KSFT_PASS;
}

static int test_mlock_reclaim(const char *root)
{
	return run_in_cgroup(root, "cow_pte_mlock", true, mlock_reclaim, NULL);
}

/*
 * A page swapped out and read back from a synchronous device (zram) skips
 * the swap cache: the folio then holds the only copy of the data.  The
 * child's MADV_FREE of its own copy must not let reclaim drop the
 * parent's.  Found by cow_pte_fuzz; plain 6.12 loses the page too, shared
 * tables or not (the fix is a patch of its own).
 */
static uint64_t pagemap_of(void *addr)
{
	uint64_t entry = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd >= 0) {
		if (pread(fd, &entry, sizeof(entry),
			  (uintptr_t)addr / PAGE * sizeof(entry)) != sizeof(entry))
			entry = 0;
		close(fd);
	}
	return entry;
}

/* The child frees its copy of the page at @x. */
static int free_one_page(char *x)
{
	return madvise(x, PAGE, MADV_FREE);
}

static int madv_free_after_swapin(const char *cg, void *arg)
{
	size_t page = 17;
	char *p = map_region(PMD), *x;
	cpu_set_t cpu;

	if (!p)
		return KSFT_FAIL;
	x = p + page * PAGE;
	/*
	 * One CPU for both: MADV_FREE leaves the folio in a per-CPU batch
	 * that only MADV_PAGEOUT's drain of that CPU turns lazy-free.
	 */
	CPU_ZERO(&cpu);
	CPU_SET(0, &cpu);
	if (sched_setaffinity(0, sizeof(cpu), &cpu))
		return KSFT_FAIL;
	fill(p, 0, PMD / PAGE, 1);
	if (madvise(x, PAGE, MADV_PAGEOUT) || !(pagemap_of(x) & PM_SWAP)) {
		ksft_print_msg("MADV_PAGEOUT did not swap the page out: no swap?\n");
		return KSFT_SKIP;
	}
	if (check("parent", p, page, 1, 1))	/* swaps it back in */
		return KSFT_FAIL;
	if (fork_and_check(x, free_one_page))
		return KSFT_FAIL;
	if (madvise(x, PAGE, MADV_PAGEOUT))
		return KSFT_FAIL;
	return check("parent", p, 0, PMD / PAGE, 1) ? KSFT_FAIL : KSFT_PASS;
}

static int test_madv_free_after_swapin(const char *root)
{
	return run_in_cgroup(root, "cow_pte_free_swapin", true,
			     madv_free_after_swapin, NULL);
}

/*
 * swapoff swaps every entry of the device back in, and unshares the tables
 * that hold one: the others stay shared.  The parent swaps half of its
 * tables out to a swap file of its own before the fork; the child shares
 * all of them, then checks after the parent's swapoff that the other half
 * is still shared and that both see every byte as before.
 */
#define SWAPFILE	"cow_pte_swapfile"
#define SWAPFILE_SIZE	(2 * REGION)

/* A swap file as mkswap(8) writes it: version 1, no bad pages. */
static int make_swapfile(const char *path, size_t size)
{
	char *page = calloc(1, PAGE);
	uint32_t *info = (uint32_t *)(page + 1024);
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	size_t off;
	int ret = -1;

	if (!page || fd < 0)
		goto out;
	for (off = PAGE; off < size; off += PAGE)	/* no holes */
		if (pwrite(fd, page, PAGE, off) != PAGE)
			goto out;
	info[0] = 1;				/* version */
	info[1] = size / PAGE - 1;		/* last page */
	memcpy(page + PAGE - 10, "SWAPSPACE2", 10);
	if (pwrite(fd, page, PAGE, 0) == PAGE && !fsync(fd))
		ret = 0;
out:
	if (fd >= 0)
		close(fd);
	free(page);
	return ret;
}

/*
 * The child: all tables shared; after swapoff, the unswapped half still.
 * It reads only that half before: a swap-in fault would unshare the
 * other tables itself (and leave swapoff nothing of the child's to do).
 */
static int swapoff_child(char *p, int ready, int go)
{
	char c = 0;

	if (child_shares(TABLES) ||
	    check("child", p, NPAGES / 2, NPAGES / 2, 1) ||
	    write(ready, &c, 1) != 1 || read(go, &c, 1) != 1 || c != 'y')
		return -1;
	ksft_print_msg("child: VmPTEShared %ld kB after swapoff\n",
		       status_kb(getpid(), "VmPTEShared"));
	if (child_shares(TABLES / 2) || check("child", p, 0, NPAGES, 1))
		return -1;
	fill(p, 0, NPAGES, 0xc41d);	/* must not reach the parent */
	return check("child", p, 0, NPAGES, 0xc41d);
}

static int swapoff_with_shared_tables(char *p)
{
	int ready[2], go[2], ret = KSFT_FAIL;
	char c = 'n';
	pid_t pid;

	if (pipe(ready) || pipe(go))
		return KSFT_FAIL;
	pid = fork();
	if (pid == 0) {
		close(ready[0]);
		close(go[1]);
		_exit(swapoff_child(p, ready[1], go[0]) ? 1 : 0);
	}
	close(ready[1]);
	close(go[0]);
	if (pid > 0 && read(ready[0], &c, 1) == 1) {
		if (swapoff(SWAPFILE))
			ksft_print_msg("swapoff: %s\n", strerror(errno));
		else
			c = 'y';
	}
	if (write(go[1], &c, 1) != 1)
		c = 'n';
	close(ready[0]);
	close(go[1]);
	if (pid > 0 && !wait_child(pid) && c == 'y' &&
	    !check("parent", p, 0, NPAGES, 1))
		ret = KSFT_PASS;
	return ret;
}

static int swapoff_keeps_unswapped(const char *cg, void *arg)
{
	char *p = map_region(REGION);
	int ret;

	if (!p || make_swapfile(SWAPFILE, SWAPFILE_SIZE))
		return KSFT_FAIL;
	/* Above the VM's zram, so that MADV_PAGEOUT writes to this file. */
	if (swapon(SWAPFILE, SWAP_FLAG_PREFER | SWAP_FLAG_PRIO_MASK)) {
		ksft_print_msg("swapon %s in the current directory: %s (run this test on ext4 or xfs)\n",
			       SWAPFILE, strerror(errno));
		unlink(SWAPFILE);
		return KSFT_SKIP;
	}
	fill(p, 0, NPAGES, 1);
	if (madvise(p, REGION / 2, MADV_PAGEOUT) ||
	    !(pagemap_of(p) & PM_SWAP) ||
	    !(pagemap_of(p + REGION / 2 - PAGE) & PM_SWAP)) {
		ksft_print_msg("MADV_PAGEOUT did not swap the first half out\n");
		ret = KSFT_FAIL;
	} else {
		ret = swapoff_with_shared_tables(p);
	}
	swapoff(SWAPFILE);	/* if it is still on after a failure */
	unlink(SWAPFILE);
	return ret;
}

static int test_swapoff(const char *root)
{
	return run_in_cgroup(root, "cow_pte_swapoff", true,
			     swapoff_keeps_unswapped, NULL);
}

/*
 * Walks that only read a shared table, or clear accessed bits in it,
 * keep it shared: smaps, pagemap, PAGEMAP_SCAN without write-protection,
 * mincore and clear_refs 1.
 */
static int pagemap_scan_present(char *p)
{
	struct page_region regions[8];
	struct pm_scan_arg arg = {
		.size = sizeof(arg),
		.start = (unsigned long)p,
		.end = (unsigned long)p + REGION,
		.vec = (unsigned long)regions,
		.vec_len = ARRAY_SIZE(regions),
		.category_mask = PAGE_IS_PRESENT,
		.return_mask = PAGE_IS_PRESENT,
	};
	int fd = open("/proc/self/pagemap", O_RDONLY);
	long n = fd < 0 ? -1 : ioctl(fd, PAGEMAP_SCAN, &arg);

	if (fd >= 0)
		close(fd);
	if (n != 1 || regions[0].start != arg.start ||
	    regions[0].end != arg.end) {
		ksft_print_msg("child: PAGEMAP_SCAN: %ld regions\n", n);
		return -1;
	}
	return 0;
}

static int read_only_walks(char *p)
{
	unsigned char vec[NPAGES];
	uint64_t entry;
	char buf[4096];
	int fd;

	if (read_text("/proc/self/smaps", buf, sizeof(buf)) < 0 ||
	    mincore(p, REGION, vec) || pagemap_scan_present(p) ||
	    write_text("/proc/self/clear_refs", "1", 1) < 0)
		return -1;
	fd = open("/proc/self/pagemap", O_RDONLY);
	if (fd < 0 || pread(fd, &entry, sizeof(entry),
			    (uintptr_t)p / PAGE * sizeof(entry)) != sizeof(entry))
		return -1;
	close(fd);
	return entry & PM_PRESENT ? 0 : -1;
}

static int read_only_walks_child(char *p)
{
	long before = status_kb(getpid(), "VmPTEShared"), after;

	if (child_shares(TABLES) || read_only_walks(p))
		return -1;
	after = status_kb(getpid(), "VmPTEShared");
	if (after != before) {
		ksft_print_msg("child: VmPTEShared %ld kB before the walks, %ld kB after\n",
			       before, after);
		return -1;
	}
	return check("child", p, 0, NPAGES, 1);
}

static int read_only_walks_shared(const char *cg, void *arg)
{
	char *p = map_region(REGION);

	if (!p)
		return KSFT_FAIL;
	fill(p, 0, NPAGES, 1);
	if (fork_and_check(p, read_only_walks_child))
		return KSFT_FAIL;
	return check("parent", p, 0, NPAGES, 1) ? KSFT_FAIL : KSFT_PASS;
}

static int test_read_only_walks(const char *root)
{
	return run_in_cgroup(root, "cow_pte_walks", true,
			     read_only_walks_shared, NULL);
}

/*
 * Out of memory in the middle of an unshare.  The cgroup's limit leaves no
 * room to copy the tables (no swap either) and no process may be killed:
 * the child's mprotect, its userfaultfd registration of a range that
 * starts in a VMA with nothing to unshare, or its clearing of soft-dirty
 * bits must fail with ENOMEM having changed nothing.  Then, with the child killable, its writes end in a
 * memcg OOM kill of the child and the parent's memory is intact.
 */
#define OOM_REGION	(128 * PMD)	/* 256 MiB: 512 kB of tables to copy */

static int set_oom_score_adj(const char *v)
{
	return write_text("/proc/self/oom_score_adj", (char *)v, strlen(v)) < 0;
}

static int region_writable(char *p, size_t size)
{
	char line[256], want[64];
	FILE *f = fopen("/proc/self/maps", "r");
	int found = 0;

	if (!f)
		return -1;
	snprintf(want, sizeof(want), "%lx-", (unsigned long)p);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, want, strlen(want))) {
			unsigned long start, end;
			char perms[5];

			sscanf(line, "%lx-%lx %4s", &start, &end, perms);
			found = end >= (unsigned long)p + size &&
				!strcmp(perms, "rw-p");
		}
	fclose(f);
	return found ? 0 : -1;
}

/* Hold the limit just above what the cgroup uses, with no swap. */
static int squeeze(const char *cg)
{
	long current = cg_read_long(cg, "memory.current");

	return current <= 0 || cg_write(cg, "memory.swap.max", "0") ||
	       cg_write_numeric(cg, "memory.max", current + 64 * 1024);
}

/* An operation that must fail with ENOMEM and change nothing. */
struct enomem_op {
	const char *name;
	int (*prepare)(char *p);	/* before the limit; 0 if ready */
	int (*attempt)(char *p);	/* -1 with errno set */
	int (*unchanged)(char *p);	/* 0 if the mapping is as before */
};

static int no_preparation(char *p)
{
	return 0;
}

static int protect_read_only(char *p)
{
	return mprotect(p, OOM_REGION, PROT_READ);
}

static int still_writable(char *p)
{
	return region_writable(p, OOM_REGION);
}

/*
 * userfaultfd registration of [p - PMD, p + OOM_REGION): first a
 * read-only VMA of its own with no shared table, then the shared region.
 */
static int uffd = -1;

static int prepare_uffd(char *p)
{
	struct uffdio_api api = { .api = UFFD_API };

	if (mmap(p - PMD, PMD, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS |
		 MAP_FIXED, -1, 0) == MAP_FAILED)
		return -1;
	uffd = syscall(__NR_userfaultfd, O_CLOEXEC);
	return uffd < 0 || ioctl(uffd, UFFDIO_API, &api) ? -1 : 0;
}

static int register_uffd(char *p)
{
	struct uffdio_register reg = {
		.range = { (unsigned long)(p - PMD), PMD + OOM_REGION },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};

	return ioctl(uffd, UFFDIO_REGISTER, &reg);
}

/* Does the VMA at @addr carry VmFlags @flag ("um": uffd missing)? */
static int vma_has_flag(char *addr, const char *flag)
{
	char line[512], want[64];
	FILE *f = fopen("/proc/self/smaps", "r");
	bool in_vma = false;
	int found = -1;

	if (!f)
		return -1;
	snprintf(want, sizeof(want), "%lx-", (unsigned long)addr);
	while (found < 0 && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, want, strlen(want)))
			in_vma = true;
		else if (in_vma && !strncmp(line, "VmFlags:", 8))
			found = strstr(line, flag) != NULL;
	}
	fclose(f);
	return found;
}

static int not_registered(char *p)
{
	return vma_has_flag(p - PMD, " um") || vma_has_flag(p, " um") ||
	       still_writable(p);
}

static int clear_soft_dirty(char *p)
{
	return write_text("/proc/self/clear_refs", "4", 1) < 0 ? -1 : 0;
}

/* New VMAs start soft-dirty: the failed clear left that as it was. */
static int still_soft_dirty(char *p)
{
	return vma_has_flag(p, " sd") == 1 ? still_writable(p) : -1;
}

static const struct enomem_op enomem_mprotect = {
	"mprotect", no_preparation, protect_read_only, still_writable,
};

static const struct enomem_op enomem_uffd_register = {
	"UFFDIO_REGISTER", prepare_uffd, register_uffd, not_registered,
};

static const struct enomem_op enomem_clear_soft_dirty = {
	"clear_refs 4", no_preparation, clear_soft_dirty, still_soft_dirty,
};

/*
 * Opened before the squeeze: at the limit, opening a file allocates a
 * struct file charged to the cgroup and fails.
 */
static int open_memory_max(const char *cg)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/memory.max", cg);
	return open(path, O_WRONLY | O_CLOEXEC);
}

static int lift_limit(int fd)
{
	return write(fd, "max", 3) == 3 ? 0 : -1;
}

static int enomem_child(const char *cg, char *p, const struct enomem_op *op)
{
	long fails = stat_of(cg, "cow_pte_unshare_fail");
	int max_fd = open_memory_max(cg);

	if (max_fd < 0 || child_shares(OOM_REGION / PMD - 1) ||
	    op->prepare(p) || squeeze(cg))
		return -1;
	if (!op->attempt(p) || errno != ENOMEM) {
		lift_limit(max_fd);
		ksft_print_msg("child: %s did not fail with ENOMEM\n", op->name);
		return -1;
	}
	if (lift_limit(max_fd)) {
		ksft_print_msg("child: cannot lift memory.max: %s\n",
			       strerror(errno));
		return -1;
	}
	if (op->unchanged(p)) {
		ksft_print_msg("child: the failed %s changed the mapping\n",
			       op->name);
		return -1;
	}
	if (stat_settles(cg, "cow_pte_unshare_fail", fails + 1, LONG_MAX) <=
	    fails) {
		ksft_print_msg("child: cow_pte_unshare_fail did not count it\n");
		return -1;
	}
	fill(p, 0, 16, 3);
	return check("child", p, 0, 16, 3) ||
	       check("child", p, 16, OOM_REGION / PAGE - 16, 1);
}

static int oom_enomem(const char *cg, void *arg)
{
	char *p = map_region(OOM_REGION);
	pid_t pid;

	if (!p || set_oom_score_adj("-1000"))
		return KSFT_FAIL;
	fill(p, 0, OOM_REGION / PAGE, 1);
	pid = fork();
	if (pid == 0)
		_exit(enomem_child(cg, p, arg) ? 1 : 0);
	if (wait_child(pid))
		return KSFT_FAIL;
	return check("parent", p, 0, OOM_REGION / PAGE, 1) ?
	       KSFT_FAIL : KSFT_PASS;
}

static int test_oom_enomem(const char *root)
{
	return run_in_cgroup(root, "cow_pte_enomem", true, oom_enomem,
			     (void *)&enomem_mprotect);
}

static int test_uffd_register_enomem(const char *root)
{
	return run_in_cgroup(root, "cow_pte_enomem", true, oom_enomem,
			     (void *)&enomem_uffd_register);
}

static int test_clear_soft_dirty_enomem(const char *root)
{
	return run_in_cgroup(root, "cow_pte_enomem", true, oom_enomem,
			     (void *)&enomem_clear_soft_dirty);
}

static int oom_kill(const char *cg, void *arg)
{
	char *p = map_region(OOM_REGION);
	int status;
	pid_t pid;

	if (!p || set_oom_score_adj("-1000"))
		return KSFT_FAIL;
	fill(p, 0, OOM_REGION / PAGE, 1);
	pid = fork();
	if (pid == 0) {
		if (set_oom_score_adj("0") || child_shares(OOM_REGION / PMD - 1) ||
		    squeeze(cg))
			_exit(1);
		fill(p, 0, OOM_REGION / PAGE, 2);
		_exit(0);	/* the limit held nothing back: fail */
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return KSFT_FAIL;
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL ||
	    cg_read_key_long(cg, "memory.events", "oom_kill ") < 1) {
		ksft_print_msg("child: status %#x, oom_kill %ld: no OOM kill\n",
			       status,
			       cg_read_key_long(cg, "memory.events", "oom_kill "));
		return KSFT_FAIL;
	}
	return check("parent", p, 0, OOM_REGION / PAGE, 1) ?
	       KSFT_FAIL : KSFT_PASS;
}

static int test_oom_kill(const char *root)
{
	return run_in_cgroup(root, "cow_pte_oom", true, oom_kill, NULL);
}

/*
 * The last sharer of a table takes it over when it changes it: no copy,
 * so no memory.  At memory.max, with nothing to reclaim, the last sharer
 * must change its tables without charging anything, where an attempt to
 * allocate would count "max" events, reclaim and call the memcg OOM killer
 * for nothing.  The controller stays outside the cgroup and does all the
 * reading, so that nothing else in the cgroup allocates meanwhile.
 */
#define TAKEOVER_TABLES	16
#define TAKEOVER_REGION	(TAKEOVER_TABLES * PMD)

/* In the cgroup: fill, fork, drop the parent's shares, report the child. */
static int last_sharer(const char *cg, void *arg)
{
	char *p = map_region(TAKEOVER_REGION);
	int *ready = arg;
	sigset_t usr1;
	pid_t pid;
	int sig;

	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	if (!p || set_oom_score_adj("-1000") ||
	    sigprocmask(SIG_BLOCK, &usr1, NULL))
		return KSFT_FAIL;
	fill(p, 0, TAKEOVER_REGION / PAGE, 1);
	pid = fork();
	if (pid == 0) {
		pid = getpid();
		/*
		 * Ready to sleep: from the signal on, no allocation but the
		 * tables' own, and no page fault, which would retry forever
		 * at the limit with nobody to kill.
		 */
		if (child_shares(TAKEOVER_TABLES) ||
		    write(ready[1], &pid, sizeof(pid)) != sizeof(pid) ||
		    sigwait(&usr1, &sig) ||
		    mprotect(p, TAKEOVER_REGION, PROT_READ))
			_exit(1);
		_exit(check("child", p, 0, TAKEOVER_REGION / PAGE, 1) ? 1 : 0);
	}
	/* Dropping whole tables needs no memory; the child is left alone. */
	if (pid < 0 || munmap(p, TAKEOVER_REGION) ||
	    write(ready[1], &pid, sizeof(pid)) != sizeof(pid))
		return KSFT_FAIL;
	return wait_child(pid) ? KSFT_FAIL : KSFT_PASS;
}

static int test_take_over_at_limit(const char *root)
{
	char *cg = cg_name(root, "cow_pte_take_over");
	long reuse, copies, max_events;
	int ret = KSFT_FAIL, ready[2];
	pid_t runner = -1, child;

	if (!cg || cg_create(cg) || cg_write(cg, "memory.cow_pte", "1") ||
	    pipe(ready))
		goto out;
	runner = cg_run_nowait(cg, last_sharer, ready);
	close(ready[1]);
	/* Both the parent (its shares dropped) and the child report. */
	if (runner < 0 ||
	    read(ready[0], &child, sizeof(child)) != sizeof(child) ||
	    read(ready[0], &child, sizeof(child)) != sizeof(child))
		goto out;
	reuse = stat_of(cg, "cow_pte_unshare_reuse");
	copies = stat_of(cg, "cow_pte_unshare_copy");
	if (over_limit(cg))
		goto out;
	max_events = cg_read_key_long(cg, "memory.events", "max ");
	if (kill(child, SIGUSR1) || wait_child(runner))
		goto out;
	runner = -1;
	if (cg_read_key_long(cg, "memory.events", "max ") != max_events) {
		ksft_print_msg("memory.events max %ld -> %ld: the take-over charged memory\n",
			       max_events,
			       cg_read_key_long(cg, "memory.events", "max "));
		goto out;
	}
	if (stat_of(cg, "cow_pte_unshare_reuse") < reuse + TAKEOVER_TABLES ||
	    stat_of(cg, "cow_pte_unshare_copy") != copies) {
		ksft_print_msg("unshare reuse %ld -> %ld, copies %ld -> %ld\n",
			       reuse, stat_of(cg, "cow_pte_unshare_reuse"),
			       copies, stat_of(cg, "cow_pte_unshare_copy"));
		goto out;
	}
	ret = KSFT_PASS;
out:
	if (cg)
		cg_write(cg, "memory.max", "max");
	if (runner > 0) {
		cg_killall(cg);
		wait_child(runner);
	}
	if (cg)
		cg_destroy(cg);
	free(cg);
	return ret;
}

#define T(x) { #x, x }
static const struct cow_pte_test tests[] = {
	T(test_threads_fork),
	T(test_dontfork_wipeonfork),
	T(test_ksm_merge),
	T(test_ksm_zero_pages),
	T(test_thp_pte_mapped),
	T(test_collapse),
	T(test_proc_mem),
	T(test_vmsplice),
	T(test_io_uring_pinned),
	T(test_mlock_reclaim),
	T(test_read_only_walks),
	T(test_madv_free_after_swapin),
	T(test_swapoff),
	T(test_oom_enomem),
	T(test_uffd_register_enomem),
	T(test_clear_soft_dirty_enomem),
	T(test_oom_kill),
	T(test_take_over_at_limit),
};
#undef T

int main(int argc, char **argv)
{
	char root[PATH_MAX];

	ksft_print_header();
	cow_pte_setup(root, sizeof(root));
	cow_pte_run_tests(tests, ARRAY_SIZE(tests), root, argc, argv);
}
