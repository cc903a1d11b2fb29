// SPDX-License-Identifier: GPL-2.0
/*
 * fork() latency of a process with SIZE MiB of order-0 anonymous memory:
 * the median of REPS forks, each child exiting at once.  Run it in an
 * opted-in and in a plain cgroup in the same boot and compare.
 *
 * Usage: fork-latency SIZE_MIB REPS
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	size_t size;
	int reps, i;
	double *us;
	char *p;

	if (argc != 3) {
		fprintf(stderr, "usage: %s SIZE_MIB REPS\n", argv[0]);
		return 2;
	}
	size = strtoul(argv[1], NULL, 0) << 20;
	reps = atoi(argv[2]);
	us = calloc(reps, sizeof(*us));
	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || !us || reps < 1) {
		perror("fork-latency: mmap");
		return 1;
	}
	madvise(p, size, MADV_NOHUGEPAGE);
	memset(p, 1, size);
	for (i = 0; i < reps; i++) {
		struct timespec a, b;
		pid_t pid;

		clock_gettime(CLOCK_MONOTONIC, &a);
		pid = fork();
		if (pid == 0)
			_exit(0);
		clock_gettime(CLOCK_MONOTONIC, &b);
		if (pid < 0 || waitpid(pid, NULL, 0) != pid) {
			perror("fork-latency: fork");
			return 1;
		}
		us[i] = (b.tv_sec - a.tv_sec) * 1e6 + (b.tv_nsec - a.tv_nsec) / 1e3;
	}
	qsort(us, reps, sizeof(*us), cmp);
	printf("%zu MiB: median fork %.0f us (min %.0f, max %.0f, %d forks)\n",
	       size >> 20, us[reps / 2], us[0], us[reps - 1], reps);
	return 0;
}
