// SPDX-License-Identifier: GPL-2.0
/*
 * cg: dispatch to libcgroup or to the test tree, and the path helpers both
 * share.
 */
#include "cg.h"
#include "cowpte.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const struct cg_ops *ops;
static char *mount_point;

int cg_init(void)
{
	const char *root = getenv("COWPTE_CGROUP_ROOT");

	ops = root && *root ? &cg_testroot_ops : &cg_libcgroup_ops;

	return ops->init(&mount_point);
}

void cg_exit(void)
{
	free(mount_point);
	mount_point = NULL;
}

const char *cg_mount(void)
{
	return mount_point;
}

int cg_path(const char *cg, const char *file, char *buf, size_t size)
{
	int len;

	len = snprintf(buf, size, "%s%s%s%s%s", mount_point, *cg ? "/" : "", cg,
		       file ? "/" : "", file ? file : "");
	if (len < 0 || (size_t)len >= size)
		return ENAMETOOLONG;

	return 0;
}

void cg_to_parent(char *cg)
{
	char *slash = strrchr(cg, '/');

	*(slash ? slash : cg) = '\0';
}

char *cg_parent(const char *cg)
{
	char *parent = strdup(cg);

	if (parent)
		cg_to_parent(parent);

	return parent;
}

bool cg_exists(const char *cg)
{
	char path[FILENAME_MAX];
	struct stat st;

	if (cg_path(cg, NULL, path, sizeof(path)))
		return false;

	return !stat(path, &st) && S_ISDIR(st.st_mode);
}

int cg_read(const char *cg, const char *file, char *buf, size_t size)
{
	return ops->read(cg, file, buf, size);
}

int cg_read_stats(const char *cg, cg_stat_fn fn, void *arg)
{
	return ops->read_stats(cg, fn, arg);
}

int cg_write(const char *cg, const char *file, const char *value)
{
	return ops->write(cg, file, value);
}

int cg_walk(const char *cg, cg_walk_fn fn, void *arg)
{
	return ops->walk(cg, fn, arg);
}

int cg_create(const char *cg)
{
	return ops->create(cg);
}

int cg_attach_self(const char *cg)
{
	return ops->attach_self(cg);
}
