// SPDX-License-Identifier: GPL-2.0
/*
 * state: the cgroup's memory.cow_pte, memory.cow_pte.effective and the
 * page-table lines of memory.stat, the cgroup that decides the effective
 * state, and the checks that tell the user what is missing.
 */
#include "state.h"
#include "cg.h"
#include "cowpte.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COW_PTE_FILE		CG_CONTROLLER ".cow_pte"
#define COW_PTE_EFFECTIVE_FILE	CG_CONTROLLER ".cow_pte.effective"

const char * const cp_stat_names[CP_NR_STATS] = {
	[CP_PAGETABLES]		= "pagetables",
	[CP_PAGETABLES_SHARED]	= "pagetables_shared",
	[CP_PAGETABLES_SAVED]	= "pagetables_saved",
	[CP_SHARE]		= "cow_pte_share",
	[CP_FALLBACK]		= "cow_pte_fallback",
	[CP_UNSHARE_COPY]	= "cow_pte_unshare_copy",
	[CP_UNSHARE_REUSE]	= "cow_pte_unshare_reuse",
	[CP_UNSHARE_FAIL]	= "cow_pte_unshare_fail",
	[CP_DROP]		= "cow_pte_drop",
};

int cp_cgroup_name(const char *arg, char **name)
{
	const char *p = arg;
	size_t len;
	char *q;

	if (!*arg) {
		cp_err("empty cgroup name (the root cgroup is '/')\n");
		return CP_EXIT_USAGE;
	}

	*name = malloc(strlen(arg) + 1);
	if (!*name)
		return cp_fail(ENOMEM, "%s", arg);

	/* The components, without empty ones, joined by one slash. */
	for (q = *name;; p += len) {
		p += strspn(p, "/");
		if (!*p)
			break;
		len = strcspn(p, "/");
		if ((len == 1 && p[0] == '.') || (len == 2 && !strncmp(p, "..", 2))) {
			cp_err("%s: '.' and '..' are not allowed in a cgroup name\n", arg);
			free(*name);
			*name = NULL;
			return CP_EXIT_USAGE;
		}
		if (q != *name)
			*q++ = '/';
		memcpy(q, p, len);
		q += len;
	}
	*q = '\0';

	return CP_EXIT_OK;
}

/* COWPTE_PROC_ROOT (for the tests) or /proc, and a file in it. */
static void proc_path(const char *file, char *buf, size_t size)
{
	const char *proc = getenv("COWPTE_PROC_ROOT");

	snprintf(buf, size, "%s/%s", proc && *proc ? proc : "/proc", file);
}

/* The kernel's kstrtobool(): 1 for true, 0 for false, -1 otherwise. */
static int parse_bool(const char *s)
{
	switch (s[0]) {
	case 'y': case 'Y': case '1':
		return 1;
	case 'n': case 'N': case '0':
		return 0;
	case 'o': case 'O':
		if (s[1] == 'n' || s[1] == 'N')
			return 1;
		if (s[1] == 'f' || s[1] == 'F')
			return 0;
	}

	return -1;
}

/*
 * The kernel takes the last valid cow_pte= before "--" (what follows is
 * for init) and strips double quotes around a value.
 */
static bool cmdline_turns_off(char *cmdline)
{
	char *saveptr = NULL, *tok, *val;
	bool off = false;
	int on;

	for (tok = strtok_r(cmdline, " \t\n", &saveptr); tok && strcmp(tok, "--");
	     tok = strtok_r(NULL, " \t\n", &saveptr)) {
		if (strncmp(tok, "cow_pte=", 8))
			continue;
		val = tok + 8;
		val += *val == '"';
		on = parse_bool(val);
		if (on >= 0)
			off = !on;
	}

	return off;
}

int cp_feature_off(bool *off)
{
	char path[FILENAME_MAX];
	char *line = NULL;
	size_t len = 0;
	FILE *f;
	int ret = CP_EXIT_OK;

	proc_path("cmdline", path, sizeof(path));
	f = fopen(path, "re");
	if (!f)
		return cp_fail(errno, "cannot read %s", path);

	if (getline(&line, &len, f) >= 0)
		*off = cmdline_turns_off(line);
	else if (ferror(f))
		ret = cp_fail(EIO, "cannot read %s", path);
	else
		*off = false;
	free(line);
	fclose(f);

	return ret;
}

int cp_self_cgroup(char **cg)
{
	char path[FILENAME_MAX];
	char *line = NULL;
	size_t len = 0;
	int ret = -1;
	FILE *f;

	/*
	 * cgroup_get_current_controller_path() of libcgroup 2.0.2 does not
	 * read the cgroup v2 line ("0::/...").
	 */
	proc_path("self/cgroup", path, sizeof(path));
	f = fopen(path, "re");
	if (!f)
		return cp_fail(errno, "cannot read %s", path);

	while (ret < 0 && getline(&line, &len, f) >= 0) {
		if (strncmp(line, "0::", 3))
			continue;
		line[strcspn(line, "\n")] = '\0';
		ret = cp_cgroup_name(line + 3, cg);
	}
	if (ret < 0) {
		cp_err("%s has no cgroup v2 line (0::/...)\n", path);
		ret = CP_EXIT_NO_CGROUP2;
	}
	free(line);
	fclose(f);

	return ret;
}

int cp_memcg_enabled(const char *cg, bool *enabled)
{
	char buf[FILENAME_MAX];
	char *parent, *saveptr = NULL, *tok;
	int err;

	/* The root cgroup has every controller of the hierarchy. */
	*enabled = !*cg;
	if (*enabled)
		return 0;

	parent = cg_parent(cg);
	if (!parent)
		return ENOMEM;
	err = cg_read(parent, "cgroup.subtree_control", buf, sizeof(buf));
	free(parent);
	if (err)
		return err;

	for (tok = strtok_r(buf, " ", &saveptr); tok; tok = strtok_r(NULL, " ", &saveptr))
		*enabled |= !strcmp(tok, CG_CONTROLLER);

	return 0;
}

static int no_memcg(const char *cg)
{
	char path[FILENAME_MAX];
	char *parent;

	parent = cg_parent(cg);
	if (!parent || cg_path(parent, "cgroup.subtree_control", path, sizeof(path)))
		snprintf(path, sizeof(path), "its parent's cgroup.subtree_control");
	free(parent);

	cp_err("the memory controller is not enabled for %s\n", cg);
	cp_err("enable it for the parent's children: echo +memory > %s\n", path);

	return CP_EXIT_NO_MEMCG;
}

static int no_cgroup(const char *cg, const char *hint)
{
	char path[FILENAME_MAX];

	cg_path(cg, NULL, path, sizeof(path));
	cp_err("cgroup %s does not exist (no directory %s)\n", cg, path);
	cp_err("%s\n", hint);

	return CP_EXIT_NO_SUCH_CGROUP;
}

static int check_memcg(const char *cg)
{
	bool enabled;
	int err;

	err = cp_memcg_enabled(cg, &enabled);
	if (err)
		return cp_fail(err, "cannot read the controllers of %s", cp_name(cg));

	return enabled ? CP_EXIT_OK : no_memcg(cg);
}

int cp_check_cgroup(const char *cg)
{
	if (!cg_exists(cg))
		return no_cgroup(cg, "create it (mkdir), or let 'cowpte run --cgroup' do it");

	return check_memcg(cg);
}

int cp_check_new_cgroup(const char *cg)
{
	char *parent;
	int ret;

	parent = cg_parent(cg);
	if (!parent)
		return cp_fail(ENOMEM, "%s", cg);

	if (cg_exists(parent)) {
		ret = check_memcg(cg);
	} else {
		cp_err("cannot create cgroup %s: its parent does not exist\n", cg);
		ret = no_cgroup(parent, "of a --cgroup path, only the last component is created");
	}
	free(parent);

	return ret;
}

static int no_feature(const char *what)
{
	cp_err("this kernel has no COW page tables: %s\n", what);
	cp_err("boot a kernel built with CONFIG_COW_PTE=y\n");

	return CP_EXIT_NO_FEATURE;
}

/* Report a failed access to a cgroup's memory.cow_pte* file. */
static int file_error(int err, const char *cg, const char *file, const char *verb)
{
	char path[FILENAME_MAX], what[FILENAME_MAX + 32];

	cg_path(cg, file, path, sizeof(path));
	if (err == ENOENT) {
		snprintf(what, sizeof(what), "no %s", path);
		return no_feature(what);
	}

	return cp_fail(err, "cannot %s %s", verb, path);
}

/* A 0/1 file as 0 or 1. */
/*
 * The kernel folds per-CPU memory.stat updates in lazily: fewer than 64
 * per CPU may wait indefinitely.  Reading the cgroup's cpu.stat folds in
 * every controller's statistics of the subtree; a failure only leaves the
 * numbers a little stale.
 */
static void flush_stats(const char *cg)
{
	char path[PATH_MAX], buf[512];
	FILE *f;

	if (!*cg || cg_path(cg, "cpu.stat", path, sizeof(path)))
		return;
	f = fopen(path, "re");
	if (!f)
		return;
	while (fread(buf, 1, sizeof(buf), f) == sizeof(buf))
		;
	fclose(f);
}

static int read_flag(const char *cg, const char *file, int *val)
{
	char buf[16];
	int err;

	err = cg_read(cg, file, buf, sizeof(buf));
	if (!err && strcmp(buf, "0") && strcmp(buf, "1"))
		err = EBADMSG;
	if (err)
		return file_error(err, cg, file, "read");

	*val = buf[0] == '1';

	return CP_EXIT_OK;
}

/* The nearest cgroup at or above cg holding 1: the one the kernel finds. */
static int find_decider(const char *cg, char **decider)
{
	int ret = CP_EXIT_OK;
	char *name;
	int val;

	*decider = NULL;
	name = strdup(cg);
	if (!name)
		return cp_fail(ENOMEM, "%s", cg);

	while (*name) {
		ret = read_flag(name, COW_PTE_FILE, &val);
		if (ret)
			break;
		if (val) {
			*decider = name;
			return CP_EXIT_OK;
		}
		cg_to_parent(name);
	}
	free(name);

	return ret;
}

static int parse_stat(const char *name, const char *value, void *arg)
{
	struct cp_status *st = arg;
	unsigned long long v;
	char *end;
	size_t i;

	for (i = 0; i < CP_NR_STATS; i++) {
		if (strcmp(name, cp_stat_names[i]))
			continue;
		errno = 0;
		v = strtoull(value, &end, 10);
		if (errno || end == value || *end)
			return EBADMSG;
		st->stat[i] = v;
		st->has_stat[i] = true;
	}

	return 0;
}

int cp_get_status(const char *cg, struct cp_status *st)
{
	char path[FILENAME_MAX], what[FILENAME_MAX + 32];
	int ret, val = 0;

	memset(st, 0, sizeof(*st));
	st->setting = -1;
	st->cgroup = strdup(cg);
	if (!st->cgroup)
		return cp_fail(ENOMEM, "%s", cp_name(cg));

	/* The root cgroup has no memory.cow_pte files and is never opted in. */
	if (*cg) {
		ret = read_flag(cg, COW_PTE_FILE, &st->setting);
		if (!ret)
			ret = read_flag(cg, COW_PTE_EFFECTIVE_FILE, &val);
		if (!ret)
			ret = find_decider(cg, &st->decided_by);
		if (ret)
			return ret;
		st->effective = val;
	}

	flush_stats(cg);
	ret = cg_read_stats(cg, parse_stat, st);
	cg_path(cg, CG_CONTROLLER ".stat", path, sizeof(path));
	if (ret)
		return cp_fail(ret, "cannot read %s", path);
	if (!st->has_stat[CP_PAGETABLES_SHARED]) {
		snprintf(what, sizeof(what), "no %s in %s",
			 cp_stat_names[CP_PAGETABLES_SHARED], path);
		return no_feature(what);
	}

	return CP_EXIT_OK;
}

void cp_free_status(struct cp_status *st)
{
	free(st->cgroup);
	free(st->decided_by);
	st->cgroup = NULL;
	st->decided_by = NULL;
}

int cp_require_feature_on(void)
{
	bool off;
	int ret;

	ret = cp_feature_off(&off);
	if (ret || !off)
		return ret;

	cp_err("COW page tables are turned off: the kernel was booted with cow_pte=off\n");
	cp_err("remove cow_pte=off from the kernel command line and reboot\n");

	return CP_EXIT_FEATURE_OFF;
}

int cp_set(const char *cg, bool on)
{
	int err;

	err = cg_write(cg, COW_PTE_FILE, on ? "1" : "0");
	if (err == EOPNOTSUPP) {
		/* The kernel's answer to 1 under cow_pte=off. */
		cp_err("cannot write %s of %s: the kernel was booted with cow_pte=off\n",
		       COW_PTE_FILE, cg);
		return CP_EXIT_FEATURE_OFF;
	}
	if (err)
		return file_error(err, cg, COW_PTE_FILE, "write");

	return CP_EXIT_OK;
}

static int add_name(const char *name, void *arg)
{
	struct cp_list *list = arg;
	char **names;

	if (list->nr == list->alloc) {
		list->alloc = list->alloc ? 2 * list->alloc : 16;
		names = realloc(list->names, list->alloc * sizeof(*names));
		if (!names)
			return ENOMEM;
		list->names = names;
	}

	list->names[list->nr] = strdup(name);
	if (!list->names[list->nr])
		return ENOMEM;
	list->nr++;

	return 0;
}

/* strcmp() with '/' before any other character: a parent sorts before its children. */
static int cmp_preorder(const void *a, const void *b)
{
	const unsigned char *x = *(const unsigned char * const *)a;
	const unsigned char *y = *(const unsigned char * const *)b;

	while (*x && *x == *y) {
		x++;
		y++;
	}
	if (*x == *y)
		return 0;
	if (!*x || !*y)
		return *x - *y;
	if (*x == '/' || *y == '/')
		return *x == '/' ? -1 : 1;

	return *x - *y;
}

int cp_list_subtree(const char *cg, struct cp_list *list)
{
	int err;

	memset(list, 0, sizeof(*list));
	err = cg_walk(cg, add_name, list);
	if (err) {
		cp_free_list(list);
		return cp_fail(err, "cannot list the cgroups below %s", cp_name(cg));
	}

	qsort(list->names, list->nr, sizeof(*list->names), cmp_preorder);

	return CP_EXIT_OK;
}

void cp_free_list(struct cp_list *list)
{
	size_t i;

	for (i = 0; i < list->nr; i++)
		free(list->names[i]);
	free(list->names);
	memset(list, 0, sizeof(*list));
}
