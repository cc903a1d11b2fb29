// SPDX-License-Identifier: GPL-2.0
/*
 * An AFL++ fork-server target with a large heap: the expensive set-up (a
 * heap of AFLB_HEAP_MIB MiB, default 256, every page touched, order-0 pages)
 * happens before the fork point (__AFL_INIT), so every execution is a fork
 * of a process that maps it all.  Each execution parses the input a little
 * and writes a few heap pages the input picks, as a real target would.
 *
 * Build: afl-clang-fast -O2 -o afl-target afl-target.c
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(void)
{
	size_t mib = 256, len, npages, i;
	unsigned char buf[256];
	const char *env = getenv("AFLB_HEAP_MIB");
	unsigned int sum = 0;
	ssize_t n;
	char *heap;

	if (env)
		mib = strtoul(env, NULL, 0);
	len = mib << 20;
	npages = len / 4096;
	heap = mmap(NULL, len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (heap == MAP_FAILED)
		return 1;
	madvise(heap, len, MADV_NOHUGEPAGE);
	for (i = 0; i < len; i += 4096)
		heap[i] = (char)i | 1;

#ifdef __AFL_HAVE_MANUAL_CONTROL
	__AFL_INIT();
#endif

	n = read(0, buf, sizeof(buf));
	if (n <= 0)
		return 0;
	/* Up to 8 page writes, at pages the input picks. */
	for (i = 0; i + 3 < (size_t)n && i < 32; i += 4) {
		size_t pg = (buf[i] | buf[i + 1] << 8 | buf[i + 2] << 16) % npages;

		heap[pg * 4096] = buf[i + 3];
		sum += buf[i + 3];
	}
	if (n > 4 && buf[0] == 'C' && buf[1] == 'O' && buf[2] == 'W') {
		if (buf[3] == '!' && sum == 0x1234)
			abort();
		return 2;
	}
	return sum & 1;
}
