// SPDX-License-Identifier: GPL-2.0
/*
 * forkbench: what fork() costs a process with SIZE of anonymous memory,
 * with and without COW page tables, in one boot.
 *
 * For every size (-s) and page kind (-p: "4k" = MADV_NOHUGEPAGE, "thp" =
 * MADV_HUGEPAGE) the region is mapped and touched once, then every test
 * (-t) is repeated (-r) in every group (-g LABEL=CGROUP_DIR): before each
 * measurement the process moves itself into that group's cgroup, so a group
 * whose cgroup has memory.cow_pte=1 forks opted in and one with 0 forks
 * plainly.  The groups alternate within every repetition, and their order
 * flips from one repetition to the next, so drift hits them alike.
 *
 * Tests:
 *   fork       fork() latency in the parent; while the child waits: its
 *              VmPTE/VmPTEShared, and the memcg's (-m) and the system's
 *              page-table deltas; then the child's exit (release to reaped)
 *   exit       fork, the child _exit()s at once, waitpid: total
 *   exec       fork + execv(/bin/true) in the child + waitpid: total
 *   spawn      posix_spawn(/bin/true) + waitpid: total (no page-table copy)
 *   writeall   fork, the child writes every page then exits: total, and the
 *              child's writing time per page
 *   fault-seq  fork (the child waits), the parent writes every page in
 *              order: time per page
 *   fault-rand the same in a random order (every page once)
 *
 * The write tests need twice the size in free memory and stop at -W MiB;
 * sizes the machine cannot hold are skipped with a "SKIP" line, not failed.
 * With THP the write tests remap and retouch the region before each run
 * (a written THP is split, which would change what later runs measure).
 *
 * Output: one CSV row per measurement (-o FILE, default stdout):
 *   kernel,size_mib,page,group,test,metric,rep,value,unit
 * and a summary (median, p10, p90 per group; on/off ratio of the medians
 * when groups "on" and "off" exist) on stdout.
 *
 * Usage: forkbench [-s 16M,64M,...] [-p 4k,thp] [-t TESTS] [-r REPS]
 *                  [-w WRITE_REPS] [-W MAX_WRITE_MIB] [-g LABEL=DIR]...
 *                  [-m STAT_CGROUP_DIR] [-k KERNEL_LABEL] [-o CSV]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAX_GROUPS	4
#define MAX_SIZES	16
#define PAGE		4096UL
#define HPAGE		(2UL << 20)
#define TRUE_BIN	"/bin/true"

enum test { T_FORK, T_EXIT, T_EXEC, T_SPAWN, T_WRITEALL, T_FSEQ, T_FRAND, T_NR };
static const char *const test_name[T_NR] = {
	"fork", "exit", "exec", "spawn", "writeall", "fault-seq", "fault-rand",
};
#define WRITE_TEST(t)	((t) >= T_WRITEALL)

struct group {
	const char *label;
	const char *dir;	/* NULL: stay where we are */
};

struct rec {
	unsigned long size_mib;
	int page;		/* 0 4k, 1 thp */
	int group;
	int test;
	const char *metric;
	const char *unit;
	double value;
};

static struct group groups[MAX_GROUPS];
static int ngroups;
static const char *statdir;
static const char *kernel_label = "unknown";
static FILE *csv;
static struct rec *recs;
static size_t nrecs, caprecs;
static int cur_rep;

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "forkbench: ");
	vfprintf(stderr, fmt, ap);
	if (errno)
		fprintf(stderr, ": %s", strerror(errno));
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void record(unsigned long size_mib, int page, int g, int t,
		   const char *metric, double value, const char *unit)
{
	if (nrecs == caprecs) {
		caprecs = caprecs ? 2 * caprecs : 4096;
		recs = realloc(recs, caprecs * sizeof(*recs));
		if (!recs)
			die("out of memory");
	}
	recs[nrecs++] = (struct rec){ size_mib, page, g, t, metric, unit, value };
	fprintf(csv, "%s,%lu,%s,%s,%s,%s,%d,%.3f,%s\n", kernel_label, size_mib,
		page ? "thp" : "4k", groups[g].label, test_name[t], metric,
		cur_rep, value, unit);
	fflush(csv);
}

/* Value of "KEY:" (or "KEY " in memory.stat) in a file, -1 if absent. */
static long long read_key(const char *path, const char *key)
{
	char line[256];
	size_t klen = strlen(key);
	long long v = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, klen) ||
		    (line[klen] != ':' && line[klen] != ' '))
			continue;
		v = strtoll(line + klen + 1, NULL, 10);
		break;
	}
	fclose(f);
	return v;
}

static long long mem_available_mib(void)
{
	return read_key("/proc/meminfo", "MemAvailable") >> 10;
}

static void join_group(int g)
{
	char path[512];
	int fd;

	if (!groups[g].dir)
		return;
	snprintf(path, sizeof(path), "%s/cgroup.procs", groups[g].dir);
	fd = open(path, O_WRONLY);
	if (fd < 0 || write(fd, "0", 1) != 1)
		die("cannot join %s", path);
	close(fd);
}

static unsigned long parse_size(const char *s)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	switch (*end) {
	case 'G': case 'g': return v << 10;
	case 'M': case 'm': case '\0': return v;
	}
	errno = 0;
	die("bad size '%s' (use e.g. 64M or 1G)", s);
	return 0;
}

/* ---- the region ---- */

static char *region, *region_map;
static size_t region_len, map_len;

static void unmap_region(void)
{
	if (region_map)
		munmap(region_map, map_len);
	region = region_map = NULL;
}

/* Map SIZE_MIB, THP or not, and touch every page; returns touch time (us). */
static double map_region(unsigned long size_mib, int thp)
{
	size_t off;
	double t0;

	unmap_region();
	region_len = size_mib << 20;
	map_len = region_len + HPAGE;
	region_map = mmap(NULL, map_len, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (region_map == MAP_FAILED)
		die("mmap %lu MiB", size_mib);
	region = (char *)(((uintptr_t)region_map + HPAGE - 1) & ~(HPAGE - 1));
	if (madvise(region, region_len, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE))
		die("madvise");
	t0 = now_us();
	for (off = 0; off < region_len; off += PAGE)
		region[off] = (char)(off >> 12) | 1;
	return now_us() - t0;
}

static long long anon_huge_kib(void)
{
	return read_key("/proc/self/smaps_rollup", "AnonHugePages");
}

/* ---- the tests ---- */

static void write_pages(char *p, size_t len, unsigned char v)
{
	size_t off;

	for (off = 0; off < len; off += PAGE)
		p[off] = v;
}

static uint32_t *perm;
static size_t perm_n;

/* A fixed random permutation of the region's pages (xorshift, Fisher-Yates). */
static void make_perm(size_t n)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	size_t i;

	if (perm_n == n)
		return;
	free(perm);
	perm = malloc(n * sizeof(*perm));
	if (!perm)
		die("malloc");
	for (i = 0; i < n; i++)
		perm[i] = i;
	for (i = n - 1; i > 0; i--) {
		size_t j;
		uint32_t t;

		x ^= x << 13; x ^= x >> 7; x ^= x << 17;
		j = x % (i + 1);
		t = perm[i]; perm[i] = perm[j]; perm[j] = t;
	}
	perm_n = n;
}

static pid_t fork_waiting_child(int *release_fd, double *fork_us)
{
	int p[2];
	double t0;
	pid_t pid;
	char c;

	if (pipe(p))
		die("pipe");
	t0 = now_us();
	pid = fork();
	if (pid == 0) {
		close(p[1]);
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	*fork_us = now_us() - t0;
	if (pid < 0)
		die("fork");
	close(p[0]);
	*release_fd = p[1];
	return pid;
}

static void reap(pid_t pid, int want_status)
{
	int st;

	if (waitpid(pid, &st, 0) != pid)
		die("waitpid");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != want_status) {
		errno = 0;
		die("child %d ended with status 0x%x", pid, st);
	}
}

static void stat_keys(long long v[4])
{
	char path[512];

	snprintf(path, sizeof(path), "%s/memory.stat", statdir);
	v[0] = statdir ? read_key(path, "pagetables") : -1;
	v[1] = statdir ? read_key(path, "pagetables_shared") : -1;
	v[2] = statdir ? read_key(path, "pagetables_saved") : -1;
	v[3] = read_key("/proc/meminfo", "PageTables");
}

static void run_test(int t, unsigned long mib, int thp, int g)
{
	static const char *const memcg_metric[3] = {
		"memcg_pagetables_kib", "memcg_pagetables_shared_kib",
		"memcg_pagetables_saved_kib",
	};
	size_t npages = region_len / PAGE, i;
	double t0, us;
	int fd, p[2];
	pid_t pid;
	char c;

	switch (t) {
	case T_FORK: {
		long long before[4], after[4], v;
		char path[64];

		stat_keys(before);
		pid = fork_waiting_child(&fd, &us);
		record(mib, thp, g, t, "fork_us", us, "us");
		snprintf(path, sizeof(path), "/proc/%d/status", pid);
		v = read_key(path, "VmPTE");
		if (v >= 0)
			record(mib, thp, g, t, "child_vmpte_kib", v, "KiB");
		v = read_key(path, "VmPTEShared");
		if (v >= 0)
			record(mib, thp, g, t, "child_vmpteshared_kib", v, "KiB");
		stat_keys(after);
		for (i = 0; i < 3; i++)
			if (before[i] >= 0 && after[i] >= 0)
				record(mib, thp, g, t, memcg_metric[i],
				       (after[i] - before[i]) / 1024.0, "KiB");
		if (before[3] >= 0 && after[3] >= 0)
			record(mib, thp, g, t, "sys_pagetables_kib",
			       after[3] - before[3], "KiB");
		t0 = now_us();
		close(fd);
		reap(pid, 0);
		record(mib, thp, g, t, "child_exit_us", now_us() - t0, "us");
		break;
	}
	case T_EXIT:
		t0 = now_us();
		pid = fork();
		if (pid == 0)
			_exit(0);
		if (pid < 0)
			die("fork");
		reap(pid, 0);
		record(mib, thp, g, t, "total_us", now_us() - t0, "us");
		break;
	case T_EXEC:
		t0 = now_us();
		pid = fork();
		if (pid == 0) {
			execl(TRUE_BIN, TRUE_BIN, (char *)NULL);
			_exit(127);
		}
		if (pid < 0)
			die("fork");
		reap(pid, 0);
		record(mib, thp, g, t, "total_us", now_us() - t0, "us");
		break;
	case T_SPAWN: {
		char *argv[] = { TRUE_BIN, NULL };

		t0 = now_us();
		errno = posix_spawn(&pid, TRUE_BIN, NULL, NULL, argv, environ);
		if (errno)
			die("posix_spawn");
		reap(pid, 0);
		record(mib, thp, g, t, "total_us", now_us() - t0, "us");
		break;
	}
	case T_WRITEALL:
		if (pipe(p))
			die("pipe");
		t0 = now_us();
		pid = fork();
		if (pid == 0) {
			double w0 = now_us(), w;

			write_pages(region, region_len, 2);
			w = now_us() - w0;
			_exit(write(p[1], &w, sizeof(w)) == sizeof(w) ? 0 : 1);
		}
		if (pid < 0)
			die("fork");
		close(p[1]);
		reap(pid, 0);
		us = now_us() - t0;
		if (read(p[0], &t0, sizeof(t0)) != sizeof(t0))
			die("no write time from the child");
		close(p[0]);
		record(mib, thp, g, t, "total_us", us, "us");
		record(mib, thp, g, t, "child_write_ns_per_page",
		       t0 * 1e3 / npages, "ns");
		break;
	case T_FSEQ:
	case T_FRAND:
		if (t == T_FRAND)
			make_perm(npages);
		pid = fork_waiting_child(&fd, &us);
		t0 = now_us();
		if (t == T_FSEQ) {
			write_pages(region, region_len, 3);
		} else {
			for (i = 0; i < npages; i++)
				region[(size_t)perm[i] * PAGE] = 4;
		}
		us = now_us() - t0;
		close(fd);
		reap(pid, 0);
		record(mib, thp, g, t, "ns_per_page", us * 1e3 / npages, "ns");
		break;
	}
	(void)c;
}

/* ---- summary ---- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(const double *v, int n, double q)
{
	double pos = q * (n - 1);
	int lo = (int)pos;

	if (lo + 1 >= n)
		return v[n - 1];
	return v[lo] + (pos - lo) * (v[lo + 1] - v[lo]);
}

static int find_group(const char *label)
{
	int g;

	for (g = 0; g < ngroups; g++)
		if (!strcmp(groups[g].label, label))
			return g;
	return -1;
}

static void summary(void)
{
	int on = find_group("on"), off = find_group("off");
	char *done = calloc(nrecs, 1);
	double *v = malloc(nrecs * sizeof(*v));
	size_t i, j;

	if (!done || !v)
		die("out of memory");
	printf("\n%-6s %-4s %-10s %-28s", "MiB", "page", "test", "metric");
	for (j = 0; j < (size_t)ngroups; j++)
		printf(" %26s", groups[j].label);
	if (on >= 0 && off >= 0)
		printf(" %8s", "on/off");
	printf("\n%67s", "");
	for (j = 0; j < (size_t)ngroups; j++)
		printf(" %26s", "median [p10 p90] n");
	printf("\n");
	for (i = 0; i < nrecs; i++) {
		struct rec *r = &recs[i];
		double med[MAX_GROUPS];
		int g;

		if (done[i])
			continue;
		printf("%-6lu %-4s %-10s %-28s", r->size_mib,
		       r->page ? "thp" : "4k", test_name[r->test], r->metric);
		for (g = 0; g < ngroups; g++) {
			int n = 0;

			for (j = i; j < nrecs; j++) {
				struct rec *s = &recs[j];

				if (s->size_mib != r->size_mib || s->page != r->page ||
				    s->test != r->test || s->group != g ||
				    strcmp(s->metric, r->metric))
					continue;
				v[n++] = s->value;
				done[j] = 1;
			}
			med[g] = 0;
			if (!n) {
				printf(" %26s", "-");
				continue;
			}
			qsort(v, n, sizeof(*v), cmp_double);
			med[g] = pct(v, n, 0.5);
			printf(" %10.1f [%5.0f %5.0f] %2d", med[g], pct(v, n, 0.1),
			       pct(v, n, 0.9), n);
		}
		if (on >= 0 && off >= 0 && med[off] != 0)
			printf(" %8.3f", med[on] / med[off]);
		printf("\n");
	}
	free(done);
	free(v);
}

/* ---- main ---- */

static void usage(void)
{
	fprintf(stderr,
		"usage: forkbench [-s 16M,64M,256M,1G,4G,8G] [-p 4k,thp] [-t TESTS]\n"
		"                 [-r REPS] [-w WRITE_REPS] [-W MAX_WRITE_MIB]\n"
		"                 [-g LABEL=CGROUP_DIR]... [-m STAT_CGROUP_DIR]\n"
		"                 [-k KERNEL_LABEL] [-o CSV]\n"
		"tests: fork,exit,exec,spawn,writeall,fault-seq,fault-rand (default all)\n");
	exit(2);
}

int main(int argc, char **argv)
{
	unsigned long sizes[MAX_SIZES];
	int nsizes = 0, pages[2] = { 1, 1 }, tests[T_NR], reps = 5, wreps = 3;
	unsigned long max_write = 1024;
	char *s, *tok, *save;
	int opt, i, t, thp;

	for (t = 0; t < T_NR; t++)
		tests[t] = 1;
	csv = stdout;
	while ((opt = getopt(argc, argv, "s:p:t:r:w:W:g:m:k:o:h")) != -1) {
		switch (opt) {
		case 's':
			for (s = optarg; (tok = strtok_r(s, ",", &save)); s = NULL) {
				if (nsizes == MAX_SIZES)
					usage();
				sizes[nsizes++] = parse_size(tok);
			}
			break;
		case 'p':
			pages[0] = !!strstr(optarg, "4k");
			pages[1] = !!strstr(optarg, "thp");
			break;
		case 't':
			for (t = 0; t < T_NR; t++)
				tests[t] = 0;
			for (s = optarg; (tok = strtok_r(s, ",", &save)); s = NULL) {
				for (t = 0; t < T_NR; t++)
					if (!strcmp(tok, test_name[t]))
						break;
				if (t == T_NR)
					usage();
				tests[t] = 1;
			}
			break;
		case 'r': reps = atoi(optarg); break;
		case 'w': wreps = atoi(optarg); break;
		case 'W': max_write = parse_size(optarg); break;
		case 'g':
			if (ngroups == MAX_GROUPS || !(s = strchr(optarg, '=')))
				usage();
			*s = '\0';
			groups[ngroups].label = optarg;
			groups[ngroups++].dir = s + 1;
			break;
		case 'm': statdir = optarg; break;
		case 'k': kernel_label = optarg; break;
		case 'o':
			csv = fopen(optarg, "w");
			if (!csv)
				die("%s", optarg);
			break;
		default: usage();
		}
	}
	if (optind != argc || reps < 1 || wreps < 0)
		usage();
	if (!nsizes) {
		static const unsigned long def[] = { 16, 64, 256, 1024, 4096, 8192 };

		for (i = 0; i < 6; i++)
			sizes[nsizes++] = def[i];
	}
	if (!ngroups) {
		groups[0].label = "self";
		groups[ngroups++].dir = NULL;
	}
	if (!statdir && groups[0].dir) {
		/* The groups' common parent: memory.stat is hierarchical. */
		s = strdup(groups[0].dir);
		if (!s || !(tok = strrchr(s, '/')))
			die("bad group dir");
		*tok = '\0';
		statdir = s;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	fprintf(csv, "kernel,size_mib,page,group,test,metric,rep,value,unit\n");
	printf("forkbench: kernel %s, groups:", kernel_label);
	for (i = 0; i < ngroups; i++)
		printf(" %s=%s", groups[i].label, groups[i].dir ? groups[i].dir : "(here)");
	printf(", %d reps (%d for write tests)\n", reps, wreps);

	for (i = 0; i < nsizes; i++) {
		unsigned long mib = sizes[i];

		for (thp = 0; thp < 2; thp++) {
			long long avail = mem_available_mib(), huge;
			int rep, k;

			if (!pages[thp])
				continue;
			/* The region, its page tables, the child's, slack. */
			if (avail < (long long)(mib + mib / 256 + 96)) {
				printf("SKIP %lu MiB %s: needs about %lu MiB, %lld MiB available\n",
				       mib, thp ? "thp" : "4k", mib + mib / 256 + 96, avail);
				continue;
			}
			join_group(0);
			cur_rep = 0;
			record(mib, thp, 0, T_FORK, "touch_us", map_region(mib, thp), "us");
			huge = anon_huge_kib();
			if (huge >= 0)
				record(mib, thp, 0, T_FORK, "anon_huge_kib", huge, "KiB");
			printf("%lu MiB %s: mapped and touched (AnonHugePages %lld kB)\n",
			       mib, thp ? "thp" : "4k", huge);

			for (t = 0; t < T_NR; t++) {
				int n = WRITE_TEST(t) ? wreps : reps;

				if (!tests[t] || !n)
					continue;
				if (WRITE_TEST(t) && mib > max_write) {
					printf("SKIP %lu MiB %s %s: above the write-test limit -W %lu\n",
					       mib, thp ? "thp" : "4k", test_name[t], max_write);
					continue;
				}
				if (WRITE_TEST(t) && avail < (long long)(2 * mib + mib / 128 + 96)) {
					printf("SKIP %lu MiB %s %s: needs about %lu MiB, %lld MiB available\n",
					       mib, thp ? "thp" : "4k", test_name[t],
					       2 * mib + mib / 128 + 96, avail);
					continue;
				}
				for (rep = 0; rep < n; rep++) {
					cur_rep = rep;
					for (k = 0; k < ngroups; k++) {
						int g = rep & 1 ? ngroups - 1 - k : k;

						join_group(g);
						if (WRITE_TEST(t) && thp)
							map_region(mib, thp);
						run_test(t, mib, thp, g);
					}
				}
				printf("%lu MiB %s %s: done\n", mib, thp ? "thp" : "4k",
				       test_name[t]);
			}
			unmap_region();
		}
	}
	join_group(0);
	if (csv != stdout)
		fclose(csv);
	summary();
	return 0;
}
