/* SPDX-License-Identifier: GPL-2.0 */
/* What the COW PTE selftests share: choosing tests by name, reporting. */
#ifndef COW_PTE_UTIL_H
#define COW_PTE_UTIL_H

#include <stdbool.h>
#include <string.h>

#include "../kselftest.h"

/* Run every test when no name is given, else the ones named. */
static inline bool test_selected(const char *name, int argc, char **argv)
{
	int i;

	if (argc < 2)
		return true;
	for (i = 1; i < argc; i++)
		if (!strcmp(argv[i], name))
			return true;
	return false;
}

/* Report a KSFT_PASS/KSFT_SKIP/other result as TAP. */
static inline void report_test(const char *name, int result)
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

#endif
