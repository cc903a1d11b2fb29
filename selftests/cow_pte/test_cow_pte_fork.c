// SPDX-License-Identifier: GPL-2.0
/*
 * Fork semantics with copy-on-write PTE tables: after a fork in an opted-in
 * cgroup, parent and child each see their own writes and only theirs, for
 * every kind of change made under a shared table; the tables are shared
 * (VmPTEShared, memory.stat) and the accounting returns to zero.
 *
 * Every case checks every byte of the region in both processes.
 *
 * Run it from a directory on a block device: the O_DIRECT and io_uring
 * cases read a file there.
 *
 * Usage: test_cow_pte_fork [TEST...]   (default: every test)
 */
#define _GNU_SOURCE

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/limits.h>
#include <linux/perf_event.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../kselftest.h"
#include "cgroup_util.h"
#include "cow_pte_util.h"

#define TABLES		16			/* region: 32 MiB */
#define REGION		(TABLES * PMD)
#define NPAGES		(REGION / PAGE)

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT	21
#endif

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

static int test_share_and_write(const char *root)
{
	return run_in_cgroup(root, "cow_pte_share", true, share_and_write, NULL);
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

static int test_not_opted_in(const char *root)
{
	return run_in_cgroup(root, "cow_pte_off", false, not_shared, NULL);
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

static int test_fork_chain(const char *root)
{
	return run_in_cgroup(root, "cow_pte_chain", true, fork_chain, NULL);
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

/*
 * userfaultfd after the fork: a thread serves the faults of the registered
 * second table, missing ones with the page it had before, write-protect
 * ones by lifting the protection.
 */
struct uffd_server {
	int uffd;
	int stop[2];
	char *base;
	pthread_t thread;
};

static int serve_one(struct uffd_server *s, struct uffd_msg *msg)
{
	unsigned long addr = msg->arg.pagefault.address & ~(PAGE - 1);
	static char page[PAGE] __attribute__((aligned(PAGE)));

	if (msg->event != UFFD_EVENT_PAGEFAULT)
		return -1;
	if (msg->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP) {
		struct uffdio_writeprotect wp = {
			.range = { .start = addr, .len = PAGE },
		};

		return ioctl(s->uffd, UFFDIO_WRITEPROTECT, &wp);
	} else {
		struct uffdio_copy copy = {
			.dst = addr, .src = (unsigned long)page, .len = PAGE,
		};

		fill_page(page, (addr - (unsigned long)s->base) / PAGE, 1);
		return ioctl(s->uffd, UFFDIO_COPY, &copy);
	}
}

static void *serve_uffd(void *arg)
{
	struct uffd_server *s = arg;
	struct pollfd fds[2] = {
		{ .fd = s->uffd, .events = POLLIN },
		{ .fd = s->stop[0], .events = POLLIN },
	};
	struct uffd_msg msg;

	for (;;) {
		if (poll(fds, 2, -1) < 0 && errno != EINTR)
			return (void *)1;
		if (fds[1].revents)
			return NULL;
		if (read(s->uffd, &msg, sizeof(msg)) != sizeof(msg))
			continue;
		if (serve_one(s, &msg)) {
			ksft_print_msg("userfaultfd: cannot serve a fault: %s\n",
				       strerror(errno));
			return (void *)1;
		}
	}
}

static int uffd_start(struct uffd_server *s, char *base, __u64 mode)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { .start = (unsigned long)base + PMD, .len = PMD },
		.mode = mode,
	};

	s->base = base;
	s->uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (s->uffd < 0 || ioctl(s->uffd, UFFDIO_API, &api) ||
	    ioctl(s->uffd, UFFDIO_REGISTER, &reg) || pipe(s->stop) ||
	    pthread_create(&s->thread, NULL, serve_uffd, s)) {
		ksft_print_msg("userfaultfd: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static int uffd_stop(struct uffd_server *s)
{
	void *ret;

	if (write(s->stop[1], "s", 1) != 1 || pthread_join(s->thread, &ret))
		return -1;
	close(s->stop[0]);
	close(s->stop[1]);
	close(s->uffd);
	return ret ? -1 : 0;
}

static int act_uffd_missing(char *p)
{
	struct uffd_server s;
	int ret;

	if (madvise(p + PMD, PMD, MADV_DONTNEED) ||
	    uffd_start(&s, p, UFFDIO_REGISTER_MODE_MISSING))
		return -1;
	ret = check("uffd-served pages", p, PMD / PAGE, PMD / PAGE, 1);
	return uffd_stop(&s) || ret;
}

static int act_uffd_wp(char *p)
{
	struct uffdio_writeprotect wp = {
		.range = { .start = (unsigned long)p + PMD, .len = PMD },
		.mode = UFFDIO_WRITEPROTECT_MODE_WP,
	};
	struct uffd_server s;

	if (uffd_start(&s, p, UFFDIO_REGISTER_MODE_WP))
		return -1;
	if (ioctl(s.uffd, UFFDIO_WRITEPROTECT, &wp)) {
		uffd_stop(&s);
		return -1;
	}
	act_write_one(p);
	return uffd_stop(&s);
}

/* GUP through /proc/self/mem writes. */
static int act_proc_mem_write(char *p)
{
	int fd = open("/proc/self/mem", O_RDWR);
	char v = 42;
	int ret;

	if (fd < 0)
		return -1;
	ret = pwrite(fd, &v, 1, (off_t)(uintptr_t)(p + MID)) == 1 ? 0 : -1;
	close(fd);
	return ret;
}

/*
 * Reads that pin the destination (O_DIRECT, io_uring fixed buffers): 16
 * pages at MID get generation 7 from a file in the current directory,
 * which must be on a block device.
 */
#define READ_PAGES	16

static int direct_file(void)
{
	static char buf[READ_PAGES * PAGE] __attribute__((aligned(PAGE)));
	char name[] = "cow_pte_direct.XXXXXX";
	int fd, i;

	for (i = 0; i < READ_PAGES; i++)
		fill_page(buf + i * PAGE, MID / PAGE + i, 7);
	fd = mkstemp(name);
	if (fd < 0 || write(fd, buf, sizeof(buf)) != sizeof(buf) || fsync(fd))
		return -1;
	close(fd);
	fd = open(name, O_RDONLY | O_DIRECT);
	if (fd < 0)
		ksft_print_msg("O_DIRECT open in the current directory: %s (run from a disk-backed directory)\n",
			       strerror(errno));
	unlink(name);
	return fd;
}

static int act_o_direct_read(char *p)
{
	int fd = direct_file();
	ssize_t n;

	if (fd < 0)
		return -1;
	n = pread(fd, p + MID, READ_PAGES * PAGE, 0);
	close(fd);
	return n == READ_PAGES * PAGE ? 0 : -1;
}

static int act_io_uring_read(char *p)
{
	struct iovec iov = { .iov_base = p + MID, .iov_len = READ_PAGES * PAGE };
	struct io_uring_cqe *cqe;
	struct io_uring ring;
	int fd = direct_file(), ret;

	if (fd < 0)
		return -1;
	ret = io_uring_queue_init(4, &ring, 0);
	if (ret) {
		ksft_print_msg("io_uring_queue_init: %s\n", strerror(-ret));
		return -1;
	}
	ret = io_uring_register_buffers(&ring, &iov, 1);
	if (!ret) {
		io_uring_prep_read_fixed(io_uring_get_sqe(&ring), fd,
					 iov.iov_base, iov.iov_len, 0, 0);
		ret = io_uring_submit_and_wait(&ring, 1);
		if (ret == 1 && !io_uring_wait_cqe(&ring, &cqe)) {
			ret = cqe->res == READ_PAGES * PAGE ? 0 : -1;
			io_uring_cqe_seen(&ring, cqe);
		}
		io_uring_unregister_buffers(&ring);
	}
	io_uring_queue_exit(&ring);
	close(fd);
	return ret ? -1 : 0;
}

static int check_read_into(const char *who, char *p)
{
	size_t first = MID / PAGE;

	return check(who, p, 0, first, 1) ||
	       check(who, p, first, READ_PAGES, 7) ||
	       check(who, p, first + READ_PAGES, NPAGES - first - READ_PAGES, 1);
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
	{ "uffd_missing",	act_uffd_missing,	check_all },
	{ "uffd_wp",		act_uffd_wp,		check_write_one },
	{ "proc_mem_write",	act_proc_mem_write,	check_write_one },
	{ "o_direct_read",	act_o_direct_read,	check_read_into },
	{ "io_uring_fixed_read", act_io_uring_read,	check_read_into },
};

/* What the region is made of while the changes run. */
enum backing {
	ORDER_0,	/* base pages only */
	MTHP_64K,	/* 64 kB anonymous folios, PTE-mapped (mTHP) */
};

struct change_run {
	const struct change *change;
	bool child_acts;
	enum backing backing;
};

static char *map_backed(enum backing backing)
{
	char *p = map_region(REGION);

	if (p && backing == MTHP_64K && madvise(p, REGION, MADV_HUGEPAGE))
		return NULL;
	return p;
}

static int one_change(const char *cg, void *arg)
{
	struct change_run *run = arg;
	const struct change *ch = run->change;
	char *p = map_backed(run->backing);
	int done[2];
	pid_t pid;
	char c;

	if (!p || pipe(done))
		return KSFT_FAIL;
	fill(p, 0, NPAGES, 1);
	pid = fork();
	if (pid < 0)
		return KSFT_FAIL;
	if (pid == 0 && status_kb(getpid(), "VmPTEShared") < TABLES * PAGE / 1024) {
		ksft_print_msg("child: VmPTEShared %ld kB, the region's tables are not shared\n",
			       status_kb(getpid(), "VmPTEShared"));
		_exit(1);
	}
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
	close(done[1]);
	if (read(done[0], &c, 1) != 1)
		c = 0;
	if (pid == 0)
		_exit(c != 'd' || check_all("child (observing)", p));
	if (c != 'd' || check_all("parent (observing)", p))
		return KSFT_FAIL;
	return wait_child(pid) ? KSFT_FAIL : KSFT_PASS;
}

/* Every change, made by the parent and then by the child. */
static int run_changes(const char *root, enum backing backing)
{
	struct change_run run = { .backing = backing };
	int i, ret = KSFT_PASS;

	for (i = 0; i < ARRAY_SIZE(changes); i++) {
		run.change = &changes[i];
		for (run.child_acts = false; ; run.child_acts = true) {
			if (run_in_cgroup(root, "cow_pte_change", true, one_change,
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

static int test_changes(const char *root)
{
	return run_changes(root, ORDER_0);
}

#define THP_SYSFS	"/sys/kernel/mm/transparent_hugepage"
#define MTHP_64K_DIR	THP_SYSFS "/hugepages-64kB"
#define THP_PMD_DIR	THP_SYSFS "/hugepages-2048kB"

/* The selected word of a sysfs "always [madvise] never" file. */
static int thp_setting(const char *file, char *buf, size_t len)
{
	char line[256], *open, *close;

	if (read_text(file, line, sizeof(line)) < 0)
		return -1;
	open = strchr(line, '[');
	close = open ? strchr(open, ']') : NULL;
	if (!close || (size_t)(close - open) > len)
		return -1;
	snprintf(buf, close - open, "%s", open + 1);
	return 0;
}

static long mthp_64k_faults(void)
{
	char buf[64];

	if (read_text(MTHP_64K_DIR "/stats/anon_fault_alloc", buf,
		      sizeof(buf)) < 0)
		return -1;
	return atol(buf);
}

/*
 * The same changes on 64 kB folios: PMD-sized THP off, 64 kB on for
 * MADV_HUGEPAGE areas, so the tables map large folios.
 */
static int test_changes_mthp(const char *root)
{
	char mthp[32], pmd[32];
	long faults;
	int ret;

	if (thp_setting(MTHP_64K_DIR "/enabled", mthp, sizeof(mthp)) ||
	    thp_setting(THP_PMD_DIR "/enabled", pmd, sizeof(pmd))) {
		ksft_print_msg("no 64 kB mTHP in %s\n", THP_SYSFS);
		return KSFT_SKIP;
	}
	if (write_text(MTHP_64K_DIR "/enabled", "madvise", 7) < 0 ||
	    write_text(THP_PMD_DIR "/enabled", "never", 5) < 0)
		return KSFT_FAIL;
	faults = mthp_64k_faults();
	ret = run_changes(root, MTHP_64K);
	if (mthp_64k_faults() - faults < (long)(REGION / (64 << 10))) {
		ksft_print_msg("only %ld 64 kB folios were allocated\n",
			       mthp_64k_faults() - faults);
		ret = KSFT_FAIL;
	}
	write_text(MTHP_64K_DIR "/enabled", mthp, strlen(mthp));
	write_text(THP_PMD_DIR "/enabled", pmd, strlen(pmd));
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

static int test_clone_into_cgroup(const char *root)
{
	char *in = cg_name(root, "cow_pte_target_in");
	char *out = cg_name(root, "cow_pte_target_out");
	int ret = KSFT_FAIL;

	if (!in || !out || cg_create(in) || cg_create(out) ||
	    cg_write(in, "memory.cow_pte", "1"))
		goto out;
	/* opted-in parent, child into a cgroup that is not: shared */
	ret = run_in_cgroup(root, "cow_pte_src_in", true, clone_into, out);
	/* parent not opted in, child into an opted-in cgroup: copied */
	if (ret == KSFT_PASS)
		ret = run_in_cgroup(root, "cow_pte_src_out", false, clone_into, in);
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

static int test_child_page_tables(const char *root)
{
	return run_in_cgroup(root, "cow_pte_big", true, big_child, NULL);
}

/*
 * Ten idle children of a big parent add little to the cgroup's page
 * tables: each owns only its upper-level tables and the tables at VMA
 * edges (about 48 kB, see test_child_page_tables), so the design's bound
 * of 10 % over the parent alone holds from about 2.5 GiB on.  The parent
 * maps 4 GiB of the shared zero page (read faults), which builds 8 MiB
 * of PTE tables without needing the memory (the one page it writes gives
 * the VMA an anon_vma, without which fork copies no tables at all).  When the children exit, the
 * gauges return to zero.
 */
#define IDLE_CHILDREN	10
#define IDLE_SIZE	(4UL << 30)
#define IDLE_TABLES	(IDLE_SIZE / PMD)

static long settled_stat(const char *cg, const char *key)
{
	usleep(2100000);	/* memory.stat is flushed every 2 seconds */
	return stat_of(cg, key);
}

static char *map_zero_pages(size_t size)
{
	char *p = mmap(NULL, size + PMD, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	p = (char *)(((uintptr_t)p + PMD - 1) & ~(PMD - 1));
	if (madvise(p, size, MADV_NOHUGEPAGE) ||
	    madvise(p, size, MADV_POPULATE_READ))
		return NULL;
	p[0] = 1;	/* an anon_vma: fork skips VMAs without one */
	return p;
}

static int idle_children(const char *cg, void *arg)
{
	long alone, with_children, saved;
	pid_t pids[IDLE_CHILDREN];
	int i, fds[2], ret = 0;
	char c;

	if (!map_zero_pages(IDLE_SIZE) || pipe(fds))
		return KSFT_FAIL;
	alone = settled_stat(cg, "pagetables");
	for (i = 0; i < IDLE_CHILDREN; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			close(fds[1]);
			_exit(read(fds[0], &c, 1) == 0 ? 0 : 1);
		}
		if (pids[i] < 0)
			return KSFT_FAIL;
	}
	saved = stat_settles(cg, "pagetables_saved",
			     IDLE_CHILDREN * IDLE_TABLES * PAGE, LONG_MAX);
	with_children = settled_stat(cg, "pagetables");
	ksft_print_msg("pagetables: parent alone %ld kB, with %d children %ld kB (+%ld%%), saved %ld kB; a child: VmPTE %ld kB, VmPTEShared %ld kB\n",
		       alone >> 10, IDLE_CHILDREN, with_children >> 10,
		       alone > 0 ? (with_children - alone) * 100 / alone : -1,
		       saved >> 10, status_kb(pids[0], "VmPTE"),
		       status_kb(pids[0], "VmPTEShared"));
	if (alone < (long)(IDLE_TABLES * PAGE) ||
	    with_children > alone + alone / 10 ||
	    saved < (long)(IDLE_CHILDREN * IDLE_TABLES * PAGE))
		ret = -1;
	close(fds[1]);		/* the children exit */
	for (i = 0; i < IDLE_CHILDREN; i++)
		ret |= wait_child(pids[i]);
	if (stat_settles(cg, "pagetables_shared", 0, 0) ||
	    stat_settles(cg, "pagetables_saved", 0, 0)) {
		ksft_print_msg("after the children: pagetables_shared %ld, pagetables_saved %ld\n",
			       stat_of(cg, "pagetables_shared"),
			       stat_of(cg, "pagetables_saved"));
		ret = -1;
	}
	return ret ? KSFT_FAIL : KSFT_PASS;
}

static int test_idle_children(const char *root)
{
	return run_in_cgroup(root, "cow_pte_idle", true, idle_children, NULL);
}

/*
 * Freeing tables that were once shared costs the munmap one TLB flush, not
 * one per table: the child of a parent with FLUSH_TABLES tables shares them
 * and exits, then the parent unmaps the region, which frees every one of
 * them.  The flushes are counted with perf on x86's tlb:tlb_flush
 * tracepoint, in this task, leaving out those of context switches.
 */
#define FLUSH_TABLES	64
#define TLB_FLUSH_ID	"/sys/kernel/tracing/events/tlb/tlb_flush/id"

static int tlb_flush_counter(void)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_TRACEPOINT,
		.size = sizeof(attr),
		.disabled = 1,
	};
	char id[32] = "";
	int fd = open(TLB_FLUSH_ID, O_RDONLY);

	if (fd < 0 || read(fd, id, sizeof(id) - 1) <= 0) {
		ksft_print_msg("%s: %s (tracefs mounted? CONFIG_EVENT_TRACING?)\n",
			       TLB_FLUSH_ID, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	attr.config = strtoull(id, NULL, 10);
	fd = syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);
	if (fd < 0) {
		ksft_print_msg("perf_event_open(tlb:tlb_flush): %s\n",
			       strerror(errno));
		return -1;
	}
	/* reason 0 is TLB_FLUSH_ON_TASK_SWITCH */
	if (ioctl(fd, PERF_EVENT_IOC_SET_FILTER, "reason != 0")) {
		ksft_print_msg("tlb:tlb_flush filter: %s\n", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int free_once_shared(const char *cg, void *arg)
{
	size_t size = FLUSH_TABLES * PMD;
	char *p = map_region(size);
	int counter = tlb_flush_counter();
	uint64_t flushes = 0;
	long events;
	pid_t pid;

	if (!p || counter < 0)
		return KSFT_FAIL;
	memset(p, 1, size);
	events = stat_of(cg, "cow_pte_share");
	pid = fork();
	if (pid == 0)
		_exit(0);
	if (pid < 0 || wait_child(pid))
		return KSFT_FAIL;
	if (stat_settles(cg, "cow_pte_share", events + FLUSH_TABLES, LONG_MAX) <
	    events + FLUSH_TABLES) {
		ksft_print_msg("the child did not share the %d tables\n",
			       FLUSH_TABLES);
		return KSFT_FAIL;
	}
	if (ioctl(counter, PERF_EVENT_IOC_ENABLE, 0) || munmap(p, size) ||
	    ioctl(counter, PERF_EVENT_IOC_DISABLE, 0) ||
	    read(counter, &flushes, sizeof(flushes)) != sizeof(flushes))
		return KSFT_FAIL;
	close(counter);
	ksft_print_msg("munmap of %d once-shared tables: %llu TLB flushes\n",
		       FLUSH_TABLES, (unsigned long long)flushes);
	return flushes < FLUSH_TABLES / 4 ? KSFT_PASS : KSFT_FAIL;
}

static int test_free_once_shared(const char *root)
{
	return run_in_cgroup(root, "cow_pte_free", true, free_once_shared,
			     NULL);
}

static const struct cow_pte_test tests[] = {
	{ "test_share_and_write",	test_share_and_write },
	{ "test_not_opted_in",		test_not_opted_in },
	{ "test_fork_chain",		test_fork_chain },
	{ "test_changes",		test_changes },
	{ "test_changes_mthp",		test_changes_mthp },
	{ "test_clone_into_cgroup",	test_clone_into_cgroup },
	{ "test_child_page_tables",	test_child_page_tables },
	{ "test_idle_children",		test_idle_children },
	{ "test_free_once_shared",	test_free_once_shared },
};

int main(int argc, char **argv)
{
	char root[PATH_MAX];

	ksft_print_header();
	cow_pte_setup(root, sizeof(root));
	cow_pte_run_tests(tests, ARRAY_SIZE(tests), root, argc, argv);
}
