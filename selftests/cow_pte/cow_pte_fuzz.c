// SPDX-License-Identifier: GPL-2.0
/*
 * A differential fuzzer for COW page tables: a random program over a tree
 * of processes in an opted-in cgroup, every byte every process can see
 * checked against a model of fork semantics.
 *
 * The program is a list of ops generated from the seed alone (op i from
 * (seed, i)), so a run is reproducible and a subset of its ops (--keep) is
 * still a program: each op's random numbers are interpreted against the
 * state it finds (which process, which mapping, which range).  Ops: fork
 * (also from a thread), exit, exec, writes of patterns, reads, munmap, mmap,
 * mprotect, mremap (also whole 2 MiB tables, also MREMAP_DONTUNMAP),
 * madvise (DONTNEED, FREE, COLD, PAGEOUT, DONTFORK/DOFORK, WIPEONFORK/
 * KEEPONFORK, MERGEABLE/UNMERGEABLE, HUGEPAGE/NOHUGEPAGE, POPULATE_READ/
 * WRITE, COLLAPSE), mlock/munlock, userfaultfd (missing faults resolved
 * with UFFDIO_COPY and UFFDIO_ZEROPAGE), O_DIRECT reads into and writes
 * from the region, /proc/PID/mem writes by the controller.  Ranges are
 * page-granular and start anywhere, so they cut through PTE tables.
 *
 * The processes (workers, cow_pte_fuzz_worker.c) hold no model: this
 * controller, outside the cgroup, holds one per process: per page whether
 * it is mapped, its protection and VMA flags, and its content: a tag and a
 * page index (every word of the page is tag << 32 | index), zero, or "tag
 * or zero" after MADV_FREE.  Every few ops (--check-every) and at the end,
 * every live process's /proc/PID/smaps is compared with the model (mapped,
 * protection, flags dc wf lo mg hg nh) and every mapped byte of its region
 * is read (PROT_NONE pages through /proc/self/mem) and compared.
 *
 * On a failure it prints the seed and the op, then shrinks the program
 * (a prefix, then delta debugging over the ops) and prints the shortest
 * failing program as a command line with --keep.
 *
 * With --expect-swap, one more result says whether the seeds together hit
 * memory.max and swapped out pages.
 *
 * With --allow-oom-kill, a memcg OOM kill of a worker (killed by SIGKILL,
 * memory.events oom_kill counted it) is what memory.max documents, not a
 * failure: it ends the program there, and every other live process must
 * still see every byte the model says.  Plain 6.12 reclaim kills now and
 * then under the pressure settings, with or without shared tables.
 *
 * Run it from a directory on a block device (O_DIRECT).
 *
 * Usage: cow_pte_fuzz [--seed N] [--count K | --minutes M] [--ops N]
 *        [--keep LIST] [--check-every N] [--region-mb M] [--procs N]
 *        [--memory-max BYTES] [--no-mlock] [--expect-swap] [--allow-oom-kill]
 *        [--no-shrink] [--shrink-runs N] [--shrink-seconds S] [--no-sysfs]
 *        [--verbose] [--opt-out | --no-cgroup]
 *
 * --opt-out runs the programs in a cgroup with memory.cow_pte=0 (the same
 * programs must pass there: the differential baseline); --no-cgroup runs
 * them where it is, to test the fuzzer itself on any kernel.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../kselftest.h"
#include "cgroup_util.h"
#include "cow_pte_util.h"
#include "cow_pte_fuzz.h"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE	25
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

#define MAX_PROCS	8
#define DESC		200
#define MAX_VMAS	1024
#define REPLY_TIMEOUT	180	/* seconds: TCG, reclaim, a slow O_DIRECT */

/* The model of one page. */
enum { P_NONE = 0, P_R = 1, P_RW = 3 };
enum {
	F_MAYBE_ZERO	= 1,	/* content: the tag's or zero (MADV_FREE) */
	F_DONTFORK	= 2,	/* the VMA flags smaps shows, as below */
	F_WIPE		= 4,
	F_LOCKED	= 8,
	F_MERGE		= 16,
	F_HUGE		= 32,
	F_NOHUGE	= 64,
};
#define F_VMA		(F_DONTFORK | F_WIPE | F_LOCKED | F_MERGE | F_HUGE | F_NOHUGE)

struct pstate {
	uint32_t tag;		/* 0: zero-filled */
	uint32_t idx;		/* the index in the pattern */
	uint8_t mapped, prot, flags;
};

struct proc {
	bool live;
	pid_t pid;
	int sock;
	struct pstate *pg;
};

enum kind {
	K_FORK, K_FORK_THREAD, K_EXIT, K_EXEC, K_WRITE, K_READ, K_MUNMAP,
	K_MMAP, K_MPROTECT, K_MREMAP, K_MADVISE, K_MLOCK, K_UFFD,
	K_ODIRECT_IN, K_ODIRECT_OUT, K_PROCMEM, NKINDS
};

static const struct {
	const char *name;
	int weight;
} kinds[NKINDS] = {
	[K_FORK]	= { "fork", 7 },
	[K_FORK_THREAD]	= { "fork-from-thread", 3 },
	[K_EXIT]	= { "exit", 5 },
	[K_EXEC]	= { "exec", 1 },
	[K_WRITE]	= { "write", 16 },
	[K_READ]	= { "read", 4 },
	[K_MUNMAP]	= { "munmap", 3 },
	[K_MMAP]	= { "mmap", 3 },
	[K_MPROTECT]	= { "mprotect", 5 },
	[K_MREMAP]	= { "mremap", 6 },
	[K_MADVISE]	= { "madvise", 16 },
	[K_MLOCK]	= { "mlock", 3 },
	[K_UFFD]	= { "userfaultfd", 2 },
	[K_ODIRECT_IN]	= { "odirect-read", 3 },
	[K_ODIRECT_OUT]	= { "odirect-write", 1 },
	[K_PROCMEM]	= { "proc-mem-write", 3 },
};

static const struct {
	const char *name;
	int advice;
} advices[] = {
	{ "DONTNEED", MADV_DONTNEED }, { "FREE", MADV_FREE },
	{ "COLD", MADV_COLD }, { "PAGEOUT", MADV_PAGEOUT },
	{ "DONTFORK", MADV_DONTFORK }, { "DOFORK", MADV_DOFORK },
	{ "WIPEONFORK", MADV_WIPEONFORK }, { "KEEPONFORK", MADV_KEEPONFORK },
	{ "MERGEABLE", MADV_MERGEABLE }, { "UNMERGEABLE", MADV_UNMERGEABLE },
	{ "HUGEPAGE", MADV_HUGEPAGE }, { "NOHUGEPAGE", MADV_NOHUGEPAGE },
	{ "POPULATE_READ", MADV_POPULATE_READ },
	{ "POPULATE_WRITE", MADV_POPULATE_WRITE },
	{ "COLLAPSE", MADV_COLLAPSE },
	{ "DONTNEED", MADV_DONTNEED }, { "PAGEOUT", MADV_PAGEOUT },
	{ "FREE", MADV_FREE },
};
#define NADVICES	(sizeof(advices) / sizeof(advices[0]))

struct op {
	enum kind kind;
	uint64_t r[5];
};

/* STOP_OOM_KILL: not a failure, see --allow-oom-kill */
enum fail_kind { OK, FAIL_MODEL, FAIL_SYSCALL, FAIL_DEATH, FAIL_NOSHARE,
		 STOP_OOM_KILL };

struct vma {
	uint64_t start, len;	/* pages, clipped to the region */
	uint8_t prot, flags;
};

/* One run of a program. */
struct run {
	struct proc procs[MAX_PROCS];
	char *cg;
	uint32_t next_tag;
	int executed, skipped, forks, checks;
	char (*desc)[DESC];
	enum fail_kind fail;
	int fail_op;		/* the op after which it was found, -1 at the end */
	char why[1024];
	long share, fallback, unshare_copy, unshare_reuse, swapped_out;
	long max_events;	/* memory.events "max": reclaim at memory.max */
	int oom_slot;		/* the worker STOP_OOM_KILL is about */
	int oom_kills;		/* workers left out for it (--allow-oom-kill) */
	int oom_op;		/* the op after which the first was found */
};

/* Options */
static uint64_t opt_seed = 1;
static int opt_ops = 300, opt_count = 1, opt_check_every = 4;
static int opt_procs = 6, opt_shrink_runs = 60, opt_shrink_secs = 180;
static double opt_minutes;
static uint64_t npages = (16UL << 20) / PAGE;
static const char *opt_memory_max;
static bool opt_no_mlock, opt_expect_swap, opt_no_shrink, opt_no_sysfs;
static bool opt_allow_oom_kill;
static bool opt_verbose;
static int opt_cgroup = 1;	/* 1 opted in, 0 --opt-out, -1 --no-cgroup */
static char *opt_keep;

static char root[PATH_MAX];
static char data_file[64];
static bool odirect_ok;
static int runs;
static bool shrinking;	/* quieter */
static long total_max_events, total_swapped_out;	/* --expect-swap */
static int total_oom_stops;	/* seeds an OOM kill ended */

/* ---- the program ---- */

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void gen_ops(uint64_t seed, struct op *ops, int n)
{
	int i, k, total = 0;

	for (k = 0; k < NKINDS; k++)
		total += kinds[k].weight;
	for (i = 0; i < n; i++) {
		uint64_t s = seed * 0x100000001b3ULL ^ (uint64_t)i << 20 ^ 0xc0ffee;
		int w = splitmix(&s) % total;

		for (k = 0; w >= kinds[k].weight; k++)
			w -= kinds[k].weight;
		ops[i].kind = k;
		for (w = 0; w < 5; w++)
			ops[i].r[w] = splitmix(&s);
	}
}

/* ---- talking to workers ---- */

static void failf(struct run *R, enum fail_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void failf(struct run *R, enum fail_kind kind, const char *fmt, ...)
{
	va_list ap;

	if (R->fail)
		return;
	R->fail = kind;
	va_start(ap, fmt);
	vsnprintf(R->why, sizeof(R->why), fmt, ap);
	va_end(ap);
}

/*
 * --allow-oom-kill: the memcg OOM killer took worker @slot, or made the
 * controller's write into it fail halfway (its content is then unknown):
 * end the program and leave @slot out of the checks.
 */
static void oom_stop(struct run *R, int slot, const char *what)
{
	failf(R, STOP_OOM_KILL, "process %d (pid %d) %s (memory.events oom_kill %ld)",
	      slot, R->procs[slot].pid, what,
	      cg_read_key_long(R->cg, "memory.events", "oom_kill "));
	R->oom_slot = slot;
}

/* Why did this worker go?  Its zombie's exit code (nobody reaps it yet). */
static void diagnose_death(struct run *R, int slot)
{
	pid_t pid = R->procs[slot].pid;
	int pidfd = syscall(SYS_pidfd_open, pid, 0);
	char path[64], buf[2048], *p;
	int code = -1, field;
	long oom_kills;
	FILE *f;

	if (pidfd >= 0) {
		struct pollfd pfd = { .fd = pidfd, .events = POLLIN };

		poll(&pfd, 1, 5000);
		close(pidfd);
	}
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (f) {
		if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')'))) {
			/* Field 52 is exit_code; p + 2 is field 3. */
			for (field = 3, p += 2; p && field < 52; field++) {
				p = strchr(p, ' ');
				if (p)
					p++;
			}
			if (p)
				code = atoi(p);
		}
		fclose(f);
	}
	oom_kills = R->cg ? cg_read_key_long(R->cg, "memory.events", "oom_kill ") : -1;
	/* Nothing but the OOM killer sends the workers SIGKILL. */
	if (opt_allow_oom_kill && code >= 0 && WIFSIGNALED(code) &&
	    WTERMSIG(code) == SIGKILL && oom_kills > 0) {
		oom_stop(R, slot, "OOM-killed");
		return;
	}
	failf(R, FAIL_DEATH, "process %d (pid %d) died: %s %d (memory.events oom_kill %ld)",
	      slot, pid,
	      code < 0 ? "exit code unknown" :
	      WIFSIGNALED(code) ? "killed by signal" : "exited with status",
	      code < 0 ? 0 : WIFSIGNALED(code) ? WTERMSIG(code) : WEXITSTATUS(code),
	      oom_kills);
	/* Whether the memcg ran out, and of what: the kernel log says whom. */
	if (R->cg && !shrinking && !cg_read(R->cg, "memory.events", buf, sizeof(buf)))
		for (p = strtok(buf, "\n"); p; p = strtok(NULL, "\n"))
			ksft_print_msg("  memory.events: %s\n", p);
}

static int wait_readable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, REPLY_TIMEOUT * 1000) == 1 ? 0 : -1;
}

/*
 * Send @c (and @payload) to worker @slot and read its reply (its payload
 * into @out, a passed fd into @fd).  A dead or silent worker fails the run.
 */
static int command(struct run *R, int slot, const struct fz_cmd *c,
		   const void *payload, size_t plen, struct fz_reply *r,
		   void *out, size_t outlen, int *fd)
{
	int sock = R->procs[slot].sock;
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = r, .iov_len = sizeof(*r) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm;
	ssize_t n;

	if (send_all(sock, c, sizeof(*c)) ||
	    (plen && send_all(sock, payload, plen)))
		goto dead;
	if (wait_readable(sock)) {
		failf(R, FAIL_DEATH, "process %d (pid %d) did not answer in %d s",
		      slot, R->procs[slot].pid, REPLY_TIMEOUT);
		return -1;
	}
	n = recvmsg(sock, &msg, MSG_WAITALL | MSG_CMSG_CLOEXEC);
	if (n != sizeof(*r))
		goto dead;
	cm = CMSG_FIRSTHDR(&msg);
	if (fd)
		*fd = -1;
	if (cm && cm->cmsg_type == SCM_RIGHTS) {
		int got;

		memcpy(&got, CMSG_DATA(cm), sizeof(int));
		if (fd)
			*fd = got;
		else
			close(got);
	}
	if (r->payload) {
		if (r->payload != outlen || recv_all(sock, out, outlen))
			goto dead;
	}
	return 0;
dead:
	diagnose_death(R, slot);
	return -1;
}

/* A command that must succeed. */
static int must(struct run *R, int slot, const struct fz_cmd *c, const char *what)
{
	struct fz_reply r;

	if (command(R, slot, c, NULL, 0, &r, NULL, 0, NULL))
		return -1;
	if (r.ret < 0) {
		failf(R, FAIL_SYSCALL, "process %d (pid %d): %s of pages [%lu, +%lu) failed: %s (worker line %u)",
		      slot, R->procs[slot].pid, what, (unsigned long)c->start,
		      (unsigned long)c->len, strerror(-r.ret), r.line);
		return -1;
	}
	return 0;
}

/* ---- the model against the kernel's view ---- */

static int read_vmas(struct run *R, int slot, struct vma *v)
{
	char path[64], *line = NULL;
	size_t cap = 0;
	bool in = false;
	int n = -1, all = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", R->procs[slot].pid);
	f = fopen(path, "r");
	if (!f) {
		failf(R, FAIL_DEATH, "process %d: cannot open %s: %s", slot,
		      path, strerror(errno));
		return -1;
	}
	while (getline(&line, &cap, f) > 0) {
		unsigned long s, e, off;
		char perms[8], *tok, *save;

		if (sscanf(line, "%lx-%lx %7s %lx", &s, &e, perms, &off) == 4) {
			all++;
			in = false;
			if (e <= REGION_ADDR || s >= REGION_ADDR + npages * PAGE)
				continue;
			if (n + 1 >= MAX_VMAS)
				break;
			in = true;
			n++;
			if (s < REGION_ADDR)
				s = REGION_ADDR;
			if (e > REGION_ADDR + npages * PAGE)
				e = REGION_ADDR + npages * PAGE;
			v[n].start = (s - REGION_ADDR) / PAGE;
			v[n].len = (e - s) / PAGE;
			v[n].prot = (perms[0] == 'r' ? P_R : 0) |
				    (perms[1] == 'w' ? 2 : 0);
			v[n].flags = 0;
			continue;
		}
		if (!in || strncmp(line, "VmFlags:", 8))
			continue;
		for (tok = strtok_r(line + 8, " \n", &save); tok;
		     tok = strtok_r(NULL, " \n", &save)) {
			if (!strcmp(tok, "dc"))
				v[n].flags |= F_DONTFORK;
			else if (!strcmp(tok, "wf"))
				v[n].flags |= F_WIPE;
			else if (!strcmp(tok, "lo"))
				v[n].flags |= F_LOCKED;
			else if (!strcmp(tok, "mg"))
				v[n].flags |= F_MERGE;
			else if (!strcmp(tok, "hg"))
				v[n].flags |= F_HUGE;
			else if (!strcmp(tok, "nh"))
				v[n].flags |= F_NOHUGE;
		}
	}
	free(line);
	fclose(f);
	/*
	 * No mapping at all: the process is dying (a memcg OOM kill, a
	 * signal).  From exit_mm() on, and as a zombie, its smaps is empty;
	 * without this its death would read as "smaps unmapped".
	 */
	if (!all) {
		diagnose_death(R, slot);
		return -1;
	}
	return n + 1;
}

static void flags_str(char *buf, uint8_t mapped, uint8_t prot, uint8_t flags)
{
	if (!mapped) {
		strcpy(buf, "unmapped");
		return;
	}
	sprintf(buf, "%s%s%s%s%s%s%s", prot == P_RW ? "rw" : prot == P_R ? "r-" : "--",
		flags & F_DONTFORK ? " dc" : "", flags & F_WIPE ? " wf" : "",
		flags & F_LOCKED ? " lo" : "", flags & F_MERGE ? " mg" : "",
		flags & F_HUGE ? " hg" : "", flags & F_NOHUGE ? " nh" : "");
}

/* smaps must show what the model says is mapped, and how. */
static int check_vmas(struct run *R, int slot, const struct vma *v, int n)
{
	struct pstate *pg = R->procs[slot].pg;
	uint64_t i, page = 0;
	int k = 0;

	for (page = 0; page < npages; page++) {
		uint8_t mapped = 0, prot = 0, flags = 0;
		char want[64], got[64];

		while (k < n && v[k].start + v[k].len <= page)
			k++;
		if (k < n && v[k].start <= page) {
			mapped = 1;
			prot = v[k].prot;
			flags = v[k].flags;
		}
		if (mapped == pg[page].mapped && (!mapped ||
		    (prot == pg[page].prot &&
		     flags == (pg[page].flags & F_VMA))))
			continue;
		flags_str(want, pg[page].mapped, pg[page].prot, pg[page].flags & F_VMA);
		flags_str(got, mapped, prot, flags);
		for (i = page; i + 1 < npages && pg[i + 1].mapped == pg[page].mapped; i++)
			;
		failf(R, FAIL_MODEL, "process %d (pid %d): page %lu (%#lx): the model has it %s, smaps %s",
		      slot, R->procs[slot].pid, (unsigned long)page,
		      REGION_ADDR + page * PAGE, want, got);
		return -1;
	}
	return 0;
}

static uint64_t expected_word(const struct pstate *p)
{
	return p->tag ? (uint64_t)p->tag << 32 | p->idx : 0;
}

/* Every mapped byte of the region against the model. */
static int check_proc(struct run *R, int slot)
{
	struct pstate *pg = R->procs[slot].pg;
	struct vma *v = malloc(MAX_VMAS * sizeof(*v));
	struct page_seen *seen = calloc(npages, sizeof(*seen));
	uint8_t *mode = calloc(npages, 1);
	struct fz_cmd c = { .op = W_CHECK, .len = npages };
	struct fz_reply r;
	int n, bad = 0, ret = -1;
	uint64_t i;

	if (!v || !seen || !mode)
		ksft_exit_fail_msg("out of memory\n");
	n = read_vmas(R, slot, v);
	if (n < 0 || check_vmas(R, slot, v, n))
		goto out;
	for (i = 0; i < npages; i++)
		if (pg[i].mapped)
			mode[i] = pg[i].prot == P_NONE ? CHECK_PROCMEM : CHECK_READ;
	if (command(R, slot, &c, mode, npages, &r, seen,
		    npages * sizeof(*seen), NULL))
		goto out;
	if (r.ret < 0) {
		failf(R, FAIL_SYSCALL, "process %d: check failed: %s", slot,
		      strerror(-r.ret));
		goto out;
	}
	for (i = 0; i < npages; i++) {
		uint64_t want = expected_word(&pg[i]);
		struct page_seen *s = &seen[i];

		if (!mode[i])
			continue;
		if (!s->err && s->bad_word < 0 && (s->first == want ||
		    ((pg[i].flags & F_MAYBE_ZERO) && s->first == 0)))
			continue;
		if (!bad++) {
			char how[64];

			flags_str(how, 1, pg[i].prot, pg[i].flags & F_VMA);
			if (s->err)
				failf(R, FAIL_MODEL, "process %d (pid %d): page %lu (%#lx, %s): cannot read it: %s",
				      slot, R->procs[slot].pid, (unsigned long)i,
				      REGION_ADDR + i * PAGE, how, strerror(-s->err));
			else
				failf(R, FAIL_MODEL, "process %d (pid %d): page %lu (%#lx, %s): word %d is %#llx, expected %#llx%s",
				      slot, R->procs[slot].pid, (unsigned long)i,
				      REGION_ADDR + i * PAGE, how,
				      s->bad_word < 0 || s->first != want ? 0 : s->bad_word,
				      (unsigned long long)(s->bad_word < 0 || s->first != want ?
							   s->first : s->bad_val),
				      (unsigned long long)want,
				      pg[i].flags & F_MAYBE_ZERO ? " or zero" : "");
		}
		if (bad <= 8 && !shrinking)
			ksft_print_msg("  process %d page %lu: expected %#llx%s, first word %#llx, word %d %#llx%s\n",
				       slot, (unsigned long)i,
				       (unsigned long long)want,
				       pg[i].flags & F_MAYBE_ZERO ? " or 0" : "",
				       (unsigned long long)s->first, s->bad_word,
				       (unsigned long long)s->bad_val,
				       s->err ? " (unreadable)" : "");
	}
	if (bad) {
		size_t l = strlen(R->why);

		snprintf(R->why + l, sizeof(R->why) - l, " (%d pages wrong)", bad);
		goto out;
	}
	ret = 0;
out:
	free(v);
	free(seen);
	free(mode);
	return ret;
}

static int check_all(struct run *R)
{
	int s;

	R->checks++;
	for (s = 0; s < MAX_PROCS; s++)
		if (R->procs[s].live && check_proc(R, s))
			return -1;
	return 0;
}

/* ---- ops ---- */

static uint64_t pick_len(uint64_t r, uint64_t max)
{
	uint64_t len;

	switch (r % 4) {
	case 0:
		len = 1 + (r >> 2) % 8;
		break;
	case 1:
		len = 1 + (r >> 2) % 64;
		break;
	case 2:
		len = 1 + (r >> 2) % 700;
		break;
	default:
		len = 1 + (r >> 2) % npages;
	}
	return len < max ? len : max;
}

/* What an op needs of the VMA it works in. */
#define NEED_READ	1
#define NEED_WRITE	2
#define NO_LOCKED	4
#define NO_NONE		8

static bool vma_fits(const struct vma *v, int need)
{
	if ((need & NEED_READ) && !(v->prot & P_R))
		return false;
	if ((need & NEED_WRITE) && v->prot != P_RW)
		return false;
	if ((need & NO_LOCKED) && (v->flags & F_LOCKED))
		return false;
	return true;
}

/*
 * A range inside one VMA of process @slot that satisfies @need: it starts
 * anywhere in the VMA and is at most @max pages.  0 if there is none.
 */
static int pick_range(struct run *R, int slot, const struct op *op, int need,
		      uint64_t max, uint64_t *start, uint64_t *len,
		      struct vma *chosen)
{
	struct vma *v = malloc(MAX_VMAS * sizeof(*v));
	int n, k, fit = 0;

	if (!v)
		ksft_exit_fail_msg("out of memory\n");
	n = read_vmas(R, slot, v);
	if (n < 0 || check_vmas(R, slot, v, n)) {
		free(v);
		return -1;
	}
	for (k = 0; k < n; k++)
		fit += vma_fits(&v[k], need);
	if (!fit) {
		free(v);
		return 0;
	}
	fit = op->r[1] % fit;
	for (k = 0; k < n; k++)
		if (vma_fits(&v[k], need) && !fit--)
			break;
	*chosen = v[k];
	*start = v[k].start + op->r[2] % v[k].len;
	*len = pick_len(op->r[3], v[k].start + v[k].len - *start);
	if (*len > max)
		*len = max;
	free(v);
	return 1;
}

/* A range anywhere in the region. */
static void pick_any(const struct op *op, uint64_t *start, uint64_t *len)
{
	*start = op->r[1] % npages;
	*len = pick_len(op->r[3], npages - *start);
}

static void model_fresh(struct pstate *pg, uint64_t start, uint64_t len,
			uint32_t tag, uint8_t flags)
{
	uint64_t i;

	for (i = start; i < start + len; i++) {
		pg[i].mapped = 1;
		pg[i].prot = P_RW;
		pg[i].flags = flags;
		pg[i].tag = tag;
		pg[i].idx = i;
	}
}

static void model_content(struct pstate *pg, uint64_t i, uint32_t tag,
			  uint32_t idx)
{
	pg[i].tag = tag;
	pg[i].idx = tag ? idx : 0;
	pg[i].flags &= ~F_MAYBE_ZERO;
}

static int free_slot(struct run *R)
{
	int s;

	for (s = 0; s < MAX_PROCS; s++)
		if (!R->procs[s].live)
			return s;
	return -1;
}

static int op_fork(struct run *R, int t, bool thread, char *d)
{
	struct fz_cmd c = { .op = W_FORK, .arg = thread };
	struct pstate *pg = R->procs[t].pg, *cp;
	struct fz_reply r;
	int s = free_slot(R), fd;
	uint64_t i;

	if (command(R, t, &c, NULL, 0, &r, NULL, 0, &fd))
		return -1;
	if (r.ret <= 0 || fd < 0) {
		failf(R, FAIL_SYSCALL, "process %d: fork failed: %s", t,
		      strerror(-r.ret));
		return -1;
	}
	cp = malloc(npages * sizeof(*cp));
	if (!cp)
		ksft_exit_fail_msg("out of memory\n");
	for (i = 0; i < npages; i++) {
		cp[i] = pg[i];
		if (!pg[i].mapped)
			continue;
		if (pg[i].flags & F_DONTFORK) {
			cp[i].mapped = 0;
			continue;
		}
		cp[i].flags &= ~F_LOCKED;	/* mlock is not inherited */
		if (pg[i].flags & F_WIPE)
			model_content(cp, i, 0, 0);
	}
	R->procs[s] = (struct proc){ true, r.ret, fd, cp };
	R->forks++;
	snprintf(d + strlen(d), DESC - strlen(d), " -> process %d (pid %d)", s,
		 r.ret);
	return 0;
}

static void kill_slot(struct run *R, int s)
{
	close(R->procs[s].sock);
	free(R->procs[s].pg);
	R->procs[s].live = false;
	R->procs[s].pg = NULL;
}

static int op_exec(struct run *R, int t)
{
	struct fz_cmd c = { .op = W_EXEC };
	struct fz_cmd init = { .op = W_INIT, .len = npages, .tag = R->next_tag++ };
	struct fz_reply r;

	/* The reply comes from the new program (or from a failed execv). */
	if (command(R, t, &c, NULL, 0, &r, NULL, 0, NULL))
		return -1;
	if (r.ret < 0) {
		failf(R, FAIL_SYSCALL, "process %d: exec failed: %s", t,
		      strerror(-r.ret));
		return -1;
	}
	if (must(R, t, &init, "mapping the region after exec"))
		return -1;
	model_fresh(R->procs[t].pg, 0, npages, init.tag, F_NOHUGE);
	return 0;
}

static const char *prot_name(int prot)
{
	return prot == P_RW ? "rw" : prot == P_R ? "r" : "none";
}

static int to_prot(int p)
{
	return p == P_RW ? PROT_READ | PROT_WRITE : p == P_R ? PROT_READ : PROT_NONE;
}

static int op_mremap(struct run *R, int t, const struct op *op, char *d)
{
	struct pstate *pg = R->procs[t].pg, *tmp;
	struct vma *v = malloc(MAX_VMAS * sizeof(*v)), *src = NULL;
	uint64_t start = 0, len = 0, to = 0, i, nfree;
	bool whole = op->r[4] % 3 == 0, dontunmap = op->r[4] % 4 == 1;
	struct fz_cmd c = { .op = W_MREMAP };
	int n, k, fit = 0;

	if (!v)
		ksft_exit_fail_msg("out of memory\n");
	n = read_vmas(R, t, v);
	if (n < 0 || check_vmas(R, t, v, n))
		goto fail;
	if (whole) {
		/* Whole 2 MiB tables to a 2 MiB-aligned place. */
		uint64_t per = PMD / PAGE;

		for (k = 0; k < n; k++) {
			uint64_t a = (v[k].start + per - 1) / per * per;

			if (a + per <= v[k].start + v[k].len)
				fit += (v[k].start + v[k].len - a) / per;
		}
		if (fit) {
			fit = op->r[1] % fit;
			for (k = 0; k < n; k++) {
				uint64_t a = (v[k].start + per - 1) / per * per;
				uint64_t m = a + per <= v[k].start + v[k].len ?
					(v[k].start + v[k].len - a) / per : 0;

				if ((uint64_t)fit < m) {
					src = &v[k];
					start = a + fit * per;
					len = per * (1 + op->r[3] % (m - fit));
					break;
				}
				fit -= m;
			}
		}
		if (src) {
			/* Aligned destinations that do not overlap. */
			uint64_t slots = npages / per - len / per + 1, pick;

			nfree = 0;
			for (i = 0; i < slots; i++)
				nfree += i * per + len <= start || i * per >= start + len;
			if (!nfree) {
				src = NULL;
			} else {
				pick = op->r[2] % nfree;
				for (i = 0; i < slots; i++)
					if ((i * per + len <= start ||
					     i * per >= start + len) && !pick--)
						break;
				to = i * per;
			}
		}
	}
	if (!src) {
		uint64_t left, right;

		whole = false;
		if (!n) {
			free(v);
			return 1;	/* nothing mapped */
		}
		src = &v[op->r[1] % n];
		start = src->start + op->r[2] % src->len;
		len = pick_len(op->r[3], src->start + src->len - start);
		if (len > npages / 2)
			len = npages / 2;
		/* Any destination that does not overlap the source. */
		left = start >= len ? start - len + 1 : 0;
		right = npages - len >= start + len ? npages - len - (start + len) + 1 : 0;
		nfree = left + right;
		if (!nfree) {
			free(v);
			return 1;
		}
		to = op->r[4] / 4 % nfree;
		if (to >= left)
			to = start + len + (to - left);
	}
	if (src->flags & F_LOCKED)
		dontunmap = false;
	c.start = start;
	c.len = len;
	c.arg = to;
	c.arg2 = MREMAP_MAYMOVE | MREMAP_FIXED | (dontunmap ? MREMAP_DONTUNMAP : 0);
	snprintf(d + strlen(d), DESC - strlen(d), " [%lu, +%lu) to %lu%s%s",
		 (unsigned long)start, (unsigned long)len, (unsigned long)to,
		 whole ? " (whole tables)" : "", dontunmap ? " DONTUNMAP" : "");
	free(v);
	if (must(R, t, &c, "mremap"))
		return -1;
	tmp = malloc(len * sizeof(*tmp));
	if (!tmp)
		ksft_exit_fail_msg("out of memory\n");
	memcpy(tmp, pg + start, len * sizeof(*tmp));
	for (i = 0; i < len; i++) {
		if (dontunmap)
			model_content(pg, start + i, 0, 0);
		else
			pg[start + i].mapped = 0;
	}
	memcpy(pg + to, tmp, len * sizeof(*tmp));
	free(tmp);
	return 0;
fail:
	free(v);
	return -1;
}

/*
 * Execute op @i: 0 done, 1 skipped (nothing to do it on), -1 failed.
 * @d gets what it did, in words.
 */
static int exec_op(struct run *R, int i, const struct op *op, char *d)
{
	int live[MAX_PROCS], nlive = 0, s, t, ret;
	struct fz_cmd c = { 0 };
	struct pstate *pg;
	struct vma v;
	uint64_t start = 0, len = 0, j;
	int advice = 0;

	for (s = 0; s < MAX_PROCS; s++)
		if (R->procs[s].live)
			live[nlive++] = s;
	t = live[op->r[0] % nlive];
	pg = R->procs[t].pg;
	snprintf(d, DESC, "op %d: process %d (pid %d) %s", i, t,
		 R->procs[t].pid, kinds[op->kind].name);

	switch (op->kind) {
	case K_FORK:
	case K_FORK_THREAD:
		if (nlive >= opt_procs)
			return 1;
		return op_fork(R, t, op->kind == K_FORK_THREAD, d);
	case K_EXIT:
		if (nlive == 1)
			return 1;
		c.op = W_EXIT;
		if (must(R, t, &c, "exit"))
			return -1;
		kill_slot(R, t);
		return 0;
	case K_EXEC:
		return op_exec(R, t);
	case K_MREMAP:
		return op_mremap(R, t, op, d);
	case K_MUNMAP:
	case K_MMAP:
		pick_any(op, &start, &len);
		c.op = op->kind == K_MUNMAP ? W_MUNMAP : W_MMAP;
		if (op->kind == K_MMAP && op->r[4] % 2 == 0) {
			/*
			 * Whole tables of fresh memory, filled: what the
			 * next fork can share again after the region has
			 * been cut into pieces.
			 */
			uint64_t per = PMD / PAGE, tables = npages / per;

			start = op->r[1] % tables * per;
			len = (1 + op->r[3] % (tables - start / per < 4 ?
					       tables - start / per : 4)) * per;
			c.tag = R->next_tag++;
		}
		break;
	case K_PROCMEM: {
		char path[64], *buf;
		uint32_t tag;
		int fd;

		ret = pick_range(R, t, op, NEED_READ, 256, &start, &len, &v);
		if (ret <= 0)
			return ret ? -1 : 1;
		tag = R->next_tag++;
		snprintf(d + strlen(d), DESC - strlen(d), " [%lu, +%lu) tag %u",
			 (unsigned long)start, (unsigned long)len, tag);
		buf = malloc(len * PAGE);
		snprintf(path, sizeof(path), "/proc/%d/mem", R->procs[t].pid);
		fd = open(path, O_RDWR);
		if (!buf || fd < 0) {
			failf(R, FAIL_SYSCALL, "cannot open %s: %s", path,
			      strerror(errno));
			free(buf);
			return -1;
		}
		for (j = start; j < start + len; j++)
			fill_page(buf + (j - start) * PAGE, j, tag);
		if (pwrite(fd, buf, len * PAGE, REGION_ADDR + start * PAGE) !=
		    (ssize_t)(len * PAGE)) {
			if (opt_allow_oom_kill && R->cg &&
			    cg_read_key_long(R->cg, "memory.events", "oom_kill ") > 0)
				oom_stop(R, t, "could not be written at memory.max");
			failf(R, FAIL_SYSCALL, "process %d: writing [%lu, +%lu) through %s failed: %s",
			      t, (unsigned long)start, (unsigned long)len, path,
			      strerror(errno));
			close(fd);
			free(buf);
			return -1;
		}
		close(fd);
		free(buf);
		for (j = start; j < start + len; j++)
			model_content(pg, j, tag, j);
		return 0;
	}
	case K_WRITE:
		ret = pick_range(R, t, op, NEED_WRITE, npages, &start, &len, &v);
		c.op = W_WRITE;
		c.tag = R->next_tag++;
		c.arg = op->r[4] % 4 == 0 ? FILL_DUP : 0;
		c.arg |= op->r[4] % 3 == 0 ? FILL_THREAD : 0;
		goto in_vma;
	case K_READ:
		ret = pick_range(R, t, op, NEED_READ, npages, &start, &len, &v);
		c.op = W_READ;
		goto in_vma;
	case K_MPROTECT:
		ret = pick_range(R, t, op, 0, npages, &start, &len, &v);
		c.op = W_MPROTECT;
		c.arg = to_prot((int[]){ P_NONE, P_R, P_RW }[op->r[4] % 3]);
		goto in_vma;
	case K_MADVISE:
		advice = advices[op->r[4] % NADVICES].advice;
		c.op = W_MADVISE;
		c.arg = advice;
		switch (advice) {
		case MADV_DONTNEED:
		case MADV_FREE:
		case MADV_COLD:
		case MADV_PAGEOUT:
			ret = pick_range(R, t, op, NO_LOCKED, npages, &start, &len, &v);
			break;
		case MADV_POPULATE_READ:
			ret = pick_range(R, t, op, NEED_READ, npages, &start, &len, &v);
			break;
		case MADV_POPULATE_WRITE:
			ret = pick_range(R, t, op, NEED_WRITE, npages, &start, &len, &v);
			break;
		default:
			ret = pick_range(R, t, op, 0, npages, &start, &len, &v);
		}
		goto in_vma;
	case K_MLOCK:
		if (opt_no_mlock)
			return 1;
		c.op = W_MLOCK;
		c.arg = op->r[4] & 1;
		ret = pick_range(R, t, op, c.arg ? NEED_READ : 0, npages,
				 &start, &len, &v);
		goto in_vma;
	case K_UFFD:
		ret = pick_range(R, t, op, NEED_WRITE | NO_LOCKED, 256, &start,
				 &len, &v);
		c.op = W_UFFD;
		c.tag = R->next_tag++;
		c.arg = op->r[4];
		goto in_vma;
	case K_ODIRECT_IN:
	case K_ODIRECT_OUT:
		if (!odirect_ok)
			return 1;
		if (op->kind == K_ODIRECT_IN) {
			ret = pick_range(R, t, op, NEED_WRITE, 256, &start, &len, &v);
			c.op = W_ODIRECT_IN;
			c.arg2 = getpid();
			c.tag = R->next_tag++;
		} else {
			ret = pick_range(R, t, op, NEED_READ, 256, &start, &len, &v);
			c.op = W_ODIRECT_OUT;
			c.arg2 = getpid();
			/*
			 * It compares what the device got with memory: a
			 * MADV_FREE page may be dropped in between.
			 */
			for (j = start; ret > 0 && j < start + len; j++)
				if (pg[j].flags & F_MAYBE_ZERO)
					len = j - start;
			if (ret > 0 && !len)
				return 1;
		}
		goto in_vma;
	default:
		return 1;
	}
	goto send;
in_vma:
	if (ret <= 0)
		return ret ? -1 : 1;
send:
	c.start = start;
	c.len = len;
	snprintf(d + strlen(d), DESC - strlen(d), " [%lu, +%lu)",
		 (unsigned long)start, (unsigned long)len);
	if (c.op == W_MADVISE)
		snprintf(d + strlen(d), DESC - strlen(d), " %s",
			 advices[op->r[4] % NADVICES].name);
	else if (c.op == W_MPROTECT)
		snprintf(d + strlen(d), DESC - strlen(d), " %s",
			 prot_name(c.arg == (PROT_READ | PROT_WRITE) ? P_RW :
				   c.arg == PROT_READ ? P_R : P_NONE));
	else if (c.op == W_MLOCK)
		snprintf(d + strlen(d), DESC - strlen(d), c.arg ? " lock" : " unlock");
	if (c.tag)
		snprintf(d + strlen(d), DESC - strlen(d), " tag %u%s%s", c.tag,
			 c.op == W_WRITE && (c.arg & FILL_DUP) ? " dup" : "",
			 c.op == W_WRITE && (c.arg & FILL_THREAD) ? " from a thread" : "");

	if (c.op == W_MADVISE && c.arg == MADV_COLLAPSE) {
		struct fz_reply r;

		/* It may fail for many reasons; it must change nothing. */
		return command(R, t, &c, NULL, 0, &r, NULL, 0, NULL);
	}
	if (must(R, t, &c, kinds[op->kind].name))
		return -1;

	for (j = start; j < start + len; j++) {
		switch (c.op) {
		case W_WRITE:
			model_content(pg, j, c.tag, c.arg & FILL_DUP ? 0 : j);
			break;
		case W_MUNMAP:
			pg[j].mapped = 0;
			break;
		case W_MMAP:
			model_fresh(pg, j, 1, c.tag, 0);
			break;
		case W_MPROTECT:
			pg[j].prot = c.arg == (PROT_READ | PROT_WRITE) ? P_RW :
				     c.arg == PROT_READ ? P_R : P_NONE;
			break;
		case W_MLOCK:
			if (c.arg)
				pg[j].flags |= F_LOCKED;
			else
				pg[j].flags &= ~F_LOCKED;
			break;
		case W_UFFD:
			model_content(pg, j, uffd_zero(j, c.arg) ? 0 : c.tag, j);
			break;
		case W_ODIRECT_IN:
			model_content(pg, j, c.tag, j);
			break;
		case W_MADVISE:
			switch (advice) {
			case MADV_DONTNEED:
				model_content(pg, j, 0, 0);
				break;
			case MADV_FREE:
				if (pg[j].tag)
					pg[j].flags |= F_MAYBE_ZERO;
				break;
			case MADV_DONTFORK:
				pg[j].flags |= F_DONTFORK;
				break;
			case MADV_DOFORK:
				pg[j].flags &= ~F_DONTFORK;
				break;
			case MADV_WIPEONFORK:
				pg[j].flags |= F_WIPE;
				break;
			case MADV_KEEPONFORK:
				pg[j].flags &= ~F_WIPE;
				break;
			case MADV_MERGEABLE:
				pg[j].flags |= F_MERGE;
				break;
			case MADV_UNMERGEABLE:
				pg[j].flags &= ~F_MERGE;
				break;
			case MADV_HUGEPAGE:
				pg[j].flags = (pg[j].flags & ~F_NOHUGE) | F_HUGE;
				break;
			case MADV_NOHUGEPAGE:
				pg[j].flags = (pg[j].flags & ~F_HUGE) | F_NOHUGE;
				break;
			}
			break;
		}
	}
	return 0;
}

/* ---- a run ---- */

static void teardown(struct run *R)
{
	int s;

	for (s = 0; s < MAX_PROCS; s++)
		if (R->procs[s].live)
			kill_slot(R, s);
	if (R->cg) {
		int i;

		cg_killall(R->cg);
		for (i = 0; i < 100 && cg_read_strcmp(R->cg, "cgroup.procs", ""); i++) {
			while (waitpid(-1, NULL, WNOHANG) > 0)
				;
			usleep(50000);
		}
		cg_destroy(R->cg);
		free(R->cg);
		R->cg = NULL;
	}
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

/*
 * Run ops [0, n) that @keep keeps (all if NULL).  R->fail says whether and
 * how it failed, R->fail_op after which op.
 */
static void run_program(struct run *R, uint64_t seed, const struct op *ops,
			int n, const bool *keep)
{
	struct fz_cmd init = { .op = W_INIT, .len = npages, .tag = 1 };
	long pswpout = vmstat_of("pswpout");
	char name[64];
	int sv[2], i, last = -1;
	pid_t pid;

	memset(R, 0, sizeof(*R));
	R->desc = calloc(n, DESC);
	R->next_tag = 2;
	R->fail_op = -1;
	snprintf(name, sizeof(name), "cow_pte_fuzz.%d.%d", getpid(), runs++);
	if (!R->desc)
		ksft_exit_fail_msg("out of memory\n");
	if (opt_cgroup >= 0) {
		R->cg = cg_name(root, name);
		if (!R->cg || cg_create(R->cg) ||
		    cg_write(R->cg, "memory.cow_pte", opt_cgroup ? "1" : "0") ||
		    (opt_memory_max &&
		     cg_write(R->cg, "memory.max", (char *)opt_memory_max)))
			ksft_exit_fail_msg("cannot set up cgroup %s\n", name);
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		ksft_exit_fail_msg("socketpair: %s\n", strerror(errno));
	pid = fork();
	if (pid < 0)
		ksft_exit_fail_msg("fork: %s\n", strerror(errno));
	if (pid == 0) {
		close(sv[0]);
		if (R->cg && cg_enter_current(R->cg))
			_exit(1);
		worker_main(sv[1]);
	}
	close(sv[1]);
	R->procs[0] = (struct proc){ true, pid, sv[0], calloc(npages, sizeof(struct pstate)) };
	if (!R->procs[0].pg)
		ksft_exit_fail_msg("out of memory\n");
	if (must(R, 0, &init, "mapping the region"))
		goto out;
	model_fresh(R->procs[0].pg, 0, npages, 1, F_NOHUGE);

	for (i = 0; i < n && !R->fail; i++) {
		int ret;

		if (keep && !keep[i])
			continue;
		last = i;
		ret = exec_op(R, i, &ops[i], R->desc[i]);
		if (ret == 1) {
			R->skipped++;
			snprintf(R->desc[i] + strlen(R->desc[i]),
				 DESC - strlen(R->desc[i]), ": skipped");
		} else if (ret == 0) {
			R->executed++;
		}
		if (opt_verbose)
			ksft_print_msg("%s\n", R->desc[i]);
		if (!R->fail && ret == 0 && R->executed % opt_check_every == 0)
			check_all(R);
		if (R->fail)
			R->fail_op = i;
	}
	if (R->fail == STOP_OOM_KILL)
		R->oom_op = R->fail_op;
	/* Drop what the OOM killer took; check the others (all, at the end). */
	while (R->fail == STOP_OOM_KILL || !R->fail) {
		if (R->fail == STOP_OOM_KILL) {
			kill_slot(R, R->oom_slot);
			R->oom_kills++;
			R->fail = OK;
			R->fail_op = -1;
		}
		if (!check_all(R) || R->fail != STOP_OOM_KILL)
			break;
	}
	if (R->fail && R->fail_op < 0)
		R->fail_op = last;	/* found by the last check */

	/* Did it test anything?  memory.stat is flushed every 2 s. */
	if (R->cg) {
		R->share = R->forks && opt_cgroup > 0 ?
			stat_settles(R->cg, "cow_pte_share", 1, LONG_MAX) :
			stat_of(R->cg, "cow_pte_share");
		R->fallback = stat_of(R->cg, "cow_pte_fallback");
		R->unshare_copy = stat_of(R->cg, "cow_pte_unshare_copy");
		R->unshare_reuse = stat_of(R->cg, "cow_pte_unshare_reuse");
		R->max_events = cg_read_key_long(R->cg, "memory.events", "max ");
	}
	R->swapped_out = vmstat_of("pswpout") - pswpout;
	if (opt_cgroup > 0 && R->forks && R->share <= 0)
		failf(R, FAIL_NOSHARE, "%d forks shared no PTE table (cow_pte_share %ld): the run tested nothing",
		      R->forks, R->share);
out:
	teardown(R);
}

/* ---- shrinking ---- */

static void print_program(const struct run *R, int n, const bool *keep)
{
	int i;

	for (i = 0; i < n; i++)
		if ((!keep || keep[i]) && R->desc[i][0])
			ksft_print_msg("  %s\n", R->desc[i]);
}

static void print_command(uint64_t seed, int n, const bool *keep, int kept)
{
	char *buf = malloc(16 * (size_t)n + 512), *p;
	int i, first = 1;

	if (!buf)
		return;
	p = buf + sprintf(buf, "cow_pte_fuzz --seed %llu --ops %d --region-mb %lu --check-every %d%s%s%s%s",
			  (unsigned long long)seed, n,
			  (unsigned long)(npages * PAGE >> 20), opt_check_every,
			  opt_memory_max ? " --memory-max " : "",
			  opt_memory_max ? opt_memory_max : "",
			  opt_no_mlock ? " --no-mlock" : "",
			  opt_allow_oom_kill ? " --allow-oom-kill" : "");
	if (opt_procs != 6)
		p += sprintf(p, " --procs %d", opt_procs);
	if (opt_cgroup <= 0)
		p += sprintf(p, opt_cgroup ? " --no-cgroup" : " --opt-out");
	if (keep && kept < n) {
		p += sprintf(p, " --keep ");
		for (i = 0; i < n; i++)
			if (keep[i]) {
				p += sprintf(p, "%s%d", first ? "" : ",", i);
				first = 0;
			}
	}
	ksft_print_msg("%s\n", buf);
	free(buf);
}

/*
 * Delta debugging over the kept ops of a failing run: the smallest set of
 * ops (within the budget) whose run still fails the same way.
 */
static void shrink(uint64_t seed, const struct op *ops, int n, bool *keep,
		   struct run *best)
{
	enum fail_kind kind = best->fail;
	int *list = malloc(n * sizeof(int)), len = 0, i, parts = 2, tries = 0;
	bool *cand = malloc(n);
	time_t t0 = time(NULL);

	if (!list || !cand)
		return;
	for (i = 0; i <= best->fail_op; i++)
		if (keep[i])
			list[len++] = i;
	memset(keep, 0, n);
	for (i = 0; i < len; i++)
		keep[list[i]] = true;

	while (len >= 2 && tries < opt_shrink_runs &&
	       time(NULL) - t0 < opt_shrink_secs) {
		int chunk = (len + parts - 1) / parts, p;
		bool reduced = false;

		for (p = 0; p < parts && tries < opt_shrink_runs &&
		     time(NULL) - t0 < opt_shrink_secs; p++) {
			struct run R;
			int lo = p * chunk, hi = lo + chunk < len ? lo + chunk : len;

			if (lo >= len)
				break;
			memset(cand, 0, n);
			for (i = 0; i < len; i++)
				if (i < lo || i >= hi)
					cand[list[i]] = true;
			tries++;
			run_program(&R, seed, ops, n, cand);
			if (R.fail == kind) {
				int k = 0;

				/* Keep what ran up to the new failure. */
				for (i = 0; i < len; i++)
					if (cand[list[i]] && list[i] <= R.fail_op)
						list[k++] = list[i];
				len = k;
				memset(keep, 0, n);
				for (i = 0; i < len; i++)
					keep[list[i]] = true;
				free(best->desc);
				*best = R;
				ksft_print_msg("shrink: %d ops still fail (run %d, %lds)\n",
					       len, tries, (long)(time(NULL) - t0));
				parts = parts > 2 ? parts - 1 : 2;
				reduced = true;
				break;
			}
			free(R.desc);
		}
		if (!reduced) {
			if (parts >= len)
				break;
			parts = parts * 2 < len ? parts * 2 : len;
		}
	}
	ksft_print_msg("shrink: %d runs in %lds\n", tries, (long)(time(NULL) - t0));
	free(list);
	free(cand);
}

static bool *parse_keep(const char *s, int n)
{
	bool *keep = calloc(n, 1);
	char *dup = strdup(s), *tok, *save;

	if (!keep || !dup)
		ksft_exit_fail_msg("out of memory\n");
	for (tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int a, b;

		if (sscanf(tok, "%d-%d", &a, &b) != 2)
			b = a = atoi(tok);
		for (; a <= b; a++)
			if (a >= 0 && a < n)
				keep[a] = true;
	}
	free(dup);
	return keep;
}

/* One seed: run, and on a failure say where and shrink it. */
static bool fuzz_seed(uint64_t seed)
{
	struct op *ops = calloc(opt_ops, sizeof(*ops));
	bool *keep = opt_keep ? parse_keep(opt_keep, opt_ops) : NULL;
	time_t t0 = time(NULL);
	struct run R;
	int kept = 0, i;

	if (!ops)
		ksft_exit_fail_msg("out of memory\n");
	gen_ops(seed, ops, opt_ops);
	run_program(&R, seed, ops, opt_ops, keep);
	ksft_print_msg("seed %llu: %d ops run, %d skipped, %d forks, %d checks in %lds; cow_pte_share %ld, fallback %ld, unshare copy %ld reuse %ld; pswpout +%ld, memory.max hit %ld times\n",
		       (unsigned long long)seed, R.executed, R.skipped, R.forks,
		       R.checks, (long)(time(NULL) - t0), R.share, R.fallback,
		       R.unshare_copy, R.unshare_reuse, R.swapped_out, R.max_events);
	if (R.oom_kills)
		ksft_print_msg("seed %llu: a memcg OOM kill after op %d ended it (workers left out: %d); the others were checked\n",
			       (unsigned long long)seed, R.oom_op, R.oom_kills);
	if (!shrinking) {
		total_max_events += R.max_events > 0 ? R.max_events : 0;
		total_swapped_out += R.swapped_out > 0 ? R.swapped_out : 0;
		total_oom_stops += R.oom_kills > 0;
	}
	if (!R.fail || R.fail == STOP_OOM_KILL) {
		ksft_test_result_pass("seed %llu, %d ops\n", (unsigned long long)seed, opt_ops);
		goto out;
	}
	ksft_print_msg("FAIL: seed %llu, after op %d: %s\n",
		       (unsigned long long)seed, R.fail_op, R.why);
	ksft_print_msg("the program up to there:\n");
	print_program(&R, R.fail_op + 1, keep);
	if (!keep) {
		keep = malloc(opt_ops);
		if (!keep)
			ksft_exit_fail_msg("out of memory\n");
		memset(keep, 1, opt_ops);
	}
	if (!opt_no_shrink && R.fail != FAIL_NOSHARE) {
		shrinking = true;
		shrink(seed, ops, opt_ops, keep, &R);
		shrinking = false;
		for (i = 0; i < opt_ops; i++)
			kept += keep[i];
		ksft_print_msg("shortest failing program found (%d ops), fails with: %s\n",
			       kept, R.why);
		print_program(&R, opt_ops, keep);
		ksft_print_msg("reproduce with:\n");
		print_command(seed, R.fail_op + 1, keep, kept);
	} else {
		print_command(seed, opt_ops, keep, opt_ops);
	}
	ksft_test_result_fail("seed %llu, %d ops: %s\n", (unsigned long long)seed,
			      opt_ops, R.why);
out:
	free(R.desc);
	free(ops);
	free(keep);
	return !R.fail;
}

/* ---- set-up ---- */

static struct {
	const char *path, *value;
	char old[32];
} knobs[] = {
	/* KSM merges what MADV_MERGEABLE offers, khugepaged collapses. */
	{ "/sys/kernel/mm/ksm/pages_to_scan", "200" },
	{ "/sys/kernel/mm/ksm/sleep_millisecs", "50" },
	{ "/sys/kernel/mm/ksm/run", "1" },
	{ "/sys/kernel/mm/transparent_hugepage/khugepaged/scan_sleep_millisecs", "200" },
	{ "/sys/kernel/mm/transparent_hugepage/khugepaged/alloc_sleep_millisecs", "200" },
};

static void restore_knobs(void)
{
	size_t i;

	for (i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++)
		if (knobs[i].old[0])
			write_text(knobs[i].path, knobs[i].old, strlen(knobs[i].old));
}

static void set_knobs(void)
{
	size_t i;

	for (i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++) {
		char *nl;

		if (read_text(knobs[i].path, knobs[i].old, sizeof(knobs[i].old)) <= 0) {
			knobs[i].old[0] = 0;
			ksft_print_msg("cannot read %s: left alone\n", knobs[i].path);
			continue;
		}
		nl = strchr(knobs[i].old, '\n');
		if (nl)
			*nl = 0;
		write_text(knobs[i].path, (char *)knobs[i].value, strlen(knobs[i].value));
	}
	atexit(restore_knobs);
}

/* The file O_DIRECT ops use, and whether O_DIRECT works here. */
static void setup_data_file(void)
{
	int fd, dfd;

	snprintf(data_file, sizeof(data_file), DATA_FILE, getpid());
	fd = open(data_file, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, npages * PAGE))
		ksft_exit_fail_msg("cannot create %s: %s\n", data_file, strerror(errno));
	close(fd);
	dfd = open(data_file, O_RDONLY | O_DIRECT);
	odirect_ok = dfd >= 0;
	if (dfd >= 0) {
		char *buf = aligned_alloc(PAGE, PAGE);

		odirect_ok = buf && pread(dfd, buf, PAGE, 0) == PAGE;
		free(buf);
		close(dfd);
	}
	if (!odirect_ok)
		ksft_print_msg("O_DIRECT does not work in this directory: the O_DIRECT ops are skipped (run from a disk)\n");
}

static void usage(const char *prog)
{
	fprintf(stderr,
		"Usage: %s [--seed N] [--count K | --minutes M] [--ops N] [--keep LIST]\n"
		"       [--check-every N] [--region-mb M] [--procs N] [--memory-max BYTES]\n"
		"       [--no-mlock] [--expect-swap] [--allow-oom-kill] [--no-shrink]\n"
		"       [--shrink-runs N] [--shrink-seconds S]\n"
		"       [--no-sysfs] [--verbose] [--opt-out | --no-cgroup]\n", prog);
	exit(KSFT_FAIL);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "count", required_argument, NULL, 'c' },
		{ "minutes", required_argument, NULL, 'm' },
		{ "ops", required_argument, NULL, 'n' },
		{ "keep", required_argument, NULL, 'k' },
		{ "check-every", required_argument, NULL, 'e' },
		{ "region-mb", required_argument, NULL, 'r' },
		{ "procs", required_argument, NULL, 'p' },
		{ "memory-max", required_argument, NULL, 'M' },
		{ "no-mlock", no_argument, NULL, 'L' },
		{ "expect-swap", no_argument, NULL, 'S' },
		{ "allow-oom-kill", no_argument, NULL, 'K' },
		{ "no-shrink", no_argument, NULL, 'N' },
		{ "shrink-runs", required_argument, NULL, 'R' },
		{ "shrink-seconds", required_argument, NULL, 'T' },
		{ "no-sysfs", no_argument, NULL, 'Y' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "opt-out", no_argument, NULL, 'O' },
		{ "no-cgroup", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ }
	};
	time_t t0;
	uint64_t seed;
	int o, done = 0, failed = 0;

	if (argc == 3 && !strcmp(argv[1], "--worker"))
		worker_exec_main(argc, argv);
	worker_set_argv(argv);
	while ((o = getopt_long(argc, argv, "v", longopts, NULL)) != -1) {
		switch (o) {
		case 's': opt_seed = strtoull(optarg, NULL, 0); break;
		case 'c': opt_count = atoi(optarg); break;
		case 'm': opt_minutes = atof(optarg); break;
		case 'n': opt_ops = atoi(optarg); break;
		case 'k': opt_keep = optarg; break;
		case 'e': opt_check_every = atoi(optarg); break;
		case 'r': npages = strtoul(optarg, NULL, 0) * (1UL << 20) / PAGE; break;
		case 'p': opt_procs = atoi(optarg); break;
		case 'M': opt_memory_max = optarg; break;
		case 'L': opt_no_mlock = true; break;
		case 'S': opt_expect_swap = true; break;
		case 'K': opt_allow_oom_kill = true; break;
		case 'N': opt_no_shrink = true; break;
		case 'R': opt_shrink_runs = atoi(optarg); break;
		case 'T': opt_shrink_secs = atoi(optarg); break;
		case 'Y': opt_no_sysfs = true; break;
		case 'v': opt_verbose = true; break;
		case 'O': opt_cgroup = 0; break;
		case 'C': opt_cgroup = -1; break;
		default: usage(argv[0]);
		}
	}
	if (opt_ops < 1 || opt_check_every < 1 || opt_procs < 1 ||
	    opt_procs > MAX_PROCS || npages < PMD / PAGE || npages % (PMD / PAGE) ||
	    npages > (256UL << 20) / PAGE || opt_count < 1)
		usage(argv[0]);

	ksft_print_header();
	if (opt_cgroup >= 0)
		cow_pte_setup(root, sizeof(root));
	else
		setvbuf(stdout, NULL, _IOLBF, 0);
	/* Orphaned workers come to us, as zombies that tell why they died. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	signal(SIGPIPE, SIG_IGN);
	setup_data_file();
	if (!opt_no_sysfs)
		set_knobs();
	if (!opt_minutes)
		ksft_set_plan(opt_count + opt_expect_swap);
	ksft_print_msg("region %lu MiB, %d processes at most, %d ops a seed, a check every %d ops%s%s\n",
		       (unsigned long)(npages * PAGE >> 20), opt_procs, opt_ops,
		       opt_check_every, opt_memory_max ? ", memory.max " : "",
		       opt_memory_max ? opt_memory_max : "");

	t0 = time(NULL);
	for (seed = opt_seed;; seed++) {
		if (opt_minutes ? time(NULL) - t0 >= opt_minutes * 60 :
		    done >= opt_count)
			break;
		failed += !fuzz_seed(seed);
		done++;
	}
	unlink(data_file);
	ksft_print_msg("%d seeds (%llu to %llu), %d failed, %d ended by a memcg OOM kill, in %lds\n",
		       done, (unsigned long long)opt_seed,
		       (unsigned long long)(opt_seed + done - 1), failed,
		       total_oom_stops, (long)(time(NULL) - t0));
	/*
	 * Under pressure, all seeds together must have hit memory.max and
	 * swapped (one random program may well stay below the limit).
	 */
	if (opt_expect_swap) {
		bool ok = total_max_events > 0 && total_swapped_out > 0;

		ksft_test_result(ok, "memory pressure: memory.max hit %ld times, %ld pages swapped out%s\n",
				 total_max_events, total_swapped_out,
				 ok ? "" : " (--memory-max is not tight enough)");
	}
	if (opt_minutes)
		ksft_set_plan(done + opt_expect_swap);
	ksft_finished();
}
