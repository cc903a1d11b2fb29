/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The COW PTE differential fuzzer: what its controller (cow_pte_fuzz.c)
 * and its workers (cow_pte_fuzz_worker.c) say to each other.
 *
 * Every worker is one process of the tree under test; it maps the same
 * region at REGION_ADDR and does what the controller's commands say, one
 * command at a time, over a stream socket.  The controller holds the model
 * of what every page of every worker must contain and checks it.
 */
#ifndef COW_PTE_FUZZ_H
#define COW_PTE_FUZZ_H

#include <stdint.h>
#include <sys/types.h>

#define REGION_ADDR	0x100000000000UL	/* the same in every worker */
/* O_DIRECT's file, in the current directory; %d: the controller's pid */
#define DATA_FILE	"cow_pte_fuzz.%d.data"

enum worker_op {
	W_INIT,		/* map len pages at REGION_ADDR, fill them with tag */
	W_WRITE,	/* fill [start, start + len) with tag; arg: FILL_* */
	W_READ,		/* read a word of every page */
	W_MUNMAP,
	W_MMAP,		/* fresh anonymous memory (MAP_FIXED), filled if tag */
	W_MPROTECT,	/* arg: PROT_* */
	W_MREMAP,	/* to page arg; arg2: MREMAP_* flags */
	W_MADVISE,	/* arg: MADV_* */
	W_MLOCK,	/* arg: 1 mlock, 0 munlock */
	W_UFFD,		/* drop, register MISSING, resolve faults; arg: salt */
	W_ODIRECT_IN,	/* O_DIRECT read of tag's pattern into the range; */
	W_ODIRECT_OUT,	/* O_DIRECT write of the range, read back, compare; */
			/* both: arg2 is the controller's pid (DATA_FILE) */
	W_FORK,		/* arg: 1 from a new thread; reply carries the fd */
	W_EXEC,		/* re-exec this program as a worker (--worker FD) */
	W_EXIT,
	W_CHECK,	/* payload: a mode byte per page; reply: page_seen[] */
};

/* W_WRITE's arg */
#define FILL_THREAD	1	/* write from a new thread */
#define FILL_DUP	2	/* every page like page 0: something for KSM */

/* W_CHECK's modes */
#define CHECK_SKIP	0
#define CHECK_READ	1	/* read it */
#define CHECK_PROCMEM	2	/* PROT_NONE: read it through /proc/self/mem */

/* UFFDIO_ZEROPAGE instead of UFFDIO_COPY for this page (W_UFFD). */
static inline int uffd_zero(uint64_t page, uint64_t salt)
{
	return (page + salt) % 3 == 0;
}

struct fz_cmd {
	uint32_t op;
	uint32_t tag;
	uint64_t start;		/* pages from REGION_ADDR */
	uint64_t len;		/* pages */
	uint64_t arg;
	uint64_t arg2;
};

struct fz_reply {
	int32_t ret;		/* 0, or -errno of what failed */
	int32_t pid;		/* W_FORK: the child; else the worker */
	uint32_t line;		/* where it failed (worker source line) */
	uint32_t payload;	/* bytes that follow */
};

/* What W_CHECK saw in one page: uniform (bad_word == -1) or not. */
struct page_seen {
	uint64_t first;		/* the page's first word */
	uint64_t bad_val;	/* the first word that differs from it */
	int32_t bad_word;	/* its index, -1 if none */
	int32_t err;		/* -errno if the page could not be read */
};

int send_all(int fd, const void *buf, size_t len);
int recv_all(int fd, void *buf, size_t len);

/* Run commands from @sock until it closes; never returns. */
void worker_main(int sock) __attribute__((noreturn));
/* main() for "--worker FD": a worker after W_EXEC. */
void worker_exec_main(int argc, char **argv) __attribute__((noreturn));
/* What W_EXEC executes again. */
void worker_set_argv(char **argv);

#endif
