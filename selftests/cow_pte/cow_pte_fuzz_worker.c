// SPDX-License-Identifier: GPL-2.0
/*
 * A worker of the COW PTE fuzzer (see cow_pte_fuzz.h): one process of the
 * tree under test.  It does what it is told and says how it went; it holds
 * no model, so that a corrupted worker cannot corrupt the verdict.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cow_pte_util.h"
#include "cow_pte_fuzz.h"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE	25
#endif

#define REGION	((char *)REGION_ADDR)

static char **exe_argv;

int send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

int recv_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = recv(fd, p, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

static int reply(int sock, int ret, int line, const void *payload,
		 size_t len, int pass_fd)
{
	struct fz_reply r = {
		.ret = ret, .pid = getpid(), .line = line, .payload = len,
	};
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = &r, .iov_len = sizeof(r) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (pass_fd >= 0) {
		struct cmsghdr *c;

		memset(cbuf, 0, sizeof(cbuf));
		msg.msg_control = cbuf;
		msg.msg_controllen = sizeof(cbuf);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
		if (sendmsg(sock, &msg, MSG_NOSIGNAL) != sizeof(r))
			return -1;
	} else if (send_all(sock, &r, sizeof(r))) {
		return -1;
	}
	return len ? send_all(sock, payload, len) : 0;
}

/* Fail a command: -errno and the line it failed on. */
#define FAIL(err)	do { ret = (err); line = __LINE__; goto done; } while (0)
#define SYS(x)		do { if ((x) < 0) FAIL(-errno); } while (0)

struct fill_job {
	char *p;
	uint64_t start, len;
	uint32_t tag;
	bool dup;
};

static void *fill_job(void *arg)
{
	struct fill_job *j = arg;
	uint64_t i;

	for (i = j->start; i < j->start + j->len; i++)
		fill_page(j->p + i * PAGE, j->dup ? 0 : i, j->tag);
	return NULL;
}

struct uffd_reader {
	volatile char *p;
	uint64_t len;
	volatile bool done;
	uint64_t sum;
};

static void *uffd_read_pages(void *arg)
{
	struct uffd_reader *r = arg;
	uint64_t i;

	for (i = 0; i < r->len; i++)
		r->sum += r->p[i * PAGE];
	r->done = true;
	return NULL;
}

/*
 * Drop the range, register it for missing faults and let a thread read
 * every page: each fault gets tag's pattern (UFFDIO_COPY) or zeroes
 * (UFFDIO_ZEROPAGE), as uffd_zero() says.
 */
static int do_uffd(const struct fz_cmd *c, int *line)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { REGION_ADDR + c->start * PAGE, c->len * PAGE },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	struct uffd_reader rd = { .p = REGION + c->start * PAGE, .len = c->len };
	char *buf = aligned_alloc(PAGE, PAGE);
	int uffd, ret = 0, idle = 0;
	pthread_t t;
	bool started = false;

	uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (!buf || uffd < 0) {
		ret = -errno;
		*line = __LINE__;
		free(buf);
		return ret;
	}
	if (madvise(REGION + c->start * PAGE, c->len * PAGE, MADV_DONTNEED) ||
	    ioctl(uffd, UFFDIO_API, &api) || ioctl(uffd, UFFDIO_REGISTER, &reg)) {
		ret = -errno;
		*line = __LINE__;
		goto out;
	}
	if (pthread_create(&t, NULL, uffd_read_pages, &rd)) {
		ret = -EAGAIN;
		*line = __LINE__;
		goto unregister;
	}
	started = true;
	while (!rd.done) {
		struct pollfd pfd = { .fd = uffd, .events = POLLIN };
		struct uffd_msg msg;
		uint64_t page;

		if (poll(&pfd, 1, 100) <= 0) {
			if (++idle > 300) {	/* 30 s without a fault */
				ret = -ETIMEDOUT;
				*line = __LINE__;
				break;
			}
			continue;
		}
		idle = 0;
		if (read(uffd, &msg, sizeof(msg)) != sizeof(msg))
			continue;
		if (msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		page = (msg.arg.pagefault.address - REGION_ADDR) / PAGE;
		if (uffd_zero(page, c->arg)) {
			struct uffdio_zeropage z = {
				.range = { REGION_ADDR + page * PAGE, PAGE },
			};

			if (ioctl(uffd, UFFDIO_ZEROPAGE, &z) && errno != EEXIST) {
				ret = -errno;
				*line = __LINE__;
				break;
			}
		} else {
			struct uffdio_copy cp = {
				.dst = REGION_ADDR + page * PAGE,
				.src = (uintptr_t)buf, .len = PAGE,
			};

			fill_page(buf, page, c->tag);
			if (ioctl(uffd, UFFDIO_COPY, &cp) && errno != EEXIST) {
				ret = -errno;
				*line = __LINE__;
				break;
			}
		}
	}
unregister:
	if (ioctl(uffd, UFFDIO_UNREGISTER, &reg.range) && !ret) {
		ret = -errno;
		*line = __LINE__;
	}
	/* Unregistered, a thread still waiting retries its fault: zeroes. */
	if (started)
		pthread_join(t, NULL);
out:
	close(uffd);
	free(buf);
	return ret;
}

/*
 * An O_DIRECT transfer between the region and data file c->arg2, with a
 * bounce buffer and a buffered descriptor to prepare or check the file.
 */
struct odirect {
	size_t len;
	char *buf;
	int fd, dfd;		/* buffered, O_DIRECT */
};

static int odirect_open(struct odirect *o, const struct fz_cmd *c,
			int flags, int dflags)
{
	char name[64];

	o->len = c->len * PAGE;
	o->buf = aligned_alloc(PAGE, o->len);
	if (!o->buf) {
		o->fd = o->dfd = -1;
		return -ENOMEM;
	}
	snprintf(name, sizeof(name), DATA_FILE, (int)c->arg2);
	o->fd = open(name, flags);
	o->dfd = open(name, dflags | O_DIRECT);
	return o->fd < 0 || o->dfd < 0 ? -errno : 0;
}

static void odirect_close(struct odirect *o)
{
	if (o->fd >= 0)
		close(o->fd);
	if (o->dfd >= 0)
		close(o->dfd);
	free(o->buf);
}

/* The device writes into memory; the CPU must read what it wrote. */
static int do_odirect_in(const struct fz_cmd *c, int *line)
{
	off_t off = c->start * PAGE;
	struct odirect o;
	uint64_t i;
	int ret;

	ret = odirect_open(&o, c, O_RDWR, O_RDONLY);
	if (ret) {
		*line = __LINE__;
		goto out;
	}
	for (i = 0; i < c->len; i++)
		fill_page(o.buf + i * PAGE, c->start + i, c->tag);
	errno = 0;
	if (pwrite(o.fd, o.buf, o.len, off) != (ssize_t)o.len) {
		ret = -EIO;
		*line = __LINE__;
	} else if (pread(o.dfd, REGION + off, o.len, off) != (ssize_t)o.len) {
		ret = errno ? -errno : -EIO;
		*line = __LINE__;
	}
out:
	odirect_close(&o);
	return ret;
}

/* What the device got from memory must be what the CPU reads there. */
static int do_odirect_out(const struct fz_cmd *c, int *line)
{
	off_t off = c->start * PAGE;
	struct odirect o;
	int ret;

	ret = odirect_open(&o, c, O_RDONLY, O_WRONLY);
	if (ret) {
		*line = __LINE__;
		goto out;
	}
	errno = 0;
	if (pwrite(o.dfd, REGION + off, o.len, off) != (ssize_t)o.len) {
		ret = errno ? -errno : -EIO;
		*line = __LINE__;
	} else if (pread(o.fd, o.buf, o.len, off) != (ssize_t)o.len) {
		ret = -EIO;
		*line = __LINE__;
	} else if (memcmp(o.buf, REGION + off, o.len)) {
		ret = -EBADMSG;
		*line = __LINE__;
	}
out:
	odirect_close(&o);
	return ret;
}

static void see_page(const uint64_t *q, struct page_seen *s)
{
	int w;

	s->first = q[0];
	s->bad_word = -1;
	s->bad_val = 0;
	s->err = 0;
	for (w = 1; w < (int)(PAGE / 8); w++)
		if (q[w] != q[0]) {
			s->bad_word = w;
			s->bad_val = q[w];
			break;
		}
}

static int do_check(int sock, const struct fz_cmd *c, struct page_seen **out,
		    int *line)
{
	uint8_t *mode = malloc(c->len);
	struct page_seen *seen = calloc(c->len, sizeof(*seen));
	uint64_t *buf = aligned_alloc(PAGE, PAGE);
	int memfd = -1;
	uint64_t i;

	*out = seen;
	if (!mode || !seen || !buf || recv_all(sock, mode, c->len)) {
		free(mode);
		free(buf);
		*line = __LINE__;
		return -EIO;
	}
	for (i = 0; i < c->len; i++) {
		char *p = REGION + i * PAGE;

		switch (mode[i]) {
		case CHECK_READ:
			see_page((uint64_t *)p, &seen[i]);
			break;
		case CHECK_PROCMEM:
			if (memfd < 0)
				memfd = open("/proc/self/mem", O_RDONLY);
			if (memfd < 0 ||
			    pread(memfd, buf, PAGE, (uintptr_t)p) != PAGE) {
				seen[i].err = errno ? -errno : -EIO;
				break;
			}
			see_page(buf, &seen[i]);
			break;
		}
	}
	if (memfd >= 0)
		close(memfd);
	free(mode);
	free(buf);
	return 0;
}

struct fork_job {
	pid_t pid;
	int err;
	int sock;		/* the worker's */
	int sv[2];		/* the child's: [0] to the controller */
};

/*
 * Fork; the child (of the thread that forked, if it was one) becomes a
 * worker of its own on sv[1], nested, so it also works on a thread's stack.
 */
static void *fork_job(void *arg)
{
	struct fork_job *j = arg;

	j->pid = fork();
	j->err = errno;
	if (j->pid == 0) {
		close(j->sock);
		close(j->sv[0]);
		worker_main(j->sv[1]);
	}
	return NULL;
}

void worker_main(int sock)
{
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		struct page_seen *seen = NULL;
		size_t payload = 0;
		struct fz_cmd c;
		int ret = 0, line = 0, pass_fd = -1, child_sock = -1;
		char *p;

		if (recv_all(sock, &c, sizeof(c)))
			_exit(0);	/* the controller is gone */
		p = REGION + c.start * PAGE;
		switch (c.op) {
		case W_INIT: {
			void *m = mmap(REGION, c.len * PAGE, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS |
				       MAP_FIXED_NOREPLACE, -1, 0);

			if (m != REGION)
				FAIL(m == MAP_FAILED ? -errno : -EEXIST);
			SYS(madvise(REGION, c.len * PAGE, MADV_NOHUGEPAGE));
			if (c.tag) {
				struct fill_job j = { REGION, 0, c.len, c.tag };

				fill_job(&j);
			}
			break;
		}
		case W_WRITE: {
			struct fill_job j = {
				REGION, c.start, c.len, c.tag, c.arg & FILL_DUP,
			};
			pthread_t t;

			if (!(c.arg & FILL_THREAD)) {
				fill_job(&j);
				break;
			}
			if (pthread_create(&t, NULL, fill_job, &j))
				FAIL(-EAGAIN);
			pthread_join(t, NULL);
			break;
		}
		case W_READ: {
			volatile uint64_t sum = 0;
			uint64_t i;

			for (i = 0; i < c.len; i++)
				sum += *(volatile uint64_t *)(p + i * PAGE);
			(void)sum;
			break;
		}
		case W_MUNMAP:
			SYS(munmap(p, c.len * PAGE));
			break;
		case W_MMAP:
			if (mmap(p, c.len * PAGE, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
				 -1, 0) != p)
				FAIL(-errno);
			if (c.tag) {
				struct fill_job j = { REGION, c.start, c.len, c.tag };

				fill_job(&j);
			}
			break;
		case W_MPROTECT:
			SYS(mprotect(p, c.len * PAGE, c.arg));
			break;
		case W_MREMAP: {
			char *to = REGION + c.arg * PAGE;

			if (mremap(p, c.len * PAGE, c.len * PAGE, c.arg2, to) != to)
				FAIL(-errno);
			break;
		}
		case W_MADVISE:
			SYS(madvise(p, c.len * PAGE, c.arg));
			break;
		case W_MLOCK:
			if (c.arg)
				SYS(mlock(p, c.len * PAGE));
			else
				SYS(munlock(p, c.len * PAGE));
			break;
		case W_UFFD:
			ret = do_uffd(&c, &line);
			break;
		case W_ODIRECT_IN:
			ret = do_odirect_in(&c, &line);
			break;
		case W_ODIRECT_OUT:
			ret = do_odirect_out(&c, &line);
			break;
		case W_FORK: {
			struct fork_job j = { .sock = sock };
			pthread_t t;

			SYS(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, j.sv));
			if (c.arg) {
				if (pthread_create(&t, NULL, fork_job, &j)) {
					close(j.sv[0]);
					close(j.sv[1]);
					FAIL(-EAGAIN);
				}
				pthread_join(t, NULL);
			} else {
				fork_job(&j);
			}
			close(j.sv[1]);
			if (j.pid < 0) {
				close(j.sv[0]);
				FAIL(-j.err);
			}
			pass_fd = child_sock = j.sv[0];
			ret = j.pid;	/* the reply's ret: the child */
			break;
		}
		case W_EXEC: {
			char fd[16];
			char *argv[] = { exe_argv ? exe_argv[0] : "cow_pte_fuzz",
					 "--worker", fd, NULL };

			snprintf(fd, sizeof(fd), "%d", sock);
			if (fcntl(sock, F_SETFD, 0))
				FAIL(-errno);
			execv("/proc/self/exe", argv);
			FAIL(-errno);
		}
		case W_EXIT:
			reply(sock, 0, 0, NULL, 0, -1);
			_exit(0);
		case W_CHECK:
			ret = do_check(sock, &c, &seen, &line);
			if (!ret)
				payload = c.len * sizeof(*seen);
			break;
		default:
			FAIL(-EINVAL);
		}
done:
		if (reply(sock, ret, line, seen, payload, pass_fd))
			_exit(1);
		free(seen);
		if (child_sock >= 0)
			close(child_sock);
	}
}

/* Called by main() of cow_pte_fuzz for "--worker FD" (after W_EXEC). */
void worker_exec_main(int argc, char **argv)
{
	int sock = atoi(argv[2]);

	exe_argv = argv;
	fcntl(sock, F_SETFD, FD_CLOEXEC);
	if (reply(sock, 0, 0, NULL, 0, -1))
		_exit(1);
	worker_main(sock);
}

void worker_set_argv(char **argv)
{
	exe_argv = argv;
}
