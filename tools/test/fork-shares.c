// SPDX-License-Identifier: GPL-2.0
/*
 * fork-shares: does a fork in the current cgroup share page tables?
 *
 * The parent maps SIZE MiB of private anonymous memory (no huge pages),
 * touches every page and forks; the child reads VmPTEShared from
 * /proc/self/status.  Exit 0 when the child maps shared tables (or, with -n,
 * when it maps none), 1 otherwise, 2 on a usage or system error.
 *
 * Built statically (make fork-shares) so that it runs in a container's
 * minimal root.  Used by the user-space tests (libcgroup, crun, runc, the
 * OCI hook, systemd units) and shown in docs/operator-guide.md.
 *
 * Usage: fork-shares [-n] [-s SIZE_MIB]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* VmPTEShared in kB, or -1 when the kernel does not report it. */
static long vm_pte_shared(void)
{
	char line[256];
	long kb = -1;
	FILE *f;

	f = fopen("/proc/self/status", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmPTEShared: %ld kB", &kb) == 1)
			break;
	fclose(f);

	return kb;
}

int main(int argc, char **argv)
{
	size_t size = 64UL << 20;
	int expect_none = 0, opt, status;
	char *p;
	pid_t pid;

	while ((opt = getopt(argc, argv, "ns:")) != -1) {
		switch (opt) {
		case 'n':
			expect_none = 1;
			break;
		case 's':
			size = strtoul(optarg, NULL, 0) << 20;
			break;
		default:
			fprintf(stderr, "usage: fork-shares [-n] [-s SIZE_MIB]\n");
			return 2;
		}
	}
	if (!size) {
		fprintf(stderr, "fork-shares: bad size\n");
		return 2;
	}

	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("fork-shares: mmap");
		return 2;
	}
	/* 4 KiB pages under PTE tables, not a few PMD mappings. */
	if (madvise(p, size, MADV_NOHUGEPAGE))
		perror("fork-shares: madvise(MADV_NOHUGEPAGE)");
	memset(p, 1, size);

	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		perror("fork-shares: fork");
		return 2;
	}
	if (!pid) {
		long kb = vm_pte_shared();

		if (kb < 0) {
			printf("fork-shares: no VmPTEShared in /proc/self/status: the kernel has no COW page tables\n");
			fflush(stdout);
			_exit(1);
		}
		printf("fork-shares: %zu MiB parent, child VmPTEShared: %ld kB (%s)\n",
		       size >> 20, kb, kb ? "shared" : "not shared");
		fflush(stdout);
		/* Still mapped: the tables stay shared while we look. */
		_exit(expect_none ? kb != 0 : kb == 0 || p[size - 1] != 1);
	}
	if (waitpid(pid, &status, 0) != pid) {
		perror("fork-shares: waitpid");
		return 2;
	}
	if (!WIFEXITED(status)) {
		fprintf(stderr, "fork-shares: the child died (status %#x)\n", status);
		return 1;
	}

	return WEXITSTATUS(status);
}
