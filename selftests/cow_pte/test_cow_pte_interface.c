// SPDX-License-Identifier: GPL-2.0
/*
 * The memory.cow_pte interface: where the files exist, the values they take,
 * how the setting is inherited, who may write it, and the cow_pte= boot
 * parameter.
 *
 * Usage: test_cow_pte_interface [TEST...]   (default: every test)
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <linux/limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../kselftest.h"
#include "cgroup_util.h"
#include "cow_pte_util.h"

#define COW_PTE		"memory.cow_pte"
#define COW_PTE_EFF	"memory.cow_pte.effective"

static bool booted_off;	/* cow_pte=off on the kernel command line */

/* Create every cgroup named (a NULL-terminated list, parents first). */
static int create_all(char **cgroups)
{
	for (; *cgroups; cgroups++)
		if (cg_create(*cgroups))
			return -1;
	return 0;
}

/* Destroy the cgroups of a list made for create_all(), children first. */
static void destroy_all(char **cgroups, int n)
{
	while (n--) {
		if (cgroups[n])
			cg_destroy(cgroups[n]);
		free(cgroups[n]);
	}
}

static int expect_value(const char *cgroup, const char *file, const char *want)
{
	char buf[16];

	if (cg_read(cgroup, file, buf, sizeof(buf))) {
		ksft_print_msg("cannot read %s/%s\n", cgroup, file);
		return -1;
	}
	if (strcmp(buf, want)) {
		ksft_print_msg("%s/%s is \"%.*s\", expected \"%.*s\"\n", cgroup,
			       file, (int)strcspn(buf, "\n"), buf,
			       (int)strcspn(want, "\n"), want);
		return -1;
	}
	return 0;
}

/* Check a cgroup's own setting and its effective state. */
static int expect_state(const char *cgroup, int own, int effective)
{
	char o[4], e[4];

	snprintf(o, sizeof(o), "%d\n", own);
	snprintf(e, sizeof(e), "%d\n", effective);
	if (expect_value(cgroup, COW_PTE, o) ||
	    expect_value(cgroup, COW_PTE_EFF, e))
		return -1;
	return 0;
}

static int set_cow_pte(const char *cgroup, char *value)
{
	int ret = cg_write(cgroup, COW_PTE, value);

	if (ret)
		ksft_print_msg("writing \"%s\" to %s/%s: %s\n", value, cgroup,
			       COW_PTE, strerror(-ret));
	return ret;
}

/*
 * A read-only file has no write permission bits and refuses a write the
 * same way as memory.current does, even from root.
 */
static int expect_read_only(const char *cgroup, const char *file)
{
	char *path = cg_control(cgroup, file);
	struct stat st;
	int err, ref;

	if (!path || stat(path, &st)) {
		free(path);
		return -1;
	}
	free(path);
	if (st.st_mode & 0222) {
		ksft_print_msg("%s/%s has mode %o\n", cgroup, file, st.st_mode & 0777);
		return -1;
	}
	err = cg_write(cgroup, file, "1");
	ref = cg_write(cgroup, "memory.current", "1");
	if (!err || err != ref) {
		ksft_print_msg("writing %s/%s returned %s, memory.current %s\n",
			       cgroup, file, err ? strerror(-err) : "success",
			       ref ? strerror(-ref) : "success");
		return -1;
	}
	return 0;
}

/*
 * Run @check on a new cgroup below @root and remove the cgroup afterwards.
 * @check returns 0 when the behaviour is right.
 */
static int on_new_cgroup(const char *root, int (*check)(const char *cg))
{
	char *cg = cg_name(root, "cow_pte_test");
	int ret = KSFT_FAIL;

	if (cg && !cg_create(cg) && !check(cg))
		ret = KSFT_PASS;
	if (cg)
		cg_destroy(cg);
	free(cg);
	return ret;
}

/* The files exist on every non-root cgroup, and only there. */
static int test_files_on_non_root_only(const char *root)
{
	char *cg = cg_name(root, "cow_pte_test");
	char *path = NULL;
	int ret = KSFT_FAIL;

	if (!cg || cg_create(cg))
		goto out;
	if (asprintf(&path, "%s/%s", root, COW_PTE) < 0)
		goto out;
	if (access(path, F_OK) == 0 || errno != ENOENT) {
		ksft_print_msg("%s exists on the root cgroup\n", COW_PTE);
		goto out;
	}
	free(path);
	if (asprintf(&path, "%s/%s", root, COW_PTE_EFF) < 0) {
		path = NULL;
		goto out;
	}
	if (access(path, F_OK) == 0 || errno != ENOENT) {
		ksft_print_msg("%s exists on the root cgroup\n", COW_PTE_EFF);
		goto out;
	}
	free(path);
	path = cg_control(cg, COW_PTE);
	if (access(path, R_OK | W_OK)) {
		ksft_print_msg("%s: %s\n", path, strerror(errno));
		goto out;
	}
	free(path);
	path = cg_control(cg, COW_PTE_EFF);
	if (access(path, R_OK)) {
		ksft_print_msg("%s: %s\n", path, strerror(errno));
		goto out;
	}
	if (expect_read_only(cg, COW_PTE_EFF))
		goto out;
	ret = KSFT_PASS;
out:
	free(path);
	if (cg)
		cg_destroy(cg);
	free(cg);
	return ret;
}

/* A new cgroup starts off. */
static int default_off(const char *cg)
{
	return expect_state(cg, 0, 0);
}

static int test_default_off(const char *root)
{
	return on_new_cgroup(root, default_off);
}

/* "0" and "1" are accepted, with and without a newline, and read back. */
static int valid_values(const char *cg)
{
	static const struct {
		char *write;
		int value;
	} steps[] = {
		{ "1", 1 }, { "0", 0 }, { "1\n", 1 }, { "1", 1 },
		{ "0\n", 0 }, { "0", 0 },
	};
	int i;

	for (i = 0; i < ARRAY_SIZE(steps); i++)
		if (set_cow_pte(cg, steps[i].write) ||
		    expect_state(cg, steps[i].value, steps[i].value))
			return -1;
	return 0;
}

static int test_valid_values(const char *root)
{
	return on_new_cgroup(root, valid_values);
}

/* Anything else is EINVAL and changes nothing, whatever the value was. */
static int invalid_values(const char *cg)
{
	static char * const bad[] = {
		"2", "-1", "10", "01", "0x1", "+1", "1 1", "1x", "on", "off",
		"y", "n", "true", "max", "\n", " ",
	};
	int before, i, err;

	for (before = 0; before <= (booted_off ? 0 : 1); before++) {
		if (set_cow_pte(cg, before ? "1" : "0"))
			return -1;
		for (i = 0; i < ARRAY_SIZE(bad); i++) {
			err = cg_write(cg, COW_PTE, bad[i]);
			if (err != -EINVAL) {
				ksft_print_msg("writing \"%s\" returned %s, expected EINVAL\n",
					       bad[i], err ? strerror(-err) : "success");
				return -1;
			}
			if (expect_state(cg, before, before))
				return -1;
		}
	}
	return 0;
}

static int test_invalid_values(const char *root)
{
	return on_new_cgroup(root, invalid_values);
}

/* The value stays through unrelated activity in and around the cgroup. */
static int test_persistence(const char *root)
{
	char *cg = cg_name(root, "cow_pte_test");
	char *child = cg_name(root, "cow_pte_test/child");
	char *sibling = cg_name(root, "cow_pte_sibling");
	int ret = KSFT_FAIL;

	if (!cg || !child || !sibling || cg_create(cg) || cg_create(sibling))
		goto out;
	/* A process comes and goes, then a child cgroup does. */
	if (set_cow_pte(cg, "1") ||
	    cg_enter_current(cg) || cg_enter_current(root) ||
	    cg_write(cg, "cgroup.subtree_control", "+memory") ||
	    cg_create(child) || cg_destroy(child) ||
	    cg_write(cg, "memory.high", "512M") ||
	    cg_write(sibling, COW_PTE, "0")) {
		ksft_print_msg("could not change the cgroups around %s\n", cg);
		goto out;
	}
	if (expect_state(cg, 1, 1) || expect_state(sibling, 0, 0))
		goto out;
	/* Writing the same value again is not an error. */
	if (set_cow_pte(cg, "1") || expect_state(cg, 1, 1))
		goto out;
	ret = KSFT_PASS;
out:
	cg_enter_current(root);
	if (cg)
		cg_destroy(cg);
	if (sibling)
		cg_destroy(sibling);
	free(cg);
	free(child);
	free(sibling);
	return ret;
}

/*
 * A cgroup is opted in when it or any ancestor holds 1: check the effective
 * state of every level of a four-deep tree, of a cgroup created inside an
 * opted-in subtree, and of a sibling subtree that must stay out.
 */
static int test_hierarchy(const char *root)
{
	char *cg[] = {
		cg_name(root, "cow_pte_a"),
		cg_name(root, "cow_pte_a/b"),
		cg_name(root, "cow_pte_a/b/c"),
		cg_name(root, "cow_pte_a/b/c/d"),
		cg_name(root, "cow_pte_s"),
		NULL,
	};
	char *late = cg_name(root, "cow_pte_a/b/c/late");
	enum { A, B, C, D, S, N };
	int ret = KSFT_FAIL;
	int i;

	for (i = 0; i < N; i++)
		if (!cg[i])
			goto out;
	if (!late || create_all(cg))
		goto out;
	for (i = A; i < D; i++)
		if (cg_write(cg[i], "cgroup.subtree_control", "+memory"))
			goto out;

	/* The top opts the whole subtree in, and nothing else. */
	if (set_cow_pte(cg[A], "1") ||
	    expect_state(cg[A], 1, 1) || expect_state(cg[B], 0, 1) ||
	    expect_state(cg[C], 0, 1) || expect_state(cg[D], 0, 1) ||
	    expect_state(cg[S], 0, 0))
		goto out;

	/* A cgroup created later inside the subtree is in as well. */
	if (cg_create(late) || expect_state(late, 0, 1))
		goto out;

	/* A 0 further down does not opt out. */
	if (set_cow_pte(cg[C], "0") || expect_state(cg[C], 0, 1) ||
	    expect_state(cg[D], 0, 1))
		goto out;

	/* Moving the opt-in down leaves the levels above it out. */
	if (set_cow_pte(cg[C], "1") || set_cow_pte(cg[A], "0") ||
	    expect_state(cg[A], 0, 0) || expect_state(cg[B], 0, 0) ||
	    expect_state(cg[C], 1, 1) || expect_state(cg[D], 0, 1) ||
	    expect_state(late, 0, 1))
		goto out;

	/* Opting in at two levels, then out at one, keeps the other. */
	if (set_cow_pte(cg[A], "1") || set_cow_pte(cg[C], "0") ||
	    expect_state(cg[D], 0, 1) || set_cow_pte(cg[A], "0") ||
	    expect_state(cg[B], 0, 0) || expect_state(cg[C], 0, 0) ||
	    expect_state(cg[D], 0, 0) || expect_state(late, 0, 0))
		goto out;
	ret = KSFT_PASS;
out:
	if (late)
		cg_destroy(late);
	free(late);
	destroy_all(cg, N);
	return ret;
}

/*
 * An unprivileged writer is refused, the same way as for memory.high, and
 * the value does not change.
 */
static int unprivileged_write(const char *cg)
{
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int cow, high;

		if (setgid(65534) || setuid(65534))
			_exit(2);
		cow = cg_write(cg, COW_PTE, "1");
		high = cg_write(cg, "memory.high", "max");
		if (cow != -EACCES || high != -EACCES) {
			ksft_print_msg("as uid 65534: %s gives %s, memory.high gives %s\n",
				       COW_PTE, cow ? strerror(-cow) : "success",
				       high ? strerror(-high) : "success");
			_exit(1);
		}
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status)) {
		ksft_print_msg("the unprivileged writer was not refused\n");
		return -1;
	}
	return expect_state(cg, 0, 0);
}

static int test_unprivileged_write(const char *root)
{
	return on_new_cgroup(root, unprivileged_write);
}

/* Is @needle in the kernel log lines that follow @fd's position? */
static bool kmsg_has(int fd, const char *needle)
{
	char rec[1024];
	ssize_t n;

	while ((n = read(fd, rec, sizeof(rec) - 1)) > 0 || (n < 0 && errno == EPIPE)) {
		if (n <= 0)
			continue;
		rec[n] = '\0';
		if (strstr(rec, needle))
			return true;
	}
	return false;
}

/*
 * With cow_pte=off, writing 1 fails with EOPNOTSUPP, says why in the kernel
 * log and changes nothing, while 0 is still accepted; without it, 1 is
 * accepted.
 */
static int boot_switch(const char *cg)
{
	int kmsg, err, ret = -1;

	if (!booted_off)
		return set_cow_pte(cg, "1") || expect_state(cg, 1, 1);

	kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	if (kmsg < 0 || lseek(kmsg, 0, SEEK_END) < 0) {
		ksft_print_msg("cannot read /dev/kmsg: %s\n", strerror(errno));
		goto out;
	}
	err = cg_write(cg, COW_PTE, "1");
	if (err != -EOPNOTSUPP) {
		ksft_print_msg("with cow_pte=off, writing 1 returned %s, expected EOPNOTSUPP\n",
			       err ? strerror(-err) : "success");
		goto out;
	}
	if (!kmsg_has(kmsg, "cow_pte=off")) {
		ksft_print_msg("the kernel log does not say why writing 1 failed\n");
		goto out;
	}
	ret = expect_state(cg, 0, 0) || set_cow_pte(cg, "0") ||
	      expect_state(cg, 0, 0);
out:
	if (kmsg >= 0)
		close(kmsg);
	return ret;
}

static int test_boot_switch(const char *root)
{
	return on_new_cgroup(root, boot_switch);
}

#define T(x) { #x, x }
static const struct cow_pte_test tests[] = {
	T(test_files_on_non_root_only),
	T(test_default_off),
	T(test_valid_values),
	T(test_invalid_values),
	T(test_persistence),
	T(test_hierarchy),
	T(test_unprivileged_write),
	T(test_boot_switch),
};
#undef T

int main(int argc, char **argv)
{
	char root[PATH_MAX], cmdline[4096];

	ksft_print_header();
	cow_pte_setup(root, sizeof(root));
	if (read_text("/proc/cmdline", cmdline, sizeof(cmdline)) < 0)
		ksft_exit_fail_msg("cannot read /proc/cmdline\n");
	booted_off = strstr(cmdline, "cow_pte=off") != NULL;
	ksft_print_msg("kernel booted with cow_pte=%s\n", booted_off ? "off" : "on");
	cow_pte_run_tests(tests, ARRAY_SIZE(tests), root, argc, argv);
}
